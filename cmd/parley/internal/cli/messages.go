package cli

import (
	"strings"

	"github.com/parley-chat/parley/client"
)

type sendCmd struct {
	To   string   `arg:"" help:"The recipient, e.g. @bob."`
	Text []string `arg:"" help:"The message. Several words are joined with spaces."`
}

func (c *sendCmd) Run(r *run) error {
	text := strings.Join(c.Text, " ")
	if strings.TrimSpace(text) == "" {
		return fail("give the message after the recipient: parley send @bob \"hello\"", "the message is empty")
	}
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := cl.Send(r.ctx, username(c.To), text)
	if err != nil {
		return err
	}
	r.errf("sent to @%s (%s)\n", m.Peer, m.ID)
	return nil
}

type inboxCmd struct {
	Peek bool `help:"Show unread messages without marking them read (no read receipts)."`
}

func (c *inboxCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	r.errf("fetching…\n")
	if err := cl.Sync(r.ctx); err != nil {
		return err
	}
	convs, err := cl.Conversations(r.ctx)
	if err != nil {
		return err
	}
	shown := 0
	for _, conv := range convs {
		if conv.Unread == 0 {
			continue
		}
		ms, err := cl.Messages(r.ctx, conv.Peer, 0)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Status != client.StatusUnread {
				continue
			}
			printMessage(r, m)
			shown++
		}
		if !c.Peek {
			if err := cl.MarkRead(r.ctx, conv.Peer); err != nil {
				return err
			}
		}
	}
	if shown == 0 {
		r.errf("no unread messages\n")
	}
	return nil
}

// printMessage writes one message by rule 1: "time  sender: text".
func printMessage(r *run, m client.Message) {
	switch m.Kind {
	case client.KindText:
		r.outf("%s  @%s: %s\n", stamp(m.Time), m.From, m.Text)
	default:
		r.outf("%s  ! %s\n", stamp(m.Time), m.Text)
	}
}
