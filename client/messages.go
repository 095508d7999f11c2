package client

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"sort"
	"time"
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
	KindGroupChange      MessageKind = 5 // a change of the group's state ("alice added bob")
	KindGroupRefused     MessageKind = 6 // a change of the group's state was refused (forged, not allowed, replayed)
	KindGap              MessageKind = 7 // messages from a member device did not arrive (yet)
	KindDeleted          MessageKind = 8 // a message its author deleted for everyone (nothing of it is kept)
	KindTimerChanged     MessageKind = 9 // someone set the chat's disappearing timer (Timer)
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
	ID           MessageID
	Conversation ConversationID // the other user, or the group
	Outgoing     bool           // sent by this account (from any of its devices)
	From         string
	FromDevice   uint32
	Kind         MessageKind
	Text         string
	ReplyTo      *MessageID
	Attachment   *Attachment // a file (Download, OpenAttachment), or nil
	Time         time.Time   // the sender's clock
	Status       MessageStatus
	// Recipients is the number of member accounts an outgoing group
	// message went to (ReadBy and DeliveredTo count their receipts).
	Recipients int
	// Mentions lists the group members the text names as @username;
	// MentionsMe is true if this account is among them.
	Mentions   []string
	MentionsMe bool

	// The conversation features (spec/client.md §11).
	Forwarded bool
	Edited    bool   // the text is not the first one sent
	Edits     []Edit // the earlier texts, oldest first (Edited)
	// Reactions maps each account that reacted to its emoji.
	Reactions map[string]string
	// Timer is the message's disappearing timer (0: it stays); ExpiresAt
	// is when it goes (zero until its countdown starts: when it is read,
	// or for an outgoing one, sent). For KindTimerChanged, the new timer.
	Timer     time.Duration
	ExpiresAt time.Time

	receipts map[string]MessageStatus
}

// Edit is a text a message had before it was edited.
type Edit struct {
	Text string
	Time time.Time // when it was written
}

// ReactionCount is how many accounts reacted to a message with Emoji.
type ReactionCount struct {
	Emoji string
	Count int
}

// ReactionCounts counts the reactions by emoji, most first (then by
// emoji, for a stable order).
func (m Message) ReactionCounts() []ReactionCount {
	n := map[string]int{}
	for _, e := range m.Reactions {
		n[e]++
	}
	var out []ReactionCount
	for e, k := range n {
		out = append(out, ReactionCount{e, k})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Emoji < out[j].Emoji
	})
	return out
}

func (r *messageRecord) message() Message {
	m := Message{ID: r.ID, Conversation: r.Conv, Outgoing: r.Outgoing, From: r.From, FromDevice: r.FromDevice,
		Kind: r.Kind, Text: r.Text, ReplyTo: r.ReplyTo, Attachment: r.Attachment.public(), Time: time.UnixMilli(r.Timestamp), Status: r.Status,
		Recipients: len(r.Recipients), receipts: maps.Clone(r.Receipts), Mentions: slices.Clone(r.Mentions), MentionsMe: r.MentionsMe,
		Forwarded: r.Forwarded, Edited: r.EditID != nil, Timer: time.Duration(r.Timer) * time.Second}
	for _, e := range r.Edits {
		m.Edits = append(m.Edits, Edit{Text: e.Text, Time: time.UnixMilli(e.At)})
	}
	for who, re := range r.Reactions {
		if re.Emoji != "" {
			if m.Reactions == nil {
				m.Reactions = map[string]string{}
			}
			m.Reactions[who] = re.Emoji
		}
	}
	if r.ExpireAt != 0 {
		m.ExpiresAt = time.UnixMilli(r.ExpireAt)
	}
	return m
}

// Conversation summarises one conversation: with a peer, or a group.
type Conversation struct {
	ID     ConversationID
	Title  string // the peer's username, or the group's title
	Unread int
	Last   time.Time
	// Request is set for a chat started by an account this one never
	// wrote to nor accepted (spec/client.md §11.8); Accept, DeleteChat
	// or Block answer it.
	Request bool
	Blocked bool // the peer is blocked
}

// Conversations lists the conversations, newest first.
func (c *Client) Conversations(ctx context.Context) ([]Conversation, error) {
	c.mu.Lock() // the group titles come from the cached logs
	defer c.unlock()
	var out []Conversation
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketConv, "", func(k string, _ []byte) error {
			var r convRecord
			if err := tx.getJSON(bucketConv, k, &r); err != nil {
				return err
			}
			conv := Conversation{ID: ConversationID(k), Title: k, Unread: r.Unread, Last: time.UnixMilli(r.Last)}
			if conv.ID.IsGroup() {
				conv.Title = c.groupTitle(tx, conv.ID)
			} else {
				var err error
				if conv.Request, err = c.isRequest(tx, conv.ID); err != nil {
					return err
				}
				if conv.Blocked, err = isBlocked(tx, conv.ID.Peer()); err != nil {
					return err
				}
			}
			out = append(out, conv)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out, err
}

// Messages returns the conversation conv, oldest first; at most limit of
// the newest if limit > 0.
func (c *Client) Messages(ctx context.Context, conv ConversationID, limit int) ([]Message, error) {
	conv, err := conv.normalize()
	if err != nil {
		return nil, err
	}
	var out []Message
	now := c.nowMillis()
	err = c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketMessage, string(conv)+"/", func(_ string, v []byte) error {
			var r messageRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.expired(now) {
				return nil // its timer ran out: erased at the next chance
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

// MarkRead marks every unread message of conv as read and sends their
// senders read receipts for them.
func (c *Client) MarkRead(ctx context.Context, conv ConversationID) error {
	conv, err := conv.normalize()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	bySender := map[string][]MessageID{}
	var ids []MessageID
	err = c.update(ctx, func(tx sealedTx) error {
		err := tx.scan(bucketMessage, string(conv)+"/", func(k string, v []byte) error {
			var r messageRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.Outgoing || r.Status != StatusUnread {
				return nil
			}
			r.Status = StatusRead
			if err := startCountdown(tx, &r, c.nowMillis()); err != nil {
				return err
			}
			switch r.Kind {
			case KindText:
				ids = append(ids, r.ID)
				bySender[r.From] = append(bySender[r.From], r.ID)
			case KindGroupChange:
				// Its ID comes from the record's hash, the same on every
				// device: the read sync reaches it there too.
				ids = append(ids, r.ID)
			}
			return tx.putJSON(bucketMessage, k, &r)
		})
		if err != nil {
			return err
		}
		// No read receipts for a request, nor to a blocked account
		// (spec/client.md §11.7, §11.8).
		if req, err := c.isRequest(tx, conv); err != nil || req {
			clear(bySender)
			if err != nil {
				return err
			}
		}
		for sender := range bySender {
			if b, err := isBlocked(tx, sender); err != nil || b {
				delete(bySender, sender)
				if err != nil {
					return err
				}
			}
		}
		var cr convRecord
		if err := tx.getJSON(bucketConv, string(conv), &cr); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		cr.Unread = 0
		return tx.putJSON(bucketConv, string(conv), &cr)
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	for _, sender := range slices.Sorted(maps.Keys(bySender)) {
		if err := c.sendReceipts(ctx, conv, sender, ReceiptRead, bySender[sender]); err != nil {
			return err
		}
	}
	// The account's other devices mark them read too (spec/client.md §2).
	for len(ids) > 0 {
		n := min(len(ids), maxReceiptIDs)
		ct := &content{Kind: kindSyncRead, Timestamp: c.nowMillis(), ReceiptIDs: ids[:n]}
		ct.setConversation(conv)
		c.rand.Read(ct.ID[:])
		if err := c.deliver(ctx, c.acct.Username, ct, false); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// markReadElsewhere applies a read sync from another of this account's
// devices: the named messages of conv are read. It returns those that
// were unread here.
func markReadElsewhere(tx sealedTx, conv ConversationID, ids []MessageID, now int64) ([]MessageID, error) {
	var changed []MessageID
	for _, id := range ids {
		mk, r, err := messageByID(tx, conv, id)
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
		if err := startCountdown(tx, &r, now); err != nil {
			return nil, err
		}
		if err := tx.putJSON(bucketMessage, mk, &r); err != nil {
			return nil, err
		}
		changed = append(changed, id)
	}
	if len(changed) == 0 {
		return nil, nil
	}
	var cr convRecord
	if err := tx.getJSON(bucketConv, string(conv), &cr); err != nil {
		return nil, err
	}
	cr.Unread = max(0, cr.Unread-len(changed))
	return changed, tx.putJSON(bucketConv, string(conv), &cr)
}

// storeMessage adds r to its conversation, or does nothing if a message
// with its ID is already there. It reports whether it stored r.
func storeMessage(tx sealedTx, r *messageRecord) (bool, error) {
	ik := msgIndexKey(r.Conv, r.ID)
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
	mk := messageKey(r.Conv, r.Timestamp, r.ID)
	if err := tx.putJSON(bucketMessage, mk, r); err != nil {
		return false, err
	}
	if err := indexMessage(tx, mk, r); err != nil {
		return false, err
	}
	if err := tx.put(bucketMsgIndex, ik, []byte(mk)); err != nil {
		return false, err
	}
	var conv convRecord
	if err := tx.getJSON(bucketConv, string(r.Conv), &conv); err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if r.Status == StatusUnread {
		conv.Unread++
	}
	conv.Last = max(conv.Last, r.Timestamp)
	return true, tx.putJSON(bucketConv, string(r.Conv), &conv)
}

// setStatus moves the outgoing messages ids of conv forward to status
// (never back), on a receipt from the account from. In a group a message
// is Delivered (Read) once every recipient has said so; the receipts are
// counted per member. It returns the IDs it changed.
func setStatus(tx sealedTx, conv ConversationID, from string, ids []MessageID, status MessageStatus) ([]MessageID, error) {
	var changed []MessageID
	for _, id := range ids {
		mk, r, err := messageByID(tx, conv, id)
		if errors.Is(err, ErrNotFound) {
			// A receipt can overtake the sync transcript of a message
			// sent from another of our devices: keep it for when the
			// message arrives.
			if err := keepEarlyReceipt(tx, conv, id, status); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if !r.Outgoing {
			continue
		}
		if conv.IsGroup() {
			if !r.groupReceipt(from, status) {
				continue
			}
		} else if !statusAdvances(r.Status, status) {
			continue
		} else {
			r.Status = status
		}
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

func keepEarlyReceipt(tx sealedTx, conv ConversationID, id MessageID, status MessageStatus) error {
	k := msgIndexKey(conv, id)
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
	k := msgIndexKey(r.Conv, r.ID)
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
	mk := messageKey(r.Conv, r.Timestamp, r.ID)
	if err := unindexMessage(tx, mk, r); err != nil {
		return err
	}
	if err := tx.del(bucketMessage, mk); err != nil {
		return err
	}
	if err := tx.del(bucketMsgIndex, msgIndexKey(r.Conv, r.ID)); err != nil {
		return err
	}
	rest, err := tx.keys(bucketMessage, string(r.Conv)+"/")
	if err != nil || len(rest) > 0 {
		return err
	}
	return tx.del(bucketConv, string(r.Conv))
}

// messageByID finds the message id of the conversation with peer through
// the index: its key in bucketMessage and its record, or ErrNotFound.
func messageByID(tx sealedTx, conv ConversationID, id MessageID) (string, messageRecord, error) {
	var r messageRecord
	mk, err := tx.get(bucketMsgIndex, msgIndexKey(conv, id))
	if err != nil {
		return "", r, err
	}
	return string(mk), r, tx.getJSON(bucketMessage, string(mk), &r)
}

// groupReceipt counts status from the member from for an outgoing group
// message, and reports whether anything changed. The status moves on
// when every recipient has reached it.
func (r *messageRecord) groupReceipt(from string, status MessageStatus) bool {
	if !slices.Contains(r.Recipients, from) || !statusAdvances(r.Receipts[from], status) {
		return false
	}
	if r.Receipts == nil {
		r.Receipts = map[string]MessageStatus{}
	}
	r.Receipts[from] = status
	for _, s := range []MessageStatus{StatusRead, StatusDelivered} {
		all := true
		for _, m := range r.Recipients {
			if !reached(r.Receipts[m], s) {
				all = false
				break
			}
		}
		if all && statusAdvances(r.Status, s) {
			r.Status = s
			break
		}
	}
	return true
}

// reached reports whether status st is s or beyond it.
func reached(st, s MessageStatus) bool { return st == s || statusAdvances(s, st) }

// ReadBy counts the recipients of an outgoing group message that have
// read it.
func (m Message) ReadBy() int { return m.count(StatusRead) }

// DeliveredTo counts the recipients of an outgoing group message that
// have received it (reading it counts).
func (m Message) DeliveredTo() int { return m.count(StatusDelivered) }

func (m Message) count(s MessageStatus) int {
	n := 0
	for _, st := range m.receipts {
		if reached(st, s) {
			n++
		}
	}
	return n
}
