package client

import (
	"context"
	"sync"
	"time"
)

// Delivery receipts owed by a connection (spec/client.md §5.3, §10.5).
// While the queue is read through after connecting, receipts wait, so a
// burst of queued messages is answered with one receipt per sender and
// conversation. Once caught up, a 1:1 message's receipt goes at once; a
// group message's waits up to groupReceiptDelay with the group's others,
// so that a busy group gets one receipt per sender for each such moment,
// not one per message, and the receipts of a large group's members reach
// the sender spread out, after every member had its turn with the message.

const (
	// receiptFlushTimeout bounds sending the receipts still owed when a
	// connection ends.
	receiptFlushTimeout = 5 * time.Second
	// groupReceiptDelay is how long a caught-up connection holds the
	// receipts of group messages.
	groupReceiptDelay = time.Second
)

// receiptBatch gathers the delivery receipts owed, per conversation and
// sender, in the order they first came. It is safe for concurrent use:
// the connection's loop adds, a timer may flush.
type receiptBatch struct {
	mu    sync.Mutex
	peers []receiptTo
	ids   map[receiptTo][]MessageID
	armed bool // a timer will flush the group receipts
}

type receiptTo struct {
	conv   ConversationID
	sender string
}

func (b *receiptBatch) add(conv ConversationID, sender string, ids []MessageID) {
	if len(ids) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ids == nil {
		b.ids = map[receiptTo][]MessageID{}
	}
	k := receiptTo{conv, sender}
	if _, ok := b.ids[k]; !ok {
		b.peers = append(b.peers, k)
	}
	b.ids[k] = append(b.ids[k], ids...)
}

// armGroups reports whether b holds group receipts and no timer is set to
// flush them yet; it then counts one as set.
func (b *receiptBatch) armGroups() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.armed {
		return false
	}
	for _, k := range b.peers {
		if k.conv.IsGroup() {
			b.armed = true
			return true
		}
	}
	return false
}

// owed is the receipts for one conversation and sender.
type owed struct {
	to  receiptTo
	ids []MessageID
}

// take removes the receipts of group conversations (groups true) or of
// 1:1 ones from b and returns them in order.
func (b *receiptBatch) take(groups bool) []owed {
	b.mu.Lock()
	defer b.mu.Unlock()
	if groups {
		b.armed = false
	}
	var out []owed
	kept := b.peers[:0]
	for _, k := range b.peers {
		if k.conv.IsGroup() != groups {
			kept = append(kept, k)
			continue
		}
		out = append(out, owed{k, b.ids[k]})
		delete(b.ids, k)
	}
	clear(b.peers[len(kept):])
	b.peers = kept
	return out
}

// flushReceipts sends every receipt b holds.
func (c *Client) flushReceipts(ctx context.Context, b *receiptBatch) {
	c.flushReceiptsOf(ctx, b, false)
	c.flushReceiptsOf(ctx, b, true)
}

// flushReceiptsOf sends the receipts b holds for group conversations or
// for 1:1 ones (sendReceipts splits them into contents of at most
// maxReceiptIDs) and removes them from b. Receipts are best effort: a
// failure is logged.
func (c *Client) flushReceiptsOf(ctx context.Context, b *receiptBatch, groups bool) {
	due := b.take(groups)
	if len(due) == 0 {
		return
	}
	c.mu.Lock()
	defer c.unlock()
	for _, o := range due {
		if err := c.sendReceipts(ctx, o.to.conv, o.to.sender, ReceiptDelivered, o.ids); err != nil {
			c.log.Warn("delivery receipt not sent", "peer", o.to.sender, "err", err)
		}
	}
}
