package client

import (
	"bytes"
	"context"
	"errors"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
)

// What Feed learns from the server's recent history besides new records
// (spec/client.md §9.1): each post's view count, and the operator's
// takedowns and restorations of records this device already stored. A
// follower online learns of them at once from Channel frames. A
// record taken down is replaced by a marker with the reason, so the post
// shows as removed, as it does for a follower who never had it; a record
// restored comes back only if it verifies against the channel's key
// chain, so the server cannot slip anything in this way.

// maxHistoryPages bounds the newest-first pages refreshPosts reads.
const maxHistoryPages = 10

// refreshPosts reads the newest-first history back to the oldest of
// posts, applies takedowns and restorations to the stored records (and
// folds the posts again if any changed), and sets view counts. Best
// effort: if the history cannot be read, posts are returned as they are.
func (c *Client) refreshPosts(ctx context.Context, handle string, limit int, posts []Post) ([]Post, error) {
	recs, err := c.recentHistory(ctx, handle, posts)
	if err != nil {
		c.log.Warn("channel history not read", "channel", handle, "err", err)
		return posts, nil
	}
	changed, err := c.reconcile(ctx, handle, recs)
	if err != nil {
		return nil, err
	}
	if changed {
		if posts, err = c.posts(ctx, handle, limit); err != nil {
			return nil, err
		}
	}
	views := make(map[uint64]int64, len(recs))
	for _, r := range recs {
		views[r.Seq] = r.Views
	}
	for i := range posts {
		posts[i].Views = views[posts[i].Seq]
	}
	return posts, nil
}

// recentHistory reads newest-first pages of the channel's records until
// it has passed the oldest of posts.
func (c *Client) recentHistory(ctx context.Context, handle string, posts []Post) ([]api.ChannelRecord, error) {
	if len(posts) == 0 {
		return nil, nil
	}
	oldest := posts[0].Seq
	for _, p := range posts {
		oldest = min(oldest, p.Seq)
	}
	var out []api.ChannelRecord
	q := transport.RecordQuery{Newest: true, Limit: api.MaxChannelPage}
	for range maxHistoryPages {
		page, err := c.http.Records(ctx, handle, q)
		if err != nil {
			return nil, c.channelAPIError(err)
		}
		out = append(out, page.Records...)
		if page.Next == 0 || page.Next <= oldest {
			break
		}
		q.Before = page.Next
	}
	return out, nil
}

// reconcile brings the stored records in line with the operator's
// takedowns and restorations in recs, and reports whether any changed.
// Most calls (every Feed) find nothing to change: it looks first in a
// read transaction, and writes, building the key chain only for a
// restoration, when something does.
func (c *Client) reconcile(ctx context.Context, handle string, recs []api.ChannelRecord) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var todo []api.ChannelRecord
	err := c.view(ctx, func(tx sealedTx) error {
		todo = todo[:0]
		for _, r := range recs {
			stored, err := tx.get(bucketChanRec, chanRecKey(handle, r.Seq))
			if errors.Is(err, ErrNotFound) {
				continue // not caught up to it (yet)
			}
			if err != nil {
				return err
			}
			reason, isMarker := bytes.CutPrefix(stored, []byte(removedPrefix))
			if r.TakenDown != "" && (!isMarker || string(reason) != r.TakenDown) || r.TakenDown == "" && isMarker {
				todo = append(todo, r)
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		return false, err
	}
	changed := false
	err = c.update(ctx, func(tx sealedTx) error {
		changed = false
		var chain *channel.Chain
		for _, r := range todo {
			key := chanRecKey(handle, r.Seq)
			if r.TakenDown != "" {
				if err := tx.put(bucketChanRec, key, []byte(removedPrefix+r.TakenDown)); err != nil {
					return err
				}
				changed = true
				continue
			}
			if chain == nil {
				var err error
				if chain, _, err = c.chain(tx, handle); err != nil {
					return err
				}
			}
			if _, err := chain.Verify(r.Data); err != nil {
				c.log.Warn("restored channel record does not verify", "channel", handle, "seq", r.Seq, "err", err)
				continue // keep the marker
			}
			if err := tx.put(bucketChanRec, key, r.Data); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	return changed, err
}

// handleModeration applies a live takedown or restoration of one record
// (a Channel frame with code record_taken_down or record_restored) to the
// stored copy, as Feed's reconciliation does, and reports it if that
// changed anything. A record this device has not stored is left to the
// next catch-up.
func (c *Client) handleModeration(ctx context.Context, f *api.Frame) {
	r := api.ChannelRecord{Seq: f.Seq}
	restored := f.Code == api.CodeRecordRestored
	if restored {
		r.Data = f.Record
	} else {
		r.TakenDown = f.Message
	}
	if r.Seq == 0 || (!restored && r.TakenDown == "") {
		return // malformed: nothing to apply
	}
	changed, err := c.reconcile(ctx, f.Channel, []api.ChannelRecord{r})
	if err != nil {
		c.log.Warn("channel moderation not applied", "channel", f.Channel, "seq", f.Seq, "err", err)
		return
	}
	if changed {
		c.emit(&ChannelModerationEvent{Channel: f.Channel, Seq: f.Seq, Restored: restored, Reason: f.Message})
	}
}
