// Package termtext makes text written by other people safe to print to a
// terminal. Everything Parley's command line and terminal UI show that a
// remote party chose (messages, usernames, channel titles and
// descriptions, file names, device names, operators' reasons) goes
// through Line or Block first.
//
// What it protects against: a terminal acts on control characters, so
// text that carries them can move the cursor, rewrite what is on the
// screen, change the window title or set the clipboard (OSC 52). The
// Unicode bidirectional controls do not act on the terminal but reorder
// what the reader sees, so a file name or a link can pass for another.
// What it does not do: it does not judge look-alike letters from other
// scripts (a Cyrillic "а" in a name stays), and it does not touch
// zero-width joiners, which emoji and several scripts need.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s made safe to print on one line:
//
//   - C0 controls (U+0000–U+001F, which include ESC, CR and LF), DEL
//     (U+007F) and C1 controls (U+0080–U+009F) are shown as <U+XXXX>,
//     except a tab, which becomes a space;
//   - the bidirectional controls (U+200E, U+200F, U+061C, U+202A–U+202E,
//     U+2066–U+2069) and the line and paragraph separators (U+2028,
//     U+2029) are shown as <U+XXXX> too, so the reader sees that they
//     were there;
//   - bytes that are not UTF-8 become U+FFFD.
//
// Everything else is kept as it is. Line is idempotent: the marks it
// writes are plain ASCII.
func Line(s string) string {
	if safe(s, false) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	writeLine(&b, s)
	return b.String()
}

// Block is Line for text that may span lines, such as a message: each
// line break (LF, or CR LF) starts a new line that begins with indent, so
// a line of the text cannot pass for a line of the program's own output.
// indent must itself be safe (Line(indent) == indent, without line breaks).
func Block(s, indent string) string {
	if safe(s, true) && !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
			b.WriteString(indent)
		}
		writeLine(&b, strings.TrimSuffix(line, "\r"))
	}
	return b.String()
}

// Mark is how Line shows a character it will not print: <U+XXXX>.
func Mark(r rune) string { return fmt.Sprintf("<U+%04X>", r) }

func writeLine(b *strings.Builder, s string) {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !isRuneErrorChar(s[i:]):
			b.WriteRune(utf8.RuneError)
		case r == '\t':
			b.WriteByte(' ')
		case Unsafe(r):
			b.WriteString(Mark(r))
		default:
			b.WriteRune(r)
		}
	}
}

// isRuneErrorChar reports whether s starts with an encoded U+FFFD (as
// opposed to a byte that is not UTF-8).
func isRuneErrorChar(s string) bool {
	_, size := utf8.DecodeRuneInString(s)
	return size == 3
}

// Unsafe reports whether r is a character that must not be shown as it
// is: a C0 control (U+0000–U+001F, ESC and the tab among them), DEL, a C1
// control (U+0080–U+009F), a bidirectional control (U+061C, U+200E,
// U+200F, U+202A–U+202E, U+2066–U+2069) or a line or paragraph separator
// (U+2028, U+2029). Line shows each as Mark(r), except a tab, which it
// turns into a space. It is the one list of such characters: whoever
// shows or saves text that others chose under the same rule (a received
// file's name, client.Attachment.SafeName) asks it.
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// safe reports whether s needs no change (newlines allowed if block).
func safe(s string, block bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !(block && c == '\n') || c == 0x7f || c == '\t' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || Unsafe(r) {
			return false
		}
		i += size
	}
	return true
}
