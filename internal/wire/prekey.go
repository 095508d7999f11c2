package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Prekey message fields (spec §7.4). The optional field comes before the
// required ones so that no strict prefix of a valid message is valid.
const (
	pkmIdentityField      protowire.Number = 1
	pkmBaseKeyField       protowire.Number = 2
	pkmOneTimeIDField     protowire.Number = 3
	pkmSignedPreKeyField  protowire.Number = 4
	pkmKEMPreKeyField     protowire.Number = 5
	pkmKEMCiphertextField protowire.Number = 6
	pkmMessageField       protowire.Number = 7
)

// PreKeyMessage is the initiator's message that carries what the responder
// needs to run PQXDH (spec §4.4), wrapping the first ratchet messages.
type PreKeyMessage struct {
	IdentityKey      []byte // initiator's identity key, encoded (33 bytes)
	BaseKey          []byte // initiator's ephemeral key EK_A, encoded (33 bytes)
	HasOneTimePreKey bool
	OneTimePreKeyID  uint32 // valid when HasOneTimePreKey
	SignedPreKeyID   uint32
	KEMPreKeyID      uint32
	KEMCiphertext    []byte // ML-KEM-1024 ciphertext (1568 bytes)
	Message          []byte // an encoded RatchetMessage
}

// Marshal returns the encoding of m.
func (m *PreKeyMessage) Marshal() []byte {
	e := Encoder{B: header(make([]byte, 0, 1700+len(m.Message)), TypePreKey)}
	e.Bytes(pkmIdentityField, m.IdentityKey)
	e.Bytes(pkmBaseKeyField, m.BaseKey)
	if m.HasOneTimePreKey {
		e.Uint(pkmOneTimeIDField, uint64(m.OneTimePreKeyID))
	}
	e.Uint(pkmSignedPreKeyField, uint64(m.SignedPreKeyID))
	e.Uint(pkmKEMPreKeyField, uint64(m.KEMPreKeyID))
	e.Bytes(pkmKEMCiphertextField, m.KEMCiphertext)
	e.Bytes(pkmMessageField, m.Message)
	return e.B
}

// ParsePreKeyMessage decodes a prekey message. The result aliases b.
func ParsePreKeyMessage(b []byte) (PreKeyMessage, error) {
	var m PreKeyMessage
	if len(b) > MaxMessage+4096 {
		return m, fmt.Errorf("%w: prekey message too large", ErrMalformed)
	}
	body, err := checkHeader(b, TypePreKey)
	if err != nil {
		return m, err
	}
	d := NewDecoder(body)
	m.IdentityKey = d.Bytes(pkmIdentityField, keySize, keySize)
	m.BaseKey = d.Bytes(pkmBaseKeyField, keySize, keySize)
	var id uint64
	id, m.HasOneTimePreKey = d.OptUint(pkmOneTimeIDField, maxUint32)
	m.OneTimePreKeyID = uint32(id)
	m.SignedPreKeyID = uint32(d.Uint(pkmSignedPreKeyField, maxUint32))
	m.KEMPreKeyID = uint32(d.Uint(pkmKEMPreKeyField, maxUint32))
	m.KEMCiphertext = d.Bytes(pkmKEMCiphertextField, kemCTSize, kemCTSize)
	m.Message = d.Bytes(pkmMessageField, 2, MaxMessage)
	if err := d.Finish(); err != nil {
		return PreKeyMessage{}, err
	}
	return m, nil
}

// Prekey bundle fields (spec §7.5).
const (
	bundleIdentityField   protowire.Number = 1
	bundleDeviceField     protowire.Number = 2
	bundleOneTimeIDField  protowire.Number = 3
	bundleOneTimeKeyField protowire.Number = 4
	bundleSignedIDField   protowire.Number = 5
	bundleSignedKeyField  protowire.Number = 6
	bundleSignedSigField  protowire.Number = 7
	bundleKEMIDField      protowire.Number = 8
	bundleKEMKeyField     protowire.Number = 9
	bundleKEMSigField     protowire.Number = 10
)

// PreKeyBundle is what the server hands an initiator for one device of the
// responder (spec §4.2). It arrives from an untrusted server: the signatures
// are checked by pqxdh before any key is used.
type PreKeyBundle struct {
	IdentityKey      []byte // encoded X25519 identity key (33 bytes)
	DeviceID         uint32
	HasOneTimePreKey bool
	OneTimePreKeyID  uint32
	OneTimePreKey    []byte // encoded X25519 key (33 bytes), when HasOneTimePreKey
	SignedPreKeyID   uint32
	SignedPreKey     []byte // encoded X25519 key (33 bytes)
	SignedPreKeySig  []byte // XEdDSA over SignedPreKey by IdentityKey
	KEMPreKeyID      uint32
	KEMPreKey        []byte // encoded ML-KEM-1024 key (1569 bytes)
	KEMPreKeySig     []byte // XEdDSA over KEMPreKey by IdentityKey
}

// Marshal returns the encoding of b.
func (p *PreKeyBundle) Marshal() []byte {
	e := Encoder{B: header(make([]byte, 0, 1800), TypeBundle)}
	e.Bytes(bundleIdentityField, p.IdentityKey)
	e.Uint(bundleDeviceField, uint64(p.DeviceID))
	if p.HasOneTimePreKey {
		e.Uint(bundleOneTimeIDField, uint64(p.OneTimePreKeyID))
		e.Bytes(bundleOneTimeKeyField, p.OneTimePreKey)
	}
	e.Uint(bundleSignedIDField, uint64(p.SignedPreKeyID))
	e.Bytes(bundleSignedKeyField, p.SignedPreKey)
	e.Bytes(bundleSignedSigField, p.SignedPreKeySig)
	e.Uint(bundleKEMIDField, uint64(p.KEMPreKeyID))
	e.Bytes(bundleKEMKeyField, p.KEMPreKey)
	e.Bytes(bundleKEMSigField, p.KEMPreKeySig)
	return e.B
}

// ParsePreKeyBundle decodes a bundle. The result aliases b.
func ParsePreKeyBundle(b []byte) (PreKeyBundle, error) {
	var p PreKeyBundle
	body, err := checkHeader(b, TypeBundle)
	if err != nil {
		return p, err
	}
	d := NewDecoder(body)
	p.IdentityKey = d.Bytes(bundleIdentityField, keySize, keySize)
	p.DeviceID = uint32(d.Uint(bundleDeviceField, maxUint32))
	var id uint64
	id, p.HasOneTimePreKey = d.OptUint(bundleOneTimeIDField, maxUint32)
	p.OneTimePreKeyID = uint32(id)
	if p.HasOneTimePreKey {
		p.OneTimePreKey = d.Bytes(bundleOneTimeKeyField, keySize, keySize)
	}
	p.SignedPreKeyID = uint32(d.Uint(bundleSignedIDField, maxUint32))
	p.SignedPreKey = d.Bytes(bundleSignedKeyField, keySize, keySize)
	p.SignedPreKeySig = d.Bytes(bundleSignedSigField, signatureSize, signatureSize)
	p.KEMPreKeyID = uint32(d.Uint(bundleKEMIDField, maxUint32))
	p.KEMPreKey = d.Bytes(bundleKEMKeyField, kemKeySize, kemKeySize)
	p.KEMPreKeySig = d.Bytes(bundleKEMSigField, signatureSize, signatureSize)
	if err := d.Finish(); err != nil {
		return PreKeyBundle{}, err
	}
	return p, nil
}
