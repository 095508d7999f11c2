package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// plain is s without its styles, as a terminal shows its text.
func plain(s string) string { return stripANSI(s) }

// stripANSI removes SGR sequences (ESC [ ... m), which the styles add.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && s[j] != 'm' {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// noControls fails if s holds a control character other than the SGR
// sequences of the styles, or a bidirectional control.
func noControls(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range stripANSI(s) {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Errorf("%s: %U reaches the terminal in %q", what, r, s)
		}
	}
}

// TestFormatMessageMarks: the marks of the conversation features, and
// none for a plain message.
func TestFormatMessageMarks(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	base := client.Message{Kind: client.KindText, From: "bob", Text: "hello", Time: now}
	tests := []struct {
		name      string
		edit      func(*client.Message)
		want, not []string
	}{
		{"plain", func(*client.Message) {}, []string{"12:00 bob: hello"}, []string{"(edited)", "(forwarded)", "[", "⏱"}},
		{"edited", func(m *client.Message) { m.Edited, m.Edits = true, []client.Edit{{Text: "helo"}} },
			[]string{"bob: hello (edited)"}, []string{"helo"}},
		{"forwarded", func(m *client.Message) { m.Forwarded = true }, []string{"bob: (forwarded) hello"}, nil},
		{"reactions", func(m *client.Message) {
			m.Reactions = map[string]string{"alice": "👍", "carol": "👍", "dave": "❤️"}
		},
			[]string{"hello  [👍 2 ❤️ 1]"}, nil},
		{"deleted", func(m *client.Message) { m.Kind, m.Text = client.KindDeleted, "" },
			[]string{"12:00 bob: This message was deleted"}, []string{"hello"}},
		{"disappearing", func(m *client.Message) { m.Timer = time.Hour }, []string{"12:00 ⏱ bob: hello"}, nil},
		{"timer line", func(m *client.Message) {
			m.Kind, m.Text, m.Timer = client.KindTimerChanged, "bob set disappearing messages to 1h.", time.Hour
		}, []string{"12:00 ⏱ bob set disappearing messages to 1h."}, []string{"bob:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := base
			tt.edit(&msg)
			got := plain(formatMessage(msg, now))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("%q has %q", got, n)
				}
			}
		})
	}
}

// TestQuoteLine: a reply quotes the first line of what it answers, cut
// short, or says it is not here, or that it was deleted.
func TestQuoteLine(t *testing.T) {
	q := client.Message{ID: client.MessageID{1}, Kind: client.KindText, From: "bob", Text: "first line\nsecond line"}
	long := client.Message{ID: client.MessageID{2}, Kind: client.KindText, From: "bob", Text: strings.Repeat("x", 100)}
	gone := client.Message{ID: client.MessageID{3}, Kind: client.KindDeleted, From: "bob", Text: "secret"}
	byID := map[client.MessageID]*client.Message{q.ID: &q, long.ID: &long, gone.ID: &gone}
	reply := func(id client.MessageID) client.Message {
		return client.Message{Kind: client.KindText, From: "alice", Text: "ok", ReplyTo: &id}
	}
	tests := []struct {
		to   client.MessageID
		want string
	}{
		{q.ID, "↩ bob: first line…"},
		{long.ID, "↩ bob: " + strings.Repeat("x", quoteRunes) + "…"},
		{gone.ID, "↩ bob: This message was deleted"},
		{client.MessageID{9}, "↩ a message not loaded here (older, or not on this device)"},
	}
	for _, tt := range tests {
		if got := plain(quoteLine(reply(tt.to), byID)); got != tt.want {
			t.Errorf("quote of %x: got %q, want %q", tt.to[:1], got, tt.want)
		}
	}
	if got := quoteLine(q, byID); got != "" {
		t.Errorf("a message that answers none has a quote: %q", got)
	}
	lines := messageLines(reply(q.ID), byID, time.Now(), 40, true)
	if len(lines) != 2 || !strings.HasPrefix(plain(lines[0]), "  ↩ bob:") || !strings.HasPrefix(plain(lines[1]), "▸ ") {
		t.Errorf("a picked reply: %q", lines)
	}
}

// TestHostileTextIsShownNotObeyed: escape sequences and bidirectional
// controls in a reaction, a sender's name, a quoted message, a display
// name or a chat title reach the terminal as marks.
func TestHostileTextIsShownNotObeyed(t *testing.T) {
	now := time.Now()
	evil := "\x1b[2J\x1b]0;pwned\x07\u202eevil\u009b"
	q := client.Message{ID: client.MessageID{1}, Kind: client.KindText, From: evil, Text: evil + "\nmore"}
	msg := client.Message{Kind: client.KindText, From: evil, Text: evil, Time: now, ReplyTo: &q.ID,
		Reactions: map[string]string{"mallory": evil}, Attachment: &client.Attachment{Name: evil}}
	byID := map[client.MessageID]*client.Message{q.ID: &q}
	for _, l := range messageLines(msg, byID, now, 200, true) {
		noControls(t, "message", l)
	}
	if got := formatMessage(msg, now); !strings.Contains(got, "<U+001B>[2J") || !strings.Contains(got, "<U+202E>") {
		t.Errorf("the controls are not shown as marks: %q", got)
	}

	m := &model{width: 200, height: 20, names: map[string]string{"bob": evil}, typing: peerTyping{}}
	row := m.listRow(client.Conversation{ID: "bob", Title: "bob", Request: true}, false, now)
	noControls(t, "list row", row)
	if p := plain(row); !strings.Contains(p, "@bob (<U+001B>[2J") || !strings.Contains(p, "message request") {
		t.Errorf("the display name is not beside the username, or the request not marked: %q", p)
	}
	m.menu = &menu{title: "t", items: []menuItem{{label: convLabel(client.Conversation{ID: "+g", Title: evil})}}}
	for _, l := range m.menuLines() {
		noControls(t, "menu", l)
	}
}

// TestListMarksBlocked: a blocked chat says so, and a group has no name
// from a profile.
func TestListMarksBlocked(t *testing.T) {
	m := &model{width: 80, height: 20, names: map[string]string{"bob": "Bob", "+g": "x"}, typing: peerTyping{}}
	if p := plain(m.listRow(client.Conversation{ID: "bob", Title: "bob", Blocked: true}, true, time.Now())); !strings.Contains(p, "▸ @bob (Bob)") || !strings.Contains(p, "blocked") {
		t.Errorf("blocked row: %q", p)
	}
	if p := plain(m.listRow(client.Conversation{ID: "+g", Title: "Family"}, false, time.Now())); strings.Contains(p, "(x)") {
		t.Errorf("group row: %q", p)
	}
}

func key(s string) tea.KeyPressMsg {
	switch s {
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	}
	return tea.KeyPressMsg{Code: rune(s[0]), Text: s}
}

// chatModel is a model showing a chat with bob: his message, then ours.
func chatModel() *model {
	m := &model{ctx: context.Background(), width: 80, height: 20, me: "alice", screen: screenChat, typing: peerTyping{}, names: map[string]string{}}
	m.chat = newChatView()
	m.chat.reset("bob")
	now := time.Now()
	m.chat.msgs = []client.Message{
		{ID: client.MessageID{1}, Kind: client.KindText, From: "bob", Text: "lunch?", Time: now, Reactions: map[string]string{"alice": "👍"}},
		{ID: client.MessageID{2}, Kind: client.KindText, From: "alice", Outgoing: true, Text: "yes", Time: now, Status: client.StatusSent},
	}
	return m
}

// TestSelectMode: Up on an empty input picks the newest message, the
// arrows move the pick, e refuses another's message with a reason and
// fills the input with one's own, Enter makes a reply, Esc cancels, and
// Down past the newest leaves select mode.
func TestSelectMode(t *testing.T) {
	m := chatModel()
	m.key(key("up"))
	if !m.chat.sel.on || m.chat.sel.idx != 1 {
		t.Fatalf("Up did not pick the newest message: %+v", m.chat.sel)
	}
	if s := plain(m.chatScreen()); !strings.Contains(s, "▸ ") || !strings.Contains(s, "r react · e edit") {
		t.Errorf("select mode does not show the pick and its keys:\n%s", s)
	}
	m.key(key("up"))
	m.key(key("e"))
	if m.status.kind != statusError || !strings.Contains(m.status.text, "@bob's") || m.chat.compose.kind != composeMessage {
		t.Errorf("editing bob's message: status %+v, compose %+v", m.status, m.chat.compose)
	}
	m.key(key("down"))
	m.key(key("e"))
	if m.chat.sel.on || m.chat.compose.kind != composeEdit || m.chat.input.Value() != "yes" {
		t.Errorf("editing our message: sel %+v, compose %+v, input %q", m.chat.sel, m.chat.compose, m.chat.input.Value())
	}
	m.key(key("esc"))
	if m.chat.compose.kind != composeMessage || m.chat.input.Value() != "" || m.screen != screenChat {
		t.Errorf("Esc did not cancel the edit: compose %+v, input %q", m.chat.compose, m.chat.input.Value())
	}
	m.key(key("up"))
	m.key(key("up"))
	m.key(key("R"))
	if c := m.chat.compose; c.kind != composeReply || c.target != (client.MessageID{1}) || !strings.Contains(plain(strings.Join(m.composeLines(), "\n")), "replying to bob: lunch?") {
		t.Errorf("R did not start a reply to bob's message: %+v", c)
	}
	m.key(key("esc"))
	m.key(key("up"))
	m.key(key("down"))
	if m.chat.sel.on {
		t.Error("Down past the newest did not leave select mode")
	}
}

// TestReactMenu: the menu offers the quick reactions; the one given
// already is offered as withdrawn; a deleted message offers none.
func TestReactMenu(t *testing.T) {
	m := chatModel()
	m.openReactMenu(m.chat.msgs[0])
	if m.menu == nil || len(m.menu.items) != len(quickReactions)+1 {
		t.Fatalf("react menu: %+v", m.menu)
	}
	if l := m.menu.items[0].label; !strings.Contains(l, "👍") || !strings.Contains(l, "withdraw") {
		t.Errorf("our reaction is not offered as withdrawn: %q", l)
	}
	m.menuKey(key("esc"))
	m.openReactMenu(client.Message{Kind: client.KindDeleted})
	if m.menu != nil || m.status.kind != statusError {
		t.Errorf("a deleted message got a react menu, or no reason: %+v", m.status)
	}
	m.openDeleteMenu(m.chat.msgs[0])
	if len(m.menu.items) != 1 || !strings.Contains(m.menu.items[0].label, "for me") {
		t.Errorf("bob's message can only be deleted for me: %+v", m.menu.items)
	}
	m.openDeleteMenu(m.chat.msgs[1])
	if len(m.menu.items) != 2 || !strings.Contains(m.menu.items[0].label, "everyone") {
		t.Errorf("our message can be deleted for everyone: %+v", m.menu.items)
	}
}

// TestChatMenu: the menu names the chat's timer, offers blocking, and
// for a message request accepting it; the timer menu marks the one set.
func TestChatMenu(t *testing.T) {
	m := chatModel()
	m.chat.timer = 5 * time.Minute
	m.key(tea.KeyPressMsg{Code: 'o', Mod: tea.ModCtrl})
	if m.menu == nil || !strings.Contains(m.menu.items[0].label, "disappearing messages: 5m") {
		t.Fatalf("chat menu: %+v", m.menu)
	}
	labels := func() string {
		var s []string
		for _, it := range m.menu.items {
			s = append(s, it.label)
		}
		return strings.Join(s, "|")
	}
	if l := labels(); !strings.Contains(l, "block @bob") || !strings.Contains(l, "my display name") {
		t.Errorf("chat menu items: %s", l)
	}
	m.key(key("1"))
	if m.menu == nil || !strings.Contains(labels(), "5m  (now)") || len(m.menu.items) != len(client.Timers) {
		t.Errorf("timer menu: %s", labels())
	}
	m.key(key("esc"))
	m.chat.conv.Request = true
	m.openChatMenu()
	if l := labels(); !strings.Contains(l, "accept the message request of @bob") || !strings.Contains(l, "delete the chat") {
		t.Errorf("request menu items: %s", l)
	}
}

func TestShowLines(t *testing.T) {
	tests := []struct{ room, n, from, to, scroll, want int }{
		{10, 50, 45, 47, 0, 0},  // shown already
		{10, 50, 30, 32, 0, 10}, // above: scroll back to show it at the top
		{10, 50, 48, 50, 20, 0}, // below: scroll forward
		{10, 5, 0, 1, 0, 0},     // all fits
	}
	for _, tt := range tests {
		if got := showLines(tt.room, tt.n, tt.from, tt.to, tt.scroll); got != tt.want {
			t.Errorf("showLines(%d, %d, %d, %d, %d) = %d, want %d", tt.room, tt.n, tt.from, tt.to, tt.scroll, got, tt.want)
		}
	}
}

// TestSelectionFollowsID: after a reload the pick stays on its message,
// or, if it is gone, on the one now at its place.
func TestSelectionFollowsID(t *testing.T) {
	msgs := []client.Message{{ID: client.MessageID{1}}, {ID: client.MessageID{2}}, {ID: client.MessageID{3}}}
	s := selection{on: true}
	s.pick(msgs, 1)
	s.follow(append([]client.Message{{ID: client.MessageID{0}}}, msgs...))
	if s.idx != 2 {
		t.Errorf("the pick did not follow its message: %+v", s)
	}
	s.follow(msgs[:1])
	if s.idx != 0 || s.id != msgs[0].ID {
		t.Errorf("the pick of a gone message: %+v", s)
	}
	if s.follow(nil); s.on {
		t.Error("select mode stayed on with no messages")
	}
}

// TestMenuFromSelectMode: a menu opened on a picked message leaves
// select mode with the input line focused, so typing works after it.
func TestMenuFromSelectMode(t *testing.T) {
	for _, k := range []string{"r", "d"} {
		m := chatModel()
		m.key(key("up"))
		m.key(key(k))
		if m.menu == nil || m.chat.sel.on || !m.chat.input.Focused() {
			t.Errorf("%s: menu %v, select mode %v, input focused %v", k, m.menu != nil, m.chat.sel.on, m.chat.input.Focused())
		}
	}
}

// TestForwardAndSearchMenus: the forward menu leaves out the chat the
// message is in and blocked chats; search results name their chat and
// show their text made safe.
func TestForwardAndSearchMenus(t *testing.T) {
	m := chatModel()
	m.forwardTargets(forwardTargetsMsg{from: "bob", convs: []client.Conversation{
		{ID: "bob", Title: "bob"}, {ID: "carol", Title: "carol"}, {ID: "mallory", Title: "mallory", Blocked: true}}})
	if m.menu == nil || len(m.menu.items) != 1 || m.menu.items[0].label != "@carol" {
		t.Fatalf("forward menu: %+v", m.menu)
	}
	m.menu = nil
	m.searched(searchMsg{query: "x", found: []client.Message{{Conversation: "bob", From: "bob", Text: "x\x1b[2J"}}})
	if m.menu == nil || len(m.menu.items) != 1 || m.menu.items[0].label != "@bob · bob: x<U+001B>[2J" {
		t.Fatalf("search menu: %+v", m.menu)
	}
	m.menu = nil
	m.searched(searchMsg{query: "none"})
	if m.menu != nil || !strings.Contains(m.status.text, `no message holds "none"`) {
		t.Errorf("an empty search: %+v", m.status)
	}
}
