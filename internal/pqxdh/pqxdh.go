// Package pqxdh implements the PQXDH key agreement (Signal's PQXDH
// specification, revision 3) with X25519 and ML-KEM-1024 (FIPS 203), as
// Parley uses it (spec/protocol.md §4).
//
// It protects the first shared secret of a session: an attacker must break
// both X25519 and ML-KEM-1024 to learn it from the transcript, and the
// initiator learns it only for keys signed by the responder's identity key.
// It does not protect against a compromised identity key, does not decide
// whether an identity key is the right one (that is what safety numbers are
// for), and does not stop a malicious server from withholding one-time
// prekeys (the handshake then has no one-time-prekey DH, as §4.2 says).
package pqxdh

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// Info is the HKDF info string of Parley's PQXDH (PQXDH §2.1, parameter
// "info"; spec §4.1).
const Info = "Parley_PQXDH_X25519_SHA-256_ML-KEM-1024"

// SessionKeySize is the size of each half of the KDF output.
const SessionKeySize = 32

// Errors callers may branch on.
var (
	// ErrBadSignature means a prekey's signature by the bundle's identity
	// key did not verify (PQXDH §3.3: "If any signature verification
	// fails, Alice aborts the protocol").
	ErrBadSignature = errors.New("pqxdh: prekey signature does not verify")
	// ErrUntrustedIdentity means the bundle's identity key is not the one
	// the caller expected.
	ErrUntrustedIdentity = errors.New("pqxdh: identity key changed")
	// ErrInvalidBundle means the bundle could not be decoded.
	ErrInvalidBundle = errors.New("pqxdh: invalid bundle")
	// ErrAgreement means a DH or KEM step failed (for example a low-order
	// point); nothing is derived.
	ErrAgreement = errors.New("pqxdh: key agreement failed")
)

// SessionKeys is the KDF output: the first root key and chain key of the
// Double Ratchet (spec §4.5).
type SessionKeys struct {
	RootKey  [SessionKeySize]byte
	ChainKey [SessionKeySize]byte
}

// kdf is PQXDH §2.2's KDF: HKDF-SHA-256 with input key material
// F ‖ KM where F is 32 0xFF bytes for X25519, a zero salt of hash length
// (nil, RFC 5869 §2.2) and the info string. Parley derives 64 bytes, split
// into a root key and a chain key as libsignal does, instead of one 32-byte
// SK. dhs holds DH1 ‖ DH2 ‖ DH3 [‖ DH4]; kemSecret may be nil only for the
// classic X3DH known-answer test.
func kdf(info string, dhs [][32]byte, kemSecret []byte) (SessionKeys, error) {
	km := make([]byte, 0, 32*(1+len(dhs))+len(kemSecret))
	for range 32 {
		km = append(km, 0xFF)
	}
	for i := range dhs {
		km = append(km, dhs[i][:]...)
	}
	km = append(km, kemSecret...)
	out, err := hkdf.Key(sha256.New, km, nil, info, 2*SessionKeySize)
	clear(km)
	if err != nil {
		return SessionKeys{}, fmt.Errorf("pqxdh: kdf: %w", err)
	}
	var sk SessionKeys
	copy(sk.RootKey[:], out[:SessionKeySize])
	copy(sk.ChainKey[:], out[SessionKeySize:])
	clear(out)
	return sk, nil
}

// Bundle is a decoded, signature-checked prekey bundle (PQXDH §3.2).
type Bundle struct {
	IdentityKey      keys.PublicKey
	DeviceID         uint32
	SignedPreKeyID   uint32
	SignedPreKey     keys.PublicKey
	KEMPreKeyID      uint32
	KEMPreKey        keys.KEMPublicKey
	HasOneTimePreKey bool
	OneTimePreKeyID  uint32
	OneTimePreKey    keys.PublicKey
}

// ParseBundle decodes an encoded bundle and verifies both prekey signatures
// by its identity key (PQXDH §3.3, first step).
func ParseBundle(b []byte) (*Bundle, error) {
	w, err := wire.ParsePreKeyBundle(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidBundle, err)
	}
	return decodeBundle(&w)
}

func decodeBundle(w *wire.PreKeyBundle) (*Bundle, error) {
	var (
		bd  Bundle
		err error
	)
	if bd.IdentityKey, err = keys.DecodePublicKey(w.IdentityKey); err != nil {
		return nil, fmt.Errorf("%w: identity key: %w", ErrInvalidBundle, err)
	}
	if bd.SignedPreKey, err = keys.DecodePublicKey(w.SignedPreKey); err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %w", ErrInvalidBundle, err)
	}
	if bd.KEMPreKey, err = keys.DecodeKEMPublicKey(w.KEMPreKey); err != nil {
		return nil, fmt.Errorf("%w: KEM prekey: %w", ErrInvalidBundle, err)
	}
	if w.HasOneTimePreKey {
		if bd.OneTimePreKey, err = keys.DecodePublicKey(w.OneTimePreKey); err != nil {
			return nil, fmt.Errorf("%w: one-time prekey: %w", ErrInvalidBundle, err)
		}
	}
	// PQXDH §3.3: verify Sig(IKB, EncodeEC(SPKB)) and Sig(IKB, EncodeKEM(PQPKB)).
	if !bd.IdentityKey.Verify(w.SignedPreKey, w.SignedPreKeySig) {
		return nil, fmt.Errorf("%w: signed prekey", ErrBadSignature)
	}
	if !bd.IdentityKey.Verify(w.KEMPreKey, w.KEMPreKeySig) {
		return nil, fmt.Errorf("%w: KEM prekey", ErrBadSignature)
	}
	bd.DeviceID = w.DeviceID
	bd.SignedPreKeyID = w.SignedPreKeyID
	bd.KEMPreKeyID = w.KEMPreKeyID
	bd.HasOneTimePreKey = w.HasOneTimePreKey
	bd.OneTimePreKeyID = w.OneTimePreKeyID
	return &bd, nil
}

// Initiation is what the initiator keeps and sends after PQXDH §3.3.
type Initiation struct {
	Keys          SessionKeys
	BaseKey       keys.PublicKey // EK_A, sent in the prekey message
	KEMCiphertext []byte         // CT, sent in the prekey message
}

// Encapsulator is PQKEM-ENC (PQXDH §2.2): ML-KEM-1024.Encaps (FIPS 203
// §7.2) of a fresh shared secret to the key encoded as EncodeKEM(PQPK_B),
// 0x0A ‖ ek (spec §2.1).
type Encapsulator func(encodedKey []byte) (sharedKey, ciphertext []byte, err error)

// Initiate runs the initiator's side of PQXDH (§3.3) against a verified
// bundle. If expected is not nil, the bundle's identity key must equal it:
// the caller passes the key it has seen before, or nil after the user has
// accepted a new one. rand (crypto/rand when nil) supplies EK_A; the KEM
// step always uses crypto/mlkem's own randomness, whatever rand is.
func Initiate(ours keys.IdentityKeyPair, expected *keys.PublicKey, bundle *Bundle, rand io.Reader) (*Initiation, error) {
	return InitiateWith(ours, expected, bundle, rand, nil)
}

// InitiateWith is Initiate with the KEM step done by encaps; nil means
// keys.KEMPublicKey.Encapsulate, which is what production code uses. Only
// known-answer tests pass another: the deterministic encapsulation of
// internal/kat, to reproduce the vectors in spec/vectors.
func InitiateWith(ours keys.IdentityKeyPair, expected *keys.PublicKey, bundle *Bundle, rand io.Reader, encaps Encapsulator) (*Initiation, error) {
	if expected != nil && *expected != bundle.IdentityKey {
		return nil, ErrUntrustedIdentity
	}
	// §3.3: generate EK_A.
	ek, err := keys.GeneratePrivateKey(rand)
	if err != nil {
		return nil, err
	}
	// §3.3: (CT, SS) = PQKEM-ENC(PQPKB).
	var ss, ct []byte
	if encaps == nil {
		ss, ct = bundle.KEMPreKey.Encapsulate()
	} else if ss, ct, err = encaps(bundle.KEMPreKey.Encode()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAgreement, err)
	}
	var opk *keys.PublicKey
	if bundle.HasOneTimePreKey {
		opk = &bundle.OneTimePreKey
	}
	dhs, err := initiatorDHs(ours.Private, ek, bundle.IdentityKey, bundle.SignedPreKey, opk)
	if err != nil {
		clear(ss)
		return nil, err
	}
	// §3.3: SK = KDF(DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS).
	sk, err := kdf(Info, dhs, ss)
	clear(ss)
	clear(dhs)
	if err != nil {
		return nil, err
	}
	return &Initiation{Keys: sk, BaseKey: ek.Public(), KEMCiphertext: ct}, nil
}

// ResponderKeys are the responder's private keys named by a prekey message.
type ResponderKeys struct {
	Identity      keys.IdentityKeyPair
	SignedPreKey  keys.PrivateKey
	KEMPreKey     keys.KEMPrivateKey
	OneTimePreKey *keys.PrivateKey // nil when the message names none
}

// Respond runs the responder's side of PQXDH (§3.4): from the initiator's
// identity key, base key and KEM ciphertext it derives the same keys.
func Respond(ours *ResponderKeys, theirIdentity, baseKey keys.PublicKey, kemCiphertext []byte) (SessionKeys, error) {
	// §3.4: SS = PQKEM-DEC(PQPKB, CT).
	ss, err := ours.KEMPreKey.Decapsulate(kemCiphertext)
	if err != nil {
		return SessionKeys{}, fmt.Errorf("%w: %w", ErrAgreement, err)
	}
	dhs, err := responderDHs(ours.Identity.Private, ours.SignedPreKey, ours.OneTimePreKey, theirIdentity, baseKey)
	if err != nil {
		clear(ss)
		return SessionKeys{}, err
	}
	sk, err := kdf(Info, dhs, ss)
	clear(ss)
	clear(dhs)
	return sk, err
}

// initiatorDHs computes DH1 ‖ DH2 ‖ DH3 [‖ DH4] as the initiator (PQXDH
// §3.3): DH1 = DH(IKA, SPKB), DH2 = DH(EKA, IKB), DH3 = DH(EKA, SPKB),
// DH4 = DH(EKA, OPKB) when there is a one-time prekey.
func initiatorDHs(ik, ek keys.PrivateKey, theirIK, theirSPK keys.PublicKey, theirOPK *keys.PublicKey) ([][32]byte, error) {
	dhs := make([][32]byte, 3, 4)
	var err error
	if dhs[0], err = ik.Agree(theirSPK); err == nil {
		if dhs[1], err = ek.Agree(theirIK); err == nil {
			dhs[2], err = ek.Agree(theirSPK)
		}
	}
	if err == nil && theirOPK != nil {
		var dh4 [32]byte
		dh4, err = ek.Agree(*theirOPK)
		dhs = append(dhs, dh4)
	}
	if err != nil {
		clear(dhs)
		return nil, fmt.Errorf("%w: %w", ErrAgreement, err)
	}
	return dhs, nil
}

// responderDHs computes the same values with the responder's private keys
// (PQXDH §3.4).
func responderDHs(ik, spk keys.PrivateKey, opk *keys.PrivateKey, theirIK, theirEK keys.PublicKey) ([][32]byte, error) {
	dhs := make([][32]byte, 3, 4)
	var err error
	if dhs[0], err = spk.Agree(theirIK); err == nil {
		if dhs[1], err = ik.Agree(theirEK); err == nil {
			dhs[2], err = spk.Agree(theirEK)
		}
	}
	if err == nil && opk != nil {
		var dh4 [32]byte
		dh4, err = opk.Agree(theirEK)
		dhs = append(dhs, dh4)
	}
	if err != nil {
		clear(dhs)
		return nil, fmt.Errorf("%w: %w", ErrAgreement, err)
	}
	return dhs, nil
}
