package termtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// attacks are strings a stranger can send; they seed the fuzz target too.
var attacks = []string{
	"\x1b]52;c;cm0gLXJmIH4K\x07",                         // OSC 52: set the clipboard
	"\x1b]52;c;cm0gLXJmIH4K\x1b\\",                       // the same, ended by ST
	"\x1b[2J\x1b[H",                                      // clear the screen, cursor home
	"\x1b[1A\x1b[2Kparley: all good",                     // rewrite the line above
	"\x1b]0;owned\x07",                                   // set the window title
	"\x1b]8;;https://evil.example/\x1b\\x\x1b]8;;\x1b\\", // a hidden hyperlink
	"\u009b2J",              // C1 CSI, encoded as UTF-8
	"\x9b2J",                // C1 CSI, as a raw byte
	"\u009d52;c;eA==\u009c", // C1 OSC … ST
	"fake\rreal",            // carriage return
	"a\bb\x7f",              // backspace, DEL
	"invoice\u202Efdp.exe",  // right-to-left override
	"\u2066isolate\u2069 \u2067\u2068\u202A\u202B\u202C\u202D",
	"\u200E\u200F\u061C\u2028\u2029",
	"\xff\xfe broken UTF-8 \xc3",
	"line one\nline two\r\nline three",
}

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello, wörld 👋🏽", "hello, wörld 👋🏽"},
		{"👨‍👩‍👧 keeps its joiners", "👨‍👩‍👧 keeps its joiners"},
		{"tab\there", "tab here"},
		{"\x1b[2J", "<U+001B>[2J"},
		{"\x1b]52;c;eA==\x07", "<U+001B>]52;c;eA==<U+0007>"},
		{"\u009b2J", "<U+009B>2J"},
		{"\x9b2J", "\uFFFD2J"},
		{"a\nb", "a<U+000A>b"},
		{"invoice\u202Efdp.exe", "invoice<U+202E>fdp.exe"},
		{"\u2066x\u2069", "<U+2066>x<U+2069>"},
		{"\u200E\u200F\u061C", "<U+200E><U+200F><U+061C>"},
		{"a\x7fb", "a<U+007F>b"},
		{"real U+FFFD \uFFFD stays", "real U+FFFD \uFFFD stays"},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBlock(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"one line", "one line"},
		{"one\ntwo", "one\n    two"},
		{"one\r\ntwo\rthree", "one\n    two<U+000D>three"},
		{"x\n\x1b[1Aparley: fine", "x\n    <U+001B>[1Aparley: fine"},
	} {
		if got := Block(tc.in, "    "); got != tc.want {
			t.Errorf("Block(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkSafe fails if out holds anything a terminal would act on, or a
// bidirectional control; newlines are allowed when block is set, each
// followed by the indent.
func checkSafe(t *testing.T, in, out string, block bool, indent string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%q -> %q: not UTF-8", in, out)
	}
	for i, r := range out {
		if r == '\n' && block {
			if !strings.HasPrefix(out[i+1:], indent) {
				t.Fatalf("%q -> %q: a line without the indent", in, out)
			}
			continue
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || Unsafe(r) {
			t.Fatalf("%q -> %q: holds U+%04X", in, out, r)
		}
	}
}

// FuzzLine: whatever the input, Line and Block print no C0 or C1
// control, no ESC, no DEL and no bidirectional control; Line is
// idempotent and leaves safe text alone.
func FuzzLine(f *testing.F) {
	for _, s := range attacks {
		f.Add(s)
	}
	f.Add("plain text")
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		checkSafe(t, s, out, false, "")
		if again := Line(out); again != out {
			t.Fatalf("Line is not idempotent: %q -> %q -> %q", s, out, again)
		}
		if safe(s, false) && out != s {
			t.Fatalf("safe %q changed to %q", s, out)
		}
		checkSafe(t, s, Block(s, "  | "), true, "  | ")
	})
}

// Unsafe is the one list of characters not shown as they are: each
// listed range, and none of its neighbours that text needs.
func TestUnsafe(t *testing.T) {
	for _, r := range []rune{0x00, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0x9b, 0x9f,
		0x061c, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066, 0x2069, 0x2028, 0x2029} {
		if !Unsafe(r) {
			t.Errorf("Unsafe(U+%04X) = false", r)
		}
	}
	for _, r := range []rune{' ', '~', 0xa0, 0xe9, 0x061b, 0x200b, 0x200c, 0x200d, 0x2027,
		0x202f, 0x2065, 0x206a, 0xfe0f, 0xfffd, 0x1f44d} {
		if Unsafe(r) {
			t.Errorf("Unsafe(U+%04X) = true", r)
		}
	}
}
