package tui

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
)

// listView is the conversation list.
type listView struct {
	convs   picker[client.Conversation]
	applied int // seq of the load shown

	adding bool            // asking for the username of a new conversation
	input  textinput.Model // that username
}

func newListView() listView {
	in := textinput.New()
	in.Prompt = "New conversation with @"
	in.Placeholder = "username"
	in.CharLimit = api.MaxUsername
	return listView{input: in, convs: picker[client.Conversation]{key: func(c client.Conversation) string { return string(c.ID) }}}
}

// convsMsg is the answer of Conversations.
type convsMsg struct {
	seq   int
	convs []client.Conversation
	err   error
}

func (m *model) loadConvs() tea.Cmd {
	seq, ctx, c := m.nextSeq(), m.ctx, m.c
	return func() tea.Msg {
		convs, err := c.Conversations(ctx)
		return convsMsg{seq: seq, convs: convs, err: err}
	}
}

func (l *listView) apply(msg convsMsg, m *model) tea.Cmd {
	if msg.seq < l.applied {
		return nil
	}
	l.applied = msg.seq
	if msg.err != nil {
		m.setError(msg.err, "")
		return nil
	}
	l.convs.set(msg.convs)
	return m.loadNames(msg.convs)
}

// namesMsg is the display names of some peers, from their profiles.
type namesMsg map[string]string

// loadNames reads the profiles of the peers in convs whose display name
// was not read yet (once each: a ProfileChangedEvent brings a new one).
func (m *model) loadNames(convs []client.Conversation) tea.Cmd {
	var users []string
	for _, cv := range convs {
		if _, ok := m.names[string(cv.ID)]; !ok && !cv.ID.IsGroup() {
			users = append(users, string(cv.ID))
			m.names[string(cv.ID)] = ""
		}
	}
	if len(users) == 0 {
		return nil
	}
	ctx, c := m.ctx, m.c
	return func() tea.Msg {
		out := namesMsg{}
		for _, u := range users {
			if p, err := c.Profile(ctx, u); err == nil {
				out[u] = p.Name
			}
		}
		return out
	}
}

func (l *listView) applyNames(msg namesMsg, m *model) {
	for u, n := range msg {
		m.names[u] = n
	}
}

// openList shows the conversation list.
func (m *model) openList() tea.Cmd {
	m.clearStatus()
	m.menu, m.prompt = nil, nil
	m.screen = screenList
	m.list.adding = false
	m.list.input.Blur()
	return m.loadConvs()
}

func (m *model) listKey(k tea.KeyPressMsg) tea.Cmd {
	if m.list.adding {
		return m.addKey(k)
	}
	switch k.String() {
	case "q":
		return m.quit()
	case "up", "k":
		m.list.convs.selectRow(m.list.convs.sel - 1)
	case "down", "j":
		m.list.convs.selectRow(m.list.convs.sel + 1)
	case "home":
		m.list.convs.selectRow(0)
	case "end":
		m.list.convs.selectRow(len(m.list.convs.items) - 1)
	case "enter":
		if c, ok := m.list.convs.selected(); ok {
			return m.openChat(string(c.ID))
		}
	case "tab":
		return m.openChannels()
	case "ctrl+o":
		return m.openListMenu()
	case "/":
		return m.openSearch()
	case "n":
		m.clearStatus()
		m.list.adding = true
		m.list.input.Reset()
		return m.list.input.Focus()
	}
	return nil
}

// addKey handles keys while the user types a new conversation's peer.
func (m *model) addKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		m.list.adding = false
		m.list.input.Blur()
		return nil
	case "enter":
		peer := m.list.input.Value()
		if peer == "" {
			return nil
		}
		m.list.adding = false
		m.list.input.Blur()
		return m.openChat(peer)
	}
	var cmd tea.Cmd
	m.list.input, cmd = m.list.input.Update(k)
	return cmd
}

func (m *model) listScreen() string {
	title := styleTitle.Render("parley") + styleFaint.Render(" · @"+clean(m.me))
	top := []string{header(m.width, title, styleFaint.Render("conversations")), rule(m.width)}
	var bottom []string
	if m.list.adding {
		bottom = append(m.statusLines("Enter open · Esc cancel"), m.list.input.View())
	} else {
		hint := "↑/↓ select · Enter open · n new · Tab channels · Ctrl+O menu · / search · q quit"
		if h, ok := m.overlayHint(); ok {
			hint = h
		}
		bottom = append(m.overlayLines(), m.statusLines(hint)...)
		if m.prompt != nil {
			bottom = append(bottom, m.inputLine(""))
		}
	}
	rows := m.height - len(top) - len(bottom)
	return layout(m.width, m.height, top, m.listRows(rows), bottom)
}

// listRows draws the conversations that fit in rows lines, scrolled so
// the selection shows.
func (m *model) listRows(rows int) []string {
	l := &m.list.convs
	if len(l.items) == 0 {
		return []string{"", styleFaint.Render("  No conversations yet. Press n to start one.")}
	}
	var out []string
	now := time.Now()
	from, to := l.window(rows)
	for i := from; i < to; i++ {
		out = append(out, m.listRow(l.items[i], i == l.sel, now))
	}
	return out
}

func (m *model) listRow(c client.Conversation, selected bool, now time.Time) string {
	mark := "@"
	if c.ID.IsGroup() {
		mark = "+"
	}
	title := mark + clean(c.Title)
	if n := m.names[string(c.ID)]; n != "" && !c.ID.IsGroup() {
		title += " (" + clean(n) + ")" // beside the username, never instead of it
	}
	name := "  " + title
	if selected {
		name = "▸ " + title
	}
	var note string
	switch {
	case c.Blocked:
		note = styleError.Render("blocked ")
	case c.Request:
		note = styleNote.Render("message request ")
	}
	switch {
	case m.typing.on(string(c.ID)):
		note += styleFaint.Render("typing… ")
	case c.Unread > 0:
		note += styleUnread.Render(fmt.Sprintf("%d unread ", c.Unread))
	}
	note += styleFaint.Render(stamp(c.Last, now))
	if selected {
		name = styleSelected.Render(name)
	} else if c.Unread > 0 {
		name = styleTitle.Render(name)
	}
	return header(m.width, name, note)
}
