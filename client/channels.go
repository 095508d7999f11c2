package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
)

// Channels (spec/client.md §9). A follower pins a channel's genesis key
// the first time it follows and applies every record to the channel's
// hash chain that starts there (spec/protocol.md §10, channelchain.go),
// so a server that alters, forges or replays a record is caught:
// ErrForgedRecord. Verified records are kept in the store, and each
// catch-up fetches only what came after.

// Channel buckets.
const (
	bucketChannel    = "channel"    // handle → channelRecord
	bucketChannelKey = "channelkey" // handle → channelKeyRecord (the owner's devices)
	bucketChanRec    = "chanrec"    // handle/seq → the signed record (raw), or a takedown (takedownValue)
)

// Errors of channels.
var (
	// ErrForgedRecord means the server served a channel record that does
	// not verify against the channel's pinned key chain.
	ErrForgedRecord = errors.New("client: the server served a channel record that is not signed by the channel (forged or altered)")
	// ErrChannelKeyChanged means a channel's genesis key is not the one
	// pinned when it was first followed.
	ErrChannelKeyChanged = errors.New("client: the channel's key is not the one pinned when you followed it")
	// ErrNotPublisher means this device holds neither the channel's owner
	// key nor is its account an admin of the channel.
	ErrNotPublisher = errors.New("client: this account is not the channel's owner or an admin")
	// ErrChannelSuspended means the server's operator suspended the channel.
	ErrChannelSuspended = errors.New("client: the channel is suspended by the server's operator")
	// ErrNotFollowing means this device has never followed (or owned) the
	// channel, so it has no pinned key to check its records against. The
	// error is a *ChannelError naming the channel.
	ErrNotFollowing = errors.New("client: this device does not follow the channel")
	// ErrNotAdmin means the user named is not an admin the channel's
	// chain certifies. The error is a *ChannelError naming the channel.
	ErrNotAdmin = errors.New("client: the user is not an admin of the channel")
)

// ChannelError is an error about one channel (and, for ErrNotAdmin, one
// user), so a caller can name them; errors.Is matches its Err.
type ChannelError struct {
	Err     error
	Channel string
	User    string
}

func (e *ChannelError) Error() string {
	if e.User != "" {
		return fmt.Sprintf("%v (@%s, @%s)", e.Err, e.Channel, e.User)
	}
	return fmt.Sprintf("%v (@%s)", e.Err, e.Channel)
}

func (e *ChannelError) Unwrap() error { return e.Err }

type channelRecord struct {
	Genesis []byte `json:"genesis"`
	LastSeq uint64 `json:"last_seq"` // every record up to here is stored and verified
	Follows bool   `json:"follows"`
	// Withheld is the Seq at which the last catch-up stopped because a
	// record was missing from the chain; 0 if none.
	Withheld uint64 `json:"withheld,omitempty"`
	// Forked is set when a fork was seen (its evidence is in
	// bucketChanFork): no record is taken until ResolveChannelFork.
	Forked bool `json:"forked,omitempty"`
}

type channelKeyRecord struct {
	Seed []byte `json:"seed"` // Ed25519 seed of the owner key (the genesis key)
}

// ChannelInfo describes a channel, as the server reports it.
type ChannelInfo struct {
	Handle    string
	Title     string
	About     string
	Followers int64
	Records   uint64 // the chain's length: its head's position
	Created   time.Time
}

func channelInfo(i api.ChannelInfo) ChannelInfo {
	return ChannelInfo{Handle: i.Handle, Title: i.Title, About: i.About, Followers: i.Followers, Records: i.HeadPosition, Created: time.UnixMilli(i.Created)}
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
	// down, with a valid notice signed by the server's operator key: the
	// post is then only this placeholder (no ID, time or text), "removed
	// by the server's operator".
	Removed string
	// Withheld marks a placeholder at Seq for records the server did not
	// serve (missing from the chain, or taken down without a valid
	// notice): the feed stops there until the server serves them.
	Withheld bool
}

func (c *Client) channelAPIError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeChannelSuspended {
		return fmt.Errorf("%w: %s", ErrChannelSuspended, ae.Message)
	}
	return err
}

// CreateChannel creates a channel with a fresh owner key (its genesis
// key) kept on this device and given to the account's linked devices,
// and follows nothing. The handle follows username rules.
func (c *Client) CreateChannel(ctx context.Context, handle, title, about string) (ChannelInfo, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := c.rand.Read(seed); err != nil {
		return ChannelInfo{}, err
	}
	key := ed25519.NewKeyFromSeed(seed)
	genesis := key.Public().(ed25519.PublicKey)
	r := &channel.Record{Kind: channel.KindProfile, Title: title, About: about, Channel: genesis, Position: 1, Time: c.nowMillis()}
	if _, err := c.rand.Read(r.ID[:]); err != nil {
		return ChannelInfo{}, err
	}
	profile, err := r.Sign(key)
	if err != nil {
		return ChannelInfo{}, err
	}
	info, err := c.http.CreateChannel(ctx, api.CreateChannelRequest{Handle: handle, Profile: profile})
	if err != nil {
		return ChannelInfo{}, err
	}
	c.mu.Lock()
	defer c.unlock()
	err = c.update(ctx, func(tx sealedTx) error {
		if err := tx.putJSON(bucketChannelKey, info.Handle, &channelKeyRecord{Seed: seed}); err != nil {
			return err
		}
		return tx.putJSON(bucketChannel, info.Handle, &channelRecord{Genesis: genesis})
	})
	if err != nil {
		return ChannelInfo{}, err
	}
	if _, err := c.storeRecords(ctx, info.Handle, []api.ChannelRecord{{Seq: info.LastSeq, Data: profile}}); err != nil {
		return ChannelInfo{}, err
	}
	return channelInfo(info), nil
}

// Publish signs and posts text to a channel this account owns or is an
// admin of.
func (c *Client) Publish(ctx context.Context, handle, text string) (Post, error) {
	return c.publish(ctx, handle, &channel.Record{Kind: channel.KindPost, Text: text})
}

// ErrNoSuchPost means the channel has no (stored) post with that ID.
var ErrNoSuchPost = errors.New("client: the channel has no such post")

// EditPost replaces a post's text; the earlier text stays visible. The
// post keeps its current media (as this device has it stored after
// catching up; use EditPostMedia to change or drop them). A post not
// found, deleted or taken down is not edited: ErrNoSuchPost.
func (c *Client) EditPost(ctx context.Context, handle string, id [channel.IDSize]byte, text string) (Post, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return Post{}, ErrNoSuchUser
	}
	if err := c.catchUp(ctx, handle); err != nil && !errors.Is(err, ErrChannelFork) {
		return Post{}, err
	}
	posts, err := c.posts(ctx, handle, 0)
	if err != nil {
		return Post{}, err
	}
	for _, p := range posts {
		if p.Removed == "" && !p.Withheld && p.ID == id {
			return c.EditPostMedia(ctx, handle, id, text, p.Media)
		}
	}
	return Post{}, ErrNoSuchPost
}

// EditPostMedia replaces a post's text and media (nil drops them).
func (c *Client) EditPostMedia(ctx context.Context, handle string, id [channel.IDSize]byte, text string, media [][]byte) (Post, error) {
	return c.publish(ctx, handle, &channel.Record{Kind: channel.KindEdit, Target: &id, Text: text, Media: media})
}

// DeletePost removes a post, for good.
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

// publish signs r as the next record of the channel's chain, with the
// owner key if this device holds it, else with the account's identity
// key as an admin, and posts it. If another publisher took the position
// first (stale_head), it catches up and signs again, a few times.
func (c *Client) publish(ctx context.Context, handle string, r *channel.Record) (Post, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return Post{}, ErrNoSuchUser
	}
	owner, err := c.channelSigner(ctx, handle)
	if err != nil {
		return Post{}, err
	}
	r.Time = c.nowMillis()
	if _, err := c.rand.Read(r.ID[:]); err != nil {
		return Post{}, err
	}
	for try := 1; ; try++ {
		b, err := c.signNext(ctx, handle, owner, r)
		if err != nil {
			return Post{}, err
		}
		res, err := c.http.PostRecord(ctx, handle, b)
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeStaleHead && try < maxPublishTries {
			c.log.Info("channel head moved; signing again", "channel", handle, "head", ae.HeadPosition)
			// A random pause, longer each try, so that a publisher who
			// keeps winning the head (one who needs no catch-up between
			// records) cannot make every try of another fail.
			select {
			case <-time.After(rand.N(time.Duration(try) * publishBackoff)):
			case <-ctx.Done():
				return Post{}, ctx.Err()
			}
			if err := c.catchUp(ctx, handle); err != nil {
				return Post{}, err
			}
			continue
		}
		if err != nil {
			return Post{}, c.channelAPIError(err)
		}
		// The record is the chain's head now: keep it, so the next
		// publish signs on top of it without asking the server.
		c.mu.Lock()
		if _, err := c.storeRecords(ctx, handle, []api.ChannelRecord{{Seq: res.Seq, Data: b}}); err != nil {
			c.log.Warn("published channel record not stored", "channel", handle, "err", err)
		}
		c.unlock()
		return Post{Channel: handle, ID: r.ID, Seq: res.Seq, Time: time.UnixMilli(r.Time), Text: r.Text, Media: r.Media}, nil
	}
}

// channelSigner returns the owner key if this device holds it; nil means
// this account signs as an admin, which the channel's chain (caught up
// first) must say it is.
func (c *Client) channelSigner(ctx context.Context, handle string) (ed25519.PrivateKey, error) {
	var (
		kr channelKeyRecord
		cr channelRecord
	)
	err := c.view(ctx, func(tx sealedTx) error {
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return tx.getJSON(bucketChannelKey, handle, &kr)
	})
	if err == nil {
		if cr.LastSeq == 0 { // a device linked since: it has the key but not the chain yet
			if err := c.catchUp(ctx, handle); err != nil {
				return nil, err
			}
		}
		return ed25519.NewKeyFromSeed(kr.Seed), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err := c.pinChannel(ctx, handle); err != nil {
		return nil, err
	}
	if err := c.catchUp(ctx, handle); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.unlock()
	var admin bool
	err = c.view(ctx, func(tx sealedTx) error {
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			return err
		}
		st, err := c.chainState(tx, handle, cr.Genesis, cr.LastSeq)
		admin = err == nil && st.IsAdmin(c.identity().Public())
		return err
	})
	if err != nil {
		return nil, err
	}
	if !admin {
		return nil, ErrNotPublisher
	}
	return nil, nil
}

// signNext signs r at the position after the chain's head as this device
// has it, with the owner key, or (owner nil) the identity key.
func (c *Client) signNext(ctx context.Context, handle string, owner ed25519.PrivateKey, r *channel.Record) ([]byte, error) {
	c.mu.Lock()
	defer c.unlock()
	var st *channel.State
	if err := c.view(ctx, func(tx sealedTx) error {
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			return err
		}
		if cr.Forked {
			return fmt.Errorf("%w (@%s)", ErrChannelFork, handle)
		}
		var err error
		st, err = c.chainState(tx, handle, cr.Genesis, cr.LastSeq)
		return err
	}); err != nil {
		return nil, err
	}
	r.Channel, r.Position, r.Prev = st.Genesis(), st.Position()+1, nil
	if r.Position > 1 {
		h := st.HeadHash()
		r.Prev = &h
	}
	if owner != nil {
		r.Signer = nil
		return r.Sign(owner)
	}
	return r.SignAdmin(c.identity().Private, c.rand)
}

// pinChannel pins a channel's genesis key as the server gives it if this
// device has none pinned yet, without following it (trust on first use,
// as Follow does).
func (c *Client) pinChannel(ctx context.Context, handle string) error {
	var cr channelRecord
	err := c.view(ctx, func(tx sealedTx) error { return tx.getJSON(bucketChannel, handle, &cr) })
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	info, err := c.http.Channel(ctx, handle)
	if err != nil {
		return c.channelAPIError(err)
	}
	c.mu.Lock()
	defer c.unlock()
	return c.update(ctx, func(tx sealedTx) error {
		err := tx.getJSON(bucketChannel, info.Handle, &cr)
		if errors.Is(err, ErrNotFound) {
			return tx.putJSON(bucketChannel, info.Handle, &channelRecord{Genesis: info.GenesisKey})
		}
		return err
	})
}

// Follow follows a channel, pinning its genesis key the first time.
func (c *Client) Follow(ctx context.Context, handle string) (ChannelInfo, error) {
	info, err := c.http.Channel(ctx, handle)
	if err != nil {
		return ChannelInfo{}, c.channelAPIError(err)
	}
	c.mu.Lock()
	defer c.unlock()
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

// Unfollow stops the account following a channel. The pinned key stays.
// A device that never followed it (the account followed on another
// device) has nothing to change here.
func (c *Client) Unfollow(ctx context.Context, handle string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	if err := c.http.Unfollow(ctx, handle); err != nil {
		return c.channelAPIError(err)
	}
	c.mu.Lock()
	defer c.unlock()
	return c.update(ctx, func(tx sealedTx) error {
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
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
	// Admin: the channel's chain, as this device verified it, certifies
	// this account's identity key as an admin's, so it can post
	// (spec/client.md §9.3).
	Admin bool
	Posts int // posts stored on this device (fetched by Feed or live)
	Last  time.Time
}

// Channels lists the channels this device follows or publishes to, by
// handle, from what it has stored (no network).
func (c *Client) Channels(ctx context.Context) ([]ChannelSummary, error) {
	var out []ChannelSummary
	c.mu.Lock() // chainState's cache
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
			if st, err := c.chainState(tx, handle, cr.Genesis, cr.LastSeq); err == nil {
				cs.Admin = st.IsAdmin(c.identity().Public())
			}
			if cs.Follows || cs.Publisher || cs.Admin {
				out = append(out, cs)
			}
			return nil
		})
	})
	c.unlock()
	if err != nil {
		return nil, err
	}
	for i := range out {
		posts, err := c.posts(ctx, out[i].Handle, 0)
		if err != nil {
			return nil, err
		}
		for _, p := range posts {
			if p.Removed != "" || p.Withheld {
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

// catchUp fetches and verifies every record after the last stored one.
// A record that does not verify stops it with ErrForgedRecord, storing
// nothing of that page; a record withheld stops it quietly (Feed shows a
// placeholder); a fork stops it with ErrChannelFork.
func (c *Client) catchUp(ctx context.Context, handle string) error {
	return c.catchUpInto(ctx, handle, nil)
}

// catchUpInto is catchUp, appending what it fetched to fetched if not nil.
func (c *Client) catchUpInto(ctx context.Context, handle string, fetched *[]api.ChannelRecord) error {
	c.mu.Lock()
	defer c.unlock()
	for {
		var cr channelRecord
		if err := c.view(ctx, func(tx sealedTx) error {
			if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
				if errors.Is(err, ErrNotFound) {
					return &ChannelError{Err: ErrNotFollowing, Channel: handle}
				}
				return err
			}
			return nil
		}); err != nil {
			return err
		}
		if cr.Forked {
			return fmt.Errorf("%w (@%s)", ErrChannelFork, handle)
		}
		page, err := c.http.Records(ctx, handle, transport.RecordQuery{After: cr.LastSeq, Limit: api.MaxChannelPage})
		if err != nil {
			return c.channelAPIError(err)
		}
		// A page with nothing after LastSeq moves nothing on: asking again
		// would get it again (a server could keep a follower asking forever).
		if !slices.ContainsFunc(page.Records, func(r api.ChannelRecord) bool { return r.Seq > cr.LastSeq }) {
			return nil
		}
		stop, err := c.storeRecords(ctx, handle, page.Records)
		if err != nil {
			return err
		}
		if fetched != nil {
			*fetched = append(*fetched, page.Records...)
		}
		if stop || page.Next == 0 {
			return nil
		}
	}
}

func chanRecKey(handle string, seq uint64) string { return handle + "/" + fmt.Sprintf("%020d", seq) }

// posts folds the stored records into posts (channel.Fold), newest first,
// with a placeholder (Removed set) at the Seq of each record the operator
// took down, and one (Withheld) at the newest end if the server withheld
// records.
func (c *Client) posts(ctx context.Context, handle string, limit int) ([]Post, error) {
	var (
		recs    []channel.Sequenced
		removed []Post // placeholders of taken-down records, ascending
		cr      channelRecord
	)
	err := c.view(ctx, func(tx sealedTx) error {
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return tx.scan(bucketChanRec, handle+"/", func(k string, v []byte) error {
			seq, _ := strconv.ParseUint(k[len(handle)+1:], 10, 64)
			if _, nt, stub, ok, err := parseTakedown(v); ok {
				if err != nil {
					return err
				}
				removed = append(removed, Post{Channel: handle, Seq: seq, Removed: nt.Reason})
				// The stub still acts (spec/protocol.md §10.7): a delete
				// deletes, a pin pins, an edit's version shows as removed.
				// A post's stub is the placeholder above.
				r, err := channel.ParseStub(stub)
				if err != nil {
					return err
				}
				if r.Kind != channel.KindPost {
					recs = append(recs, channel.Sequenced{Seq: seq, Record: r})
				}
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
	out := make([]Post, 0, len(folded)+len(removed)+1)
	if cr.Withheld != 0 {
		out = append(out, Post{Channel: handle, Seq: cr.Withheld, Withheld: true})
	}
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
// reported; a record is verified and stored if it is the next one, and
// otherwise a catch-up follows.
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

// storeNext verifies and stores a live frame's record if its position is
// the one after the chain's head, without asking the server (so a post
// to many followers costs the server no request per follower), and
// reports whether it did. Anything else (a gap, an unknown channel, a
// record already there) is left to a catch-up, which also classifies a
// conflicting record (a fork or a forgery).
func (c *Client) storeNext(ctx context.Context, f *api.Frame) (bool, error) {
	if len(f.Record) == 0 {
		return false, nil
	}
	r, err := channel.Parse(f.Record)
	if err != nil {
		return false, fmt.Errorf("%w (@%s, seq %d: %v)", ErrForgedRecord, f.Channel, f.Seq, err)
	}
	c.mu.Lock()
	defer c.unlock()
	var (
		cr   channelRecord
		next bool
	)
	if err := c.view(ctx, func(tx sealedTx) error {
		if err := tx.getJSON(bucketChannel, f.Channel, &cr); err != nil {
			return err
		}
		if cr.Forked || f.Seq <= cr.LastSeq {
			return nil
		}
		// The next record is stored from the frame; one for a position
		// already filled is classified as storeRecords does (a replay,
		// a forgery, or a fork kept as evidence).
		st, err := c.chainState(tx, f.Channel, cr.Genesis, cr.LastSeq)
		next = err == nil && r.Position <= st.Position()+1
		return err
	}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if !next {
		return false, nil
	}
	stop, err := c.storeRecords(ctx, f.Channel, []api.ChannelRecord{{Seq: f.Seq, Data: f.Record}})
	if err != nil || stop {
		return true, err
	}
	return true, nil
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
