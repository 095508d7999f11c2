package client

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"time"

	"github.com/parley-chat/parley/api"
)

// MessageID names a message; it is the send's client_id (spec/api.md §6.4).
type MessageID [16]byte

// String is the ID in hex.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText and UnmarshalText store IDs as hex.
func (id MessageID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses hex.
func (id *MessageID) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(id) {
		return errors.New("client: bad message ID")
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// MessageKind says what a stored message is.
type MessageKind uint8

// Message kinds. All but the first are notes the client adds to a
// conversation.
const (
	KindText             MessageKind = 1
	KindIdentityChanged  MessageKind = 2 // the peer's safety number changed
	KindDecryptionFailed MessageKind = 3 // a message from the peer could not be decrypted (yet)
	KindUndelivered      MessageKind = 4 // a message to the peer could not be delivered to one of their devices
)

// MessageStatus is an outgoing message's progress, or whether an
// incoming one has been read.
type MessageStatus uint8

// Statuses. Outgoing: Sending → Sent → Delivered → Read, or Failed (the
// server did not take it), or Undelivered (a device of the peer could not
// decrypt it, and resending did not help in time: spec/client.md §6.3).
// Incoming: Unread → Read.
const (
	StatusSending     MessageStatus = 1
	StatusSent        MessageStatus = 2
	StatusDelivered   MessageStatus = 3
	StatusRead        MessageStatus = 4
	StatusFailed      MessageStatus = 5
	StatusUnread      MessageStatus = 6
	StatusUndelivered MessageStatus = 7
)

func (s MessageStatus) String() string {
	switch s {
	case StatusSending:
		return "sending"
	case StatusSent:
		return "sent"
	case StatusDelivered:
		return "delivered"
	case StatusRead:
		return "read"
	case StatusFailed:
		return "failed"
	case StatusUnread:
		return "unread"
	case StatusUndelivered:
		return "could not be delivered"
	}
	return "unknown"
}

// Message is one message of a conversation.
type Message struct {
	ID         MessageID
	Peer       string // the conversation: the other user
	Outgoing   bool   // sent by this account (from any of its devices)
	From       string
	FromDevice uint32
	Kind       MessageKind
	Text       string
	ReplyTo    *MessageID
	Attachment *Attachment // a file (Download, OpenAttachment), or nil
	Time       time.Time   // the sender's clock
	Status     MessageStatus
}

func (r *messageRecord) message() Message {
	return Message{ID: r.ID, Peer: r.Peer, Outgoing: r.Outgoing, From: r.From, FromDevice: r.FromDevice,
		Kind: r.Kind, Text: r.Text, ReplyTo: r.ReplyTo, Attachment: r.Attachment.public(), Time: time.UnixMilli(r.Timestamp), Status: r.Status}
}

// Conversation summarises the messages with one peer.
type Conversation struct {
	Peer   string
	Unread int
	Last   time.Time
}

// Conversations lists the conversations, newest first.
func (c *Client) Conversations(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketConv, "", func(k string, _ []byte) error {
			var r convRecord
			if err := tx.getJSON(bucketConv, k, &r); err != nil {
				return err
			}
			out = append(out, Conversation{Peer: k, Unread: r.Unread, Last: time.UnixMilli(r.Last)})
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out, err
}

// Messages returns the conversation with peer, oldest first; at most
// limit of the newest if limit > 0.
func (c *Client) Messages(ctx context.Context, peer string, limit int) ([]Message, error) {
	peer, err := api.NormalizeUsername(peer)
	if err != nil {
		return nil, ErrNoSuchUser
	}
	var out []Message
	err = c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketMessage, peer+"/", func(_ string, v []byte) error {
			var r messageRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r.message())
			return nil
		})
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, err
}

// MarkRead marks every unread message from peer as read and sends the
// peer read receipts for them.
func (c *Client) MarkRead(ctx context.Context, peer string) error {
	peer, err := api.NormalizeUsername(peer)
	if err != nil {
		return ErrNoSuchUser
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []MessageID
	err = c.update(ctx, func(tx sealedTx) error {
		err := tx.scan(bucketMessage, peer+"/", func(k string, v []byte) error {
			var r messageRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.Outgoing || r.Status != StatusUnread {
				return nil
			}
			r.Status = StatusRead
			if r.Kind == KindText {
				ids = append(ids, r.ID)
			}
			return tx.putJSON(bucketMessage, k, &r)
		})
		if err != nil {
			return err
		}
		var conv convRecord
		if err := tx.getJSON(bucketConv, peer, &conv); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		conv.Unread = 0
		return tx.putJSON(bucketConv, peer, &conv)
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	if err := c.sendReceipts(ctx, peer, ReceiptRead, ids); err != nil {
		return err
	}
	// The account's other devices mark them read too (spec/client.md §2).
	for len(ids) > 0 {
		n := min(len(ids), maxReceiptIDs)
		ct := &content{Kind: kindSyncRead, Timestamp: c.nowMillis(), ReceiptIDs: ids[:n], Destination: peer}
		c.rand.Read(ct.ID[:])
		if err := c.deliver(ctx, c.acct.Username, ct, false); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// markReadElsewhere applies a read sync from another of this account's
// devices: the named messages from peer are read. It returns those that
// were unread here.
func markReadElsewhere(tx sealedTx, peer string, ids []MessageID) ([]MessageID, error) {
	var changed []MessageID
	for _, id := range ids {
		mk, r, err := messageByID(tx, peer, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.Outgoing || r.Status != StatusUnread {
			continue
		}
		r.Status = StatusRead
		if err := tx.putJSON(bucketMessage, mk, &r); err != nil {
			return nil, err
		}
		changed = append(changed, id)
	}
	if len(changed) == 0 {
		return nil, nil
	}
	var conv convRecord
	if err := tx.getJSON(bucketConv, peer, &conv); err != nil {
		return nil, err
	}
	conv.Unread = max(0, conv.Unread-len(changed))
	return changed, tx.putJSON(bucketConv, peer, &conv)
}

// storeMessage adds r to its conversation, or does nothing if a message
// with its ID is already there. It reports whether it stored r.
func storeMessage(tx sealedTx, r *messageRecord) (bool, error) {
	ik := msgIndexKey(r.Peer, r.ID)
	if _, err := tx.get(bucketMsgIndex, ik); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if r.Outgoing {
		if err := applyEarlyReceipt(tx, r); err != nil {
			return false, err
		}
	}
	mk := messageKey(r.Peer, r.Timestamp, r.ID)
	if err := tx.putJSON(bucketMessage, mk, r); err != nil {
		return false, err
	}
	if err := tx.put(bucketMsgIndex, ik, []byte(mk)); err != nil {
		return false, err
	}
	var conv convRecord
	if err := tx.getJSON(bucketConv, r.Peer, &conv); err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if r.Status == StatusUnread {
		conv.Unread++
	}
	conv.Last = max(conv.Last, r.Timestamp)
	return true, tx.putJSON(bucketConv, r.Peer, &conv)
}

// setStatus moves the outgoing messages ids of the conversation with peer
// forward to status (never back). It returns the IDs it changed.
func setStatus(tx sealedTx, peer string, ids []MessageID, status MessageStatus) ([]MessageID, error) {
	var changed []MessageID
	for _, id := range ids {
		mk, r, err := messageByID(tx, peer, id)
		if errors.Is(err, ErrNotFound) {
			// A receipt can overtake the sync transcript of a message
			// sent from another of our devices: keep it for when the
			// message arrives.
			if err := keepEarlyReceipt(tx, peer, id, status); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if !r.Outgoing || !statusAdvances(r.Status, status) {
			continue
		}
		r.Status = status
		if err := tx.putJSON(bucketMessage, mk, &r); err != nil {
			return nil, err
		}
		changed = append(changed, id)
	}
	return changed, nil
}

func statusAdvances(from, to MessageStatus) bool {
	rank := func(s MessageStatus) int {
		switch s {
		case StatusSending, StatusFailed, StatusUndelivered:
			return 0
		case StatusSent:
			return 1
		case StatusDelivered:
			return 2
		case StatusRead:
			return 3
		}
		return -1
	}
	return rank(to) > rank(from)
}

// earlyReceipt is a receipt for a message not stored yet.
type earlyReceipt struct {
	Status MessageStatus `json:"status"`
	At     int64         `json:"at"`
}

func keepEarlyReceipt(tx sealedTx, peer string, id MessageID, status MessageStatus) error {
	k := msgIndexKey(peer, id)
	var e earlyReceipt
	if err := tx.getJSON(bucketEarly, k, &e); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if !statusAdvances(e.Status, status) && e.Status != 0 {
		return nil
	}
	return tx.putJSON(bucketEarly, k, &earlyReceipt{Status: status, At: time.Now().UnixMilli()})
}

func applyEarlyReceipt(tx sealedTx, r *messageRecord) error {
	k := msgIndexKey(r.Peer, r.ID)
	var e earlyReceipt
	if err := tx.getJSON(bucketEarly, k, &e); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if statusAdvances(r.Status, e.Status) {
		r.Status = e.Status
	}
	return tx.del(bucketEarly, k)
}

// forgetMessage removes a message, and its conversation if it held
// nothing else.
func forgetMessage(tx sealedTx, r *messageRecord) error {
	if err := tx.del(bucketMessage, messageKey(r.Peer, r.Timestamp, r.ID)); err != nil {
		return err
	}
	if err := tx.del(bucketMsgIndex, msgIndexKey(r.Peer, r.ID)); err != nil {
		return err
	}
	rest, err := tx.keys(bucketMessage, r.Peer+"/")
	if err != nil || len(rest) > 0 {
		return err
	}
	return tx.del(bucketConv, r.Peer)
}

// messageByID finds the message id of the conversation with peer through
// the index: its key in bucketMessage and its record, or ErrNotFound.
func messageByID(tx sealedTx, peer string, id MessageID) (string, messageRecord, error) {
	var r messageRecord
	mk, err := tx.get(bucketMsgIndex, msgIndexKey(peer, id))
	if err != nil {
		return "", r, err
	}
	return string(mk), r, tx.getJSON(bucketMessage, string(mk), &r)
}
