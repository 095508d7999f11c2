package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The sending side of the conversation features (spec/client.md §11). An
// action is applied here first, by the rules every recipient applies
// (actions.go), and then sent like a message: to a group under this
// device's sender key, which reaches this account's other devices too;
// to a peer's devices over the 1:1 sessions, and to this account's other
// devices with the peer named as Destination. Each is kept for resending
// (spec/client.md §6.3).

// chatTimer is the disappearing timer of conv, in seconds.
func chatTimer(tx sealedTx, conv ConversationID) (uint32, error) {
	var cr convRecord
	if err := tx.getJSON(bucketConv, string(conv), &cr); err != nil && !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	return cr.Timer, nil
}

// ChatTimer is the disappearing-message timer of conv (0: off).
func (c *Client) ChatTimer(ctx context.Context, conv ConversationID) (time.Duration, error) {
	conv, err := conv.normalize()
	if err != nil {
		return 0, err
	}
	var sec uint32
	err = c.view(ctx, func(tx sealedTx) error {
		var err error
		sec, err = chatTimer(tx, conv)
		return err
	})
	return time.Duration(sec) * time.Second, err
}

// Message returns the message id of conv (for example the one a reply
// quotes), or ErrNoSuchMessage.
func (c *Client) Message(ctx context.Context, conv ConversationID, id MessageID) (Message, error) {
	conv, err := conv.normalize()
	if err != nil {
		return Message{}, err
	}
	var m Message
	err = c.view(ctx, func(tx sealedTx) error {
		_, r, err := messageByID(tx, conv, id)
		if errors.Is(err, ErrNotFound) || err == nil && r.expired(c.nowMillis()) {
			return ErrNoSuchMessage
		}
		m = r.message()
		return err
	})
	return m, err
}

// Edit replaces the text of this account's message id in conv, within
// EditWindow of sending it. Recipients see it marked as edited, with the
// earlier text kept.
func (c *Client) Edit(ctx context.Context, conv ConversationID, id MessageID, text string) (Message, error) {
	if len(text) > maxText {
		return Message{}, fmt.Errorf("client: a message is at most %d bytes", maxText)
	}
	return c.act(ctx, conv, &content{Kind: kindEdit, Target: &id, Text: text})
}

// DeleteForEveryone deletes this account's message id in conv on every
// device of everyone in the chat, within EditWindow of sending it: its
// text, its file's key and its reactions are erased, and a note that it
// was deleted stays.
func (c *Client) DeleteForEveryone(ctx context.Context, conv ConversationID, id MessageID) error {
	_, err := c.act(ctx, conv, &content{Kind: kindDelete, Target: &id})
	return err
}

// DeleteForMe erases the message id of conv from this account's devices
// (this one at once, the others when they next connect), leaving no note.
func (c *Client) DeleteForMe(ctx context.Context, conv ConversationID, id MessageID) error {
	_, err := c.act(ctx, conv, &content{Kind: kindDelete, Target: &id, ForMe: true})
	return err
}

// React sets this account's reaction to the message id of conv to emoji,
// replacing an earlier one; "" withdraws it.
func (c *Client) React(ctx context.Context, conv ConversationID, id MessageID, emoji string) (Message, error) {
	ct := &content{Kind: kindReaction, Target: &id, Emoji: emoji, Remove: emoji == ""}
	if !ct.Remove && !validEmoji(emoji) {
		return Message{}, ErrBadEmoji
	}
	return c.act(ctx, conv, ct)
}

// SetTimer sets the disappearing-message timer of conv (one of Timers)
// for everyone in it. Messages sent after it go that long after they are
// read; a note in the chat says who set it.
func (c *Client) SetTimer(ctx context.Context, conv ConversationID, d time.Duration) error {
	if !validTimer(uint64(d/time.Second)) || d%time.Second != 0 {
		return ErrBadTimer
	}
	_, err := c.act(ctx, conv, &content{Kind: kindTimer, Timer: uint32(d / time.Second)})
	return err
}

// Forward sends the message id of from (its text and file) to the
// conversation to, marked as forwarded. The file is not uploaded again:
// the new message names the same encrypted blob and key.
func (c *Client) Forward(ctx context.Context, from ConversationID, id MessageID, to ConversationID) (Message, error) {
	m, err := c.forwardable(ctx, from, id)
	if err != nil {
		return Message{}, err
	}
	to, err = to.normalize()
	if err != nil {
		return Message{}, err
	}
	if to.Peer() == c.acct.Username {
		return Message{}, ErrSelf
	}
	return c.sendText(ctx, to, m)
}

func (c *Client) forwardable(ctx context.Context, from ConversationID, id MessageID) (*content, error) {
	from, err := from.normalize()
	if err != nil {
		return nil, err
	}
	var ct *content
	err = c.view(ctx, func(tx sealedTx) error {
		_, r, err := messageByID(tx, from, id)
		if errors.Is(err, ErrNotFound) || err == nil && r.expired(c.nowMillis()) {
			return ErrNoSuchMessage
		}
		if err != nil {
			return err
		}
		if r.Kind != KindText {
			return ErrNotEditable
		}
		ct = &content{Text: r.Text, Attachment: r.Attachment, Forwarded: true}
		return nil
	})
	return ct, err
}

// act applies the action ct to conv here and sends it. It returns the
// message acted on as it is now (the zero Message for a timer, or a
// delete for me).
func (c *Client) act(ctx context.Context, conv ConversationID, ct *content) (Message, error) {
	conv, err := conv.normalize()
	if err != nil {
		return Message{}, err
	}
	if conv.Peer() == c.acct.Username {
		return Message{}, ErrSelf
	}
	c.mu.Lock()
	defer c.unlock()
	ct.Timestamp = c.nowMillis()
	c.rand.Read(ct.ID[:])
	ct.setConversation(conv)
	if !conv.IsGroup() && ct.Kind == kindDelete && ct.ForMe {
		ct.Destination = conv.Peer()
	}
	var events []Event
	if err := c.update(ctx, func(tx sealedTx) error {
		if b, err := isBlocked(tx, conv.Peer()); err != nil || b && !conv.IsGroup() && !ct.ForMe {
			return cmpErr(err, ErrBlocked)
		}
		if conv.IsGroup() && !(ct.Kind == kindDelete && ct.ForMe) {
			l, _, err := c.loadGroup(tx, *ct.Group)
			if err != nil {
				return err
			}
			if _, err := c.mayPost(l.State()); err != nil {
				return err
			}
		}
		var err error
		events, err = c.applyAction(tx, c.acct.Username, c.acct.DeviceID, ct, conv)
		return err
	}); err != nil {
		var refused errRefused
		if errors.As(err, &refused) {
			return Message{}, refused.err
		}
		return Message{}, err
	}
	c.purgeStore(ctx)
	var out Message
	for _, e := range events {
		if ch, ok := e.(*MessageChangedEvent); ok {
			out = ch.Message
		}
		c.emit(e)
	}
	switch {
	case ct.Kind == kindDelete && ct.ForMe:
		return out, c.syncAction(ctx, conv, ct, nil)
	case conv.IsGroup():
		return out, c.groupSend(ctx, *ct.Group, ct, false)
	}
	peer := conv.Peer()
	if err := c.deliver(ctx, peer, ct, false); err != nil {
		return out, err
	}
	if err := c.update(ctx, func(tx sealedTx) error {
		var err error
		events, err = c.retain(tx, peer, ct)
		return err
	}); err != nil {
		return out, err
	}
	own := *ct
	own.Destination = peer
	return out, c.syncAction(ctx, conv, &own, events)
}

// syncAction sends ct to this account's other devices and keeps it for
// resending, as syncSent does for a text. c.mu is held.
func (c *Client) syncAction(ctx context.Context, conv ConversationID, ct *content, events []Event) error {
	err := c.deliver(ctx, c.acct.Username, ct, false)
	if err == nil {
		err = c.update(ctx, func(tx sealedTx) error {
			if own, err := sessionDevices(tx, c.acct.Username, c.acct.DeviceID, true); err != nil || len(own) == 0 {
				return err
			}
			evs, err := c.retain(tx, c.acct.Username, ct)
			events = append(events, evs...)
			return err
		})
	}
	for _, e := range events {
		c.emit(e)
	}
	return err
}
