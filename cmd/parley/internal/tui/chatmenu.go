package tui

import (
	"context"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// The menu (Ctrl+O, in a chat or on the conversation list): the chat's
// disappearing timer, this account's profile (display name, about line),
// blocking or unblocking the contact, and for a message request
// accepting, blocking or deleting it. On the list the menu acts on the
// selected conversation. The list also searches the history (/).

// searchLimit is how many results a search shows.
const searchLimit = 50

// openChatMenu opens the menu of the open chat.
func (m *model) openChatMenu() tea.Cmd {
	v := &m.chat
	v.sel.on = false
	cv := v.conv
	cv.ID, cv.Title = client.ConversationID(v.peer), v.peer
	if v.group != nil {
		cv.Title = v.group.Title
	}
	items := []menuItem{{label: "disappearing messages: " + client.TimerName(v.timer) + "…", act: m.openTimerMenu}}
	items = append(items, m.convItems(cv)...)
	return m.openMenu("Menu", append(items, m.profileItems()...))
}

// openListMenu opens the menu on the conversation list, for the
// selected conversation.
func (m *model) openListMenu() tea.Cmd {
	var items []menuItem
	if cv, ok := m.list.convs.selected(); ok {
		items = m.convItems(cv)
	}
	return m.openMenu("Menu", append(items, m.profileItems()...))
}

// convItems are the menu's items for a conversation: answering a message
// request, or blocking or unblocking the contact.
func (m *model) convItems(cv client.Conversation) []menuItem {
	if cv.ID.IsGroup() {
		return nil
	}
	peer := string(cv.ID)
	at := "@" + clean(peer)
	accept := menuItem{label: "accept the message request of " + at, act: func() tea.Cmd {
		return m.act(peer, "accepted: "+at+" can now see that you read their messages", func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
			return c.Accept(ctx, conv)
		})
	}}
	block := menuItem{label: "block " + at, act: func() tea.Cmd {
		return m.act(peer, "blocked "+at+": nothing they send reaches you", func(ctx context.Context, c *client.Client, _ client.ConversationID) error {
			return c.Block(ctx, peer)
		})
	}}
	unblock := menuItem{label: "unblock " + at, act: func() tea.Cmd {
		return m.act(peer, "unblocked "+at, func(ctx context.Context, c *client.Client, _ client.ConversationID) error {
			return c.Unblock(ctx, peer)
		})
	}}
	del := menuItem{label: "delete the chat with " + at + " from your devices", act: func() tea.Cmd {
		return m.act(peer, "deleted the chat with "+at, func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
			return c.DeleteChat(ctx, conv)
		})
	}}
	switch {
	case cv.Blocked:
		return []menuItem{unblock, del}
	case cv.Request:
		return []menuItem{accept, block, del}
	}
	return []menuItem{block}
}

// openTimerMenu offers the disappearing timers of client.Timers.
func (m *model) openTimerMenu() tea.Cmd {
	peer, now := m.chat.peer, m.chat.timer
	var items []menuItem
	for _, d := range client.Timers {
		label := client.TimerName(d)
		if d == now {
			label += "  (now)"
		}
		done := "disappearing messages are off"
		if d > 0 {
			done = fmt.Sprintf("new messages disappear %s after they are read", client.TimerName(d))
		}
		items = append(items, menuItem{label: label, act: func() tea.Cmd {
			return m.act(peer, done, func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
				return c.SetTimer(ctx, conv, d)
			})
		}})
	}
	return m.openMenu("Disappearing messages in this chat", items)
}

// profileItems are the menu's items for this account's profile.
func (m *model) profileItems() []menuItem {
	p := m.myProfile
	name, about := "(none)", "(none)"
	if p.Name != "" {
		name = clean(p.Name)
	}
	if p.About != "" {
		about = clean(p.About)
	}
	return []menuItem{
		{label: "my display name: " + name + "…", act: func() tea.Cmd {
			return m.openPrompt("Display name: ", p.Name, client.MaxProfileName, func(s string) tea.Cmd {
				return m.setProfile(client.ProfileChange{Name: &s}, "your display name is set")
			})
		}},
		{label: "my about line: " + about + "…", act: func() tea.Cmd {
			return m.openPrompt("About: ", p.About, client.MaxProfileAbout, func(s string) tea.Cmd {
				return m.setProfile(client.ProfileChange{About: &s}, "your about line is set")
			})
		}},
	}
}

// profileMsg is this account's profile, as loaded or just set.
type profileMsg struct {
	p    client.Profile
	done string
	err  error
}

func (m *model) setProfile(ch client.ProfileChange, done string) tea.Cmd {
	ctx, c := m.ctx, m.c
	return func() tea.Msg {
		p, err := c.SetProfile(ctx, ch)
		return profileMsg{p: p, done: done, err: err}
	}
}

// loadMyProfile loads this account's profile for the menu.
func (m *model) loadMyProfile() tea.Cmd {
	ctx, c := m.ctx, m.c
	return func() tea.Msg {
		p, err := c.MyProfile(ctx)
		if err != nil {
			return profileMsg{} // none set, or not readable now: the menu shows none
		}
		return profileMsg{p: p}
	}
}

func (m *model) profileSet(msg profileMsg) {
	if msg.err != nil {
		m.setError(msg.err, "")
		return
	}
	if msg.p.Username != "" {
		m.myProfile = msg.p
	}
	if msg.done != "" {
		m.setInfo(msg.done)
	}
}

// searchMsg is the answer of Search.
type searchMsg struct {
	query string
	found []client.Message
	err   error
}

// openSearch asks for words and searches the history for them.
func (m *model) openSearch() tea.Cmd {
	ctx, c := m.ctx, m.c
	return m.openPrompt("Search: ", "", 200, func(q string) tea.Cmd {
		return func() tea.Msg {
			found, err := c.Search(ctx, q, searchLimit)
			return searchMsg{query: q, found: found, err: err}
		}
	})
}

// searched lists the results; choosing one opens its chat.
func (m *model) searched(msg searchMsg) tea.Cmd {
	if msg.err != nil {
		m.setError(msg.err, "")
		return nil
	}
	if len(msg.found) == 0 {
		m.setInfo(fmt.Sprintf("no message holds %q", clean(msg.query)))
		return nil
	}
	var items []menuItem
	for _, f := range msg.found {
		conv := string(f.Conversation)
		where := "@" + clean(conv)
		if f.Conversation.IsGroup() {
			where = "a group"
		}
		items = append(items, menuItem{label: where + " · " + clean(f.From) + ": " + firstLine(f.Text, 80),
			act: func() tea.Cmd { return m.openChat(conv) }})
	}
	return m.openMenu(fmt.Sprintf("%d found · Enter opens the chat", len(msg.found)), items)
}
