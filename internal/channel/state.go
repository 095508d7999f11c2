package channel

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/parley-chat/parley/internal/keys"
)

// State is a verifier's view of a channel's chain (spec/protocol.md §10.4):
// the genesis key (the owner key), the hash of every record so far, the
// admins and when each could sign, and the IDs of the records, so that an
// edit, deletion or pin can only name an earlier post. It starts at the
// genesis key and moves on one record at a time with Apply.
//
// A State is not safe for concurrent use.
type State struct {
	genesis ed25519.PublicKey
	// base is the position before the first hash kept: 0 for a State
	// built from the genesis, the head's position - 1 for a Resume.
	base   uint64
	hashes [][HashSize]byte // hashes[i]: the record at position base+1+i
	admins map[keys.PublicKey]string
	spans  map[keys.PublicKey][]span
	// ids maps every record ID to whether it may be a target (a post,
	// whole or as a stub). nil for a Resume: the caller checks targets.
	ids map[[IDSize]byte]bool
}

// span is when an admin key may sign: positions from < p ≤ to (to 0:
// still an admin). At the position of the RemoveAdmin itself the key was
// still an admin, so a record it signed there is a valid competitor.
type span struct{ from, to uint64 }

// NewState starts a chain at the channel's genesis key.
func NewState(genesis ed25519.PublicKey) (*State, error) {
	if len(genesis) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: genesis key", ErrMalformed)
	}
	return &State{genesis: bytes.Clone(genesis), admins: map[keys.PublicKey]string{},
		spans: map[keys.PublicKey][]span{}, ids: map[[IDSize]byte]bool{}}, nil
}

// Head is the part of a State a server keeps to check the next record:
// where the chain is, and who may sign now.
type Head struct {
	Genesis  ed25519.PublicKey
	Position uint64 // 0 before the genesis record
	Hash     [HashSize]byte
	Admins   map[keys.PublicKey]string
}

// Resume rebuilds a State from a Head. It checks the next record's
// position, prev, signer and signature like any State, but not its target
// or ID (the caller looks those up), and knows no history before the head.
func Resume(h Head) (*State, error) {
	s, err := NewState(h.Genesis)
	if err != nil {
		return nil, err
	}
	s.ids = nil
	if h.Position > 0 {
		s.base, s.hashes = h.Position-1, [][HashSize]byte{h.Hash}
	}
	for k, name := range h.Admins {
		s.admins[k] = name
		s.spans[k] = []span{{from: s.base}}
	}
	return s, nil
}

// Genesis is the channel's ID and owner key.
func (s *State) Genesis() ed25519.PublicKey { return s.genesis }

// Position is the head's position: the number of records in the chain.
func (s *State) Position() uint64 { return s.base + uint64(len(s.hashes)) }

// HeadHash is the hash of the head record; zero before the genesis record.
func (s *State) HeadHash() [HashSize]byte {
	if len(s.hashes) == 0 {
		return [HashSize]byte{}
	}
	return s.hashes[len(s.hashes)-1]
}

// HashAt returns the hash of the record at position p, if the State knows it.
func (s *State) HashAt(p uint64) ([HashSize]byte, bool) {
	if p <= s.base || p > s.Position() {
		return [HashSize]byte{}, false
	}
	return s.hashes[p-s.base-1], true
}

// Admins returns the current admins' identity keys with their names.
func (s *State) Admins() map[keys.PublicKey]string {
	out := make(map[keys.PublicKey]string, len(s.admins))
	for k, v := range s.admins {
		out[k] = v
	}
	return out
}

// IsAdmin reports whether k may sign the next record.
func (s *State) IsAdmin(k keys.PublicKey) bool { _, ok := s.admins[k]; return ok }

// Apply verifies an encoded record as the chain's next one and, if it is,
// moves the State on and returns the record. The checks, in order
// (spec/protocol.md §10.4): canonical parse; channel; position is the
// head's + 1 (ErrGap beyond, ErrReplay or ErrReorder behind); prev is the
// head's hash (ErrPrev); the signer is the owner key or a current admin
// (ErrUnauthorized); the signature (ErrSignature); the kind is allowed for
// the signer (ErrAuthority); a target is an earlier post and the ID is new
// (ErrTarget). On any error the State is unchanged.
func (s *State) Apply(b []byte) (*Record, error) {
	r, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if err := s.check(r); err != nil {
		return nil, err
	}
	s.commit(r)
	return r, nil
}

// ApplyStub verifies a stub (spec/protocol.md §10.2, §10.7): the record
// the operator took down, without its content, as the chain's next one,
// with every check Apply makes (the signature covers the content digest,
// so a stub verifies as its record does), and applies its authority
// effects: a taken-down remove_admin still removes the admin, a
// taken-down delete still names its target. On any error the State is
// unchanged.
func (s *State) ApplyStub(b []byte) (*Record, error) {
	r, err := ParseStub(b)
	if err != nil {
		return nil, err
	}
	if err := s.check(r); err != nil {
		return nil, err
	}
	s.commit(r)
	return r, nil
}

func (s *State) check(r *Record) error {
	if !bytes.Equal(r.Channel, s.genesis) {
		return ErrWrongChannel
	}
	head := s.Position()
	switch {
	case r.Position > head+1:
		return fmt.Errorf("%w: position %d after %d", ErrGap, r.Position, head)
	case r.Position <= head:
		if h, ok := s.HashAt(r.Position); ok && h == r.Hash() {
			return fmt.Errorf("%w: position %d", ErrReplay, r.Position)
		}
		return fmt.Errorf("%w: position %d, head %d", ErrReorder, r.Position, head)
	case head > 0 && *r.Prev != s.HeadHash():
		return fmt.Errorf("%w: at position %d", ErrPrev, r.Position)
	}
	if r.Signer != nil && !s.IsAdmin(*r.Signer) {
		return ErrUnauthorized
	}
	if !r.verifySignature(s.genesis) {
		return ErrSignature
	}
	if err := s.checkKind(r); err != nil {
		return err
	}
	if s.ids != nil {
		if _, dup := s.ids[r.ID]; dup {
			return fmt.Errorf("%w: record ID used twice", ErrTarget)
		}
		if r.Target != nil && !s.ids[*r.Target] {
			return ErrTarget
		}
	}
	return nil
}

// checkKind enforces who may sign what: only the owner key adds or
// removes admins, and a removal names a current admin.
func (s *State) checkKind(r *Record) error {
	switch r.Kind {
	case KindAddAdmin, KindRemoveAdmin:
		if r.Signer != nil {
			return ErrAuthority
		}
		if r.Kind == KindRemoveAdmin && !s.IsAdmin(*r.Admin) {
			return fmt.Errorf("%w: removes a key that is not an admin", ErrTarget)
		}
	}
	return nil
}

func (s *State) commit(r *Record) {
	s.hashes = append(s.hashes, r.Hash())
	switch r.Kind {
	case KindAddAdmin:
		if !s.IsAdmin(*r.Admin) {
			s.spans[*r.Admin] = append(s.spans[*r.Admin], span{from: r.Position})
		}
		s.admins[*r.Admin] = r.AdminName
	case KindRemoveAdmin:
		delete(s.admins, *r.Admin)
		sp := s.spans[*r.Admin]
		sp[len(sp)-1].to = r.Position
	}
	if s.ids != nil {
		s.ids[r.ID] = r.Kind == KindPost
	}
}

// authorizedAt reports whether r's signer could sign at r's position.
func (s *State) authorizedAt(r *Record) bool {
	if r.Signer == nil {
		return true
	}
	for _, sp := range s.spans[*r.Signer] {
		if r.Position > sp.from && (sp.to == 0 || r.Position <= sp.to) {
			return true
		}
	}
	return false
}

// ForkError is a fork's evidence: Record, validly signed by a key that
// could sign at its position, conflicts with the chain at Position (a
// different record there, or, for the position after the head, a
// different prev: then Position is the head's).
type ForkError struct {
	Position uint64 // the position at which the two branches differ (or the latest known one)
	Record   []byte // the conflicting record, encoded
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("channel: two signed records at position %d (fork)", e.Position)
}

func (e *ForkError) Unwrap() error { return ErrFork }

// Conflict classifies a record that Apply refused with ErrReorder or
// ErrPrev: a *ForkError if it is validly signed by a key authorised at
// its position (by the admin history this State holds) and conflicts
// with the chain; ErrReplay if it is the record already there; otherwise
// the reason it is no valid record at all (ErrSignature, ErrUnauthorized,
// ErrAuthority: a forgery). The State is never changed.
func (s *State) Conflict(b []byte) (*Record, error) {
	r, err := s.parse(b)
	if err != nil {
		return nil, err
	}
	head := s.Position()
	at := r.Position
	switch {
	case r.Position > head+1 || r.Position <= s.base:
		return nil, fmt.Errorf("%w: position %d outside what this state holds", ErrGap, r.Position)
	case r.Position <= head:
		if h, _ := s.HashAt(r.Position); h == r.Hash() {
			return nil, ErrReplay
		}
	case head > 0 && *r.Prev != s.HeadHash():
		at = head // the record after the head continues another head
	default:
		return nil, fmt.Errorf("%w: record extends the chain: apply it", ErrGap)
	}
	if err := s.signedAt(r); err != nil {
		return nil, err
	}
	if (r.Kind == KindAddAdmin || r.Kind == KindRemoveAdmin) && r.Signer != nil {
		return nil, ErrAuthority
	}
	return r, &ForkError{Position: at, Record: bytes.Clone(b)}
}

// parse parses a record of this State's channel.
func (s *State) parse(b []byte) (*Record, error) {
	r, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(r.Channel, s.genesis) {
		return nil, ErrWrongChannel
	}
	return r, nil
}

// signedAt checks that r's signer could sign at r's position, by the
// admin history, and that its signature is valid.
func (s *State) signedAt(r *Record) error {
	if !s.authorizedAt(r) {
		return ErrUnauthorized
	}
	if !r.verifySignature(s.genesis) {
		return ErrSignature
	}
	return nil
}

// Verify checks a record the State already holds the hash of (an
// operator's restoration of a record taken down): its hash is the one at
// its position, and its signer could sign there with a valid signature.
func (s *State) Verify(b []byte) (*Record, error) {
	r, err := s.parse(b)
	if err != nil {
		return nil, err
	}
	h, ok := s.HashAt(r.Position)
	if !ok {
		return nil, fmt.Errorf("%w: position %d not in the chain", ErrGap, r.Position)
	}
	if h != r.Hash() {
		return nil, fmt.Errorf("%w: position %d holds another record", ErrReorder, r.Position)
	}
	if err := s.signedAt(r); err != nil {
		return nil, err
	}
	return r, nil
}
