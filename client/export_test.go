package client

import (
	"context"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/internal/group"
	"github.com/parley-chat/parley/internal/keys"
)

// Hooks for the external tests (package client_test), which need a real
// SQLite store and so cannot live in this package.

func (c *Client) TransportForTest() *transport.Client { return c.http }

// HandleForTest processes one envelope as a connection does, then sends
// the delivery receipts it owes.
func (c *Client) HandleForTest(ctx context.Context, f *api.Frame) error {
	var rb receiptBatch
	err := c.handle(ctx, f, &rb)
	c.flushReceipts(ctx, &rb)
	return err
}

// SendKindForTest sends a content of the given kind, as a later version
// of Parley might.
func (c *Client) SendKindForTest(ctx context.Context, to string, kind uint8) error {
	ct := &content{Kind: contentKind(kind), Timestamp: c.nowMillis()}
	c.rand.Read(ct.ID[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deliver(ctx, to, ct, false)
}

// SignedPreKeyIDsForTest lists the signed prekeys the device still holds.
func (c *Client) SignedPreKeyIDsForTest(ctx context.Context) ([]string, error) {
	var ids []string
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketSigned, "", func(k string, _ []byte) error { ids = append(ids, k); return nil })
	})
	return ids, err
}

// ChannelFrameForTest processes a live Channel frame as a connection does.
func (c *Client) ChannelFrameForTest(ctx context.Context, f *api.Frame) { c.handleChannelFrame(ctx, f) }

// SignAsAdminForTest signs a channel record with the account's identity
// key, as an admin's device does, whatever the chain says: a former
// admin's key in the hands of an attacker.
func (c *Client) SignAsAdminForTest(r *channel.Record) ([]byte, error) {
	return r.SignAdmin(c.identity().Private, c.rand)
}

// MaxSafeName is the longest name, in bytes, that SafeName returns.
const MaxSafeName = maxSafeName

// SendDecryptionErrorForTest sends to a decryption-error content naming
// the envelope id of device.
func (c *Client) SendDecryptionErrorForTest(ctx context.Context, to string, id MessageID, device uint32) error {
	ct := &content{Kind: kindDecryptionError, Timestamp: c.nowMillis(), Failed: &decryptionError{ID: id, Device: device}}
	c.rand.Read(ct.ID[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deliver(ctx, to, ct, false)
}

// SignGroupRecordForTest signs a group record with the account's
// identity key, whatever the group's rules say: what a hostile member
// (or a stolen key) could sign.
func (c *Client) SignGroupRecordForTest(r *group.Record) ([]byte, error) {
	return r.Sign(c.identity().Private, c.rand)
}

// SendGroupRecordsForTest sends group records to every device of to over
// the 1:1 sessions, as a member's device does, without checking them.
func (c *Client) SendGroupRecordsForTest(ctx context.Context, to string, id GroupID, recs [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	failed := map[string]error{}
	c.sendRecords(ctx, id, []string{to}, recs, failed)
	return failed[to]
}

// GroupHeadForTest is the version and head hash of the group conv.
func (c *Client) GroupHeadForTest(ctx context.Context, conv ConversationID) (uint64, [32]byte, error) {
	id, _ := conv.Group()
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		v uint64
		h [32]byte
	)
	err := c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		v, h = l.Head()
		return nil
	})
	return v, h, err
}

// GroupStateForTest is the state of the group conv.
func (c *Client) GroupStateForTest(ctx context.Context, conv ConversationID) (*group.State, error) {
	id, _ := conv.Group()
	c.mu.Lock()
	defer c.mu.Unlock()
	var s *group.State
	err := c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err == nil {
			s = l.State()
		}
		return err
	})
	return s, err
}

// IdentityKeyForTest is the account's public identity key.
func (c *Client) IdentityKeyForTest() keys.PublicKey { return c.id.Public() }

// SendActionForTest sends an edit (emoji "", text set) or a reaction of
// the message target to the peer to, with the given timestamp and ID,
// without applying it here or checking anything: as a forger would.
func (c *Client) SendActionForTest(ctx context.Context, to string, id, target MessageID, at time.Time, text, emoji string) error {
	ct := &content{Kind: kindEdit, ID: id, Timestamp: at.UnixMilli(), Target: &target, Text: text}
	if emoji != "" {
		ct = &content{Kind: kindReaction, ID: id, Timestamp: at.UnixMilli(), Target: &target, Emoji: emoji}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deliver(ctx, to, ct, false)
}

// SendTextWithIDForTest sends a text with a chosen ID, to the peer only.
func (c *Client) SendTextWithIDForTest(ctx context.Context, to string, id MessageID, text string) error {
	ct := &content{Kind: kindText, ID: id, Timestamp: c.nowMillis(), Text: text}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deliver(ctx, to, ct, false)
}

// StoreReceivedForTest stores texts as messages from the peer from, one
// millisecond apart from start, as if they had arrived, in transactions
// of 1,000: the history a search benchmark needs without sending 100,000
// messages.
func (c *Client) StoreReceivedForTest(ctx context.Context, from string, texts []string, start time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(texts) > 0 {
		n := min(len(texts), 1000)
		batch := texts[:n]
		err := c.update(ctx, func(tx sealedTx) error {
			for i, text := range batch {
				r := &messageRecord{Conv: Direct(from), From: from, FromDevice: 1, Kind: KindText, Text: text,
					Timestamp: start.UnixMilli() + int64(i), Status: StatusRead}
				c.rand.Read(r.ID[:])
				if _, _, err := c.storeText(tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		texts, start = texts[n:], start.Add(time.Duration(n)*time.Millisecond)
	}
	return nil
}

// ActiveSessionForTest returns the base key of the session the device
// sends to user's device on, or nil if it has none.
func (c *Client) ActiveSessionForTest(ctx context.Context, user string, device uint32) ([]byte, error) {
	var base []byte
	err := c.view(ctx, func(tx sealedTx) error {
		ds, err := loadSessions(tx, user, device)
		if err == nil && ds.active != nil {
			base = ds.active.BaseKey().Encode()
		}
		return err
	})
	return base, err
}

// FillHistoryForTest stores n text messages of size bytes each in the
// conversation with peer, as if exchanged, without the network: the
// backup benchmark's history.
func (c *Client) FillHistoryForTest(ctx context.Context, peer string, n, size int) error {
	const batch = 5000
	base := c.nowMillis() - int64(n)
	text := string(make([]byte, size))
	for done := 0; done < n; done += batch {
		err := c.update(ctx, func(tx sealedTx) error {
			for i := done; i < min(done+batch, n); i++ {
				r := &messageRecord{ID: newID(c), Conv: ConversationID(peer), Outgoing: i%2 == 0, From: peer,
					Kind: KindText, Text: text, Timestamp: base + int64(i), Status: StatusRead}
				if _, err := storeMessage(tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// DropSearchIndexForTest forgets the search index's ready mark, as a
// restored store lacks it, so that the next search rebuilds the index.
func (c *Client) DropSearchIndexForTest(ctx context.Context) error {
	return c.update(ctx, func(tx sealedTx) error { return tx.tx.Delete(bucketSearch, searchReady) })
}
