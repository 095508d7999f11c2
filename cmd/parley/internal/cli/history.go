package cli

import (
	"errors"
	"fmt"

	"github.com/parley-chat/parley/client"
)

type historyCmd struct {
	Peer string `arg:"" help:"The contact, e.g. @bob, or a group, e.g. +Family."`
	N    int    `short:"n" default:"20" help:"How many of the newest messages to show."`
	IDs  bool   `name:"ids" help:"Start each message with its ID, as edit, delete, react and reply take it."`
}

// Run fetches what is queued for this device (marking nothing read) and
// prints the newest N messages of the conversation with Peer, oldest
// first, by rule 1, each with its state: for ours how far it got (sent,
// delivered, read, failed), for theirs whether it is still unread. It
// shows what this device holds: the messages it received or sent, and
// those its account's other devices sent since it was linked.
func (c *historyCmd) Run(r *run) error {
	if c.N < 1 {
		return fail("give -n a number of messages, 1 or more", "-n %d shows nothing", c.N)
	}
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	peer := username(c.Peer)
	err = cl.Sync(r.ctx)
	w.report(r)
	if err != nil {
		return err
	}
	conv, err := r.target(cl, c.Peer)
	if err != nil {
		return err
	}
	ms, err := cl.Messages(r.ctx, conv, c.N)
	if err != nil {
		return err
	}
	if len(ms) == 0 && conv.IsGroup() {
		r.errf("no messages in %s on this device yet\n", safe(c.Peer))
		return nil
	}
	if len(ms) == 0 {
		if _, _, err := cl.SafetyNumber(r.ctx, peer); errors.Is(err, client.ErrUnknownContact) {
			return fail("check the name with `parley contacts`, or send them a message first", "there is no conversation with @%s on this device", safe(peer))
		}
		r.errf("no messages with @%s on this device yet\n", safe(peer))
		return nil
	}
	for _, m := range ms {
		where := ""
		if c.IDs {
			where = shortID(m.ID)
		}
		printMessage(r, m, state(m), where)
	}
	return nil
}

// state is what history shows after a message: how far ours got, or
// that theirs is unread; "" for a read message of theirs and for notes.
func state(m client.Message) string {
	switch {
	case m.Kind != client.KindText:
		return ""
	case m.Outgoing && m.Recipients > 0 && m.Status != client.StatusFailed && m.Status != client.StatusSending:
		n := m.Recipients
		switch read, got := m.ReadBy(), m.DeliveredTo(); {
		case read > 0:
			return fmt.Sprintf("read by %d of %d", read, n)
		case got > 0:
			return fmt.Sprintf("delivered to %d of %d", got, n)
		}
		return m.Status.String()
	case m.Outgoing:
		return m.Status.String()
	case m.Status == client.StatusUnread:
		return "unread"
	}
	return ""
}
