package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/session"
)

const (
	bundleWait      = 500 * time.Millisecond // before fetching keys again after rate_limited
	maxBundleWaits  = 120                    // a minute of them at most
	maxSendAttempts = 4                      // stale-device rounds before giving up
	ownDevicesTTL   = 60 * time.Second       // how long the list of own devices is trusted
)

// cmpErr is err, or if err is nil, alt.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// ErrSelf means a message was addressed to the sender's own account.
var ErrSelf = errors.New("client: cannot send a message to your own account")

// Send sends a text message to the conversation to: to a peer, encrypted
// to every device of the peer, or to a group (spec/client.md §10.4); and,
// as a sync transcript, to this account's other devices. It returns the
// stored message; its status is Sent once the server has it.
func (c *Client) Send(ctx context.Context, to ConversationID, text string) (Message, error) {
	return c.sendText(ctx, to, &content{Text: text})
}

// Reply sends text as a reply to the message re of the conversation to.
func (c *Client) Reply(ctx context.Context, to ConversationID, re MessageID, text string) (Message, error) {
	return c.sendText(ctx, to, &content{Text: text, ReplyTo: &re})
}

// sendText sends a text: msg's Text, and its ReplyTo, Attachment (an
// uploaded file) and Forwarded if set.
func (c *Client) sendText(ctx context.Context, to ConversationID, msg *content) (Message, error) {
	text := msg.Text
	to, err := to.normalize()
	if err != nil {
		return Message{}, err
	}
	if to.Peer() == c.acct.Username {
		return Message{}, ErrSelf
	}
	if len(text) > maxText {
		return Message{}, fmt.Errorf("client: a message is at most %d bytes", maxText)
	}
	c.mu.Lock()
	defer c.unlock()
	ct := &content{Kind: kindText, Timestamp: c.nowMillis(), Text: text, ReplyTo: msg.ReplyTo, Attachment: msg.Attachment, Forwarded: msg.Forwarded,
		ProfileKey: c.acct.ProfileKey} // the sender's, to the peer or the group (spec/client.md §12.2)
	ct.setConversation(to)
	c.rand.Read(ct.ID[:])
	if err := c.view(ctx, func(tx sealedTx) error {
		if b, err := isBlocked(tx, to.Peer()); err != nil || b && !to.IsGroup() {
			return cmpErr(err, ErrBlocked)
		}
		if to.IsGroup() {
			// A group message has one ciphertext for every member: it
			// carries no profile key if one of them is blocked, so a
			// key rotated on blocking stays from them (spec/client.md
			// §11.7).
			if b, err := c.groupHasBlocked(tx, *ct.Group); err != nil || b {
				ct.ProfileKey = nil
				if err != nil {
					return err
				}
			}
		}
		var err error
		ct.Timer, err = chatTimer(tx, to)
		return err
	}); err != nil {
		return Message{}, err
	}
	if to.IsGroup() {
		return c.sendGroupText(ctx, to, ct)
	}
	peer := to.Peer()
	rec := &messageRecord{ID: ct.ID, Conv: to, Outgoing: true, From: c.acct.Username, FromDevice: c.acct.DeviceID,
		Kind: KindText, Text: text, ReplyTo: ct.ReplyTo, Attachment: ct.Attachment, Timestamp: ct.Timestamp, Status: StatusSending,
		Forwarded: ct.Forwarded}
	sentTimer(rec, ct)
	var heldBack []MessageID // read receipts a request held back
	if err := c.update(ctx, func(tx sealedTx) error {
		// Writing to someone accepts their request (spec/client.md §11.8).
		if known, err := c.known(tx, peer); err != nil {
			return err
		} else if !known {
			if heldBack, err = readOfPeer(tx, to); err != nil {
				return err
			}
		}
		if err := c.markKnown(tx, peer); err != nil {
			return err
		}
		_, _, err := c.storeText(tx, rec)
		return err
	}); err != nil {
		return Message{}, err
	}
	sendErr := c.deliver(ctx, peer, ct, false)
	rec.Status = StatusSent
	if sendErr != nil {
		rec.Status = StatusFailed
	}
	if errors.Is(sendErr, ErrNoSuchUser) {
		// No such user: forget the message rather than leave a
		// conversation with nobody in the list.
		if err := c.update(ctx, func(tx sealedTx) error { return forgetMessage(tx, rec) }); err != nil {
			c.log.Warn("message to an unknown user not removed", "err", err)
		}
		return Message{}, sendErr
	}
	var events []Event
	if err := c.update(ctx, func(tx sealedTx) error {
		if err := tx.putJSON(bucketMessage, messageKey(to, rec.Timestamp, rec.ID), rec); err != nil || sendErr != nil {
			return err
		}
		// Kept for a resend if a device cannot decrypt it (spec/client.md §6.3).
		var err error
		events, err = c.retain(tx, peer, ct)
		return err
	}); err != nil && sendErr == nil {
		sendErr = err
	}
	if sendErr != nil {
		return rec.message(), sendErr
	}
	c.syncSent(ctx, to, ct, events)
	if err := c.sendReceipts(ctx, to, peer, ReceiptRead, heldBack); err != nil {
		c.log.Warn("read receipts of an accepted request not sent", "err", err)
	}
	return rec.message(), nil
}

// syncSent sends the transcript of ct, just sent to to, to this account's other
// devices, keeps it for resending, and reports events (the caller's
// and the resends'). c.mu is held.
func (c *Client) syncSent(ctx context.Context, to ConversationID, ct *content, events []Event) {
	sync := *ct
	sync.Kind = kindSyncSent
	sync.setConversation(to)
	if err := c.deliver(ctx, c.acct.Username, &sync, false); err != nil {
		c.log.Warn("sync transcript not sent", "err", err)
	} else if err := c.update(ctx, func(tx sealedTx) error {
		if own, err := sessionDevices(tx, c.acct.Username, c.acct.DeviceID, true); err != nil || len(own) == 0 {
			return err // no other device: nothing was sent
		}
		evs, err := c.retain(tx, c.acct.Username, &sync)
		events = append(events, evs...)
		return err
	}); err != nil {
		c.log.Warn("sync transcript not kept for resending", "err", err)
	}
	for _, e := range events {
		c.emit(e)
	}
}

// SendTyping tells the online devices of the conversation's other
// members that the user started or stopped typing. The server does not
// store it (an ephemeral send). It goes only to devices this one already
// has sessions (or, in a group, a sent sender key) with: starting one
// would use up a one-time prekey of the peer's for a best-effort signal.
func (c *Client) SendTyping(ctx context.Context, to ConversationID, started bool) error {
	to, err := to.normalize()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	ct := &content{Kind: kindTyping, Timestamp: c.nowMillis(), Typing: started}
	ct.setConversation(to)
	c.rand.Read(ct.ID[:])
	if to.IsGroup() {
		return c.sendGroupEphemeral(ctx, to, ct)
	}
	// Not to a blocked account, nor before a request is accepted.
	var quiet bool
	if err := c.view(ctx, func(tx sealedTx) error {
		b, err := isBlocked(tx, to.Peer())
		if err != nil || b {
			quiet = b
			return err
		}
		quiet, err = c.isRequest(tx, to)
		return err
	}); err != nil || quiet {
		return err
	}
	return c.deliver(ctx, to.Peer(), ct, true)
}

// sendReceipts sends receipts for ids of conv to sender, their author.
// c.mu is held.
func (c *Client) sendReceipts(ctx context.Context, conv ConversationID, sender string, typ ReceiptType, ids []MessageID) error {
	if sender == c.acct.Username {
		return nil // own messages from another device: the read sync tells it
	}
	for len(ids) > 0 {
		n := min(len(ids), maxReceiptIDs)
		ct := &content{Kind: kindReceipt, Timestamp: c.nowMillis(), Receipt: typ, ReceiptIDs: ids[:n]}
		ct.setConversation(conv)
		c.rand.Read(ct.ID[:])
		if err := c.deliver(ctx, sender, ct, false); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// deliver encrypts ct to every device of user (for the own account: every
// other device) and sends it, starting sessions from prekey bundles where
// needed and following the server's stale-device answers (spec/api.md
// §6.4). Session states are saved before the send (a message key is never
// used twice, even if the send fails). c.mu is held.
func (c *Client) deliver(ctx context.Context, user string, ct *content, ephemeral bool) error {
	return c.deliverFresh(ctx, user, ct, ephemeral, map[uint32]*ratchet.Session{})
}

// deliverFresh is deliver with sessions already started from bundles
// (fresh, not yet saved), which become the active sessions of their
// devices before anything is encrypted.
func (c *Client) deliverFresh(ctx context.Context, user string, ct *content, ephemeral bool, fresh map[uint32]*ratchet.Session) error {
	self := user == c.acct.Username
	plaintext := padContent(ct.marshal())

	var known []uint32
	if err := c.view(ctx, func(tx sealedTx) error {
		var err error
		known, err = sessionDevices(tx, user, c.acct.DeviceID, self)
		return err
	}); err != nil {
		return err
	}
	// An ephemeral content (typing) never starts a session: that would
	// use up one of the peer's one-time prekeys for a best-effort signal.
	if len(known) == 0 && ephemeral {
		return nil
	}
	if len(known) == 0 && len(fresh) == 0 {
		if self {
			others, err := c.ownDevices(ctx)
			if err != nil || len(others) == 0 {
				return err // no other device: nothing to sync
			}
		}
		if err := c.startSessions(ctx, user, 0, fresh); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		envs, err := c.encryptAll(ctx, user, self, plaintext, fresh)
		if err != nil {
			return err
		}
		clear(fresh)
		if len(envs) == 0 {
			return nil
		}
		_, err = c.http.Send(ctx, user, api.SendRequest{ClientID: ct.ID[:], Envelopes: envs, Ephemeral: ephemeral})
		var ae *api.Error
		stale := errors.As(err, &ae) && ae.Code == api.CodeStaleDevices
		if stale && ephemeral {
			return nil // nor does it fetch bundles for new devices: dropped
		}
		if !stale || attempt+1 == maxSendAttempts {
			if ae != nil && ae.Code == api.CodeNotFound {
				return ErrNoSuchUser
			}
			return err
		}
		if err := c.dropExtra(ctx, user, ae.Extra); err != nil {
			return err
		}
		for _, d := range ae.Missing {
			if err := c.startSessions(ctx, user, d, fresh); err != nil {
				return err
			}
		}
	}
}

// dropExtra follows a stale answer's extra devices of user: they are
// gone, but what they sent may still be queued for this device, so their
// sessions become receive-only (spec/client.md §4.1), never deleted here.
// For this account, the list of its devices is asked again at the next
// send.
func (c *Client) dropExtra(ctx context.Context, user string, extra []uint32) error {
	if user == c.acct.Username {
		c.ownDevAt = time.Time{}
	}
	return c.update(ctx, func(tx sealedTx) error {
		for _, d := range extra {
			if err := c.archiveDevice(tx, user, d, true); err != nil {
				return err
			}
		}
		return nil
	})
}

func isRateLimited(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeRateLimited
}

// sessionDevices lists the devices of user with which sessions exist.
func sessionDevices(tx sealedTx, user string, ownDevice uint32, self bool) ([]uint32, error) {
	ks, err := tx.keys(bucketSession, user+"/")
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, k := range ks {
		_, d, err := parseSessionKey(k)
		if err != nil {
			return nil, err
		}
		if !self || d != ownDevice {
			out = append(out, d)
		}
	}
	return out, nil
}

// startSessions fetches prekey bundles for user (every device, or only
// device if not 0) and starts a session with each (PQXDH §3.3) into fresh.
func (c *Client) startSessions(ctx context.Context, user string, device uint32, fresh map[uint32]*ratchet.Session) error {
	bs, err := c.http.Bundles(ctx, user, device)
	for tries := 0; isRateLimited(err) && tries < maxBundleWaits; tries++ {
		// The server spreads bundle fetches (a burst, then a few a
		// second: spec/api.md §2.3) so that no one drains prekeys; a
		// group of many new contacts waits its turn.
		if err := sleep(ctx, bundleWait); err != nil {
			return err
		}
		bs, err = c.http.Bundles(ctx, user, device)
	}
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
			return ErrNoSuchUser
		}
		return fmt.Errorf("client: fetch %s's keys: %w", user, err)
	}
	for _, b := range bs.Bundles {
		pb, err := pqxdh.ParseBundle(b)
		if err != nil {
			return fmt.Errorf("client: %s's prekey bundle: %w", user, err)
		}
		if user == c.acct.Username && pb.DeviceID == c.acct.DeviceID {
			continue
		}
		if user == c.acct.Username && pb.IdentityKey != c.id.Public() {
			return fmt.Errorf("client: the server serves another identity key for this account; it may have been recovered on another device")
		}
		s, err := session.Initiate(c.id, nil, b, c.rand)
		if err != nil {
			return fmt.Errorf("client: start a session with %s: %w", user, err)
		}
		fresh[pb.DeviceID] = s
	}
	return nil
}

// encryptAll saves the fresh sessions, then encrypts plaintext with the
// active session of every device of user and saves the advanced states,
// in one transaction. A blocked contact gets nothing.
func (c *Client) encryptAll(ctx context.Context, user string, self bool, plaintext []byte, fresh map[uint32]*ratchet.Session) ([]api.OutgoingEnvelope, error) {
	var (
		envs    []api.OutgoingEnvelope
		blocked bool
		changed bool
	)
	err := c.update(ctx, func(tx sealedTx) error {
		var err error
		envs, blocked, changed, err = c.encryptIn(tx, user, self, plaintext, fresh)
		return err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		c.emit(&IdentityChangedEvent{Peer: user, Held: blocked})
	}
	if blocked {
		return nil, ErrIdentityNotVerified
	}
	return envs, nil
}

// encryptIn is encryptAll's work in transaction tx: it saves the fresh
// sessions, then, unless user is a blocked contact, encrypts plaintext for
// every device of user and saves the advanced states. changed reports an
// identity key that differs from the one known.
func (c *Client) encryptIn(tx sealedTx, user string, self bool, plaintext []byte, fresh map[uint32]*ratchet.Session) (envs []api.OutgoingEnvelope, blocked, changed bool, err error) {
	if changed, err = c.saveFresh(tx, user, self, fresh); err != nil {
		return nil, false, false, err
	}
	if !self {
		var r contactRecord
		if err := tx.getJSON(bucketContact, user, &r); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, false, err
		}
		if r.Held {
			return nil, true, changed, nil // keep what was learnt, send nothing
		}
	}
	devices, err := sessionDevices(tx, user, c.acct.DeviceID, self)
	if err != nil {
		return nil, false, false, err
	}
	for _, d := range devices {
		ds, err := loadSessions(tx, user, d)
		if err != nil {
			return nil, false, false, err
		}
		msg, err := ds.active.Encrypt(plaintext)
		if err != nil {
			return nil, false, false, fmt.Errorf("client: encrypt: %w", err)
		}
		if err := ds.save(tx, user, d); err != nil {
			return nil, false, false, err
		}
		envs = append(envs, api.OutgoingEnvelope{DeviceID: d, Type: msg[1], Content: msg})
	}
	return envs, false, changed, nil
}

// saveFresh makes the sessions in fresh, just started with devices of
// user, their devices' active sessions, and notes the identity key they
// were made with. It reports whether that key differs from the one known.
func (c *Client) saveFresh(tx sealedTx, user string, self bool, fresh map[uint32]*ratchet.Session) (changed bool, err error) {
	for _, d := range sortedKeys(fresh) {
		s := fresh[d]
		if !self {
			if err := c.archiveOldIdentity(tx, user, s.RemoteIdentity(), nil, 0); err != nil {
				return false, err
			}
			ch, err := c.observeIdentity(tx, user, s.RemoteIdentity(), d)
			if err != nil {
				return false, err
			}
			changed = changed || ch
		}
		ds, err := loadSessions(tx, user, d)
		if err != nil {
			return false, err
		}
		ds.promote(s, c.nowMillis())
		if err := ds.save(tx, user, d); err != nil {
			return false, err
		}
	}
	return changed, nil
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	ks := make([]uint32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// ownDevices returns the account's other devices, refreshed from the
// server at most every ownDevicesTTL. c.mu is held.
func (c *Client) ownDevices(ctx context.Context) ([]uint32, error) {
	if !c.ownDevAt.IsZero() && c.now().Sub(c.ownDevAt) < ownDevicesTTL {
		return c.ownDevs, nil
	}
	list, err := c.http.Devices(ctx)
	if err != nil {
		return nil, err
	}
	c.ownDevs = c.ownDevs[:0]
	for _, d := range list {
		if d.ID != c.acct.DeviceID {
			c.ownDevs = append(c.ownDevs, d.ID)
		}
	}
	c.ownDevAt = c.now()
	return c.ownDevs, nil
}
