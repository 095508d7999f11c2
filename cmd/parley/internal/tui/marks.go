package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley/client"
)

// What the conversation features add to a message as it is drawn: a
// reply's quote of the message it answers, "(forwarded)", "(edited)",
// the reactions with their counts, and the selection mark of select mode.
// Everything taken from a message, a reaction or a name goes through
// clean or cleanBody like the text itself.

// quoteRunes bounds how much of the answered message a reply quotes.
const quoteRunes = 60

// messageLines is one message wrapped to width: a reply's quote first,
// then the message; picked marks the message as the selection with ▸.
func messageLines(msg client.Message, byID map[client.MessageID]*client.Message, now time.Time, width int, picked bool) []string {
	indent := 0
	if picked {
		indent = 2
	}
	var lines []string
	if q := quoteLine(msg, byID); q != "" {
		lines = append(lines, cut(q, width-indent))
	}
	first := len(lines)
	lines = append(lines, wrap(formatMessage(msg, now), width-indent)...)
	if picked {
		for i := range lines {
			lines[i] = "  " + lines[i]
		}
		lines[first] = styleSelected.Render("▸") + " " + lines[first][2:]
	}
	return lines
}

// quoteLine is the line above a reply: "↩ bob: the first line of what it
// answers", or "" for a message that answers none.
func quoteLine(msg client.Message, byID map[client.MessageID]*client.Message) string {
	if msg.ReplyTo == nil || msg.Kind != client.KindText {
		return ""
	}
	q, ok := byID[*msg.ReplyTo]
	switch {
	case !ok:
		return styleFaint.Render("↩ a message not loaded here (older, or not on this device)")
	case q.Kind == client.KindDeleted:
		return styleFaint.Render("↩ " + clean(q.From) + ": This message was deleted")
	}
	return styleFaint.Render("↩ " + clean(q.From) + ": " + firstLine(q.Text, quoteRunes))
}

// firstLine is the first line of text, made safe, cut to n runes with …
func firstLine(text string, n int) string {
	line, rest, more := strings.Cut(text, "\n")
	r := []rune(line)
	if len(r) > n {
		r, more = r[:n], true
	}
	s := clean(string(r))
	if more || rest != "" {
		s += "…"
	}
	return s
}

// forwardedMark is "(forwarded) " before a forwarded message's text.
func forwardedMark(msg client.Message) string {
	if !msg.Forwarded {
		return ""
	}
	return styleFaint.Render("(forwarded)") + " "
}

// editedMark is " (edited)" after an edited message's text.
func editedMark(msg client.Message) string {
	if !msg.Edited {
		return ""
	}
	return styleFaint.Render(" (edited)")
}

// reactionsMark is "  [👍 2 ❤️ 1]", most given first, or "" for a
// message with no reactions.
func reactionsMark(msg client.Message) string {
	rc := msg.ReactionCounts()
	if len(rc) == 0 {
		return ""
	}
	parts := make([]string, len(rc))
	for i, c := range rc {
		parts[i] = fmt.Sprintf("%s %d", clean(c.Emoji), c.Count)
	}
	return "  " + styleNote.Render("["+strings.Join(parts, " ")+"]")
}
