package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley-chat/parley/client"
)

// safeNameCases are names a sender chooses and what a receiver saves
// them as.
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
