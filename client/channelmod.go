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
// record taken down with a valid operator notice is replaced by the
// notice, so the post shows as removed by the operator, as it does for a
// follower who never had it; a record restored comes back only if it is
// the one the chain holds at its position, so the server cannot slip
// anything in this way.

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
// A takedown counts only with a notice signed by the server's operator
// key that names the stored record's position and hash (spec/protocol.md
// §10.7); a restoration only if the record is the one whose hash the
// chain holds at its position, validly signed. Most calls (every Feed)
// find nothing to change: it looks first in a read transaction, and
// writes only when something does.
func (c *Client) reconcile(ctx context.Context, handle string, recs []api.ChannelRecord) (bool, error) {
	c.mu.Lock()
	defer c.unlock()
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
			notice, _, _, isNotice, err := parseTakedown(stored)
			if err != nil {
				return err
			}
			if r.TakenDown != "" && (!isNotice || !bytes.Equal(notice, r.Notice)) || r.TakenDown == "" && isNotice {
				todo = append(todo, r)
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		return false, err
	}
	var operator []byte
	for _, r := range todo {
		if r.TakenDown != "" {
			if operator, err = c.operatorKey(ctx); err != nil {
				return false, err
			}
			break
		}
	}
	changed := false
	err = c.update(ctx, func(tx sealedTx) error {
		changed = false
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			return err
		}
		st, err := c.chainState(tx, handle, cr.Genesis, cr.LastSeq)
		if err != nil {
			return err
		}
		for _, r := range todo {
			key := chanRecKey(handle, r.Seq)
			stored, err := tx.get(bucketChanRec, key)
			if err != nil {
				return err
			}
			pos, err := storedPosition(stored)
			if err != nil {
				return err
			}
			if r.TakenDown != "" {
				n, err := channel.VerifyNotice(operator, cr.Genesis, r.Notice)
				if h, ok := st.HashAt(pos); err == nil && (n.Position != pos || !ok || h != n.Hash) {
					err = errors.New("the notice names another record")
				}
				if err == nil && changesSigners(stored) {
					// An honest operator cannot take these down (spec/protocol.md
					// §10.7); without it the chain would forget who may sign.
					err = errors.New("the record changes who signs the channel")
				}
				if err != nil {
					c.log.Warn("takedown without a valid notice ignored", "channel", handle, "seq", r.Seq, "err", err)
					continue // keep the record: a server cannot pass a hidden delete off as a takedown
				}
				stub, err := stubOfStored(stored)
				if err != nil {
					return err
				}
				if err := tx.put(bucketChanRec, key, takedownValue(r.Notice, stub)); err != nil {
					return err
				}
				changed = true
				continue
			}
			if rec, err := st.Verify(r.Data); err != nil || rec.Position != pos {
				c.log.Warn("restored channel record does not verify", "channel", handle, "seq", r.Seq, "err", err)
				continue // keep the notice
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
		r.TakenDown, r.Notice = f.Message, f.Record // a takedown frame carries the notice
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

// changesSigners reports whether a stored record is one a follower needs
// to know who may sign after it: an add_admin or a remove_admin.
func changesSigners(stored []byte) bool {
	r, err := channel.Parse(stored)
	return err == nil && (r.Kind == channel.KindAddAdmin || r.Kind == channel.KindRemoveAdmin)
}
