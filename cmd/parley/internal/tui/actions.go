package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// The actions on a picked message (react, delete, forward), and the one
// way every action reaches the client: act runs it in a tea.Cmd, and its
// answer shows as one line, an error worded by describeAction.

// quickReactions are the emoji the reaction menu offers first.
var quickReactions = []string{"👍", "❤️", "😂", "😮", "😢", "🙏"}

// actedMsg is the answer of an action.
type actedMsg struct {
	peer string
	done string // what to say when it worked; "" says nothing
	err  error
}

// act runs f on the conversation with peer in a Cmd; done is what the
// status line says when it worked.
func (m *model) act(peer, done string, f func(context.Context, *client.Client, client.ConversationID) error) tea.Cmd {
	ctx, c := m.ctx, m.c
	return func() tea.Msg {
		return actedMsg{peer: peer, done: done, err: f(ctx, c, client.ConversationID(peer))}
	}
}

// acted shows an action's answer and redraws the screen from the store.
func (m *model) acted(msg actedMsg) tea.Cmd {
	switch {
	case msg.err != nil:
		m.setError(msg.err, msg.peer)
	case msg.done != "":
		m.setInfo(msg.done)
	case m.status.kind == statusError:
		m.clearStatus()
	}
	return m.reload()
}

// describeAction words the refusals of the conversation features, for
// describe; "" for another error.
func describeAction(err error, at string) string {
	switch {
	case errors.Is(err, client.ErrNotAuthor):
		return "only its author can edit or delete a message for everyone; pick it and press d to delete it for you"
	case errors.Is(err, client.ErrEditWindow):
		return "a message can be edited or deleted for everyone only within 24 hours of sending it; you can still delete it for you"
	case errors.Is(err, client.ErrNotEditable):
		return "this message cannot be edited, deleted or reacted to (a note, or already deleted)"
	case errors.Is(err, client.ErrBadEmoji):
		return "a reaction is one emoji, e.g. 👍"
	case errors.Is(err, client.ErrBadTimer):
		return "disappearing timer must be off, 30s, 5m, 1h, 1d, 1w or 4w"
	case errors.Is(err, client.ErrBlocked):
		return "you blocked " + at + ": unblock them (Ctrl+O) to write to them"
	case errors.Is(err, client.ErrNoSuchMessage):
		return "that message is no longer on this device"
	case errors.Is(err, client.ErrNotRequest):
		return "this chat is not a message request"
	case errors.Is(err, client.ErrProfileText):
		return "a display name or about line is one line, without control characters"
	case errors.Is(err, client.ErrProfileNameTooLong), errors.Is(err, client.ErrProfileAboutTooLong):
		return clean(strings.TrimPrefix(err.Error(), "client: "))
	case errors.Is(err, client.ErrEmptyQuery):
		return "a search needs at least one word"
	}
	return ""
}

// openReactMenu offers the quick reactions and typing one; the
// account's current reaction, chosen again, is withdrawn.
func (m *model) openReactMenu(msg client.Message) tea.Cmd {
	if m.refuse(msg) {
		return nil
	}
	mine := msg.Reactions[m.me]
	peer, id := m.chat.peer, msg.ID
	react := func(emoji string) tea.Cmd {
		done := ""
		if emoji == "" {
			done = "your reaction was withdrawn"
		}
		return m.act(peer, done, func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
			_, err := c.React(ctx, conv, id, emoji)
			return err
		})
	}
	var items []menuItem
	for _, e := range quickReactions {
		label, emoji := e, e
		if e == mine {
			label, emoji = e+"  (yours: withdraw it)", ""
		}
		items = append(items, menuItem{label: label, act: func() tea.Cmd { return react(emoji) }})
	}
	if mine != "" && !isQuick(mine) {
		items = append(items, menuItem{label: clean(mine) + "  (yours: withdraw it)", act: func() tea.Cmd { return react("") }})
	}
	items = append(items, menuItem{label: "type another emoji…", act: func() tea.Cmd {
		return m.openPrompt("Emoji: ", "", 32, func(s string) tea.Cmd {
			if s == "" {
				return nil
			}
			if s == mine {
				s = ""
			}
			return react(s)
		})
	}})
	m.chat.sel.on = false
	return m.openMenu("React to "+clean(msg.From)+"'s message", items)
}

func isQuick(emoji string) bool {
	for _, e := range quickReactions {
		if e == emoji {
			return true
		}
	}
	return false
}

// openDeleteMenu asks how to delete msg: for everyone (only this
// account's, within the edit window) or for me.
func (m *model) openDeleteMenu(msg client.Message) tea.Cmd {
	peer, id := m.chat.peer, msg.ID
	forMe := menuItem{label: "delete for me (from this account's devices)", act: func() tea.Cmd {
		return m.act(peer, "deleted for you", func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
			return c.DeleteForMe(ctx, conv, id)
		})
	}}
	var items []menuItem
	if msg.Outgoing && msg.Kind == client.KindText {
		items = append(items, menuItem{label: "delete for everyone", act: func() tea.Cmd {
			if time.Since(msg.Time) > client.EditWindow {
				m.setErrorText("a message can be deleted for everyone only within 24 hours of sending it; delete it for you instead")
				return nil
			}
			return m.act(peer, "deleted for everyone", func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
				return c.DeleteForEveryone(ctx, conv, id)
			})
		}})
	}
	items = append(items, forMe)
	title := "Delete this message"
	if !msg.Outgoing {
		title += " (only its author can delete it for everyone)"
	}
	m.chat.sel.on = false
	return m.openMenu(title, items)
}

// forwardTargetsMsg is the conversations a message can be forwarded to.
type forwardTargetsMsg struct {
	from  string
	id    client.MessageID
	convs []client.Conversation
	err   error
}

// openForwardMenu loads the conversations, then offers them as targets.
func (m *model) openForwardMenu(msg client.Message) tea.Cmd {
	if m.refuse(msg) {
		return nil
	}
	m.chat.sel.on = false
	ctx, c, from, id := m.ctx, m.c, m.chat.peer, msg.ID
	return func() tea.Msg {
		convs, err := c.Conversations(ctx)
		return forwardTargetsMsg{from: from, id: id, convs: convs, err: err}
	}
}

func (m *model) forwardTargets(msg forwardTargetsMsg) tea.Cmd {
	if msg.err != nil {
		m.setError(msg.err, msg.from)
		return nil
	}
	var items []menuItem
	for _, cv := range msg.convs {
		if string(cv.ID) == msg.from || cv.Blocked {
			continue
		}
		to, id := cv.ID, msg.id
		items = append(items, menuItem{label: convLabel(cv), act: func() tea.Cmd {
			done := fmt.Sprintf("forwarded to %s", convLabel(client.Conversation{ID: to, Title: string(to)}))
			if to.IsGroup() {
				done = "forwarded to the group"
			}
			return m.act(msg.from, done, func(ctx context.Context, c *client.Client, conv client.ConversationID) error {
				_, err := c.Forward(ctx, conv, id, to)
				return err
			})
		}})
	}
	return m.openMenu("Forward to", items)
}

// convLabel names a conversation: @user or +title, made safe.
func convLabel(cv client.Conversation) string {
	if cv.ID.IsGroup() {
		return "+" + clean(cv.Title)
	}
	return "@" + clean(cv.Title)
}
