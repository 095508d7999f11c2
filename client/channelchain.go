package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
)

// A channel's chain on this device (spec/client.md §9.4). Every record
// is applied to the channel's channel.State, rebuilt from the stored
// records and cached in Client.chains, before it is stored: a replayed,
// reordered or forged record is refused; a record missing from the chain
// (or marked taken down without a valid operator notice) stops the
// catch-up there as withheld; two validly signed records at one position
// are a fork, whose evidence is kept and which stops the channel until
// the user resolves it.

const (
	bucketChanFork = "chanfork" // handle → forkRecord, the evidence of a fork
	bucketOperator = "operator" // keyOperator → the server's operator key, pinned on first use
	keyOperator    = "key"
	// noticePrefix marks a stored record the operator took down: the
	// operator's signed notice follows (its length as a uvarint first),
	// then the record's stub (see takedownValue).
	noticePrefix = "notice:"
	// maxPublishTries bounds how often a publisher catches up and signs
	// again after a stale_head (another publisher won the position).
	maxPublishTries = 4
	// publishBackoff bounds the random pause before the second try; the
	// n-th try waits up to (n-1)·publishBackoff.
	publishBackoff = 50 * time.Millisecond
)

var (
	// ErrChannelFork means the channel forked: two different records at
	// one position, both validly signed (spec/protocol.md §10.5). The
	// evidence is kept (ChannelFork); no record of the channel is taken
	// until ResolveChannelFork.
	ErrChannelFork = errors.New("client: the channel forked: two validly signed records at one position; check with the channel's owner, then resolve or unfollow")
	// ErrReplayedRecord means the server served a record already in the
	// channel's chain again (wrapped together with ErrForgedRecord).
	ErrReplayedRecord = errors.New("client: the server served an old channel record again (replayed)")
)

// forkRecord is a fork's evidence, kept sealed in the store.
type forkRecord struct {
	Position uint64 `json:"position"`
	Ours     []byte `json:"ours,omitempty"` // the stored record (or notice) at Position
	Theirs   []byte `json:"theirs"`         // the conflicting, validly signed record
	Seen     int64  `json:"seen"`           // unix ms
}

// ChannelFork is the evidence of a fork: Ours is what this device had at
// Position (a record, or an operator's notice if it was taken down),
// Theirs the validly signed record that conflicts with it. Either can be
// shown to the channel's owner, or to anyone: both verify.
type ChannelFork struct {
	Channel  string
	Position uint64
	Ours     []byte
	Theirs   []byte
	Seen     time.Time
}

// ChannelFork returns the evidence of a fork of the channel, or nil if
// the channel has not forked.
func (c *Client) ChannelFork(ctx context.Context, handle string) (*ChannelFork, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return nil, ErrNoSuchUser
	}
	var fr forkRecord
	err = c.view(ctx, func(tx sealedTx) error { return tx.getJSON(bucketChanFork, handle, &fr) })
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ChannelFork{Channel: handle, Position: fr.Position, Ours: fr.Ours, Theirs: fr.Theirs, Seen: time.UnixMilli(fr.Seen)}, nil
}

// ResolveChannelFork lets a forked channel take records again: the
// records stored from the fork's position on are dropped and the next
// catch-up takes the chain as the server serves it then. The evidence
// stays (ChannelFork). Use it after checking with the channel's owner,
// out of band, which branch is theirs (spec/client.md §9.4).
func (c *Client) ResolveChannelFork(ctx context.Context, handle string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	c.mu.Lock()
	defer c.unlock()
	delete(c.chains, handle)
	return c.update(ctx, func(tx sealedTx) error {
		var (
			cr channelRecord
			fr forkRecord
		)
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			return err
		}
		if err := tx.getJSON(bucketChanFork, handle, &fr); err != nil {
			return err
		}
		var drop []string
		cr.LastSeq = 0
		if err := tx.scan(bucketChanRec, handle+"/", func(k string, v []byte) error {
			pos, err := storedPosition(v)
			if err != nil {
				return err
			}
			if pos >= fr.Position {
				drop = append(drop, k)
			} else {
				cr.LastSeq = seqOfKey(handle, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range drop {
			if err := tx.del(bucketChanRec, k); err != nil {
				return err
			}
		}
		cr.Forked, cr.Withheld = false, 0
		return tx.putJSON(bucketChannel, handle, &cr)
	})
}

// takedownValue is what the store keeps of a record the operator took
// down: noticePrefix ‖ uvarint(len(notice)) ‖ notice ‖ stub.
func takedownValue(notice, stub []byte) []byte {
	v := binary.AppendUvarint([]byte(noticePrefix), uint64(len(notice)))
	return append(append(v, notice...), stub...)
}

// parseTakedown splits a stored value made by takedownValue; ok is false
// for a stored record.
func parseTakedown(v []byte) (notice []byte, nt *channel.Notice, stub []byte, ok bool, err error) {
	rest, ok := bytes.CutPrefix(v, []byte(noticePrefix))
	if !ok {
		return nil, nil, nil, false, nil
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return nil, nil, nil, true, fmt.Errorf("client: a stored takedown is malformed")
	}
	notice, stub = rest[k:k+int(n)], rest[k+int(n):]
	nt, err = channel.ParseNotice(notice)
	return notice, nt, stub, true, err
}

// stubOfStored returns the stub of a stored record or takedown.
func stubOfStored(v []byte) ([]byte, error) {
	if _, _, stub, ok, err := parseTakedown(v); ok {
		return stub, err
	}
	r, err := channel.Parse(v)
	if err != nil {
		return nil, err
	}
	return r.StubEncoded(), nil
}

// storedPosition is the position of a stored record or notice.
func storedPosition(v []byte) (uint64, error) {
	if _, nt, _, ok, err := parseTakedown(v); ok {
		if err != nil {
			return 0, err
		}
		return nt.Position, nil
	}
	r, err := channel.Parse(v)
	if err != nil {
		return 0, err
	}
	return r.Position, nil
}

// chainState returns the channel's verified chain, from the cache or
// rebuilt from the stored records; lastSeq is the channel's stored
// LastSeq. The cache is used only while its head is the stored one:
// another process on the same store (a `parley channel post` while
// `parley chat` is open) may have stored records since, and a stale head
// would take the next live record for a gap. The caller holds c.mu.
func (c *Client) chainState(tx sealedTx, handle string, genesis []byte, lastSeq uint64) (*channel.State, error) {
	if s := c.chains[handle]; s != nil {
		current, err := storedHeadIs(tx, handle, lastSeq, s.Position(), s.HeadHash())
		if err != nil {
			return nil, err
		}
		if current {
			return s, nil
		}
	}
	s, err := channel.NewState(genesis)
	if err != nil {
		return nil, err
	}
	err = tx.scan(bucketChanRec, handle+"/", func(_ string, v []byte) error {
		if _, _, stub, ok, err := parseTakedown(v); ok {
			if err != nil {
				return err
			}
			_, err = s.ApplyStub(stub)
			return err
		}
		_, err := s.Apply(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("client: the stored records of @%s do not form a chain: %w", handle, err)
	}
	c.chains[handle] = s
	return s, nil
}

// storedHeadIs reports whether the record stored at lastSeq (the head)
// is at position with hash h (a notice's: the hash it names); with
// nothing stored, whether position is 0.
func storedHeadIs(tx sealedTx, handle string, lastSeq, position uint64, h [channel.HashSize]byte) (bool, error) {
	if lastSeq == 0 {
		return position == 0, nil
	}
	v, err := tx.get(bucketChanRec, chanRecKey(handle, lastSeq))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, nt, _, ok, err := parseTakedown(v); ok {
		return err == nil && nt.Position == position && nt.Hash == h, nil // else rebuilt, which reports what is wrong
	}
	r, err := channel.Parse(v)
	return err == nil && r.Position == position && channel.Hash(v) == h, nil
}

// operatorKey returns the server's operator key, pinned the first time
// it is needed (trust on first use). The caller holds c.mu.
func (c *Client) operatorKey(ctx context.Context) (ed25519.PublicKey, error) {
	var key []byte
	err := c.view(ctx, func(tx sealedTx) error {
		var err error
		key, err = tx.get(bucketOperator, keyOperator)
		return err
	})
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	info, err := c.http.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	if len(info.OperatorKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("client: the server's operator key is malformed")
	}
	err = c.update(ctx, func(tx sealedTx) error { return tx.put(bucketOperator, keyOperator, info.OperatorKey) })
	return info.OperatorKey, err
}

// storeRecords applies records (ascending Seq) to the channel's chain and
// stores them, moving LastSeq on, in one transaction. It reports stop when
// the chain cannot go on for now: a record withheld (what came before is
// stored, ChannelGapEvent), or a fork (its evidence is stored,
// ChannelForkEvent, ErrChannelFork). A forged or replayed record stores
// nothing of the page (ErrForgedRecord). The caller holds c.mu.
func (c *Client) storeRecords(ctx context.Context, handle string, recs []api.ChannelRecord) (bool, error) {
	var operator ed25519.PublicKey
	for _, r := range recs {
		if r.TakenDown != "" && operator == nil {
			var err error
			if operator, err = c.operatorKey(ctx); err != nil {
				return false, err
			}
		}
	}
	var (
		stop   bool
		result error
		events []Event
	)
	err := c.update(ctx, func(tx sealedTx) error {
		stop, result, events = false, nil, nil
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			if errors.Is(err, ErrNotFound) {
				return &ChannelError{Err: ErrNotFollowing, Channel: handle}
			}
			return err
		}
		if cr.Forked {
			stop, result = true, fmt.Errorf("%w (@%s)", ErrChannelFork, handle)
			return nil
		}
		st, err := c.chainState(tx, handle, cr.Genesis, cr.LastSeq)
		if err != nil {
			return err
		}
	records:
		for _, r := range recs {
			if r.Seq <= cr.LastSeq {
				continue
			}
			var value []byte
			if r.TakenDown != "" {
				// The notice must name the stub's record, and the stub
				// applies with every check a record gets (spec/protocol.md
				// §10.7): a taken-down remove_admin still removes.
				n, err := channel.VerifyNotice(operator, cr.Genesis, r.Notice)
				var stub *channel.Record
				if err == nil {
					stub, err = channel.ParseStub(r.Stub)
				}
				if err == nil && (stub.Hash() != n.Hash || stub.Position != n.Position || stub.ID != n.RecordID) {
					err = errors.New("the notice names another record than the stub")
				}
				if err == nil {
					_, err = st.ApplyStub(r.Stub)
				}
				if err != nil {
					c.log.Warn("channel record withheld: taken down without a valid notice", "channel", handle, "seq", r.Seq, "err", err)
					cr.Withheld, stop = r.Seq, true
					events = append(events, &ChannelGapEvent{Channel: handle, Seq: r.Seq})
					break records
				}
				value = takedownValue(r.Notice, r.Stub)
			} else {
				_, err := st.Apply(r.Data)
				switch {
				case err == nil:
				case errors.Is(err, channel.ErrGap):
					c.log.Warn("channel records withheld", "channel", handle, "seq", r.Seq, "err", err)
					cr.Withheld, stop = r.Seq, true
					events = append(events, &ChannelGapEvent{Channel: handle, Seq: r.Seq})
					break records
				case errors.Is(err, channel.ErrReplay):
					return fmt.Errorf("%w: %w (@%s, seq %d)", ErrForgedRecord, ErrReplayedRecord, handle, r.Seq)
				case errors.Is(err, channel.ErrReorder), errors.Is(err, channel.ErrPrev):
					_, cerr := st.Conflict(r.Data)
					var fe *channel.ForkError
					if !errors.As(cerr, &fe) {
						if errors.Is(cerr, channel.ErrReplay) {
							return fmt.Errorf("%w: %w (@%s, seq %d)", ErrForgedRecord, ErrReplayedRecord, handle, r.Seq)
						}
						return fmt.Errorf("%w (@%s, seq %d: %v)", ErrForgedRecord, handle, r.Seq, cerr)
					}
					if err := c.keepFork(tx, handle, fe); err != nil {
						return err
					}
					cr.Forked, stop = true, true
					result = fmt.Errorf("%w (@%s, position %d)", ErrChannelFork, handle, fe.Position)
					events = append(events, &ChannelForkEvent{Channel: handle, Position: fe.Position})
					break records
				default:
					return fmt.Errorf("%w (@%s, seq %d: %v)", ErrForgedRecord, handle, r.Seq, err)
				}
				value = r.Data
			}
			if err := tx.put(bucketChanRec, chanRecKey(handle, r.Seq), value); err != nil {
				return err
			}
			cr.LastSeq, cr.Withheld = r.Seq, 0
		}
		return tx.putJSON(bucketChannel, handle, &cr)
	})
	if err != nil {
		delete(c.chains, handle) // it may hold records that were not stored
		return false, err
	}
	for _, e := range events {
		c.emit(e)
	}
	return stop, result
}

// keepFork stores a fork's evidence: the conflicting record and what
// this device has at the fork's position.
func (c *Client) keepFork(tx sealedTx, handle string, fe *channel.ForkError) error {
	fr := forkRecord{Position: fe.Position, Theirs: fe.Record, Seen: c.nowMillis()}
	err := tx.scan(bucketChanRec, handle+"/", func(_ string, v []byte) error {
		if pos, err := storedPosition(v); err == nil && pos == fe.Position {
			fr.Ours = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.log.Warn("channel fork", "channel", handle, "position", fe.Position)
	return tx.putJSON(bucketChanFork, handle, &fr)
}

func seqOfKey(handle, k string) uint64 {
	var seq uint64
	fmt.Sscanf(k[len(handle)+1:], "%d", &seq)
	return seq
}
