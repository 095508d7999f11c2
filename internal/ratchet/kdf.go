package ratchet

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/msgcrypt"
)

// KDF labels (spec §5.2). They are Signal's, so Parley's chain-key and
// message-key derivations reproduce Signal's published vectors.
const (
	// RootInfo is the HKDF info of KDF_RK (Double Ratchet §5.2).
	RootInfo = "WhisperRatchet"
	// MessageKeysInfo is the HKDF info that expands a message-key seed.
	MessageKeysInfo = "WhisperMessageKeys"
)

const (
	keySize        = 32
	cipherKeySize  = 32
	macKeySize     = 32
	ivSize         = 16
	messageKeysLen = cipherKeySize + macKeySize + ivSize
)

// chainKey is one sending or receiving chain (Double Ratchet §2.2).
type chainKey struct {
	key   [keySize]byte
	index uint32 // number of the next message in the chain
}

// step returns the message-key seed for c.index and the next chain key
// (Double Ratchet §5.2 KDF_CK; spec §5.3):
// seed = HMAC-SHA256(CK, 0x01), CK' = HMAC-SHA256(CK, 0x02).
func (c *chainKey) step() (seed [keySize]byte, next chainKey) {
	seed, next.key = msgcrypt.ChainStep(&c.key)
	next.index = c.index + 1
	return seed, next
}

// messageKeys is the expanded key material for one message (spec §5.4).
type messageKeys struct {
	cipherKey [cipherKeySize]byte
	macKey    [macKeySize]byte
	iv        [ivSize]byte
}

// deriveMessageKeys expands a seed:
// HKDF-SHA256(ikm = seed, salt = none, info = "WhisperMessageKeys", 80)
// = AES-256 key ‖ HMAC-SHA256 key ‖ CBC IV (Double Ratchet §5.2, the
// recommended ENCRYPT with HKDF; spec §5.4).
func deriveMessageKeys(seed *[keySize]byte) (messageKeys, error) {
	var mk messageKeys
	out, err := hkdf.Key(sha256.New, seed[:], nil, MessageKeysInfo, messageKeysLen)
	if err != nil {
		return mk, err
	}
	copy(mk.cipherKey[:], out[:cipherKeySize])
	copy(mk.macKey[:], out[cipherKeySize:cipherKeySize+macKeySize])
	copy(mk.iv[:], out[cipherKeySize+macKeySize:])
	clear(out)
	return mk, nil
}

// rootStep is KDF_RK (Double Ratchet §5.2; spec §5.5):
// HKDF-SHA256(salt = RK, ikm = DH(ours, theirs), info = "WhisperRatchet", 64)
// = RK' ‖ CK.
func rootStep(rootKey *[keySize]byte, ours keys.PrivateKey, theirs keys.PublicKey) (newRoot [keySize]byte, ck chainKey, err error) {
	dh, err := ours.Agree(theirs)
	if err != nil {
		return newRoot, ck, err
	}
	out, err := hkdf.Key(sha256.New, dh[:], rootKey[:], RootInfo, 2*keySize)
	clear(dh[:])
	if err != nil {
		return newRoot, ck, err
	}
	copy(newRoot[:], out[:keySize])
	copy(ck.key[:], out[keySize:])
	clear(out)
	return newRoot, ck, nil
}

// computeMAC returns the first 8 bytes of
// HMAC-SHA256(macKey, Encode(IK_sender) ‖ Encode(IK_receiver) ‖ message)
// (spec §5.6; Double Ratchet §3.4 ENCRYPT's associated data, which is
// PQXDH's AD = EncodeEC(IKA) ‖ EncodeEC(IKB) ordered sender first).
func computeMAC(dst []byte, macKey *[macKeySize]byte, sender, receiver *keys.PublicKey, message []byte) []byte {
	m := hmac.New(sha256.New, macKey[:])
	writeIdentity(m, sender)
	writeIdentity(m, receiver)
	m.Write(message)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return append(dst, sum[:macSize]...)
}

const macSize = 8

func writeIdentity(h hash.Hash, k *keys.PublicKey) {
	h.Write([]byte{keys.TypeX25519})
	h.Write(k[:])
}
