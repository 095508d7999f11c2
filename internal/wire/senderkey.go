package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Sender-key message fields (spec §7.6).
const (
	skmDistributionField protowire.Number = 1
	skmChainField        protowire.Number = 2
	skmIterationField    protowire.Number = 3
	skmCiphertextField   protowire.Number = 4
)

// DistributionIDSize is the size of a group's distribution ID.
const DistributionIDSize = 16

// SenderKeyMessage is one group message (spec §6.4):
//
//	version ‖ type ‖ protobuf{distribution_id, chain_id, iteration, ciphertext} ‖ signature[64]
//
// The XEdDSA signature by the sender's signing key covers every byte before it.
type SenderKeyMessage struct {
	DistributionID []byte // 16 bytes naming the group and sender
	ChainID        uint32 // which of the sender's chains
	Iteration      uint32 // message number in the chain
	Ciphertext     []byte // AES-256-CBC with PKCS#7 padding
	Signature      []byte // 64 bytes

	// Signed is what the signature covers. Parse sets it; it aliases the
	// input.
	Signed []byte
}

// AppendSigned appends everything the signature covers.
func (m *SenderKeyMessage) AppendSigned(b []byte) []byte {
	e := Encoder{B: header(b, TypeSenderKey)}
	e.Bytes(skmDistributionField, m.DistributionID)
	e.Uint(skmChainField, uint64(m.ChainID))
	e.Uint(skmIterationField, uint64(m.Iteration))
	e.Bytes(skmCiphertextField, m.Ciphertext)
	return e.B
}

// Marshal returns the encoding of m; m.Signature must be 64 bytes.
func (m *SenderKeyMessage) Marshal() []byte {
	b := m.AppendSigned(make([]byte, 0, 48+len(m.Ciphertext)+signatureSize))
	return append(b, m.Signature...)
}

// ParseSenderKeyMessage decodes a sender-key message. The result aliases b.
func ParseSenderKeyMessage(b []byte) (SenderKeyMessage, error) {
	var m SenderKeyMessage
	if len(b) > MaxMessage {
		return m, fmt.Errorf("%w: sender-key message too large", ErrMalformed)
	}
	body, err := checkHeader(b, TypeSenderKey)
	if err != nil {
		return m, err
	}
	if len(body) < signatureSize {
		return m, fmt.Errorf("%w: sender-key message too short", ErrMalformed)
	}
	split := len(b) - signatureSize
	d := NewDecoder(body[:len(body)-signatureSize])
	m.DistributionID = d.Bytes(skmDistributionField, DistributionIDSize, DistributionIDSize)
	m.ChainID = uint32(d.Uint(skmChainField, maxUint32))
	m.Iteration = uint32(d.Uint(skmIterationField, maxUint32))
	m.Ciphertext = d.Bytes(skmCiphertextField, 16, MaxCiphertext)
	if err := d.Finish(); err != nil {
		return SenderKeyMessage{}, err
	}
	m.Signature = b[split:]
	m.Signed = b[:split]
	return m, nil
}

// Distribution message fields (spec §7.7).
const (
	skdDistributionField protowire.Number = 1
	skdChainField        protowire.Number = 2
	skdIterationField    protowire.Number = 3
	skdChainKeyField     protowire.Number = 4
	skdSigningKeyField   protowire.Number = 5
)

// SenderKeyDistributionMessage hands a sender's chain to one group member
// (spec §6.2). It travels only inside a pairwise ratchet session, which
// authenticates and encrypts it.
type SenderKeyDistributionMessage struct {
	DistributionID []byte // 16 bytes
	ChainID        uint32
	Iteration      uint32 // the chain key's iteration
	ChainKey       []byte // 32 bytes
	SigningKey     []byte // the sender's signing public key, encoded (33 bytes)
}

// Marshal returns the encoding of m.
func (m *SenderKeyDistributionMessage) Marshal() []byte {
	e := Encoder{B: header(make([]byte, 0, 100), TypeSenderKeyDistribution)}
	e.Bytes(skdDistributionField, m.DistributionID)
	e.Uint(skdChainField, uint64(m.ChainID))
	e.Uint(skdIterationField, uint64(m.Iteration))
	e.Bytes(skdChainKeyField, m.ChainKey)
	e.Bytes(skdSigningKeyField, m.SigningKey)
	return e.B
}

// ParseSenderKeyDistributionMessage decodes a distribution message. The
// result aliases b.
func ParseSenderKeyDistributionMessage(b []byte) (SenderKeyDistributionMessage, error) {
	var m SenderKeyDistributionMessage
	body, err := checkHeader(b, TypeSenderKeyDistribution)
	if err != nil {
		return m, err
	}
	d := NewDecoder(body)
	m.DistributionID = d.Bytes(skdDistributionField, DistributionIDSize, DistributionIDSize)
	m.ChainID = uint32(d.Uint(skdChainField, maxUint32))
	m.Iteration = uint32(d.Uint(skdIterationField, maxUint32))
	m.ChainKey = d.Bytes(skdChainKeyField, 32, 32)
	m.SigningKey = d.Bytes(skdSigningKeyField, keySize, keySize)
	if err := d.Finish(); err != nil {
		return SenderKeyDistributionMessage{}, err
	}
	return m, nil
}
