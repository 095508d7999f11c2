// Package fingerprint computes Signal-style safety numbers: the 60-digit
// number and the QR-code bytes two users compare to check that each holds
// the other's real identity key. It reproduces libsignal's numeric
// fingerprint (rust/protocol/src/fingerprint.rs) bit for bit, so the
// published libsignal vectors are its tests.
//
// # What it protects
//
// A safety number commits to both parties' identity public keys and stable
// identifiers. If the two users compare it out of band (read aloud on a call
// where they recognize each other's voice, or by scanning each other's QR
// code in person) and it matches, no one has substituted an identity key
// between them. A man in the middle, including a malicious or compromised
// server handing out keys of its own, would need keys of his own whose 30
// digits equal those of the real keys: about 10^30 guesses per key, each
// costing 5200 SHA-512 rounds. The QR code carries 32 bytes per party and is
// stronger still.
//
// # What it does not protect
//
//   - Nothing, unless the users actually compare it over a channel the
//     attacker cannot also rewrite. Comparing it inside the same chat proves
//     nothing.
//   - It checks keys, not people: a stable identifier is whatever the
//     directory assigned, and the number says only that this key is bound to
//     it on both screens.
//   - A stolen identity private key, or a compromised device, yields the same
//     number; so does an attacker who is the other endpoint.
//   - A verified number is about the keys of that moment. When either key
//     changes (reinstall, new device) the number changes and must be compared
//     again; noticing the change is the caller's job.
//   - The number is public. It hides nothing and need not be kept secret.
package fingerprint

import (
	"crypto/sha512"
	"errors"
	"fmt"
)

// DefaultIterations is the number of SHA-512 rounds Signal uses for each
// party's fingerprint.
const DefaultIterations = 5200

const (
	// keySize is the length of a serialized identity key: keyType || X25519.
	keySize = 33
	// keyType is the type byte that prefixes a serialized Curve25519 key.
	keyType = 0x05

	// digitsPerParty is the length of one party's half of the number.
	digitsPerParty = 30
	// chunkSize is the number of hash bytes behind each group of 5 digits.
	chunkSize = 5
	// groupDigits is the length of one displayed group.
	groupDigits = 5
	// groupModulus keeps the last groupDigits decimal digits of a chunk.
	groupModulus = 100000
)

// hashVersion is the fingerprint format version that starts each party's
// hash input, two bytes big-endian (libsignal: FINGERPRINT_VERSION = 0). It is
// unrelated to the scannable version passed to New.
var hashVersion = [2]byte{0x00, 0x00}

var (
	// ErrInvalidKey means an identity key is not a 33-byte serialized
	// Curve25519 public key (0x05 followed by 32 bytes).
	ErrInvalidKey = errors.New("fingerprint: invalid identity key")
	// ErrInvalidIterations means the iteration count is below 1.
	ErrInvalidIterations = errors.New("fingerprint: invalid iteration count")
	// ErrMalformed means scanned bytes are not a canonical scannable
	// fingerprint.
	ErrMalformed = errors.New("fingerprint: malformed scannable fingerprint")
	// ErrVersionMismatch means the scanned code was made for another
	// scannable version; the other side should update (or we should).
	ErrVersionMismatch = errors.New("fingerprint: scannable version mismatch")
)

// SafetyNumber is the fingerprint of one conversation as seen by the local
// party. Both parties compute the same Displayable number; their Scannable
// bytes differ (each puts itself first) and match each other under
// CompareScannable. A SafetyNumber is immutable and safe for concurrent use.
type SafetyNumber struct {
	version uint32
	local   [contentSize]byte // first 32 bytes of the local party's hash
	remote  [contentSize]byte // first 32 bytes of the remote party's hash
	digits  string            // the 60-digit number, smaller half first
}

// New computes the safety number between the local party (localID,
// localKey) and the remote party (remoteID, remoteKey). The IDs are the
// parties' stable identifiers as bytes (Signal v1: the E.164 phone number;
// v2: the ACI service ID); keys are serialized identity keys (33 bytes,
// starting 0x05). version is the scannable version (1 or 2 in Signal); it
// changes only the Scannable encoding. Signal uses DefaultIterations.
func New(version uint32, iterations int, localID, localKey, remoteID, remoteKey []byte) (*SafetyNumber, error) {
	if iterations < 1 {
		return nil, fmt.Errorf("%w: new: %d, want at least 1", ErrInvalidIterations, iterations)
	}
	if err := checkKey("local", localKey); err != nil {
		return nil, err
	}
	if err := checkKey("remote", remoteKey); err != nil {
		return nil, err
	}
	localHash := partyHash(iterations, localID, localKey)
	remoteHash := partyHash(iterations, remoteID, remoteKey)

	s := &SafetyNumber{version: version}
	copy(s.local[:], localHash[:contentSize])
	copy(s.remote[:], remoteHash[:contentSize])

	// libsignal DisplayableFingerprint: the lexicographically smaller half
	// comes first, so both parties read the same 60 digits.
	l, r := partyDigits(&localHash), partyDigits(&remoteHash)
	if l <= r {
		s.digits = l + r
	} else {
		s.digits = r + l
	}
	return s, nil
}

// checkKey checks that key is a serialized Curve25519 public key. role
// ("local" or "remote") only names it in the error.
func checkKey(role string, key []byte) error {
	if len(key) != keySize {
		return fmt.Errorf("%w: new: %s key is %d bytes, want %d", ErrInvalidKey, role, len(key), keySize)
	}
	if key[0] != keyType {
		return fmt.Errorf("%w: new: %s key type is %#02x, want %#02x", ErrInvalidKey, role, key[0], keyType)
	}
	return nil
}

// partyHash is one party's iterated digest (libsignal get_fingerprint):
//
//	h = SHA-512(hashVersion || key || stableID || key)
//	repeat iterations-1 times: h = SHA-512(h || key)
//
// Equivalently, starting from h = hashVersion || key || stableID, apply
// h = SHA-512(h || key) iterations times. Note the key appears twice in the
// first round; the vectors fail without it.
func partyHash(iterations int, stableID, key []byte) [sha512.Size]byte {
	var sum [sha512.Size]byte
	h := sha512.New()
	h.Write(hashVersion[:])
	h.Write(key)
	h.Write(stableID)
	h.Write(key)
	h.Sum(sum[:0])
	for i := 1; i < iterations; i++ {
		h.Reset()
		h.Write(sum[:])
		h.Write(key)
		h.Sum(sum[:0])
	}
	return sum
}

// partyDigits encodes the first 30 bytes of a party's hash as 30 digits:
// each 5-byte chunk, read as a big-endian 40-bit integer, mod 100000, printed
// as 5 digits with leading zeros (libsignal DisplayableFingerprint).
func partyDigits(hash *[sha512.Size]byte) string {
	var out [digitsPerParty]byte
	for g := range digitsPerParty / groupDigits {
		var v uint64
		for _, b := range hash[g*chunkSize : (g+1)*chunkSize] {
			v = v<<8 | uint64(b)
		}
		v %= groupModulus
		for i := groupDigits - 1; i >= 0; i-- {
			out[g*groupDigits+i] = byte('0' + v%10)
			v /= 10
		}
	}
	return string(out[:])
}

// Displayable returns the 60-digit safety number, the same on both sides.
func (s *SafetyNumber) Displayable() string {
	return s.digits
}

// Groups returns the safety number as 12 groups of 5 digits, the way Signal
// lays it out for reading aloud. The slice is new on each call.
func (s *SafetyNumber) Groups() []string {
	groups := make([]string, 0, len(s.digits)/groupDigits)
	for i := 0; i < len(s.digits); i += groupDigits {
		groups = append(groups, s.digits[i:i+groupDigits])
	}
	return groups
}
