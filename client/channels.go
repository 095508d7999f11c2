package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
)

// Channels (spec/client.md §9). A follower pins a channel's genesis key
// the first time it follows and verifies every record against the key
// chain that starts there (spec/protocol.md §10), so a server that alters
// or forges a post is caught: ErrForgedRecord. Verified records are kept
// in the store, and each catch-up fetches only what came after.

// Channel buckets.
const (
	bucketChannel    = "channel"    // handle → channelRecord
	bucketChannelKey = "channelkey" // handle → channelKeyRecord (publishers)
	bucketChanRec    = "chanrec"    // handle/seq → the signed record (raw)
	bucketChanKeys   = "chanho"     // handle/seq → a handover record (raw): the key chain, without scanning every record
)

// Errors of channels.
var (
	// ErrForgedRecord means the server served a channel record that does
	// not verify against the channel's pinned key chain.
	ErrForgedRecord = errors.New("client: the server served a channel record that is not signed by the channel (forged or altered)")
	// ErrChannelKeyChanged means a channel's genesis key is not the one
	// pinned when it was first followed.
	ErrChannelKeyChanged = errors.New("client: the channel's key is not the one pinned when you followed it")
	// ErrNotPublisher means this device holds no key for the channel.
	ErrNotPublisher = errors.New("client: this device has no signing key for the channel")
	// ErrChannelSuspended means the server's operator suspended the channel.
	ErrChannelSuspended = errors.New("client: the channel is suspended by the server's operator")
)

type channelRecord struct {
	Genesis []byte `json:"genesis"`
	LastSeq uint64 `json:"last_seq"` // every record up to here is stored and verified
	Follows bool   `json:"follows"`
}

type channelKeyRecord struct {
	Seed  []byte `json:"seed"` // Ed25519 seed of the current epoch's key
	Epoch uint32 `json:"epoch"`
	// Previous is the key this one replaced, kept while a rotation is in
	// flight (the handover is signed with it).
	Previous []byte `json:"previous,omitempty"`
}

// ChannelInfo describes a channel, as the server reports it.
type ChannelInfo struct {
	Handle    string
	Title     string
	About     string
	Followers int64
	Epoch     uint32
	Created   time.Time
}

func channelInfo(i api.ChannelInfo) ChannelInfo {
	return ChannelInfo{Handle: i.Handle, Title: i.Title, About: i.About, Followers: i.Followers, Epoch: i.Epoch, Created: time.UnixMilli(i.Created)}
}

// Post is a channel post as a follower sees it: its latest verified
// version, with the earlier ones.
type Post struct {
	Channel string
	ID      [channel.IDSize]byte
	Seq     uint64
	Time    time.Time // the publisher's clock
	Text    string
	Media   [][]byte
	Edits   []string // earlier texts, oldest first
	Pinned  bool
	Views   int64 // as the server counts them (Feed); not signed
	// Removed is the operator's reason if the record at Seq was taken
	// down: the post is then only this placeholder (no ID, time or text).
	Removed string
}

func (c *Client) channelAPIError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeChannelSuspended {
		return fmt.Errorf("%w: %s", ErrChannelSuspended, ae.Message)
	}
	return err
}

// CreateChannel creates a channel with a fresh signing key kept on this
// device, and follows nothing. The handle follows username rules.
func (c *Client) CreateChannel(ctx context.Context, handle, title, about string) (ChannelInfo, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := c.rand.Read(seed); err != nil {
		return ChannelInfo{}, err
	}
	key := ed25519.NewKeyFromSeed(seed)
	genesis := key.Public().(ed25519.PublicKey)
	profile, err := c.signRecord(key, genesis, 0, &channel.Record{Kind: channel.KindProfile, Title: title, About: about})
	if err != nil {
		return ChannelInfo{}, err
	}
	info, err := c.http.CreateChannel(ctx, api.CreateChannelRequest{Handle: handle, Profile: profile})
	if err != nil {
		return ChannelInfo{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.update(ctx, func(tx sealedTx) error {
		if err := tx.putJSON(bucketChannelKey, info.Handle, &channelKeyRecord{Seed: seed, Epoch: 0}); err != nil {
			return err
		}
		return tx.putJSON(bucketChannel, info.Handle, &channelRecord{Genesis: genesis})
	})
	return channelInfo(info), err
}

func (c *Client) signRecord(key ed25519.PrivateKey, genesis ed25519.PublicKey, epoch uint32, r *channel.Record) ([]byte, error) {
	r.Channel, r.Epoch, r.Time = genesis, epoch, c.nowMillis()
	if _, err := c.rand.Read(r.ID[:]); err != nil {
		return nil, err
	}
	return r.Sign(key)
}

// Publish signs and posts text to a channel this device publishes.
func (c *Client) Publish(ctx context.Context, handle, text string) (Post, error) {
	return c.publish(ctx, handle, &channel.Record{Kind: channel.KindPost, Text: text})
}

// ErrNoSuchPost means the channel has no (stored) post with that ID.
var ErrNoSuchPost = errors.New("client: the channel has no such post")

// EditPost replaces a post's text and keeps its media (those of its
// current version: it catches up with the channel first); the earlier
// text stays visible.
func (c *Client) EditPost(ctx context.Context, handle string, id [channel.IDSize]byte, text string) (Post, error) {
	norm, err := api.NormalizeUsername(handle)
	if err != nil {
		return Post{}, ErrNoSuchUser
	}
	if err := c.catchUp(ctx, norm); err != nil {
		return Post{}, err
	}
	posts, err := c.posts(ctx, norm, 0)
	if err != nil {
		return Post{}, err
	}
	for _, p := range posts {
		if p.Removed == "" && p.ID == id {
			return c.EditPostMedia(ctx, handle, id, text, p.Media)
		}
	}
	return Post{}, ErrNoSuchPost
}

// EditPostMedia replaces a post's text and its media with media:
// encoded descriptors as in Post.Media, nil for none (an edit record
// carries the post's whole new version, spec/client.md §9.2).
func (c *Client) EditPostMedia(ctx context.Context, handle string, id [channel.IDSize]byte, text string, media [][]byte) (Post, error) {
	return c.publish(ctx, handle, &channel.Record{Kind: channel.KindEdit, Target: &id, Text: text, Media: media})
}

// DeletePost removes a post.
func (c *Client) DeletePost(ctx context.Context, handle string, id [channel.IDSize]byte) error {
	_, err := c.publish(ctx, handle, &channel.Record{Kind: channel.KindDelete, Target: &id})
	return err
}

// PinPost pins (or unpins) a post.
func (c *Client) PinPost(ctx context.Context, handle string, id [channel.IDSize]byte, pin bool) error {
	k := channel.KindUnpin
	if pin {
		k = channel.KindPin
	}
	_, err := c.publish(ctx, handle, &channel.Record{Kind: k, Target: &id})
	return err
}

func (c *Client) publish(ctx context.Context, handle string, r *channel.Record) (Post, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return Post{}, ErrNoSuchUser
	}
	var (
		kr channelKeyRecord
		cr channelRecord
	)
	if err := c.view(ctx, func(tx sealedTx) error {
		if err := tx.getJSON(bucketChannelKey, handle, &kr); err != nil {
			return err
		}
		return tx.getJSON(bucketChannel, handle, &cr)
	}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Post{}, ErrNotPublisher
		}
		return Post{}, err
	}
	b, err := c.signRecord(ed25519.NewKeyFromSeed(kr.Seed), cr.Genesis, kr.Epoch, r)
	if err != nil {
		return Post{}, err
	}
	res, err := c.http.PostRecord(ctx, handle, b)
	if err != nil {
		return Post{}, c.channelAPIError(err)
	}
	return Post{Channel: handle, ID: r.ID, Seq: res.Seq, Time: time.UnixMilli(r.Time), Text: r.Text}, nil
}

// Follow follows a channel, pinning its genesis key the first time.
func (c *Client) Follow(ctx context.Context, handle string) (ChannelInfo, error) {
	info, err := c.http.Channel(ctx, handle)
	if err != nil {
		return ChannelInfo{}, c.channelAPIError(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.update(ctx, func(tx sealedTx) error {
		var cr channelRecord
		err := tx.getJSON(bucketChannel, info.Handle, &cr)
		switch {
		case errors.Is(err, ErrNotFound):
			cr.Genesis = info.GenesisKey
		case err != nil:
			return err
		case !bytes.Equal(cr.Genesis, info.GenesisKey):
			return ErrChannelKeyChanged
		}
		cr.Follows = true
		return tx.putJSON(bucketChannel, info.Handle, &cr)
	}); err != nil {
		return ChannelInfo{}, err
	}
	if err := c.http.Follow(ctx, info.Handle); err != nil {
		return ChannelInfo{}, c.channelAPIError(err)
	}
	info.Followers++ // this follow, if it was new; the server counts exactly
	return channelInfo(info), nil
}

// Unfollow stops following a channel. The pinned key stays.
func (c *Client) Unfollow(ctx context.Context, handle string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	if err := c.http.Unfollow(ctx, handle); err != nil {
		return c.channelAPIError(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.update(ctx, func(tx sealedTx) error {
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			return err
		}
		cr.Follows = false
		return tx.putJSON(bucketChannel, handle, &cr)
	})
}

// ChannelSummary is a channel this device follows or publishes to.
type ChannelSummary struct {
	Handle    string
	Follows   bool // the account follows it
	Publisher bool // this device holds the channel's signing key
	Posts     int  // posts stored on this device (fetched by Feed or live)
	Last      time.Time
}

// Channels lists the channels this device follows or publishes to, by
// handle, from what it has stored (no network).
func (c *Client) Channels(ctx context.Context) ([]ChannelSummary, error) {
	var out []ChannelSummary
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketChannel, "", func(handle string, v []byte) error {
			var cr channelRecord
			if err := jsonUnmarshal(v, &cr); err != nil {
				return err
			}
			_, err := tx.get(bucketChannelKey, handle)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			cs := ChannelSummary{Handle: handle, Follows: cr.Follows, Publisher: err == nil}
			if cs.Follows || cs.Publisher {
				out = append(out, cs)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		posts, err := c.posts(ctx, out[i].Handle, 0)
		if err != nil {
			return nil, err
		}
		for _, p := range posts {
			if p.Removed != "" {
				continue
			}
			if out[i].Posts == 0 {
				out[i].Last = p.Time
			}
			out[i].Posts++
		}
	}
	return out, nil
}

// SearchChannels finds channels by handle or title.
func (c *Client) SearchChannels(ctx context.Context, query string) ([]ChannelInfo, error) {
	list, err := c.http.SearchChannels(ctx, query)
	out := make([]ChannelInfo, len(list))
	for i, ci := range list {
		out[i] = channelInfo(ci)
	}
	return out, err
}

// Feed catches up with a channel (every record after the last one
// stored, in order, each verified) and returns its posts, newest first,
// at most limit if limit > 0. The channel must be followed or published
// by this device (its key pinned).
func (c *Client) Feed(ctx context.Context, handle string, limit int) ([]Post, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return nil, ErrNoSuchUser
	}
	var fetched []api.ChannelRecord
	if err := c.catchUpInto(ctx, handle, &fetched); err != nil {
		return nil, err
	}
	c.countViews(ctx, handle, fetched)
	posts, err := c.posts(ctx, handle, limit)
	if err != nil {
		return nil, err
	}
	return c.refreshPosts(ctx, handle, limit, posts)
}

// StoredPosts returns a channel's posts as this device has stored them,
// newest first, at most limit if limit > 0, without asking the server:
// what Feed last returned plus the live posts since (view counts are
// not stored, so they are 0).
func (c *Client) StoredPosts(ctx context.Context, handle string, limit int) ([]Post, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return nil, ErrNoSuchUser
	}
	return c.posts(ctx, handle, limit)
}

// chain loads the pinned genesis key and the stored handovers.
func (c *Client) chain(tx sealedTx, handle string) (*channel.Chain, *channelRecord, error) {
	var cr channelRecord
	if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil, fmt.Errorf("client: follow @%s first", handle)
		}
		return nil, nil, err
	}
	chain, err := channel.NewChain(cr.Genesis)
	if err != nil {
		return nil, nil, err
	}
	err = tx.scan(bucketChanKeys, handle+"/", func(_ string, v []byte) error {
		_, err := chain.Verify(v)
		return err
	})
	return chain, &cr, err
}

// catchUp fetches and verifies every record after the last stored one.
// A record that does not verify stops it with ErrForgedRecord, storing
// nothing of that page.
func (c *Client) catchUp(ctx context.Context, handle string) error {
	return c.catchUpInto(ctx, handle, nil)
}

// catchUpInto is catchUp, appending what it fetched to fetched if not nil.
func (c *Client) catchUpInto(ctx context.Context, handle string, fetched *[]api.ChannelRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		var after uint64
		if err := c.view(ctx, func(tx sealedTx) error {
			var cr channelRecord
			if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
				if errors.Is(err, ErrNotFound) {
					return fmt.Errorf("client: follow @%s first", handle)
				}
				return err
			}
			after = cr.LastSeq
			return nil
		}); err != nil {
			return err
		}
		page, err := c.http.Records(ctx, handle, transport.RecordQuery{After: after, Limit: api.MaxChannelPage})
		if err != nil {
			return c.channelAPIError(err)
		}
		if len(page.Records) == 0 {
			return nil
		}
		if err := c.storeRecords(ctx, handle, page.Records); err != nil {
			return err
		}
		if fetched != nil {
			*fetched = append(*fetched, page.Records...)
		}
		if page.Next == 0 {
			return nil
		}
	}
}

// storeRecords verifies records (ascending) and stores them, moving
// LastSeq on, in one transaction.
func (c *Client) storeRecords(ctx context.Context, handle string, recs []api.ChannelRecord) error {
	return c.update(ctx, func(tx sealedTx) error {
		chain, cr, err := c.chain(tx, handle)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Seq <= cr.LastSeq {
				continue
			}
			if r.TakenDown != "" {
				// Kept as a marker: the operator removed it, the reason is shown.
				if err := tx.put(bucketChanRec, chanRecKey(handle, r.Seq), []byte(removedPrefix+r.TakenDown)); err != nil {
					return err
				}
			} else {
				rec, err := chain.Verify(r.Data)
				if err != nil {
					return fmt.Errorf("%w (@%s, seq %d: %v)", ErrForgedRecord, handle, r.Seq, err)
				}
				if err := tx.put(bucketChanRec, chanRecKey(handle, r.Seq), r.Data); err != nil {
					return err
				}
				if rec.Kind == channel.KindHandover {
					if err := tx.put(bucketChanKeys, chanRecKey(handle, r.Seq), r.Data); err != nil {
						return err
					}
				}
			}
			cr.LastSeq = r.Seq
		}
		return tx.putJSON(bucketChannel, handle, cr)
	})
}

// removedPrefix marks a stored record the operator took down.
const removedPrefix = "removed:"

func chanRecKey(handle string, seq uint64) string { return handle + "/" + fmt.Sprintf("%020d", seq) }

// posts folds the stored records into posts (channel.Fold), newest first,
// with a placeholder (Removed set) at the Seq of each record the operator
// took down.
func (c *Client) posts(ctx context.Context, handle string, limit int) ([]Post, error) {
	var (
		recs    []channel.Sequenced
		removed []Post // placeholders of taken-down records, ascending
	)
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketChanRec, handle+"/", func(k string, v []byte) error {
			seq, _ := strconv.ParseUint(k[len(handle)+1:], 10, 64)
			if reason, ok := bytes.CutPrefix(v, []byte(removedPrefix)); ok {
				removed = append(removed, Post{Channel: handle, Seq: seq, Removed: string(reason)})
				return nil
			}
			r, err := channel.Parse(v)
			if err != nil {
				return err
			}
			recs = append(recs, channel.Sequenced{Seq: seq, Record: r})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	folded := channel.Fold(recs)
	out := make([]Post, 0, len(folded)+len(removed))
	for _, p := range folded { // newest first
		for len(removed) > 0 && removed[len(removed)-1].Seq > p.Seq {
			out = append(out, removed[len(removed)-1])
			removed = removed[:len(removed)-1]
		}
		out = append(out, Post{Channel: handle, ID: p.Record.ID, Seq: p.Seq, Time: time.UnixMilli(p.Record.Time), Text: p.Text,
			Media: p.Media, Edits: p.Edits, Pinned: p.Pinned})
	}
	for i := len(removed) - 1; i >= 0; i-- {
		out = append(out, removed[i])
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// handleChannelFrame processes a live Channel frame: a state change is
// reported; a record is verified and stored if it is the next one, and a
// gap triggers a catch-up.
func (c *Client) handleChannelFrame(ctx context.Context, f *api.Frame) {
	switch f.Code {
	case api.CodeChannelSuspended, api.CodeChannelRestored:
		c.emit(&ChannelStateEvent{Channel: f.Channel, Suspended: f.Code == api.CodeChannelSuspended, Reason: f.Message})
		return
	case api.CodeRecordTakenDown, api.CodeRecordRestored:
		c.handleModeration(ctx, f)
		return
	case "":
	default:
		return
	}
	took, err := c.storeNext(ctx, f)
	if err == nil && !took {
		err = c.catchUp(ctx, f.Channel)
	}
	if err != nil {
		c.log.Warn("channel catch-up failed", "channel", f.Channel, "err", err)
		if errors.Is(err, ErrForgedRecord) {
			c.emit(&ChannelForgeryEvent{Channel: f.Channel, Seq: f.Seq})
		}
		return
	}
	// The record at this Seq is stored, verified (from the frame or by
	// the catch-up); report it as stored. A new post is the record
	// itself: no fold needed.
	var stored []byte
	if err := c.view(ctx, func(tx sealedTx) error {
		var err error
		stored, err = tx.get(bucketChanRec, chanRecKey(f.Channel, f.Seq))
		return err
	}); err != nil {
		return
	}
	if r, err := channel.Parse(stored); err == nil && r.Kind == channel.KindPost {
		c.emit(&ChannelPostEvent{Post: Post{Channel: f.Channel, ID: r.ID, Seq: f.Seq, Time: time.UnixMilli(r.Time), Text: r.Text, Media: r.Media}})
	}
}

// storeNext verifies and stores a live frame's record if it is the next
// one the device lacks, without asking the server (so a post to many
// followers costs the server no request per follower), and reports
// whether it did. A gap, or an unknown channel, is left to a catch-up.
func (c *Client) storeNext(ctx context.Context, f *api.Frame) (bool, error) {
	if len(f.Record) == 0 {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var cr channelRecord
	if err := c.view(ctx, func(tx sealedTx) error { return tx.getJSON(bucketChannel, f.Channel, &cr) }); err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if f.Seq != cr.LastSeq+1 {
		return false, nil
	}
	return true, c.storeRecords(ctx, f.Channel, []api.ChannelRecord{{Seq: f.Seq, Data: f.Record}})
}

// countViews tells the server that the posts among recs, which Feed has
// just fetched for the first time, are being shown: the server adds one
// view to each and keeps no record of who viewed (api §11.5). Best
// effort: a failure costs a view, nothing else.
func (c *Client) countViews(ctx context.Context, handle string, recs []api.ChannelRecord) {
	var ids [][]byte
	for _, r := range recs {
		if rec, err := channel.Parse(r.Data); err == nil && rec.Kind == channel.KindPost {
			ids = append(ids, rec.ID[:])
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), api.MaxChannelPage)
		if err := c.http.AddViews(ctx, handle, ids[:n]); err != nil {
			c.log.Warn("views not counted", "channel", handle, "err", err)
			return
		}
		ids = ids[n:]
	}
}

// ReportChannel reports a channel, or one of its posts (post not nil), to
// the server's operator, with a category (api.ReportCategories) and a note.
func (c *Client) ReportChannel(ctx context.Context, handle string, post *[channel.IDSize]byte, category, note string) error {
	req := api.ReportRequest{Channel: handle, Category: category, Note: note}
	if post != nil {
		req.RecordID = post[:]
	}
	return c.channelAPIError(c.http.Report(ctx, req))
}

// SetChannelProfile replaces a channel's title, description and, if
// avatar is not empty, its avatar (an image file, uploaded as a public
// blob).
func (c *Client) SetChannelProfile(ctx context.Context, handle, title, about, avatar string) error {
	r := &channel.Record{Kind: channel.KindProfile, Title: title, About: about}
	if avatar != "" {
		sum, size, err := c.uploadFile(ctx, avatar, "", nil)
		if err != nil {
			return err
		}
		r.Avatar = (&channel.Media{SHA256: sum, Size: size, ContentType: mediaType(avatar)}).Marshal()
	}
	_, err := c.publish(ctx, handle, r)
	return err
}
