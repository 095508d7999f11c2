package tui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/termtext"
)

// Styles. Colours are the 16 ANSI ones, so they follow the terminal's
// theme.
var (
	styleTitle    = lipgloss.NewStyle().Bold(true)
	styleFaint    = lipgloss.NewStyle().Faint(true)
	styleSelected = lipgloss.NewStyle().Reverse(true)
	styleMe       = lipgloss.NewStyle().Foreground(lipgloss.Cyan).Bold(true)
	stylePeer     = lipgloss.NewStyle().Foreground(lipgloss.Magenta).Bold(true)
	styleNote     = lipgloss.NewStyle().Foreground(lipgloss.Yellow)
	styleError    = lipgloss.NewStyle().Foreground(lipgloss.Red)
	styleGood     = lipgloss.NewStyle().Foreground(lipgloss.Green)
	styleRead     = lipgloss.NewStyle().Foreground(lipgloss.Blue)
	styleUnread   = lipgloss.NewStyle().Foreground(lipgloss.Green).Bold(true)
)

// statusKind says how a status line is drawn.
type statusKind int

const (
	statusNone statusKind = iota
	statusInfo
	statusWarn
	statusError
)

// status is the line above the input: the last error, with what to do.
type status struct {
	kind statusKind
	text string
}

func (m *model) clearStatus()          { m.status = status{} }
func (m *model) setInfo(text string)   { m.status = status{kind: statusInfo, text: text} }
func (m *model) setWarn(text string)   { m.status = status{kind: statusWarn, text: text} }
func (m *model) setErrorText(t string) { m.status = status{kind: statusError, text: t} }
func (m *model) setError(err error, peer string) {
	if d := describe(err, peer); d != "" {
		m.setErrorText(d)
	}
}

// maxStatusLines bounds how many lines a wrapped status takes.
const maxStatusLines = 3

// statusLines is the status, wrapped to the width, or hint when there is
// none (cut to the width: a hint can go unread).
func (m *model) statusLines(hint string) []string {
	var s string
	switch m.status.kind {
	case statusInfo:
		s = styleGood.Render(m.status.text)
	case statusWarn:
		s = styleNote.Render("! " + m.status.text)
	case statusError:
		s = styleError.Render("✗ " + m.status.text)
	default:
		return []string{styleFaint.Render(hint)}
	}
	lines := wrap(s, m.width)
	return lines[:min(len(lines), maxStatusLines)]
}

// describe turns err into one line saying what went wrong and what to do
// next; "" for no error, or one caused by the UI shutting down.
func describe(err error, peer string) string {
	at := "@" + clean(peer)
	var ae *api.Error
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, client.ErrIdentityNotVerified):
		return at + "'s safety number changed, so nothing was sent: press Ctrl+S to compare the new one and verify it"
	case errors.Is(err, client.ErrNoSuchUser):
		return "there is no user " + at + " on this server: check the spelling (Esc goes back)"
	case errors.Is(err, client.ErrUnknownContact):
		return "you have not exchanged messages with " + at + " yet: send one first"
	case errors.Is(err, client.ErrSelf):
		return "that is your own account: choose someone else"
	case errors.Is(err, client.ErrSafetyNumberMismatch):
		return "the safety number changed while you compared it: compare the new one"
	case describeAction(err, at) != "":
		return describeAction(err, at)
	case errors.As(err, &ae):
		return fmt.Sprintf("the server refused: %s (%s); try again later", strings.TrimSuffix(clean(ae.Message), "."), clean(string(ae.Code)))
	case errors.As(err, &ne):
		return "cannot reach the server: check that it is running and reachable, then try again"
	}
	return clean(strings.TrimPrefix(err.Error(), "client: "))
}

// clean makes one line of untrusted text safe to draw (termtext.Line):
// control characters are shown as marks, so escape sequences do nothing,
// and bidirectional controls are shown rather than obeyed.
func clean(s string) string { return termtext.Line(s) }

// cleanBody is clean for a message or a post, which may span lines: its
// later lines are indented, so none can pass for a line of the UI.
func cleanBody(s string) string { return termtext.Block(s, "  ") }

// stamp formats a message time: the clock for today, else the date too.
func stamp(t, now time.Time) string {
	if y, mo, d := t.Date(); y == now.Year() && mo == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	if t.Year() == now.Year() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// wrap breaks s (which may hold styles) into lines of at most width cells.
func wrap(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	return strings.Split(lipgloss.Wrap(s, width, " -"), "\n")
}

// cut truncates one line to width cells.
func cut(s string, width int) string {
	if lipgloss.Width(s) <= width {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(width).Render(s)
}

// inputWidth is how many cells an input's prompt takes.
func inputWidth(prompt string) int { return lipgloss.Width(prompt) }

// layout stacks top, then body, then bottom into exactly h lines of at
// most w cells. The body fills what is left; if it is too long its last
// lines show. When even top and bottom do not fit, top gives way first,
// so the input line stays at the bottom.
func layout(w, h int, top, body, bottom []string) string {
	if len(bottom) > h {
		bottom = bottom[len(bottom)-h:]
	}
	if len(top) > h-len(bottom) {
		top = top[:h-len(bottom)]
	}
	room := h - len(top) - len(bottom)
	if len(body) > room {
		body = body[len(body)-room:]
	}
	lines := make([]string, 0, h)
	lines = append(lines, top...)
	lines = append(lines, body...)
	for len(lines) < h-len(bottom) {
		lines = append(lines, "")
	}
	lines = append(lines, bottom...)
	for i, l := range lines {
		lines[i] = cut(l, w)
	}
	return strings.Join(lines, "\n")
}

// layoutScrolled is layout for a body drawn oldest first, scrolled back
// *scroll lines from its end; *scroll is clamped to what the body holds.
func layoutScrolled(w, h int, top, body, bottom []string, scroll *int) string {
	room := max(h-len(top)-len(bottom), 0)
	*scroll = min(*scroll, max(len(body)-room, 0))
	return layout(w, h, top, body[:len(body)-*scroll], bottom)
}

// header is a screen's first line: a title, and a note on the right.
func header(w int, title, note string) string {
	gap := w - lipgloss.Width(title) - lipgloss.Width(note)
	if gap < 2 {
		return title
	}
	return title + strings.Repeat(" ", gap) + note
}

// rule is a faint horizontal line.
func rule(w int) string { return styleFaint.Render(strings.Repeat("─", max(w, 0))) }
