package client

import (
	"context"
	"errors"
	"fmt"
)

// Message requests (spec/client.md §11.8). A 1:1 chat with an account
// this one never wrote to nor accepted is a request: its messages are
// kept and shown as a request, delivery receipts go out (the sender's
// device needs them to stop resending), and read receipts and typing do
// not, until the user accepts it (or writes back). Declining is Block,
// or DeleteChat, after which a new message is a new request.

// ErrNotRequest means the conversation is not a message request.
var ErrNotRequest = errors.New("client: this chat is not a message request")

// isRequest reports whether conv is a message request.
func (c *Client) isRequest(tx sealedTx, conv ConversationID) (bool, error) {
	if conv.IsGroup() {
		return false, nil
	}
	k, err := c.known(tx, conv.Peer())
	return !k, err
}

// Accept accepts the message request of conv: the peer becomes an
// account this one talks to, on every device of the account, and gets
// the read receipts of what was read of the request.
func (c *Client) Accept(ctx context.Context, conv ConversationID) error {
	conv, err := conv.normalize()
	if err != nil {
		return err
	}
	if conv.IsGroup() {
		return ErrNotRequest
	}
	c.mu.Lock()
	defer c.unlock()
	var read []MessageID
	if err := c.update(ctx, func(tx sealedTx) error {
		if err := c.markKnown(tx, conv.Peer()); err != nil {
			return err
		}
		var err error
		read, err = readOfPeer(tx, conv)
		return err
	}); err != nil {
		return err
	}
	if err := c.syncRequest(ctx, conv, false); err != nil {
		return err
	}
	// What the user read of the request, the sender may now know.
	return c.sendReceipts(ctx, conv, conv.Peer(), ReceiptRead, read)
}

// DeleteChat erases every message of conv from this account's devices,
// and the chat with them; for a group, its history (the group itself
// stays: leave it to go). A message request deleted comes back as a new
// request with the next message.
func (c *Client) DeleteChat(ctx context.Context, conv ConversationID) error {
	conv, err := conv.normalize()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	if err := c.update(ctx, func(tx sealedTx) error { return c.deleteChat(tx, conv) }); err != nil {
		return err
	}
	c.purgeStore(ctx)
	return c.syncRequest(ctx, conv, true)
}

// syncRequest tells this account's other devices that conv was accepted
// or deleted. c.mu is held.
func (c *Client) syncRequest(ctx context.Context, conv ConversationID, deleted bool) error {
	ct := &content{Kind: kindSyncRequest, Timestamp: c.nowMillis(), Remove: deleted}
	ct.setConversation(conv)
	c.rand.Read(ct.ID[:])
	if err := c.syncAction(ctx, conv, ct, nil); err != nil {
		return fmt.Errorf("client: done on this device, but the account's other devices were not told: %w", err)
	}
	return nil
}

// deleteChat erases conv's messages, the actions waiting for them and the
// conversation record. Disappearing timers go with the chat.
func (c *Client) deleteChat(tx sealedTx, conv ConversationID) error {
	var erase []string
	var recs []messageRecord
	if err := tx.scan(bucketMessage, string(conv)+"/", func(k string, v []byte) error {
		var r messageRecord
		if err := jsonUnmarshal(v, &r); err != nil {
			return err
		}
		erase, recs = append(erase, k), append(recs, r)
		return nil
	}); err != nil {
		return err
	}
	for i, k := range erase {
		if err := c.eraseMessage(tx, k, &recs[i]); err != nil {
			return err
		}
	}
	pending, err := tx.keys(bucketPending, string(conv)+"/")
	if err != nil {
		return err
	}
	for _, k := range pending {
		if err := tx.del(bucketPending, k); err != nil {
			return err
		}
	}
	c.purge = true
	return tx.del(bucketConv, string(conv))
}

// applyRequestSync applies another own device's accept or delete.
func (c *Client) applyRequestSync(tx sealedTx, ct *content, conv ConversationID) error {
	if ct.Remove {
		return c.deleteChat(tx, conv)
	}
	if conv.IsGroup() || conv.Peer() == c.acct.Username {
		return nil
	}
	return c.markKnown(tx, conv.Peer())
}

// readOfPeer lists the peer's texts in conv that were read: the read
// receipts a request held back.
func readOfPeer(tx sealedTx, conv ConversationID) ([]MessageID, error) {
	var read []MessageID
	err := tx.scan(bucketMessage, string(conv)+"/", func(_ string, v []byte) error {
		var r messageRecord
		if err := jsonUnmarshal(v, &r); err != nil {
			return err
		}
		if !r.Outgoing && r.Kind == KindText && r.Status == StatusRead {
			read = append(read, r.ID)
		}
		return nil
	})
	return read, err
}
