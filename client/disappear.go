package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Disappearing messages (spec/client.md §11.5). A message carries the
// timer its sender's chat had; its countdown starts when it is read on
// this device (an incoming message) or when it is sent (an outgoing one),
// as in Signal. bucketExpire orders the messages whose countdown runs by
// the time they go, so that finding what is due reads only that.

// Purger is a Store that can make sure that deleted values leave no trace
// in its files (sqlitestore: secure_delete and a WAL checkpoint that
// truncates the log). The client calls Purge after it erased messages.
type Purger interface {
	Purge(ctx context.Context) error
}

func expireKey(at int64, mk string) string { return fmt.Sprintf("%016x/%s", uint64(at), mk) }

// indexExpiry files r under its expiry time, if its countdown runs.
func indexExpiry(tx sealedTx, r *messageRecord) error {
	if r.ExpireAt == 0 {
		return nil
	}
	mk := messageKey(r.Conv, r.Timestamp, r.ID)
	return tx.put(bucketExpire, expireKey(r.ExpireAt, mk), nil)
}

// unindexExpiry forgets the expiry entry of the message mk, if any.
func unindexExpiry(tx sealedTx, mk string) error {
	var r messageRecord
	if err := tx.getJSON(bucketMessage, mk, &r); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if r.ExpireAt == 0 {
		return nil
	}
	return tx.del(bucketExpire, expireKey(r.ExpireAt, mk))
}

// startCountdown starts a read message's timer, if it has one.
func startCountdown(tx sealedTx, r *messageRecord, now int64) error {
	if r.Timer == 0 || r.ExpireAt != 0 || r.Kind != KindText { // a timer's note stays
		return nil
	}
	r.ExpireAt = now + int64(r.Timer)*1000
	return indexExpiry(tx, r)
}

// expired reports whether r's timer has run out at now: such a message is
// never shown, even before it is erased.
func (r *messageRecord) expired(now int64) bool { return r.ExpireAt != 0 && r.ExpireAt <= now }

// errStop ends a scan early.
var errStop = errors.New("client: stop")

// EraseExpired erases every message whose timer has run out, and reports
// how many it erased. Run and Sync call it; a program that only opens the
// store may call it too.
func (c *Client) EraseExpired(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.unlock()
	return c.eraseExpired(ctx)
}

// eraseExpired is EraseExpired with c.mu held.
func (c *Client) eraseExpired(ctx context.Context) (int, error) {
	now := c.nowMillis()
	var due []string
	err := c.view(ctx, func(tx sealedTx) error {
		due = nil
		err := tx.tx.Scan(bucketExpire, "", func(k string, _ []byte) error {
			at, _, _ := strings.Cut(k, "/")
			if t, err := strconv.ParseUint(at, 16, 64); err == nil && int64(t) > now || len(due) >= 1000 {
				return errStop
			}
			due = append(due, k) // due, or damaged
			return nil
		})
		if errors.Is(err, errStop) {
			return nil
		}
		return err
	})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var events []Event
	n := 0
	err = c.update(ctx, func(tx sealedTx) error {
		events, n = nil, 0
		for _, k := range due {
			if err := tx.del(bucketExpire, k); err != nil {
				return err
			}
			_, mk, _ := strings.Cut(k, "/")
			var r messageRecord
			if err := tx.getJSON(bucketMessage, mk, &r); errors.Is(err, ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if err := c.eraseMessage(tx, mk, &r); err != nil {
				return err
			}
			n++
			events = append(events, &MessageErasedEvent{Conversation: r.Conv, ID: r.ID})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	c.purgeStore(ctx)
	for _, e := range events {
		c.emit(e)
	}
	return n, nil
}

// purgeStore asks the store to wipe what erasing left in its files, if
// anything was erased since the last time. c.mu is held.
func (c *Client) purgeStore(ctx context.Context) {
	if !c.purge {
		return
	}
	c.purge = false
	if p, ok := c.st.(Purger); ok {
		if err := p.Purge(ctx); err != nil {
			c.log.Warn("store purge failed", "err", err)
		}
	}
}

// reapEvery is how often Run looks for messages whose timer ran out.
const reapEvery = time.Second

// reap erases expired messages until ctx ends.
func (c *Client) reap(ctx context.Context) {
	t := time.NewTicker(reapEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.EraseExpired(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("erasing expired messages failed", "err", err)
			}
		}
	}
}

// sentTimer gives a message sent from this account (here or on another
// device) its sender's timer, counting from when it was sent.
func sentTimer(r *messageRecord, ct *content) {
	if ct.Timer != 0 {
		r.Timer = ct.Timer
		r.ExpireAt = ct.Timestamp + int64(ct.Timer)*1000
	}
}
