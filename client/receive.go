package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/wire"
)

const (
	resetEvery = time.Minute // at most one session reset per peer device this often
	seenTTL    = 45 * 24 * time.Hour
)

// Sync connects, processes everything queued for this device, and
// returns once the queue has been read through. It also tops up prekeys.
func (c *Client) Sync(ctx context.Context) error {
	return c.session(ctx, true)
}

// Run stays connected until ctx ends, processing envelopes as they
// arrive and reconnecting after errors (1 s, doubling to 30 s). It
// returns ctx's error, or an error that reconnecting cannot fix (the
// device was removed).
func (c *Client) Run(ctx context.Context) error {
	// Disappearing messages go on time while Run runs (disappear.go).
	rctx, stopReaper := context.WithCancel(ctx)
	reaped := make(chan struct{})
	go func() { c.reap(rctx); close(reaped) }()
	defer func() { stopReaper(); <-reaped }()
	backoff := time.Second
	for {
		start := c.now()
		err := c.session(ctx, false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
			return fmt.Errorf("client: the server no longer accepts this device (removed?): %w", err)
		}
		if c.now().Sub(start) > time.Minute {
			backoff = time.Second
		}
		c.log.Warn("connection lost; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// session runs one WebSocket connection.
func (c *Client) session(ctx context.Context, untilEmpty bool) error {
	if err := c.MaintainPreKeys(ctx); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
			return err
		}
		c.log.Warn("prekey maintenance failed", "err", err)
	}
	c.keepAvatars(ctx)
	c.mu.Lock()
	c.learnGroupMax(ctx)
	c.unlock()
	connected := c.nowMillis() // a Queue Empty on this connection drains what was queued before
	sock, err := c.http.Connect(ctx)
	if err != nil {
		return err
	}
	defer sock.Close()
	// Delivery receipts wait until the queue has been read through, so a
	// burst of queued messages is answered with one receipt per sender;
	// once caught up, a 1:1 message's is sent at once, a group's a moment
	// later (receipts.go).
	var receipts receiptBatch
	caughtUp := false
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), receiptFlushTimeout)
		c.flushReceipts(fctx, &receipts)
		cancel()
	}()
	var late *time.Timer // flushes the group receipts
	defer func() {
		if late != nil {
			late.Stop() // before the flush above: what it held goes now
		}
	}()
	for {
		f, err := sock.Recv(ctx)
		if err != nil {
			if untilEmpty && transport.CloseStatus(err) == -1 && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch f.Type {
		case api.FrameDeliver:
			if err := c.handle(ctx, f, &receipts); err != nil {
				return err // not acknowledged: it comes again on the next connection
			}
			if f.Seq != 0 {
				if err := sock.Ack(ctx, f.Seq); err != nil {
					return err
				}
			}
			if caughtUp {
				c.flushReceiptsOf(ctx, &receipts, false)
				if receipts.armGroups() {
					// A group's receipts wait a moment, so that one
					// receipt answers each sender's burst (receipts.go).
					if late == nil {
						late = time.AfterFunc(groupReceiptDelay, func() { c.flushReceiptsOf(ctx, &receipts, true) })
					} else {
						late.Reset(groupReceiptDelay)
					}
				}
			}
		case api.FrameChannel:
			c.handleChannelFrame(ctx, f)
		case api.FrameQueueEmpty:
			caughtUp = true
			c.flushReceipts(ctx, &receipts)
			c.pruneSeen(ctx)
			c.pruneDrained(ctx, connected)
			if _, err := c.EraseExpired(ctx); err != nil {
				c.log.Warn("erasing expired messages failed", "err", err)
			}
			c.emit(&SyncedEvent{})
			if untilEmpty {
				return nil
			}
		}
	}
}

// errUndecryptable marks a failure to decrypt (or to authenticate) an
// envelope; other errors from processing are the store's.
type errUndecryptable struct{ err error }

func (e errUndecryptable) Error() string { return "client: undecryptable envelope: " + e.err.Error() }

// handle processes one delivered envelope: decrypts it, stores what it
// carries and its session state in one transaction, reports events, and
// adds the delivery receipts it owes to rb. It returns an error only when
// the envelope must not be acknowledged.
func (c *Client) handle(ctx context.Context, f *api.Frame, rb *receiptBatch) error {
	sender, dev := f.Sender, f.SenderDevice
	self := sender == c.acct.Username
	if self && dev == c.acct.DeviceID {
		return nil
	}
	if f.EnvType == uint8(wire.TypeSenderKey) {
		return c.handleGroupMessage(ctx, f, rb)
	}
	c.mu.Lock()
	defer c.unlock()
	var (
		events   []Event
		receipts []MessageID
		rconv    ConversationID
		dup      bool
	)
	c.resends = c.resends[:0] // resends of this envelope count only if it commits
	err := c.update(ctx, func(tx sealedTx) error {
		events, receipts, dup = nil, nil, false
		c.resends = c.resends[:0]
		if err := c.listKnown(tx); err != nil {
			return err
		}
		// A blocked account's envelope goes before its session is
		// touched, unless it shares a group with this account
		// (spec/client.md §11.7).
		drop, groupOnly, err := c.blockedSender(tx, sender)
		if err != nil || drop {
			return err
		}
		if f.Seq != 0 {
			if _, err := tx.get(bucketSeen, seenKey(sender, dev, f.ClientID)); err == nil {
				dup = true
				return nil
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := tx.put(bucketSeen, seenKey(sender, dev, f.ClientID), []byte(strconv.FormatInt(c.nowMillis(), 10))); err != nil {
				return err
			}
		}
		ds, err := loadSessions(tx, sender, dev)
		if err != nil {
			return err
		}
		pt, identity, receiveOnly, err := c.decrypt(tx, ds, f.EnvType, f.Content)
		if err != nil {
			return errUndecryptable{err}
		}
		if self {
			if identity != c.id.Public() && !receiveOnly {
				return errUndecryptable{errors.New("own device with another identity key")}
			}
		} else if receiveOnly {
			// An archived session: the key it was made with may be the
			// peer's old one (before a recovery); it is not recorded.
		} else if err := c.archiveOldIdentity(tx, sender, identity, ds, dev); err != nil {
			return err
		} else if changed, err := c.observeIdentity(tx, sender, identity, dev); err != nil {
			return err
		} else if changed {
			var r contactRecord
			tx.getJSON(bucketContact, sender, &r)
			events = append(events, &IdentityChangedEvent{Peer: sender, Held: r.Held})
		}
		if err := ds.save(tx, sender, dev); err != nil {
			return err
		}
		body, err := unpadContent(pt)
		var ct *content
		if err == nil {
			ct, err = parseContent(body)
		}
		if err != nil {
			// Authentic, but not a content this version understands: the
			// session is fine, so keep it and note the message.
			if f.Seq == 0 || self {
				return nil
			}
			c.log.Warn("unreadable content", "sender", sender, "device", dev, "err", err)
			r := &messageRecord{ID: newID(c), Conv: Direct(sender), From: sender, FromDevice: dev, Kind: KindDecryptionFailed,
				Text:      fmt.Sprintf("A message from %s could not be shown (it may need a newer version of Parley).", sender),
				Timestamp: noteTime(c, f), Status: StatusUnread}
			if _, err := storeMessage(tx, r); err != nil {
				return err
			}
			events = append(events, &MessageEvent{Message: r.message()})
			return nil
		}
		if groupOnly && !blockedKeeps(ct.Kind) {
			return nil
		}
		rconv = ct.conversation(sender)
		ct.stored = f.Timestamp
		events, receipts, err = c.apply(tx, sender, dev, ct, nil, events)
		return err
	})
	if err != nil {
		c.resends = c.resends[:0]
	}
	var bad errUndecryptable
	if errors.As(err, &bad) {
		if f.Seq == 0 {
			return nil // an ephemeral envelope: nothing to report
		}
		c.log.Warn("undecryptable envelope", "sender", sender, "device", dev, "err", bad.err)
		return c.undecryptable(ctx, f)
	}
	if err != nil || dup {
		return err
	}
	c.purgeStore(ctx)
	for _, e := range events {
		c.emit(e)
	}
	rb.add(rconv, sender, receipts)
	c.runResends(ctx)
	c.runRebases(ctx)
	c.runLinkChecks(ctx)
	c.runProfileFetches(ctx)
	return nil
}

// apply stores what a decrypted content carries. group is the group whose
// sender key opened it, nil for a 1:1 envelope. It returns the events to
// report and the messages to acknowledge with a delivery receipt.
func (c *Client) apply(tx sealedTx, sender string, dev uint32, ct *content, group *GroupID, events []Event) ([]Event, []MessageID, error) {
	self := sender == c.acct.Username
	if (ct.Kind == kindText || ct.Kind == kindTyping) && !sameGroup(ct.Group, group) {
		// A group's messages come under its sender keys, and only
		// those: a 1:1 envelope cannot post into a group, nor a group's
		// chain into another conversation.
		c.log.Warn("content in the wrong conversation dropped", "sender", sender, "kind", ct.Kind)
		return events, nil, nil
	}
	if ct.Kind.action() && !(ct.Kind == kindDelete && ct.ForMe && self && group == nil) &&
		(group == nil && (ct.Destination != "") != self || !sameGroup(ct.Group, group)) {
		// A peer's action is about the chat with the peer, one's own
		// names the chat; a group's come under its sender keys only.
		c.log.Warn("action in the wrong conversation dropped", "sender", sender, "kind", ct.Kind)
		return events, nil, nil
	}
	conv := ct.conversation(sender)
	if conv.IsGroup() && !ct.Kind.groupOnly() {
		ok, err := c.groupAllows(tx, conv, sender, ct)
		if err != nil || !ok {
			return events, nil, err
		}
	}
	if err := c.learnProfileKey(tx, sender, ct); err != nil {
		return nil, nil, err
	}
	var receipts []MessageID
	switch {
	case ct.Kind.groupOnly():
		evs, err := c.applyGroupContent(tx, sender, dev, ct)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, evs...)
	case ct.Kind == kindText && !self:
		r := &messageRecord{ID: ct.ID, Conv: conv, From: sender, FromDevice: dev, Kind: KindText, Text: ct.Text,
			ReplyTo: ct.ReplyTo, Attachment: ct.Attachment, Timestamp: ct.Timestamp, Status: StatusUnread,
			Stored: ct.stored, Forwarded: ct.Forwarded, Timer: ct.Timer}
		if group != nil {
			r.Mentions, r.MentionsMe = c.mentionsIn(tx, *group, ct.Text)
		}
		// A resend takes the place of the note its failure left.
		resent, err := replaceFailureNote(tx, sender, ct.ID)
		if err != nil {
			return nil, nil, err
		}
		stored, evs, err := c.storeText(tx, r)
		if err != nil {
			return nil, nil, err
		}
		receipts = append(receipts, ct.ID) // acknowledged even if stored before
		if stored {
			events = append(events, &MessageEvent{Message: r.message(), Resent: resent})
			events = append(events, evs...)
		}
	case ct.Kind == kindText && self && group != nil:
		// Sent to the group by another of this account's devices: it
		// comes under that device's sender key, as to every member.
		r := &messageRecord{ID: ct.ID, Conv: conv, Outgoing: true, From: sender, FromDevice: dev, Kind: KindText,
			Text: ct.Text, ReplyTo: ct.ReplyTo, Attachment: ct.Attachment, Timestamp: ct.Timestamp, Status: StatusSent,
			Recipients: c.groupRecipients(tx, *group), Stored: ct.stored, Forwarded: ct.Forwarded}
		r.Mentions, r.MentionsMe = c.mentionsIn(tx, *group, ct.Text)
		sentTimer(r, ct)
		stored, evs, err := c.storeText(tx, r)
		if err != nil {
			return nil, nil, err
		}
		if stored {
			events = append(events, &MessageEvent{Message: r.message()})
			events = append(events, evs...)
		}
	case ct.Kind == kindSyncSent && self && ct.Destination != c.acct.Username:
		if err := c.markKnown(tx, ct.Destination); err != nil {
			return nil, nil, err
		}
		r := &messageRecord{ID: ct.ID, Conv: conv, Outgoing: true, From: sender, FromDevice: dev, Kind: KindText,
			Text: ct.Text, ReplyTo: ct.ReplyTo, Attachment: ct.Attachment, Timestamp: ct.Timestamp, Status: StatusSent,
			Stored: ct.stored, Forwarded: ct.Forwarded}
		sentTimer(r, ct)
		stored, evs, err := c.storeText(tx, r)
		if err != nil {
			return nil, nil, err
		}
		if stored {
			events = append(events, &MessageEvent{Message: r.message()})
			events = append(events, evs...)
		}
	case ct.Kind == kindReceipt && !self:
		status := StatusDelivered
		if ct.Receipt == ReceiptRead {
			status = StatusRead
		}
		changed, err := setStatus(tx, conv, sender, ct.ReceiptIDs, status)
		if err != nil {
			return nil, nil, err
		}
		if err := outboxAcked(tx, sender, dev, ct.ReceiptIDs); err != nil {
			return nil, nil, err
		}
		if len(changed) > 0 {
			events = append(events, &ReceiptEvent{Conversation: conv, From: sender, Type: ct.Receipt, IDs: changed})
		}
	case ct.Kind == kindSyncRead && self:
		changed, err := markReadElsewhere(tx, conv, ct.ReceiptIDs, c.nowMillis())
		if err != nil {
			return nil, nil, err
		}
		if len(changed) > 0 {
			events = append(events, &ReadElsewhereEvent{Conversation: conv, IDs: changed})
		}
	case ct.Kind == kindSyncVerified && self:
		ev, err := c.applyVerifiedSync(tx, dev, ct)
		if err != nil {
			return nil, nil, err
		}
		if ev != nil {
			events = append(events, ev)
		}
	case ct.Kind == kindDecryptionError && ct.Failed.Device == c.acct.DeviceID:
		evs, err := c.decryptionErrorReceived(tx, sender, dev, ct.Failed)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, evs...)
	case ct.Kind.action():
		evs, err := c.applyAction(tx, sender, dev, ct, conv)
		var refused errRefused
		if errors.As(err, &refused) {
			c.log.Warn("action refused", "sender", sender, "device", dev, "kind", ct.Kind, "why", err)
			return events, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		events = append(events, evs...)
	case ct.Kind == kindTyping && !self:
		if req, err := c.isRequest(tx, conv); err != nil || req {
			return events, nil, err // a request's typing is not shown
		}
		events = append(events, &TypingEvent{Conversation: conv, From: sender, Device: dev, Started: ct.Typing})
	case ct.Kind == kindSyncBlock && self:
		if err := c.applyBlockSync(tx, ct); err != nil {
			return nil, nil, err
		}
	case ct.Kind == kindSyncRequest && self:
		if err := c.applyRequestSync(tx, ct, conv); err != nil {
			return nil, nil, err
		}
	}
	// kindReset, and contents that make no sense from this sender, carry
	// nothing to store: decrypting them was all they were for.
	return events, receipts, nil
}

// undecryptable records a message that could not be decrypted as a note
// in the conversation, so it is never silently lost, and repairs the
// session: it sends the sender's device a decryption-error content (at
// most maxErrorReports for one envelope) in a fresh prekey session,
// which becomes the active session on both sides (Signal's session
// reset), so the device can send the message again (spec/client.md
// §6.3). The note has the envelope's client ID as its ID: the resent
// message replaces it. No deduplication record is written, so that the
// resend, which has the same client ID, is read.
func (c *Client) undecryptable(ctx context.Context, f *api.Frame) error {
	sender, dev := f.Sender, f.SenderDevice
	id := newID(c)
	if len(f.ClientID) == len(id) {
		copy(id[:], f.ClientID)
	}
	var failures int
	err := c.update(ctx, func(tx sealedTx) error {
		var err error
		if failures, err = c.countFailure(tx, sender, dev, f.ClientID); err != nil {
			return err
		}
		peer := sender
		if peer == c.acct.Username {
			return nil // a sync transcript: no conversation to note it in
		}
		_, err = storeMessage(tx, &messageRecord{ID: id, Conv: Direct(peer), From: sender, FromDevice: dev, Kind: KindDecryptionFailed,
			Text: fmt.Sprintf("A message from %s (device %d) could not be decrypted.", sender, dev), Timestamp: noteTime(c, f), Status: StatusUnread})
		return err
	})
	if err != nil {
		return err
	}
	c.emit(&DecryptionFailureEvent{Peer: sender, Device: dev})
	c.reportFailure(ctx, f, failures <= maxErrorReports && c.reportAllowed(sender, dev))
	return nil
}

// pruneSeen forgets deduplication records older than seenTTL (the server
// keeps envelopes at most 30 days, so older repeats cannot arrive).
func (c *Client) pruneSeen(ctx context.Context) {
	c.mu.Lock()
	defer c.unlock()
	if c.now().Sub(c.prunedAt) < 24*time.Hour {
		return
	}
	c.prunedAt = c.now()
	cutoff := c.now().Add(-seenTTL).UnixMilli()
	err := c.update(ctx, func(tx sealedTx) error {
		var old []string
		if err := tx.scan(bucketSeen, "", func(k string, v []byte) error {
			if ts, err := strconv.ParseInt(string(v), 10, 64); err != nil || ts < cutoff {
				old = append(old, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.del(bucketSeen, k); err != nil {
				return err
			}
		}
		old = old[:0]
		if err := tx.scan(bucketFailed, "", func(k string, v []byte) error {
			var r failedRecord
			if jsonUnmarshal(v, &r) != nil || r.At < cutoff {
				old = append(old, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.del(bucketFailed, k); err != nil {
				return err
			}
		}
		old = old[:0]
		if err := tx.scan(bucketEarly, "", func(k string, v []byte) error {
			var e earlyReceipt
			if jsonUnmarshal(v, &e) != nil || e.At < cutoff {
				old = append(old, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.del(bucketEarly, k); err != nil {
				return err
			}
		}
		return prunePending(tx, c.now().Add(-pendingKeepFor).UnixMilli())
	})
	if err != nil {
		c.log.Warn("pruning deduplication records failed", "err", err)
	}
}

// pruneDrained deletes what a drained queue makes unnecessary: archived
// sessions old enough (spec/client.md §4.1), and sent messages kept
// longer than outboxKeep (§6.3), which reports those still not delivered.
// connected is when the connection that read its queue through began.
func (c *Client) pruneDrained(ctx context.Context, connected int64) {
	c.mu.Lock()
	defer c.unlock()
	var events []Event
	err := c.update(ctx, func(tx sealedTx) error {
		if err := c.pruneArchives(tx, connected); err != nil {
			return err
		}
		var err error
		events, err = c.pruneOutbox(tx)
		return err
	})
	if err != nil {
		c.log.Warn("pruning archived sessions and the outbox failed", "err", err)
		return
	}
	for _, e := range events {
		c.emit(e)
	}
}

func newID(c *Client) MessageID {
	var id MessageID
	c.rand.Read(id[:])
	return id
}

// noteTime places a note about an envelope at the time the server stored
// it, which orders it among the messages around it.
func noteTime(c *Client, f *api.Frame) int64 {
	if f.Timestamp > 0 {
		return f.Timestamp
	}
	return c.nowMillis()
}

func sameGroup(a, b *GroupID) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
