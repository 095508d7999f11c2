package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/ratchet"
)

// Retry of what a recipient could not decrypt (spec/client.md §6.3). The
// recipient notes the failure and sends the sending device a
// decryption-error content, on a fresh session; the sender keeps its
// recent messages sealed in its outbox and, on such a content, sends the
// message again on a fresh session, with the same ID, so the recipient
// shows it once, in place of the note. What cannot be resent in time is
// marked undelivered on the sender's side.

const (
	outboxKeep      = 24 * time.Hour // how long a sent message is kept for resending
	maxOutbox       = 1000           // messages kept at most
	maxOutboxBytes  = 16 << 20       // bytes of content kept at most
	maxResends      = 2              // resends of one message to one device
	maxErrorReports = 3              // decryption-error contents sent for one envelope
	retryEvery      = time.Minute    // at most one fresh session per peer device for resends
)

// outboxRecord is a sent message kept for resending.
type outboxRecord struct {
	User    string `json:"user"`    // the account it went to: the peer, or this account for a sync transcript
	Content []byte `json:"content"` // the content as sent, unpadded
	Sent    int64  `json:"sent"`    // unix ms
	// Failed lists the devices that reported they could not decrypt it
	// and have not acknowledged it since.
	Failed  []uint32          `json:"failed,omitempty"`
	Resends map[uint32]uint32 `json:"resends,omitempty"` // per device
	// Body, for a content sent to many accounts at once, is the key of
	// its one stored copy (outboxBody), and Content is empty in the
	// store (getOutbox fills it in).
	Body string `json:"body,omitempty"`
}

// outboxBody is the one copy of a content kept for several accounts'
// outbox records, deleted with the last of them.
type outboxBody struct {
	Content []byte `json:"content"`
	Refs    int    `json:"refs"`
}

// outboxMeta is the outbox's size, kept beside it.
type outboxMeta struct {
	Count int   `json:"count"`
	Bytes int64 `json:"bytes"`
	// Oldest is no later than the send time of the oldest message kept
	// (unix ms; 0: unknown), so that a send within the bounds need not
	// list the outbox (acknowledged messages leave it older than it
	// could be, which costs one listing that sets it again).
	Oldest int64 `json:"oldest,omitempty"`
}

// failedRecord counts the failures of one envelope.
type failedRecord struct {
	Count int   `json:"count"`
	At    int64 `json:"at"` // unix ms, the first failure
}

// resendJob is a resend decided while processing an envelope, done after
// its transaction commits.
type resendJob struct {
	user    string
	device  uint32
	content []byte
}

const (
	outboxPrefix     = "m/"
	outboxBodyPrefix = "b/"
	keyOutboxMeta    = "size"
)

func outboxKey(sent int64, user string, id MessageID) string {
	return fmt.Sprintf("%s%016x/%s/%s", outboxPrefix, uint64(sent), user, hex.EncodeToString(id[:]))
}

// retain keeps ct, just sent to user, in the outbox, and evicts what is
// over the bounds. It returns the events the eviction causes.
func (c *Client) retain(tx sealedTx, user string, ct *content) ([]Event, error) {
	return c.retainEach(tx, []string{user}, ct)
}

// retainEach keeps ct, just sent to each of users, in the outbox, one
// record per account, and then evicts what is over the bounds, once for
// all of them.
func (c *Client) retainEach(tx sealedTx, users []string, ct *content) ([]Event, error) {
	if len(users) == 0 {
		return nil, nil
	}
	now := c.nowMillis()
	b := ct.marshal()
	var m outboxMeta
	if err := tx.getJSON(bucketOutbox, keyOutboxMeta, &m); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	// For many accounts the content is kept once, and counts once
	// against the bounds: the accounts' records go together.
	var body string
	if len(users) > 1 {
		body = fmt.Sprintf("%s%016x/%s", outboxBodyPrefix, uint64(now), hex.EncodeToString(ct.ID[:]))
		if err := tx.putJSON(bucketOutbox, body, &outboxBody{Content: b, Refs: len(users)}); err != nil {
			return nil, err
		}
		m.Count++
		m.Bytes += int64(len(b))
	}
	for _, user := range users {
		k := outboxKey(now, user, ct.ID)
		r := &outboxRecord{User: user, Content: b, Sent: now, Body: body}
		if err := putOutbox(tx, k, r); err != nil {
			return nil, err
		}
		if err := tx.put(bucketOutboxID, msgIndexKey(Direct(user), ct.ID), []byte(k)); err != nil {
			return nil, err
		}
		if body == "" {
			m.Count++
			m.Bytes += int64(len(b))
		}
	}
	if m.Count == 1 {
		m.Oldest = now // the outbox held nothing before
	}
	return c.evictOutbox(tx, &m)
}

// putOutbox stores an outbox record; one whose content is kept in a
// shared body is stored without it.
func putOutbox(tx sealedTx, k string, r *outboxRecord) error {
	if r.Body != "" {
		cp := *r
		cp.Content = nil
		r = &cp
	}
	return tx.putJSON(bucketOutbox, k, r)
}

// getOutbox reads an outbox record, with its content even when that is
// kept in a shared body.
func getOutbox(tx sealedTx, k string, r *outboxRecord) error {
	if err := tx.getJSON(bucketOutbox, k, r); err != nil {
		return err
	}
	if r.Body == "" {
		return nil
	}
	var b outboxBody
	if err := tx.getJSON(bucketOutbox, r.Body, &b); err != nil {
		return err
	}
	r.Content = b.Content
	return nil
}

// pruneOutbox evicts what the outbox's bounds no longer allow.
func (c *Client) pruneOutbox(tx sealedTx) ([]Event, error) {
	var m outboxMeta
	if err := tx.getJSON(bucketOutbox, keyOutboxMeta, &m); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return c.evictOutbox(tx, &m)
}

// evictOutbox deletes the oldest messages while they are older than
// outboxKeep or the outbox is over its bounds; one a device still could
// not decrypt becomes undelivered. It saves m.
func (c *Client) evictOutbox(tx sealedTx, m *outboxMeta) ([]Event, error) {
	cutoff := c.now().Add(-outboxKeep).UnixMilli()
	if m.Oldest > 0 && m.Oldest >= cutoff && m.Count <= maxOutbox && m.Bytes <= maxOutboxBytes {
		return nil, tx.putJSON(bucketOutbox, keyOutboxMeta, m) // nothing to evict: no listing
	}
	ks, err := tx.keys(bucketOutbox, outboxPrefix)
	if err != nil {
		return nil, err
	}
	var events []Event
	m.Oldest = 0
	for _, k := range ks {
		ts, err := strconv.ParseUint(strings.SplitN(strings.TrimPrefix(k, outboxPrefix), "/", 2)[0], 16, 64)
		if err == nil && int64(ts) >= cutoff && m.Count <= maxOutbox && m.Bytes <= maxOutboxBytes {
			m.Oldest = int64(ts)
			break
		}
		var r outboxRecord
		if err := getOutbox(tx, k, &r); err != nil {
			return nil, err
		}
		freed, err := c.forgetOutbox(tx, k, &r)
		if err != nil {
			return nil, err
		}
		if freed {
			m.Count, m.Bytes = max(0, m.Count-1), max(0, m.Bytes-int64(len(r.Content)))
		}
		for _, d := range r.Failed {
			evs, err := c.undelivered(tx, &r, d)
			if err != nil {
				return nil, err
			}
			events = append(events, evs...)
		}
	}
	if m.Count == 0 {
		m.Bytes = 0
	}
	return events, tx.putJSON(bucketOutbox, keyOutboxMeta, m)
}

// forgetOutbox deletes the outbox record k (read by getOutbox) and its
// index entry, and its shared body with the last record that refers to
// it. It reports whether the content left the outbox: always for a
// record of its own, with the last record for a shared body.
func (c *Client) forgetOutbox(tx sealedTx, k string, r *outboxRecord) (freed bool, err error) {
	if err := tx.del(bucketOutbox, k); err != nil {
		return false, err
	}
	if ct, err := parseContent(r.Content); err == nil {
		if err := tx.del(bucketOutboxID, msgIndexKey(Direct(r.User), ct.ID)); err != nil {
			return false, err
		}
	}
	if r.Body == "" {
		return true, nil
	}
	var b outboxBody
	if err := tx.getJSON(bucketOutbox, r.Body, &b); errors.Is(err, ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if b.Refs--; b.Refs > 0 {
		return false, tx.putJSON(bucketOutbox, r.Body, &b)
	}
	return true, tx.del(bucketOutbox, r.Body)
}

// outboxByID finds the kept message id sent to user, or ErrNotFound.
func outboxByID(tx sealedTx, user string, id MessageID) (string, outboxRecord, error) {
	var r outboxRecord
	k, err := tx.get(bucketOutboxID, msgIndexKey(Direct(user), id))
	if err != nil {
		return "", r, err
	}
	return string(k), r, getOutbox(tx, string(k), &r)
}

// outboxAcked records delivery receipts from device dev of peer: the
// messages it could not decrypt before have now reached it.
func outboxAcked(tx sealedTx, peer string, dev uint32, ids []MessageID) error {
	for _, id := range ids {
		k, r, err := outboxByID(tx, peer, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if i := slices.Index(r.Failed, dev); i >= 0 {
			r.Failed = slices.Delete(r.Failed, i, i+1)
			if err := putOutbox(tx, k, &r); err != nil {
				return err
			}
		}
	}
	return nil
}

// decryptionErrorReceived handles a decryption-error content from device
// dev of sender about an envelope this device sent: it schedules a
// resend (c.resends), or, when the message is no longer kept or was
// resent maxResends times already, marks it undelivered.
func (c *Client) decryptionErrorReceived(tx sealedTx, sender string, dev uint32, f *decryptionError) ([]Event, error) {
	k, r, err := outboxByID(tx, sender, f.ID)
	if errors.Is(err, ErrNotFound) {
		// Not kept (any more): all that is left is to say so.
		return c.undelivered(tx, &outboxRecord{User: sender}, dev, f.ID)
	}
	if err != nil {
		return nil, err
	}
	if r.Resends[dev] >= maxResends {
		if i := slices.Index(r.Failed, dev); i >= 0 {
			r.Failed = slices.Delete(r.Failed, i, i+1)
		}
		if err := putOutbox(tx, k, &r); err != nil {
			return nil, err
		}
		return c.undelivered(tx, &r, dev)
	}
	if r.Resends == nil {
		r.Resends = map[uint32]uint32{}
	}
	r.Resends[dev]++
	// A device of the own account sends no delivery receipt for a sync
	// transcript: a resend to it counts as done unless it fails again.
	if sender != c.acct.Username && !slices.Contains(r.Failed, dev) {
		r.Failed = append(r.Failed, dev)
	}
	if err := putOutbox(tx, k, &r); err != nil {
		return nil, err
	}
	c.resends = append(c.resends, resendJob{user: sender, device: dev, content: r.Content})
	return nil, nil
}

// undelivered marks r's message undelivered to device dev of r.User: the
// message's status and a note in the conversation (once per device),
// and an UndeliveredEvent. id, if given, names the message when r holds
// no content.
func (c *Client) undelivered(tx sealedTx, r *outboxRecord, dev uint32, id ...MessageID) ([]Event, error) {
	var ct *content
	if len(r.Content) > 0 {
		var err error
		if ct, err = parseContent(r.Content); err != nil {
			return nil, nil // not a content of ours: nothing to mark
		}
	} else if len(id) == 1 {
		ct = &content{Kind: kindText, ID: id[0]}
	} else {
		return nil, nil
	}
	own := r.User == c.acct.Username
	conv := Direct(r.User)
	if own {
		if ct.Kind != kindSyncSent {
			return nil, nil
		}
		conv = ct.conversation(r.User)
	}
	c.log.Warn("message not delivered", "peer", r.User, "device", dev, "id", ct.ID)
	mk, m, err := messageByID(tx, conv, ct.ID)
	if errors.Is(err, ErrNotFound) || err == nil && !m.Outgoing {
		return nil, nil // not a message of this conversation
	}
	if err != nil {
		return nil, err
	}
	ev := &UndeliveredEvent{Conversation: conv, To: r.User, ID: ct.ID, Device: dev, OwnDevice: own}
	if own {
		return []Event{ev}, nil // the peer may have it: the status stays
	}
	if m.Status != StatusUndelivered {
		m.Status = StatusUndelivered
		if err := tx.putJSON(bucketMessage, mk, &m); err != nil {
			return nil, err
		}
	}
	h := sha256.Sum256(fmt.Appendf(ct.ID[:], "/undelivered/%d", dev))
	var noteID MessageID
	copy(noteID[:], h[:])
	note := &messageRecord{ID: noteID, Conv: conv, From: c.acct.Username, FromDevice: c.acct.DeviceID, Kind: KindUndelivered,
		Text: fmt.Sprintf("Your message of %s could not be delivered to %s's device %d.",
			time.UnixMilli(m.Timestamp).UTC().Format("2006-01-02 15:04 MST"), r.User, dev),
		Timestamp: c.nowMillis(), Status: StatusUnread}
	if _, err := storeMessage(tx, note); err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// runResends sends the resends decided while processing an envelope.
// Each goes on a fresh session with the device that asked (from a new
// bundle; the broken session becomes inactive and is no longer used to
// send), at most one fresh session per device every retryEvery, and with
// the message's own ID as client_id, so the recipient's other devices
// drop it as a repeat. c.mu is held.
func (c *Client) runResends(ctx context.Context) {
	jobs := c.resends
	c.resends = nil
	for _, j := range jobs {
		ct, err := parseContent(j.content)
		if err != nil {
			continue
		}
		fresh := map[uint32]*ratchet.Session{}
		k := "resend/" + sessionKey(j.user, j.device)
		if last, ok := c.resetAt[k]; !ok || c.now().Sub(last) >= retryEvery {
			c.resetAt[k] = c.now()
			if err := c.startSessions(ctx, j.user, j.device, fresh); err != nil {
				c.log.Warn("no fresh session for a resend", "peer", j.user, "device", j.device, "err", err)
			}
		}
		if err := c.deliverFresh(ctx, j.user, ct, false, fresh); err != nil {
			c.log.Warn("resend failed", "peer", j.user, "device", j.device, "err", err)
		}
	}
}

// countFailure records one more failure of the envelope (sender, dev,
// clientID) and returns how many there have been.
func (c *Client) countFailure(tx sealedTx, sender string, dev uint32, clientID []byte) (int, error) {
	k := seenKey(sender, dev, clientID)
	var r failedRecord
	if err := tx.getJSON(bucketFailed, k, &r); err != nil && !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	if r.Count == 0 {
		r.At = c.nowMillis()
	}
	r.Count++
	return r.Count, tx.putJSON(bucketFailed, k, &r)
}

// replaceFailureNote removes the "could not be decrypted" note that
// stands for message id from sender, before the message itself is
// stored. It reports whether there was one.
func replaceFailureNote(tx sealedTx, sender string, id MessageID) (bool, error) {
	note := Direct(sender) // where undecryptable's note is
	mk, r, err := messageByID(tx, note, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if r.Kind != KindDecryptionFailed || r.Outgoing || r.From != sender {
		return false, nil
	}
	if err := tx.del(bucketMessage, mk); err != nil {
		return false, err
	}
	if err := tx.del(bucketMsgIndex, msgIndexKey(note, id)); err != nil {
		return false, err
	}
	if r.Status != StatusUnread {
		return true, nil
	}
	var conv convRecord
	if err := tx.getJSON(bucketConv, sender, &conv); err != nil {
		return false, err
	}
	conv.Unread = max(0, conv.Unread-1)
	return true, tx.putJSON(bucketConv, sender, &conv)
}

// reportFailure repairs the sessions with a device whose envelope could
// not be decrypted and, if report, asks it to send the envelope again: a
// decryption-error content on a fresh prekey session (at most one fresh
// session per device every resetEvery; within that, on the active
// session, which is the fresh one). c.mu is held.
func (c *Client) reportFailure(ctx context.Context, f *api.Frame, report bool) {
	sender, dev := f.Sender, f.SenderDevice
	fresh := map[uint32]*ratchet.Session{}
	k := sessionKey(sender, dev)
	if last, ok := c.resetAt[k]; !ok || c.now().Sub(last) >= resetEvery {
		c.resetAt[k] = c.now()
		if err := c.startSessions(ctx, sender, dev, fresh); err != nil {
			c.log.Warn("no fresh session with the device", "peer", sender, "device", dev, "err", err)
		}
	}
	if !report && len(fresh) == 0 {
		return
	}
	ct := &content{Kind: kindReset, Timestamp: c.nowMillis()}
	if report && len(f.ClientID) == len(MessageID{}) {
		ct.Kind = kindDecryptionError
		ct.Failed = &decryptionError{Device: dev, Time: max(0, f.Timestamp)}
		copy(ct.Failed.ID[:], f.ClientID)
	}
	c.rand.Read(ct.ID[:])
	if err := c.deliverFresh(ctx, sender, ct, false, fresh); err != nil {
		c.log.Warn("decryption error not sent", "peer", sender, "device", dev, "err", err)
	}
}

// reportBudget counts the decryption-error contents sent to one peer
// device in the current minute.
type reportBudget struct {
	start time.Time
	n     int
}

// maxReportsPerMinute bounds the decryption-error contents sent to one
// peer device per minute, so that two devices that cannot read each
// other cannot keep each other busy.
const maxReportsPerMinute = 50

// reportAllowed spends one of the peer device's reports, if any is left.
func (c *Client) reportAllowed(sender string, dev uint32) bool {
	if c.reports == nil {
		c.reports = map[string]reportBudget{}
	}
	k := sessionKey(sender, dev)
	b := c.reports[k]
	if c.now().Sub(b.start) >= time.Minute {
		b = reportBudget{start: c.now()}
	}
	if b.n >= maxReportsPerMinute {
		return false
	}
	b.n++
	c.reports[k] = b
	return true
}
