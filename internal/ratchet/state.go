package ratchet

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// StateVersion is the version of the serialised session state (spec §5.8).
// Version 1 is the first.
const StateVersion = 1

// ErrBadState is returned for serialised state that cannot be loaded.
var ErrBadState = errors.New("ratchet: invalid session state")

// Serialised state fields (spec §5.8). Optional fields come before the last,
// required one so that no strict prefix of a valid state is valid.
const (
	stVersion       protowire.Number = 1
	stLocalIdentity protowire.Number = 2
	stRemoteIdent   protowire.Number = 3
	stRootKey       protowire.Number = 4
	stSendRatchet   protowire.Number = 5
	stSendChainKey  protowire.Number = 6
	stSendIndex     protowire.Number = 7
	stPrevSendCount protowire.Number = 8
	stRecvRatchet   protowire.Number = 9
	stRecvChainKey  protowire.Number = 10
	stRecvIndex     protowire.Number = 11
	stPending       protowire.Number = 12
	stSkipped       protowire.Number = 13
	stBaseKey       protowire.Number = 14

	pendSignedID   protowire.Number = 1
	pendOneTimeID  protowire.Number = 2
	pendKEMID      protowire.Number = 3
	pendCiphertext protowire.Number = 4

	skRatchet protowire.Number = 1
	skIndex   protowire.Number = 2
	skSeed    protowire.Number = 3
	skCreated protowire.Number = 4
)

const (
	maxUint32      = 1<<32 - 1
	kemCiphertext  = keys.KEMCiphertextSize
	maxCreatedTime = 1<<62 - 1
)

// Marshal serialises the session so the client can persist it. The bytes
// hold secret keys: store them encrypted.
func (s *Session) Marshal() []byte {
	e := wire.Encoder{B: make([]byte, 0, 320+len(s.skipped)*80)}
	e.Uint(stVersion, StateVersion)
	e.Bytes(stLocalIdentity, s.localIdentity[:])
	e.Bytes(stRemoteIdent, s.remoteIdentity[:])
	e.Bytes(stRootKey, s.rootKey[:])
	e.Bytes(stSendRatchet, s.sendRatchet.Bytes())
	e.Bytes(stSendChainKey, s.send.key[:])
	e.Uint(stSendIndex, uint64(s.send.index))
	e.Uint(stPrevSendCount, uint64(s.prevSendCount))
	if s.hasRecv {
		e.Bytes(stRecvRatchet, s.recvRatchet[:])
		e.Bytes(stRecvChainKey, s.recv.key[:])
		e.Uint(stRecvIndex, uint64(s.recv.index))
	}
	if p := s.pending; p != nil {
		pe := wire.Encoder{}
		pe.Uint(pendSignedID, uint64(p.SignedPreKeyID))
		if p.HasOneTimePreKey {
			pe.Uint(pendOneTimeID, uint64(p.OneTimePreKeyID))
		}
		pe.Uint(pendKEMID, uint64(p.KEMPreKeyID))
		pe.Bytes(pendCiphertext, p.KEMCiphertext)
		e.Bytes(stPending, pe.B)
	}
	var ke wire.Encoder
	for i := range s.skipped {
		k := &s.skipped[i]
		ke.B = ke.B[:0]
		ke.Bytes(skRatchet, k.ratchet[:])
		ke.Uint(skIndex, uint64(k.index))
		ke.Bytes(skSeed, k.seed[:])
		ke.Uint(skCreated, uint64(k.created))
		e.Bytes(stSkipped, ke.B)
	}
	e.Bytes(stBaseKey, s.baseKey[:])
	return e.B
}

// Unmarshal loads a session serialised by Marshal. It accepts only the
// canonical encoding, so Marshal(Unmarshal(b)) == b.
func Unmarshal(b []byte) (*Session, error) {
	s, err := unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	return s, nil
}

func unmarshal(b []byte) (*Session, error) {
	var s Session
	d := wire.NewDecoder(b)
	if v := d.Uint(stVersion, maxUint32); d.Err() == nil && v != StateVersion {
		return nil, fmt.Errorf("unsupported version %d", v)
	}
	copy(s.localIdentity[:], d.Bytes(stLocalIdentity, keySize, keySize))
	copy(s.remoteIdentity[:], d.Bytes(stRemoteIdent, keySize, keySize))
	copy(s.rootKey[:], d.Bytes(stRootKey, keySize, keySize))
	sendPriv := d.Bytes(stSendRatchet, keys.PrivateKeySize, keys.PrivateKeySize)
	copy(s.send.key[:], d.Bytes(stSendChainKey, keySize, keySize))
	s.send.index = uint32(d.Uint(stSendIndex, maxUint32))
	s.prevSendCount = uint32(d.Uint(stPrevSendCount, maxUint32))
	if r, ok := d.OptBytes(stRecvRatchet, keySize, keySize); ok {
		s.hasRecv = true
		copy(s.recvRatchet[:], r)
		copy(s.recv.key[:], d.Bytes(stRecvChainKey, keySize, keySize))
		s.recv.index = uint32(d.Uint(stRecvIndex, maxUint32))
	}
	if p, ok := d.OptBytes(stPending, 1, 4096); ok {
		var err error
		if s.pending, err = unmarshalPending(p); err != nil {
			return nil, err
		}
	}
	for d.More(stSkipped) {
		kb, ok := d.OptBytes(stSkipped, 1, 256)
		if !ok {
			break
		}
		k, err := unmarshalSkipped(kb)
		if err != nil {
			return nil, err
		}
		if len(s.skipped) == MaxSkippedKeys {
			return nil, errors.New("too many skipped keys")
		}
		s.skipped = append(s.skipped, k)
	}
	copy(s.baseKey[:], d.Bytes(stBaseKey, keySize, keySize))
	if err := d.Finish(); err != nil {
		return nil, err
	}
	var err error
	if s.sendRatchet, err = keys.NewPrivateKey(sendPriv); err != nil {
		return nil, err
	}
	return &s, nil
}

func unmarshalPending(b []byte) (*PendingPreKey, error) {
	var p PendingPreKey
	d := wire.NewDecoder(b)
	p.SignedPreKeyID = uint32(d.Uint(pendSignedID, maxUint32))
	var id uint64
	id, p.HasOneTimePreKey = d.OptUint(pendOneTimeID, maxUint32)
	p.OneTimePreKeyID = uint32(id)
	p.KEMPreKeyID = uint32(d.Uint(pendKEMID, maxUint32))
	ct := d.Bytes(pendCiphertext, kemCiphertext, kemCiphertext)
	if err := d.Finish(); err != nil {
		return nil, err
	}
	p.KEMCiphertext = append([]byte(nil), ct...)
	return &p, nil
}

func unmarshalSkipped(b []byte) (skippedKey, error) {
	var k skippedKey
	d := wire.NewDecoder(b)
	copy(k.ratchet[:], d.Bytes(skRatchet, keySize, keySize))
	k.index = uint32(d.Uint(skIndex, maxUint32))
	copy(k.seed[:], d.Bytes(skSeed, keySize, keySize))
	k.created = int64(d.Uint(skCreated, maxCreatedTime))
	return k, d.Finish()
}
