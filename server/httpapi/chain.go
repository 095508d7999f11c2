package httpapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/server/store"
)

// The channel's chain on the server (spec/protocol.md §10.4, api §11.3):
// before it stores a record, the server applies it to the chain's head
// exactly as a follower would, so it never serves a record a follower
// must refuse, and it tells a publisher whose head is stale to re-sign.

// headState resumes the channel's chain at its last stored record, with
// the admins the owner key certified in the chain.
func (h *Handler) headState(ctx context.Context, c store.Channel) (*channel.State, error) {
	last, err := h.store.ChannelRecords(ctx, c.ID, store.RecordQuery{Limit: 1, Desc: true})
	if err != nil {
		return nil, err
	}
	head := channel.Head{Genesis: c.GenesisKey, Admins: map[keys.PublicKey]string{}}
	if len(last) > 0 {
		head.Position = last[0].Position
		copy(head.Hash[:], last[0].Hash)
	}
	var changes []store.ChannelRecord
	for _, k := range []channel.Kind{channel.KindAddAdmin, channel.KindRemoveAdmin} {
		rs, err := h.store.ChannelRecords(ctx, c.ID, store.RecordQuery{Kind: uint8(k)})
		if err != nil {
			return nil, err
		}
		changes = append(changes, rs...)
	}
	slices.SortFunc(changes, func(a, b store.ChannelRecord) int { return int(a.Position) - int(b.Position) })
	for _, sr := range changes {
		rec, err := channel.Parse(sr.Data)
		if err != nil {
			return nil, fmt.Errorf("stored admin record at %d: %w", sr.Position, err)
		}
		if rec.Kind == channel.KindAddAdmin {
			head.Admins[*rec.Admin] = rec.AdminName
		} else {
			delete(head.Admins, *rec.Admin)
		}
	}
	return channel.Resume(head)
}

// staleHead is the 409 a publisher gets when its record is not the one
// after the channel's head: it catches up and signs again.
func staleHead(position uint64) error {
	e := apiError(http.StatusConflict, api.CodeStaleHead,
		fmt.Sprintf("The channel's last record is at position %d; catch up and sign the record for position %d.", position, position+1))
	e.HeadPosition = position
	return e
}

func recordError(err error, head uint64) error {
	switch {
	case errors.Is(err, channel.ErrSignature):
		return apiError(http.StatusBadRequest, api.CodeBadSignature, "The record's signature does not verify with the key it names.")
	case errors.Is(err, channel.ErrGap), errors.Is(err, channel.ErrReplay), errors.Is(err, channel.ErrReorder), errors.Is(err, channel.ErrPrev):
		return staleHead(head)
	case errors.Is(err, channel.ErrUnauthorized):
		return apiError(http.StatusForbidden, api.CodeSignerNotAllowed, "The record's signer is not the channel's owner key or a current admin's identity key.")
	case errors.Is(err, channel.ErrAuthority):
		return apiError(http.StatusForbidden, api.CodeSignerNotAllowed, "Only the channel's owner key may add or remove admins.")
	case errors.Is(err, channel.ErrWrongChannel):
		return badRecord("The record belongs to another channel.")
	case errors.Is(err, channel.ErrTarget):
		return badRecord("The record's target is not an earlier post of this channel, or its ID is already used.")
	}
	return badRecord("The body is not a valid channel record.")
}

// checkSigner enforces that the caller signs as itself: the owner
// account's devices with the owner key, an admin account with its own
// current identity key (spec/api.md §11.3).
func checkSigner(c store.Channel, caller store.Account, rec *channel.Record) error {
	if caller.ID == c.OwnerID {
		if rec.Signer != nil {
			return apiError(http.StatusForbidden, api.CodeSignerNotAllowed, "The owner's records are signed with the channel's owner key.")
		}
		return nil
	}
	id, err := keys.DecodePublicKey(caller.IdentityKey)
	if err != nil || rec.Signer == nil || *rec.Signer != id {
		return apiError(http.StatusForbidden, api.CodeSignerNotAllowed, "An admin signs records with the identity key of their own account.")
	}
	return nil
}

// operatorKeys holds the server's operator key once loaded.
type operatorKeys struct {
	mu  sync.Mutex // guards key
	key ed25519.PrivateKey
}

// operatorKey returns the server's operator key, made and stored the
// first time (spec/protocol.md §10.7).
func (h *Handler) operatorKey(ctx context.Context) (ed25519.PrivateKey, error) {
	h.operator.mu.Lock()
	defer h.operator.mu.Unlock()
	if h.operator.key != nil {
		return h.operator.key, nil
	}
	fresh := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	seed, err := h.store.OperatorKey(ctx, fresh)
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("stored operator key has the wrong size")
	}
	h.operator.key = ed25519.NewKeyFromSeed(seed)
	return h.operator.key, nil
}

func (h *Handler) operatorPublic(ctx context.Context) ([]byte, error) {
	k, err := h.operatorKey(ctx)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

// serverInfo is GET /v1/server.
func (h *Handler) serverInfo(w http.ResponseWriter, r *http.Request) error {
	pub, err := h.operatorPublic(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ServerInfo{OperatorKey: pub, MaxGroupMembers: h.groups.MaxMembers()})
	return nil
}
