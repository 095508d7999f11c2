package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// Select mode: Up on an empty input line picks the newest message; the
// arrows move the pick, and a key acts on it: Enter or R replies, r
// reacts, e edits, d deletes, f forwards. Esc leaves select mode. A reply
// or an edit is written in the input line, which says so above it, and
// sent with Enter; Esc there cancels it.

// selection is the message picked in select mode. It follows the
// message's ID across reloads.
type selection struct {
	on  bool
	idx int // into chatView.msgs
	id  client.MessageID
}

// follow finds the picked message again in msgs after a reload; if it is
// gone (deleted for me, or expired), the one now at its place is picked.
func (s *selection) follow(msgs []client.Message) {
	if !s.on {
		return
	}
	if len(msgs) == 0 {
		*s = selection{}
		return
	}
	for i, m := range msgs {
		if m.ID == s.id {
			s.idx = i
			return
		}
	}
	s.pick(msgs, s.idx)
}

// pick selects msgs[i], clamped to the messages there are.
func (s *selection) pick(msgs []client.Message, i int) {
	s.idx = min(max(i, 0), len(msgs)-1)
	s.id = msgs[s.idx].ID
}

// composeKind says what the input line's text is for.
type composeKind int

const (
	composeMessage composeKind = iota
	composeReply
	composeEdit
)

// compose is what the next Enter in a chat sends.
type compose struct {
	kind   composeKind
	target client.MessageID // the message replied to or edited
	about  string           // the line above the input: "replying to bob: …"
}

// replyTo is the message the text answers, or nil.
func (c compose) replyTo() *client.MessageID {
	if c.kind != composeReply {
		return nil
	}
	id := c.target
	return &id
}

// startSelect enters select mode on the newest message.
func (m *model) startSelect() tea.Cmd {
	v := &m.chat
	if len(v.msgs) == 0 {
		m.setInfo("there is no message to pick yet")
		return nil
	}
	v.sel.on = true
	v.sel.pick(v.msgs, len(v.msgs)-1)
	v.input.Blur()
	return nil
}

// leaveSelect ends select mode and gives the input line the focus.
func (m *model) leaveSelect() tea.Cmd {
	m.chat.sel.on = false
	m.chat.scroll = 0
	return m.chat.input.Focus()
}

// selectKey handles a key in select mode.
func (m *model) selectKey(k tea.KeyPressMsg) tea.Cmd {
	v := &m.chat
	page := max((m.height-6)/2, 1)
	switch k.String() {
	case "esc":
		return m.leaveSelect()
	case "up", "k":
		v.sel.pick(v.msgs, v.sel.idx-1)
	case "down", "j":
		if v.sel.idx == len(v.msgs)-1 {
			return m.leaveSelect() // past the newest: back to writing
		}
		v.sel.pick(v.msgs, v.sel.idx+1)
	case "pgup":
		v.sel.pick(v.msgs, v.sel.idx-page)
	case "pgdown":
		v.sel.pick(v.msgs, v.sel.idx+page)
	case "home":
		v.sel.pick(v.msgs, 0)
	case "end":
		v.sel.pick(v.msgs, len(v.msgs)-1)
	case "enter", "R":
		return m.withPicked(m.startReply)
	case "e":
		return m.withPicked(m.startEdit)
	case "r":
		return m.withPicked(m.openReactMenu)
	case "d":
		return m.withPicked(m.openDeleteMenu)
	case "f":
		return m.withPicked(m.openForwardMenu)
	case "ctrl+o":
		return tea.Batch(m.openChatMenu(), m.leaveSelect())
	}
	return nil
}

// withPicked runs act on the picked message, if there is one.
func (m *model) withPicked(act func(client.Message) tea.Cmd) tea.Cmd {
	v := &m.chat
	if !v.sel.on || v.sel.idx >= len(v.msgs) {
		return nil
	}
	m.clearStatus()
	cmd := act(v.msgs[v.sel.idx])
	if !v.sel.on && !v.input.Focused() { // a menu took over: writing is next
		cmd = tea.Batch(cmd, v.input.Focus())
	}
	return cmd
}

// actable says why msg cannot be replied to, reacted to or forwarded
// ("" if it can).
func actable(msg client.Message) string {
	switch msg.Kind {
	case client.KindText:
		return ""
	case client.KindDeleted:
		return "this message was deleted: only deleting it for you (d) is left"
	}
	return "that is a note of the chat, not a message: pick a message"
}

// refuse says why msg cannot be acted on, if it cannot.
func (m *model) refuse(msg client.Message) bool {
	why := actable(msg)
	if why != "" {
		m.setErrorText(why)
	}
	return why != ""
}

// startReply makes the input line a reply to msg.
func (m *model) startReply(msg client.Message) tea.Cmd {
	if m.refuse(msg) {
		return nil
	}
	m.chat.compose = compose{kind: composeReply, target: msg.ID,
		about: "↩ replying to " + clean(msg.From) + ": " + firstLine(msg.Text, quoteRunes)}
	return m.leaveSelect()
}

// startEdit fills the input line with msg's text, to be edited and sent
// with Enter; only this account's messages, within the edit window.
func (m *model) startEdit(msg client.Message) tea.Cmd {
	switch {
	case m.refuse(msg):
		return nil
	case !msg.Outgoing:
		m.setErrorText(fmt.Sprintf("only your own messages can be edited; this one is @%s's (r reacts, Enter replies)", clean(msg.From)))
		return nil
	case time.Since(msg.Time) > client.EditWindow:
		m.setErrorText("a message can be edited only within 24 hours of sending it; this one is older")
		return nil
	}
	m.chat.compose = compose{kind: composeEdit, target: msg.ID, about: "✎ editing your message · Enter saves · Esc cancels"}
	m.chat.input.SetValue(msg.Text)
	m.chat.input.CursorEnd()
	return m.leaveSelect()
}

// cancelCompose drops a reply or an edit; an edit's text goes too.
func (m *model) cancelCompose() {
	if m.chat.compose.kind == composeEdit {
		m.chat.input.Reset()
	}
	m.chat.compose = compose{}
	m.clearStatus()
}

// submit sends the input line: a message, a reply, or an edit.
func (m *model) submit() tea.Cmd {
	v := &m.chat
	if v.compose.kind != composeEdit {
		return m.send()
	}
	text := v.input.Value()
	if strings.TrimSpace(text) == "" {
		m.setErrorText("the new text is empty: to remove the message, pick it (↑) and press d")
		return nil
	}
	id := v.compose.target
	v.compose = compose{}
	v.input.Reset()
	return m.act(v.peer, "", func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
		_, err := c.Edit(ctx, conv, id, text)
		return err
	})
}

// composeLines is the line above the input that says what it is for.
func (m *model) composeLines() []string {
	c := m.chat.compose
	if c.kind == composeMessage || m.menu != nil || m.prompt != nil {
		return nil
	}
	about := c.about
	if c.kind == composeReply {
		about += styleFaint.Render(" · Esc cancels")
	}
	return []string{cut(styleNote.Render(about), m.width)}
}

// chatHint is the chat's footer: the keys of the mode it is in.
func (m *model) chatHint() string {
	v := &m.chat
	if h, ok := m.overlayHint(); ok {
		return h
	}
	switch {
	case v.sel.on:
		return "↑/↓ pick · Enter/R reply · r react · e edit · d delete · f forward · Esc done"
	case v.conv.Request:
		return "Enter send · message request: Ctrl+O accept, block or delete · ↑ pick a message · Esc back"
	case v.group != nil:
		return "Enter send · ↑ pick a message · Ctrl+O menu · Esc back · PgUp/PgDn scroll"
	}
	return "Enter send · ↑ pick a message · Ctrl+O menu · Esc back · Ctrl+S safety number · PgUp/PgDn scroll"
}

// showLines returns a scroll (lines back from the end of a body of n
// lines, with room lines shown) that shows the lines [from, to), moving
// the scroll as little as it can.
func showLines(room, n, from, to, scroll int) int {
	room = max(room, 1)
	if end := n - scroll; to > end {
		scroll = n - to
	}
	if start := n - scroll - room; from < start {
		scroll = n - from - room
	}
	return max(scroll, 0)
}

// chatState is the timer of conv and its summary (a message request,
// blocked).
func chatState(ctx context.Context, c *client.Client, conv client.ConversationID) (time.Duration, client.Conversation, error) {
	d, err := c.ChatTimer(ctx, conv)
	if err != nil {
		return 0, client.Conversation{}, err
	}
	convs, err := c.Conversations(ctx)
	for _, cv := range convs {
		if cv.ID == conv {
			return d, cv, err
		}
	}
	return d, client.Conversation{ID: conv}, err
}
