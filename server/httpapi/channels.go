package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/server/store"
)

// Channels (spec/api.md §11). The server applies every record to the
// channel's chain (chain.go) before it stores it, so it never serves a
// record a follower would refuse; followers check again, so a server that
// lies is caught.

var (
	errHandleTaken = apiError(http.StatusConflict, api.CodeHandleTaken, "That channel handle is taken.")
	errNotChannel  = apiError(http.StatusForbidden, api.CodeForbidden, "Only the channel's owner and admins may do that.")
)

func suspended(c store.Channel) error {
	return apiError(http.StatusUnavailableForLegalReasons, api.CodeChannelSuspended, "This channel is suspended by the server's operator: "+c.SuspendReason)
}

func badRecord(msg string) error {
	return apiError(http.StatusBadRequest, api.CodeBadRecord, msg)
}

// channelNamed looks up the {handle} of the path. A suspended channel is
// 451 unless allowSuspended.
func (h *Handler) channelNamed(r *http.Request, allowSuspended bool) (store.Channel, error) {
	handle, err := api.NormalizeUsername(r.PathValue("handle"))
	if err != nil {
		return store.Channel{}, errNotFound
	}
	c, err := h.store.ChannelByHandle(r.Context(), handle)
	if err != nil {
		return c, err
	}
	if c.Suspended() && !allowSuspended {
		return c, suspended(c)
	}
	return c, nil
}

func (h *Handler) channelInfo(ctx context.Context, c store.Channel) (api.ChannelInfo, error) {
	info := api.ChannelInfo{Handle: c.Handle, GenesisKey: c.GenesisKey, Title: c.Title, About: c.About,
		Avatar: c.Avatar, Followers: c.Followers, Created: c.Created.UnixMilli()}
	last, err := h.store.ChannelRecords(ctx, c.ID, store.RecordQuery{Limit: 1, Desc: true})
	if err != nil {
		return info, err
	}
	if len(last) > 0 {
		info.LastSeq, info.HeadPosition, info.HeadHash = last[0].Seq, last[0].Position, last[0].Hash
	}
	if info.OperatorKey, err = h.operatorPublic(ctx); err != nil {
		return info, err
	}
	return info, nil
}

// createChannel is POST /v1/channels (§11.1).
func (h *Handler) createChannel(w http.ResponseWriter, r *http.Request) error {
	caller := callerOf(r)
	var req api.CreateChannelRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	handle, err := api.NormalizeUsername(req.Handle)
	if errors.Is(err, api.ErrUsernameReserved) {
		return apiError(http.StatusBadRequest, api.CodeUsernameReserved, "That handle is reserved.")
	}
	if err != nil {
		return apiError(http.StatusBadRequest, api.CodeUsernameInvalid, "A handle is 3-32 letters, digits or _, starting with a letter.")
	}
	parsed, err := channel.Parse(req.Profile)
	if err != nil {
		return badRecord("The profile is not a valid channel record.")
	}
	state, err := channel.NewState(parsed.Channel)
	if err != nil {
		return badRecord("The profile names no valid channel key.")
	}
	rec, err := state.Apply(req.Profile)
	if err != nil {
		if parsed.Position != 1 {
			return badRecord("A channel starts with a profile record at position 1, signed by its genesis key.")
		}
		return recordError(err, 0)
	}
	shas, err := h.checkMedia(r.Context(), rec)
	if err != nil {
		return err
	}
	now := h.opts.Now()
	c, stored, err := h.store.CreateChannel(r.Context(),
		store.Channel{Handle: handle, OwnerID: caller.account.ID, GenesisKey: rec.Channel, Created: now},
		storedRecord(rec, req.Profile, now))
	if errors.Is(err, store.ErrHandleTaken) {
		return errHandleTaken
	}
	if err != nil {
		return err
	}
	if err := h.retainMedia(r.Context(), shas); err != nil {
		return err
	}
	info, err := h.channelInfo(r.Context(), c)
	if err != nil {
		return err
	}
	info.LastSeq = stored.Seq
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func storedRecord(rec *channel.Record, data []byte, now time.Time) store.ChannelRecord {
	h := rec.Hash()
	return store.ChannelRecord{RecordID: rec.ID, Kind: uint8(rec.Kind), Target: rec.Target, Position: rec.Position, Hash: h[:], Time: rec.Time,
		Data: data, Created: now, Title: rec.Title, About: rec.About, Avatar: rec.Avatar}
}

// getChannel is GET /v1/channels/{handle}.
func (h *Handler) getChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := h.channelNamed(r, false)
	if err != nil {
		return err
	}
	info, err := h.channelInfo(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// searchChannels is GET /v1/channels?q=.
func (h *Handler) searchChannels(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("q")
	if len(q) > 64 {
		return badRequest("The query is at most 64 bytes.")
	}
	cs, err := h.store.SearchChannels(r.Context(), q, 50)
	if err != nil {
		return err
	}
	return h.writeChannels(w, r, cs)
}

func (h *Handler) writeChannels(w http.ResponseWriter, r *http.Request, cs []store.Channel) error {
	out := api.ChannelList{Channels: []api.ChannelInfo{}}
	for _, c := range cs {
		info, err := h.channelInfo(r.Context(), c)
		if err != nil {
			return err
		}
		out.Channels = append(out.Channels, info)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// following is GET /v1/following: the caller's channels.
func (h *Handler) following(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.store.FollowedChannels(r.Context(), callerOf(r).account.ID)
	if err != nil {
		return err
	}
	return h.writeChannels(w, r, cs)
}

// postRecord is POST /v1/channels/{handle}/records (§11.3): the owner or
// an admin publishes a signed record, which must extend the chain's head.
func (h *Handler) postRecord(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := h.channelNamed(r, false)
	if err != nil {
		return err
	}
	caller := callerOf(r)
	if c.OwnerID != caller.account.ID {
		ok, err := h.store.IsChannelAdmin(ctx, c.ID, caller.account.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errNotChannel
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxChannelRecord))
	if err != nil {
		return errTooLarge
	}
	parsed, err := channel.Parse(body)
	if err != nil {
		return badRecord("The body is not a valid channel record.")
	}
	if err := checkSigner(c, caller.account, parsed); err != nil {
		return err
	}
	// A retry of a record already stored is idempotent.
	if prior, err := h.store.ChannelRecordByID(ctx, c.ID, parsed.ID); err == nil && bytes.Equal(prior.Data, body) {
		writeJSON(w, http.StatusOK, api.PostResult{Seq: prior.Seq, Duplicate: true})
		return nil
	} else if err != nil && !isNotFound(err) {
		return err
	}
	state, err := h.headState(ctx, c)
	if err != nil {
		return err
	}
	rec, err := state.Apply(body)
	if err != nil {
		return recordError(err, state.Position())
	}
	if rec.Target != nil {
		t, err := h.store.ChannelRecordByID(ctx, c.ID, *rec.Target)
		if isNotFound(err) || err == nil && t.Kind != uint8(channel.KindPost) {
			return badRecord("The record's target is not a post of this channel.")
		}
		if err != nil {
			return err
		}
	}
	shas, err := h.checkMedia(ctx, rec)
	if err != nil {
		return err
	}
	sr := storedRecord(rec, body, h.opts.Now())
	sr.ChannelID = c.ID
	stored, err := h.store.AppendChannelRecord(ctx, sr)
	if errors.Is(err, store.ErrExists) {
		if !bytes.Equal(stored.Data, body) {
			return badRecord("The record's ID is already used in this channel.")
		}
		writeJSON(w, http.StatusOK, api.PostResult{Seq: stored.Seq, Duplicate: true})
		return nil
	}
	if errors.Is(err, store.ErrStaleHead) {
		return staleHead(state.Position()) // another publisher won the position
	}
	if err != nil {
		return err
	}
	if err := h.retainMedia(ctx, shas); err != nil {
		return err
	}
	h.queuePosters(rec) // for videos without one (posters.go)
	if rec.Kind == channel.KindDelete {
		if err := h.releaseMedia(ctx, c, *rec.Target); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusCreated, api.PostResult{Seq: stored.Seq})
	h.fanout(ctx, c, &api.Frame{Type: api.FrameChannel, Seq: stored.Seq, Channel: c.Handle, Record: stored.Data})
	return nil
}

// listRecords is GET /v1/channels/{handle}/records (§11.4): pages of
// records, ascending after a Seq, or descending (newest first) before one.
func (h *Handler) listRecords(w http.ResponseWriter, r *http.Request) error {
	c, err := h.channelNamed(r, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var sq store.RecordQuery
	parse := func(name string, max uint64) (uint64, error) {
		v := q.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > max {
			return 0, badRequest("%s must be a decimal number up to %d.", name, max)
		}
		return n, nil
	}
	if sq.After, err = parse("after", 1<<63); err != nil {
		return err
	}
	if sq.Before, err = parse("before", 1<<63); err != nil {
		return err
	}
	kind, err := parse("kind", 255)
	if err != nil {
		return err
	}
	limit, err := parse("limit", api.MaxChannelPage)
	if err != nil {
		return err
	}
	if q.Has("after") && sq.Before != 0 {
		return badRequest("Give after or before, not both.")
	}
	sq.Kind, sq.Limit, sq.Desc = uint8(kind), int(limit), !q.Has("after") && kind == 0
	if sq.Limit == 0 {
		sq.Limit = api.MaxChannelPage
	}
	rs, err := h.store.ChannelRecords(r.Context(), c.ID, sq)
	if err != nil {
		return err
	}
	out := api.ChannelRecords{Records: make([]api.ChannelRecord, len(rs))}
	for i, rec := range rs {
		out.Records[i] = api.ChannelRecord{Seq: rec.Seq, Data: rec.Data, Views: rec.Views, TakenDown: rec.TakedownReason}
		if rec.TakedownReason != "" {
			full, err := channel.Parse(rec.Data)
			if err != nil {
				return fmt.Errorf("httpapi: stored record %d of a channel: %w", rec.Seq, err)
			}
			out.Records[i].Data, out.Records[i].Notice, out.Records[i].Stub = nil, rec.TakedownNotice, full.StubEncoded()
		}
	}
	if len(rs) == sq.Limit {
		out.Next = rs[len(rs)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// follow and unfollow are PUT and DELETE /v1/channels/{handle}/follow.
func (h *Handler) follow(w http.ResponseWriter, r *http.Request) error {
	c, err := h.channelNamed(r, false)
	if err != nil {
		return err
	}
	caller := callerOf(r)
	if err := h.store.Follow(r.Context(), c.ID, caller.account.ID, h.opts.Now()); err != nil {
		return err
	}
	h.followers.add(c.ID, caller.account.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) unfollow(w http.ResponseWriter, r *http.Request) error {
	c, err := h.channelNamed(r, true)
	if err != nil {
		return err
	}
	caller := callerOf(r)
	if err := h.store.Unfollow(r.Context(), c.ID, caller.account.ID); err != nil {
		return err
	}
	h.followers.remove(c.ID, caller.account.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setAdmin is PUT and DELETE /v1/channels/{handle}/admins/{username}.
func (h *Handler) setAdmin(admin bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := h.channelNamed(r, false)
		if err != nil {
			return err
		}
		if c.OwnerID != callerOf(r).account.ID {
			return apiError(http.StatusForbidden, api.CodeForbidden, "Only the channel's owner may change its admins.")
		}
		name, err := api.NormalizeUsername(r.PathValue("username"))
		if err != nil {
			return errNotFound
		}
		a, err := h.store.AccountByName(r.Context(), name)
		if err != nil {
			return err
		}
		if err := h.store.SetChannelAdmin(r.Context(), c.ID, a.ID, admin); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// listAdmins is GET /v1/channels/{handle}/admins: the owner reads the
// admins (by account; the chain names their identity keys).
func (h *Handler) listAdmins(w http.ResponseWriter, r *http.Request) error {
	c, err := h.channelNamed(r, false)
	if err != nil {
		return err
	}
	if c.OwnerID != callerOf(r).account.ID {
		return apiError(http.StatusForbidden, api.CodeForbidden, "Only the channel's owner may list its admins.")
	}
	names, err := h.store.ChannelAdmins(r.Context(), c.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ChannelAdmins{Admins: append([]string{}, names...)})
	return nil
}

// followerCache keeps each channel's followers in memory for fan-out,
// loaded from the store on first use and updated by follow and unfollow.
// (One node; with several, bus events will keep it current.)
type followerCache struct {
	mu sync.Mutex // guards m
	m  map[int64][]int64
}

func (f *followerCache) get(ctx context.Context, s store.Store, channelID int64) ([]int64, error) {
	f.mu.Lock()
	ids, ok := f.m[channelID]
	f.mu.Unlock()
	if ok {
		return ids, nil
	}
	ids, err := s.ChannelFollowers(ctx, channelID)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.m[channelID]; ok {
		return cur, nil // a follow raced the load and is in cur
	}
	f.m[channelID] = ids
	return ids, nil
}

func (f *followerCache) add(channelID, account int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ids, ok := f.m[channelID]; ok && !slices.Contains(ids, account) {
		f.m[channelID] = append(slices.Clip(ids), account)
	}
}

func (f *followerCache) remove(channelID, account int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ids, ok := f.m[channelID]; ok {
		f.m[channelID] = slices.DeleteFunc(slices.Clone(ids), func(a int64) bool { return a == account })
	}
}

// fanout offers a Channel frame to every connected device of the
// channel's followers, without blocking; a follower whose socket buffer
// is full misses it live and catches up from the history (§11.6).
func (h *Handler) fanout(ctx context.Context, c store.Channel, f *api.Frame) {
	ids, err := h.followers.get(ctx, h.store, c.ID)
	if err != nil {
		h.log.Warn("channel fan-out: followers not loaded", logKeyError, err.Error())
		return
	}
	written, dropped := h.hub.offerAccounts(ids, api.AppendFrame(nil, f))
	h.metrics.channelFrames.WithLabelValues("written").Add(float64(written))
	h.metrics.channelFrames.WithLabelValues("dropped").Add(float64(dropped))
}

// checkMedia checks that every blob a record's media names (and their
// posters, and a profile's avatar) has been uploaded, with the size and
// content type the descriptor gives, and returns their SHA-256s.
func (h *Handler) checkMedia(ctx context.Context, rec *channel.Record) ([]string, error) {
	blobs, err := mediaBlobs(rec)
	if err != nil {
		return nil, badRecord("A media descriptor is malformed.")
	}
	var shas []string
	for _, w := range blobs {
		b, err := h.store.Blob(ctx, w.sum)
		if isNotFound(err) || err == nil && (b.Expired(h.opts.Now()) || !w.poster && (b.Size != w.size || b.ContentType != w.ctype)) {
			return nil, badRecord("A post's media must be uploaded first (POST /v1/uploads), with the size and content type its descriptor gives: " + w.sum)
		}
		if err != nil {
			return nil, err
		}
		shas = append(shas, w.sum)
	}
	return shas, nil
}

// mediaBlob is one blob a record names: a media item, its poster (whose
// size and type the descriptor does not give), or an avatar.
type mediaBlob struct {
	sum    string // hex SHA-256
	size   int64
	ctype  string
	poster bool
}

// mediaBlobs lists the blobs a record's media and avatar name.
func mediaBlobs(rec *channel.Record) ([]mediaBlob, error) {
	descs := rec.Media
	if rec.Avatar != nil {
		descs = append(descs[:len(descs):len(descs)], rec.Avatar)
	}
	var out []mediaBlob
	for _, d := range descs {
		m, err := channel.ParseMedia(d)
		if err != nil {
			return nil, err
		}
		out = append(out, mediaBlob{sum: hex.EncodeToString(m.SHA256[:]), size: m.Size, ctype: m.ContentType})
		if m.Poster != nil {
			out = append(out, mediaBlob{sum: hex.EncodeToString(m.Poster[:]), poster: true})
		}
	}
	return out, nil
}

// retainMedia keeps the blobs a stored record names for as long as the
// record exists (they no longer expire).
func (h *Handler) retainMedia(ctx context.Context, shas []string) error {
	for _, sum := range shas {
		if err := h.store.RetainBlob(ctx, sum, true); err != nil {
			return err
		}
	}
	return nil
}

// releaseMedia lets go of the blobs a deleted post and its edits held, so
// that blobs no post refers to any more are cleaned up once their upload
// expiry passes (spec/api.md §10).
func (h *Handler) releaseMedia(ctx context.Context, c store.Channel, post [16]byte) error {
	recs, err := h.store.ChannelRecords(ctx, c.ID, store.RecordQuery{Kind: uint8(channel.KindEdit)})
	if err != nil {
		return err
	}
	orig, err := h.store.ChannelRecordByID(ctx, c.ID, post)
	if err != nil {
		return err
	}
	for _, sr := range append(recs, orig) {
		if sr.RecordID != post && (sr.Target == nil || *sr.Target != post) {
			continue
		}
		rec, err := channel.Parse(sr.Data)
		if err != nil {
			continue // verified when stored; never expected
		}
		blobs, err := mediaBlobs(rec)
		if err != nil {
			continue
		}
		for _, b := range blobs {
			if err := h.store.RetainBlob(ctx, b.sum, false); err != nil && !isNotFound(err) {
				return err
			}
		}
	}
	return nil
}
