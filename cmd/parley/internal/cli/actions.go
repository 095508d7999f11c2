package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/parley-chat/parley/client"
)

// The conversation features: edit, delete, react, reply, forward and
// timer act on a message named as `parley history --ids` shows it (the
// first hex digits of its ID, at least 4, as many as make it unique), or
// `last`: the newest message (for edit and delete, the newest of yours).

type editCmd struct {
	Chat string   `arg:"" help:"The chat, e.g. @bob or +Family."`
	Msg  string   `arg:"" help:"The message: an ID prefix from 'parley history --ids', or 'last' (your newest)."`
	Text []string `arg:"" help:"The new text."`
}

func (c *editCmd) Run(r *run) error {
	text := strings.Join(c.Text, " ")
	if strings.TrimSpace(text) == "" {
		return fail("give the new text: parley edit @bob last \"new text\"", "the new text is empty (to remove a message, use parley delete)")
	}
	return r.onMessage(c.Chat, c.Msg, true, func(cl *client.Client, conv client.ConversationID, m client.Message) error {
		if _, err := cl.Edit(r.ctx, conv, m.ID, text); err != nil {
			return actionError(err)
		}
		r.errf("edited %s\n", shortID(m.ID))
		return nil
	})
}

type deleteCmd struct {
	Chat  string `arg:"" help:"The chat, e.g. @bob or +Family."`
	Msg   string `arg:"" optional:"" help:"The message: an ID prefix from 'parley history --ids', or 'last'."`
	ForMe bool   `name:"for-me" help:"Delete it from your devices only (any message, at any time)."`
	Chats bool   `name:"chat" help:"Delete the whole chat from your devices (a message request, too)."`
}

func (c *deleteCmd) Run(r *run) error {
	if c.Chats {
		if c.Msg != "" || c.ForMe {
			return fail("use either --chat (the whole chat) or a message", "--chat takes no message")
		}
		cl, conv, err := r.chat(c.Chat)
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := cl.DeleteChat(r.ctx, conv); err != nil {
			return err
		}
		r.errf("deleted the chat with %s from your devices\n", safe(c.Chat))
		return nil
	}
	if c.Msg == "" {
		return fail("name the message: parley delete @bob last (or --chat for the whole chat)", "no message given")
	}
	return r.onMessage(c.Chat, c.Msg, !c.ForMe, func(cl *client.Client, conv client.ConversationID, m client.Message) error {
		if c.ForMe {
			if err := cl.DeleteForMe(r.ctx, conv, m.ID); err != nil {
				return actionError(err)
			}
			r.errf("deleted %s from your devices\n", shortID(m.ID))
			return nil
		}
		if err := cl.DeleteForEveryone(r.ctx, conv, m.ID); err != nil {
			return actionError(err)
		}
		r.errf("deleted %s for everyone\n", shortID(m.ID))
		return nil
	})
}

type reactCmd struct {
	Chat   string `arg:"" help:"The chat, e.g. @bob or +Family."`
	Msg    string `arg:"" help:"The message: an ID prefix from 'parley history --ids', or 'last'."`
	Emoji  string `arg:"" optional:"" help:"One emoji, e.g. 👍."`
	Remove bool   `help:"Withdraw your reaction."`
}

func (c *reactCmd) Run(r *run) error {
	if (c.Emoji == "") != c.Remove {
		return fail("give one emoji (parley react @bob last 👍), or --remove to withdraw yours", "give an emoji or --remove, not both or neither")
	}
	return r.onMessage(c.Chat, c.Msg, false, func(cl *client.Client, conv client.ConversationID, m client.Message) error {
		if _, err := cl.React(r.ctx, conv, m.ID, c.Emoji); err != nil {
			return actionError(err)
		}
		if c.Remove {
			r.errf("withdrew your reaction to %s\n", shortID(m.ID))
		} else {
			r.errf("reacted %s to %s\n", safe(c.Emoji), shortID(m.ID))
		}
		return nil
	})
}

type replyCmd struct {
	Chat string   `arg:"" help:"The chat, e.g. @bob or +Family."`
	Msg  string   `arg:"" help:"The message answered: an ID prefix from 'parley history --ids', or 'last'."`
	Text []string `arg:"" help:"The reply."`
}

func (c *replyCmd) Run(r *run) error {
	text := strings.Join(c.Text, " ")
	if strings.TrimSpace(text) == "" {
		return fail("give the reply: parley reply @bob last \"sounds good\"", "the reply is empty")
	}
	return r.onMessage(c.Chat, c.Msg, false, func(cl *client.Client, conv client.ConversationID, m client.Message) error {
		sent, err := cl.Reply(r.ctx, conv, m.ID, text)
		if err != nil {
			return sendError(err, c.Chat)
		}
		r.errf("replied to %s (%s)\n", shortID(m.ID), sent.ID)
		return nil
	})
}

type forwardCmd struct {
	Chat string `arg:"" help:"The chat the message is in, e.g. @bob."`
	Msg  string `arg:"" help:"The message: an ID prefix from 'parley history --ids', or 'last'."`
	To   string `arg:"" help:"Where to forward it, e.g. @carol or +Family."`
}

func (c *forwardCmd) Run(r *run) error {
	return r.onMessage(c.Chat, c.Msg, false, func(cl *client.Client, conv client.ConversationID, m client.Message) error {
		to, err := r.sendTarget(cl, c.To)
		if err != nil {
			return err
		}
		sent, err := cl.Forward(r.ctx, conv, m.ID, to)
		if err != nil {
			return sendError(err, c.To)
		}
		r.errf("forwarded %s to %s (%s)\n", shortID(m.ID), safe(convName(c.To, to)), sent.ID)
		return nil
	})
}

type timerCmd struct {
	Chat  string `arg:"" help:"The chat, e.g. @bob or +Family."`
	Timer string `arg:"" optional:"" help:"off, 30s, 5m, 1h, 1d, 1w or 4w; without it, the chat's timer is shown."`
}

func (c *timerCmd) Run(r *run) error {
	cl, conv, err := r.chat(c.Chat)
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.Timer == "" {
		d, err := cl.ChatTimer(r.ctx, conv)
		if err != nil {
			return err
		}
		r.outf("%s\n", client.TimerName(d))
		return nil
	}
	d, err := client.ParseTimer(c.Timer)
	if err != nil {
		return fail("pick one of off, 30s, 5m, 1h, 1d, 1w, 4w", "%q is not a disappearing-message timer", safe(c.Timer))
	}
	if err := cl.SetTimer(r.ctx, conv, d); err != nil {
		return sendError(err, c.Chat)
	}
	if d == 0 {
		r.errf("disappearing messages are off in %s\n", safe(c.Chat))
	} else {
		r.errf("new messages in %s disappear %s after they are read\n", safe(c.Chat), client.TimerName(d))
	}
	return nil
}

// chat opens the client, fetches what is queued, and resolves a chat name.
func (r *run) chat(name string) (*client.Client, client.ConversationID, error) {
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return nil, "", err
	}
	err = cl.Sync(r.ctx)
	w.report(r)
	if err != nil {
		cl.Close()
		return nil, "", err
	}
	conv, err := r.target(cl, name)
	if err != nil {
		cl.Close()
		return nil, "", err
	}
	return cl, conv, nil
}

// onMessage runs act on the message ref of the chat name; mine limits
// `last` to this account's messages.
func (r *run) onMessage(name, ref string, mine bool, act func(*client.Client, client.ConversationID, client.Message) error) error {
	cl, conv, err := r.chat(name)
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := findMessage(r, cl, conv, name, ref, mine)
	if err != nil {
		return err
	}
	return act(cl, conv, m)
}

// findMessage resolves a message reference: `last`, or a hex prefix of
// its ID of at least 4 digits that only one message of the chat has.
func findMessage(r *run, cl *client.Client, conv client.ConversationID, name, ref string, mine bool) (client.Message, error) {
	ms, err := cl.Messages(r.ctx, conv, 0)
	if err != nil {
		return client.Message{}, err
	}
	if strings.EqualFold(ref, "last") {
		for i := len(ms) - 1; i >= 0; i-- {
			if m := ms[i]; m.Kind == client.KindText && (!mine || m.Outgoing) {
				return m, nil
			}
		}
		whose := "no message"
		if mine {
			whose = "no message of yours"
		}
		return client.Message{}, fail(fmt.Sprintf("see the chat with `parley history %s --ids`", safe(name)), "there is %s in %s", whose, safe(name))
	}
	ref = strings.ToLower(ref)
	if len(ref) < 4 || strings.Trim(ref, "0123456789abcdef") != "" {
		return client.Message{}, fail(fmt.Sprintf("use the ID `parley history %s --ids` shows, or last", safe(name)), "%q is not a message ID (4 or more hex digits)", safe(ref))
	}
	var found []client.Message
	for _, m := range ms {
		if strings.HasPrefix(m.ID.String(), ref) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return client.Message{}, fail(fmt.Sprintf("see the chat with `parley history %s --ids`", safe(name)), "no message in %s has an ID starting %s", safe(name), ref)
	case 1:
		return found[0], nil
	}
	return client.Message{}, fail("give more digits of the ID", "%d messages in %s have an ID starting %s", len(found), safe(name), ref)
}

// shortID is the ID prefix `history --ids` shows.
func shortID(id client.MessageID) string { return id.String()[:8] }

// actionError words the SDK's refusals of an action.
func actionError(err error) error {
	switch {
	case errors.Is(err, client.ErrNotAuthor):
		return fail("you can delete it for yourself with --for-me", "only its author can edit or delete a message for everyone")
	case errors.Is(err, client.ErrEditWindow):
		return fail("you can still delete it for yourself with --for-me", "a message can be edited or deleted for everyone only within %v of sending it", client.EditWindow)
	case errors.Is(err, client.ErrNotEditable):
		return fail("pick a message, not a note", "this message cannot be edited, deleted or reacted to")
	case errors.Is(err, client.ErrBadEmoji):
		return fail("give one emoji, e.g. 👍", "a reaction is one emoji")
	case errors.Is(err, client.ErrBlocked):
		return fail("unblock them first with `parley unblock`", "you blocked this account")
	}
	return err
}
