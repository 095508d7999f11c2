package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/client"
)

// safeNameCases are names a sender chooses and what a receiver saves
// them as; their names seed FuzzSafeName too.
var safeNameCases = []struct{ name, want string }{
	{"clip.mp4", "clip.mp4"},
	{"résumé.pdf", "résumé.pdf"},
	{"👨‍👩‍👧 photo.jpg", "👨‍👩‍👧 photo.jpg"}, // joiners stay
	// Paths.
	{"../../etc/passwd", "passwd"},
	{`C:\Users\x\cv.docx`, "cv.docx"},
	{"..", "attachment"},
	{".", "attachment"},
	{"", "attachment"},
	{"dir/", "attachment"},
	{"a:b", "a_b"},
	// Controls: C0 (ESC, LF, NUL, tab), DEL, C1 (CSI as UTF-8), bad bytes.
	{"a\nb\x1b[31m.txt", "a_b_[31m.txt"},
	{"nul\x00.txt", "nul_.txt"},
	{"tab\there.txt", "tab_here.txt"},
	{"del\x7f.txt", "del_.txt"},
	{"\u009b2J.txt", "_2J.txt"},
	{"bad\xff.txt", "bad_.txt"},
	// The attack: a name whose shown extension is not its real one.
	{"report_\x1b[31m\u202Etxt.exe", "report__[31m_txt.exe"},
	{"invoice\u202Efdp.exe", "invoice_fdp.exe"},
	{"\u2066x\u2069 \u2067y\u2068.pdf", "_x_ _y_.pdf"},
	{"a\u202Ab\u202Bc\u202Cd\u202De.txt", "a_b_c_d_e.txt"},
	{"a\u200Eb\u200Fc\u061Cd.txt", "a_b_c_d.txt"},
	{"one\u2028two\u2029.txt", "one_two_.txt"},
	// Hidden files and options.
	{".bashrc", "bashrc"},
	{"-rf", "rf"},
	{"--help.txt", "help.txt"},
	{" -.- .profile", "profile"},
	{"---", "attachment"},
	{"a-b.txt", "a-b.txt"},
	{"  spaced.txt  ", "spaced.txt"},
}

// SafeName keeps a sender's name from writing outside the directory,
// making a hidden file or an option, or showing one extension while
// having another.
func TestSafeName(t *testing.T) {
	for _, tc := range safeNameCases {
		a := client.Attachment{Name: tc.name}
		if got := a.SafeName(); got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A long name is cut to MaxSafeName bytes, on a character boundary,
// keeping its extension.
func TestSafeNameLength(t *testing.T) {
	for _, tc := range []struct {
		name, ext string // ext: what the safe name must end with
	}{
		{strings.Repeat("a", 251) + ".pdf", ".pdf"},
		{strings.Repeat("é", 125) + ".txt", ".txt"},
		{strings.Repeat("👍", 63) + ".jpeg", ".jpeg"},
		{"a." + strings.Repeat("x", 253), "xxxxx"}, // no extension worth keeping
		{strings.Repeat("ж", 127), "жж"},
	} {
		got := (&client.Attachment{Name: tc.name}).SafeName()
		if len(got) > client.MaxSafeName || len(got) < client.MaxSafeName-3 || !utf8.ValidString(got) || !strings.HasSuffix(got, tc.ext) {
			t.Errorf("SafeName(%d bytes %.12q…) = %d bytes %q, want %d bytes (or up to 3 fewer) of UTF-8 ending %q",
				len(tc.name), tc.name, len(got), got, client.MaxSafeName, tc.ext)
		}
	}
}

// A file with the longest name a sender may give is saved under its safe
// name: the safe name leaves room for the temporary name it is written
// under first.
func TestSafeNameSaves(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	name := strings.Repeat("n", 251) + ".txt"
	alice.sendFile("bob", name, []byte("hello"), "")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := bob.withAttachment("alice")
	dir := t.TempDir()
	path := filepath.Join(dir, got.Attachment.SafeName())
	if err := bob.DownloadFile(ctx, "alice", got.ID, path, nil); err != nil {
		t.Fatalf("saving %d bytes of name: %v", len(got.Attachment.SafeName()), err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "hello" {
		t.Fatalf("read back %q, %v", b, err)
	}
}

// checkSafeName fails unless name is a safe name to save a file under,
// by rules stated here on their own rather than through the code's:
// spec/client.md §8.
func checkSafeName(t *testing.T, in, name string) {
	t.Helper()
	switch {
	case name == "" || name == "." || name == "..":
		t.Fatalf("SafeName(%q) = %q", in, name)
	case len(name) > client.MaxSafeName:
		t.Fatalf("SafeName(%q) is %d bytes, over %d", in, len(name), client.MaxSafeName)
	case !utf8.ValidString(name):
		t.Fatalf("SafeName(%q) = %q: not UTF-8", in, name)
	case strings.ContainsAny(name, `/\:`):
		t.Fatalf("SafeName(%q) = %q: holds a path separator", in, name)
	case filepath.Base(name) != name || !filepath.IsLocal(name):
		t.Fatalf("SafeName(%q) = %q: not a local base name", in, name)
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-"):
		t.Fatalf("SafeName(%q) = %q: a hidden file or an option", in, name)
	case strings.TrimSpace(name) != name:
		t.Fatalf("SafeName(%q) = %q: leading or trailing space", in, name)
	}
	for i, r := range name {
		switch {
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f,
			r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069,
			r == utf8.RuneError:
			t.Fatalf("SafeName(%q) = %q: U+%04X at byte %d", in, name, r, i)
		}
	}
}

// FuzzSafeName: whatever name a sender chooses, SafeName gives a safe
// base name (checkSafeName), it is idempotent, it leaves an already safe
// name alone, and it keeps a short extension of a long name.
func FuzzSafeName(f *testing.F) {
	for _, tc := range safeNameCases {
		f.Add(tc.name)
	}
	f.Add(strings.Repeat("é", 125) + ".txt")
	f.Add(strings.Repeat("a", 199) + "\u202E.txt")
	f.Fuzz(func(t *testing.T, in string) {
		name := (&client.Attachment{Name: in}).SafeName()
		checkSafeName(t, in, name)
		if again := (&client.Attachment{Name: name}).SafeName(); again != name {
			t.Fatalf("SafeName is not idempotent: %q -> %q -> %q", in, name, again)
		}
		if isSafe(in) && name != in {
			t.Fatalf("the safe name %q became %q", in, name)
		}
		ext := filepath.Ext(in)
		stem := strings.TrimLeftFunc(strings.TrimSuffix(in, ext), func(r rune) bool { return r == '.' || r == '-' || unicode.IsSpace(r) })
		if len(in) > client.MaxSafeName && len(ext) > 1 && len(ext) <= 16 && isSafe(ext[1:]) && stem != "" &&
			!strings.ContainsAny(in, `/\`) && !strings.HasSuffix(name, ext) {
			t.Fatalf("SafeName(%q) = %q lost the extension %q", in, name, ext)
		}
	})
}

// isSafe reports whether SafeName should leave s as it is: short, and
// nothing in it that a safe name may not hold.
func isSafe(s string) bool {
	if s == "" || len(s) > client.MaxSafeName || !utf8.ValidString(s) || strings.ContainsAny(s, `/\:`) ||
		strings.TrimSpace(s) != s || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || r == 0x061c || r == 0x200e || r == 0x200f ||
			r == 0x2028 || r == 0x2029 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return false
		}
	}
	return true
}
