package group

import (
	"crypto/hkdf"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// Labels of an invite link (spec/protocol.md §11.6).
const (
	// LinkIDLabel, LinkSnapshotLabel and LinkProofLabel are the HKDF info
	// strings that derive a link's three values from its secret.
	LinkIDLabel       = "Parley_Group_Link_ID_v1"
	LinkSnapshotLabel = "Parley_Group_Link_Snapshot_v1"
	LinkProofLabel    = "Parley_Group_Link_Proof_v1"
	// JoinProofLabel is prepended to what a join proof's HMAC covers.
	JoinProofLabel = "Parley_Group_Join_v1"
	// SnapshotLabel is prepended to a snapshot's associated data.
	SnapshotLabel = "Parley_Group_Snapshot_v1"

	// LinkSecretSize is the size of a link's secret (what the link's URL
	// carries).
	LinkSecretSize = 32
	// MaxSnapshot bounds a sealed snapshot.
	MaxSnapshot = 4 << 20

	// snapshotType is a snapshot's type byte; its version byte is Version.
	snapshotType = 9
	snapshotHead = 2 + chacha20poly1305.NonceSizeX

	fSnapGroup   protowire.Number = 1
	fSnapRecords protowire.Number = 2
)

// LinkKeys are what a link's secret derives (DeriveLink): the name the
// server stores the link's snapshot under, the key that seals the
// snapshot, and the key of join proofs (which the group's Link record
// carries, so that members can check a join).
type LinkKeys struct {
	ID          [16]byte
	SnapshotKey [32]byte
	ProofKey    [32]byte
}

// DeriveLink derives a link's keys from its 32-byte secret with
// HKDF-SHA256 (RFC 5869), no salt, one info label each.
func DeriveLink(secret []byte) (LinkKeys, error) {
	var k LinkKeys
	if len(secret) != LinkSecretSize {
		return k, fmt.Errorf("%w: link secret of %d bytes, want %d", ErrMalformed, len(secret), LinkSecretSize)
	}
	for _, d := range []struct {
		out   []byte
		label string
	}{{k.ID[:], LinkIDLabel}, {k.SnapshotKey[:], LinkSnapshotLabel}, {k.ProofKey[:], LinkProofLabel}} {
		v, err := hkdf.Key(sha256.New, secret, nil, d.label, len(d.out))
		if err != nil {
			return LinkKeys{}, fmt.Errorf("group: deriving link keys: %w", err)
		}
		copy(d.out, v)
	}
	return k, nil
}

// JoinProof is HMAC-SHA256(proofKey, JoinProofLabel ‖ g ‖ len(username)
// ‖ username ‖ id): the proof a join record carries that its signer holds
// the link, bound to the group, the username and the identity key.
func JoinProof(proofKey [32]byte, g ID, username string, id keys.PublicKey) []byte {
	m := hmac.New(sha256.New, proofKey[:])
	m.Write([]byte(JoinProofLabel))
	m.Write(g[:])
	m.Write([]byte{byte(len(username))})
	m.Write([]byte(username))
	m.Write(id[:])
	return m.Sum(nil)
}

// Link returns the Link a group's link record sets for these keys.
func (k LinkKeys) Link(direct bool) *Link {
	return &Link{ProofKey: k.ProofKey, Direct: direct}
}

// SealSnapshot seals a group's canonical chain (Log.Chain: the create
// record first, each record the child of the one before) for holders of
// the link: Version ‖ type ‖ 24-byte nonce ‖ XChaCha20-Poly1305 of the
// encoded group and records, with SnapshotLabel ‖ header ‖ link ID as
// associated data. rand supplies the nonce (crypto/rand when nil).
func SealSnapshot(k LinkKeys, group ID, chain [][]byte, rand io.Reader) ([]byte, error) {
	if err := checkChain(group, chain); err != nil {
		return nil, err
	}
	e := wire.Encoder{}
	e.Bytes(fSnapGroup, group[:])
	for _, r := range chain {
		e.Bytes(fSnapRecords, r)
	}
	if snapshotHead+len(e.B)+chacha20poly1305.Overhead > MaxSnapshot {
		return nil, fmt.Errorf("%w: a snapshot of more than %d bytes", ErrLimit, MaxSnapshot)
	}
	aead, err := chacha20poly1305.NewX(k.SnapshotKey[:])
	if err != nil {
		return nil, fmt.Errorf("group: sealing snapshot: %w", err)
	}
	out := make([]byte, snapshotHead, snapshotHead+len(e.B)+aead.Overhead())
	out[0], out[1] = Version, snapshotType
	if _, err := io.ReadFull(randReader(rand), out[2:snapshotHead]); err != nil {
		return nil, fmt.Errorf("group: sealing snapshot: %w", err)
	}
	return aead.Seal(out, out[2:snapshotHead], e.B, snapshotAD(k.ID)), nil
}

// OpenSnapshot opens a snapshot sealed for k and returns the group ID and
// its chain, each record parsed and checked to be the child of the one
// before (not its signature or rules: NewLog and Log.Add do that). A wrong
// key or altered bytes give ErrDecrypt, and nothing else tells them apart.
func OpenSnapshot(k LinkKeys, b []byte) (ID, [][]byte, error) {
	var g ID
	switch {
	case len(b) > MaxSnapshot:
		return g, nil, fmt.Errorf("%w: a snapshot of more than %d bytes", ErrLimit, MaxSnapshot)
	case len(b) < snapshotHead+chacha20poly1305.Overhead || b[0] != Version || b[1] != snapshotType:
		return g, nil, fmt.Errorf("%w: snapshot header or length", ErrMalformed)
	}
	aead, err := chacha20poly1305.NewX(k.SnapshotKey[:])
	if err != nil {
		return g, nil, ErrDecrypt
	}
	plain, err := aead.Open(nil, b[2:snapshotHead], b[snapshotHead:], snapshotAD(k.ID))
	if err != nil {
		return g, nil, ErrDecrypt
	}
	return decodeSnapshot(plain)
}

// decodeSnapshot decodes an opened snapshot's plaintext.
func decodeSnapshot(plain []byte) (ID, [][]byte, error) {
	var g ID
	d := wire.NewDecoder(plain)
	copy(g[:], d.Bytes(fSnapGroup, 32, 32))
	var chain [][]byte
	for d.More(fSnapRecords) {
		chain = append(chain, d.Bytes(fSnapRecords, 1, MaxRecord))
	}
	if err := d.Finish(); err != nil {
		return ID{}, nil, fmt.Errorf("%w: snapshot: %w", ErrMalformed, err)
	}
	if err := checkChain(g, chain); err != nil {
		return ID{}, nil, err
	}
	return g, chain, nil
}

// checkChain checks that chain is a chain of g's records from its create
// record: version i+1 at index i, each the child of the one before.
func checkChain(g ID, chain [][]byte) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: an empty chain", ErrMalformed)
	}
	var prev [HashSize]byte
	for i, b := range chain {
		r, err := Parse(b)
		if err != nil {
			return fmt.Errorf("snapshot record %d: %w", i+1, err)
		}
		if r.Group != g || r.Version != uint64(i)+1 || r.Prev != prev {
			return fmt.Errorf("%w: snapshot record %d does not continue the chain of the group", ErrMalformed, i+1)
		}
		prev = r.Hash()
	}
	return nil
}

func snapshotAD(id [16]byte) []byte {
	ad := append([]byte(SnapshotLabel), Version, snapshotType)
	return append(ad, id[:]...)
}

func randReader(r io.Reader) io.Reader {
	if r == nil {
		return cryptorand.Reader
	}
	return r
}
