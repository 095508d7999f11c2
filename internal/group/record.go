package group

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

const (
	// Version is the group record format's version byte (spec/protocol.md
	// §11.2).
	Version = 1
	// recordType is the record's type byte (spec/protocol.md §11.2).
	recordType = 8
	// SignatureContext is prepended to the record's header and body to
	// sign them, so a group signature is never another protocol's.
	SignatureContext = "Parley_Group_Record_v1"
	// HashLabel is prepended to the whole encoded record (signature
	// included) to hash it: the prev field of its children.
	HashLabel = "Parley_Group_Record_Hash_v1"

	HashSize      = sha256.Size
	signatureSize = 64
	proofSize     = sha256.Size

	fGroup    protowire.Number = 1
	fVersion  protowire.Number = 2
	fPrev     protowire.Number = 3
	fKind     protowire.Number = 4
	fSigner   protowire.Number = 5
	fMembers  protowire.Number = 6
	fTarget   protowire.Number = 7
	fInfo     protowire.Number = 8
	fSettings protowire.Number = 9
	fLink     protowire.Number = 10
	fProof    protowire.Number = 11
	fTime     protowire.Number = 12

	// Fields of the embedded messages.
	fMemberUsername protowire.Number = 1
	fMemberIdentity protowire.Number = 2
	fInfoTitle      protowire.Number = 1
	fInfoDesc       protowire.Number = 2
	fInfoAvatar     protowire.Number = 3
	fSetSendAdmins  protowire.Number = 1
	fSetInfoAdmins  protowire.Number = 2
	fLinkProofKey   protowire.Number = 1
	fLinkDirect     protowire.Number = 2

	// embedded sizes: a member is at most 2+32 + 2+32 bytes; the others
	// are bounded by their fields.
	maxMemberLen   = 2 + api.MaxUsername + 2 + keys.PublicKeySize
	maxInfoLen     = 3 + MaxTitle + 3 + MaxDescription + 3 + MaxAvatar
	maxSettingsLen = 4
	maxLinkLen     = 2 + 32 + 2
)

// Record is one signed change of a group (spec/protocol.md §11.2).
type Record struct {
	Group   ID
	Version uint64   // the version this record makes: 1 for create, else the parent's + 1
	Prev    [32]byte // Hash of the parent record; zero for create
	Kind    Kind
	Signer  string // the signer's username, in normal form
	Time    int64  // the signer's clock, unix milliseconds; informative only

	Members  []Member  // create, add, join: Username and Identity only, sorted by Username
	Target   string    // remove, promote, demote
	Info     *Info     // create, info
	Settings *Settings // create, settings
	Link     *Link     // link: the new link; nil revokes it
	Proof    []byte    // join: JoinProof of the signer

	Signature []byte

	encoded []byte // the whole record, set by Sign and Parse
	hash    [HashSize]byte
}

// Hash returns SHA-256(HashLabel ‖ encoded): the name of a record, which
// its children carry as Prev.
func Hash(encoded []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(HashLabel))
	h.Write(encoded)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Hash returns the hash of the record as Sign or Parse encoded it; the
// zero hash for a record that was neither signed nor parsed.
func (r *Record) Hash() [32]byte { return r.hash }

// Encoded returns a copy of the record's encoding; nil for a record that
// was neither signed nor parsed.
func (r *Record) Encoded() []byte { return bytes.Clone(r.encoded) }

// Sign checks r's structure, signs it with the signer's identity key k
// (XEdDSA, spec/protocol.md §2.3) using 64 bytes from rand (crypto/rand
// when nil), sets Signature and returns the encoded record.
//
// Sign normalises Members: it sorts them by username and keeps only
// Username and Identity. For a create or a join it adds the signer's own
// member, with k's public key, if Members lacks it; a create or join that
// lists another key for the signer is refused.
func (r *Record) Sign(k keys.PrivateKey, rand io.Reader) ([]byte, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("%w: no signing key", ErrMalformed)
	}
	r.normalizeMembers(k.Public())
	if err := r.check(); err != nil {
		return nil, err
	}
	if r.Kind == KindCreate || r.Kind == KindJoin {
		if m, _ := findMember(r.Members, r.Signer); m.Identity != k.Public() {
			return nil, fmt.Errorf("%w: the record lists another identity key for its signer", ErrMalformed)
		}
	}
	body := r.appendBody(nil)
	if len(body)+signatureSize > MaxRecord {
		return nil, fmt.Errorf("%w: record of %d bytes, at most %d", ErrLimit, len(body)+signatureSize, MaxRecord)
	}
	sig, err := k.Sign(signedMessage(body), rand)
	if err != nil {
		return nil, fmt.Errorf("group: signing record: %w", err)
	}
	r.Signature = sig
	r.setEncoded(append(body, sig...))
	return r.Encoded(), nil
}

func (r *Record) setEncoded(b []byte) {
	r.encoded = b
	r.hash = Hash(b)
}

// normalizeMembers cleans and sorts r.Members (cleanMembers), adding the
// signer's member to a create or join that lacks it.
func (r *Record) normalizeMembers(signer keys.PublicKey) {
	if r.Kind == KindCreate || r.Kind == KindJoin {
		if _, ok := findMember(r.Members, r.Signer); !ok {
			r.Members = append(slices.Clip(r.Members), Member{Username: r.Signer, Identity: signer})
		}
	}
	r.cleanMembers()
}

// cleanMembers replaces r.Members with a sorted copy holding only
// Username and Identity: what a record carries of a member.
func (r *Record) cleanMembers() {
	if len(r.Members) == 0 {
		r.Members = nil
		return
	}
	ms := make([]Member, 0, len(r.Members))
	for _, m := range r.Members {
		ms = append(ms, Member{Username: m.Username, Identity: m.Identity})
	}
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Username, b.Username) })
	r.Members = ms
}

func findMember(ms []Member, name string) (Member, bool) {
	for _, m := range ms {
		if m.Username == name {
			return m, true
		}
	}
	return Member{}, false
}

func signedMessage(body []byte) []byte {
	return append([]byte(SignatureContext), body...)
}

// verify reports whether r's signature verifies under id.
func (r *Record) verify(id keys.PublicKey) bool {
	if len(r.encoded) < signatureSize {
		return false
	}
	return id.Verify(signedMessage(r.encoded[:len(r.encoded)-signatureSize]), r.Signature)
}

// appendBody appends the header and the canonical encoding of the fields.
func (r *Record) appendBody(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, r.sizeHint())
	}
	e := wire.Encoder{B: append(b, Version, recordType)}
	e.Bytes(fGroup, r.Group[:])
	e.Uint(fVersion, r.Version)
	if r.Version > 1 {
		e.Bytes(fPrev, r.Prev[:])
	}
	e.Uint(fKind, uint64(r.Kind))
	e.Bytes(fSigner, []byte(r.Signer))
	var me wire.Encoder
	for _, m := range r.Members {
		me.B = me.B[:0]
		me.Bytes(fMemberUsername, []byte(m.Username))
		me.Bytes(fMemberIdentity, m.Identity[:])
		e.Bytes(fMembers, me.B)
	}
	if r.Target != "" {
		e.Bytes(fTarget, []byte(r.Target))
	}
	if r.Info != nil {
		var ie wire.Encoder
		ie.Bytes(fInfoTitle, []byte(r.Info.Title))
		ie.Bytes(fInfoDesc, []byte(r.Info.Description))
		if len(r.Info.Avatar) > 0 {
			ie.Bytes(fInfoAvatar, r.Info.Avatar)
		}
		e.Bytes(fInfo, ie.B)
	}
	if r.Settings != nil {
		var se wire.Encoder
		se.Uint(fSetSendAdmins, boolUint(r.Settings.SendAdminsOnly))
		se.Uint(fSetInfoAdmins, boolUint(r.Settings.InfoAdminsOnly))
		e.Bytes(fSettings, se.B)
	}
	if r.Link != nil {
		var le wire.Encoder
		le.Bytes(fLinkProofKey, r.Link.ProofKey[:])
		le.Uint(fLinkDirect, boolUint(r.Link.Direct))
		e.Bytes(fLink, le.B)
	}
	if r.Proof != nil {
		e.Bytes(fProof, r.Proof)
	}
	e.Uint(fTime, uint64(r.Time))
	return e.B
}

// sizeHint bounds the size of r's header and body, to allocate it once.
func (r *Record) sizeHint() int {
	n := 2 + 34 + 11 + 34 + 2 + 2 + len(r.Signer) + 2 + len(r.Target) + 11 + 6 + 36 + 34 + 4
	n += len(r.Members) * (3 + maxMemberLen)
	if r.Info != nil {
		n += 3 + 9 + len(r.Info.Title) + len(r.Info.Description) + len(r.Info.Avatar)
	}
	return n
}

func boolUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Parse decodes an encoded record and checks its structure and limits
// (spec/protocol.md §11.2), not its signature nor its place in a group:
// State.Verify and Log.Add do that. Only the canonical encoding is
// accepted: fields in ascending order, each once, no unknown field, no
// trailing byte.
func Parse(b []byte) (*Record, error) {
	if len(b) > MaxRecord {
		return nil, fmt.Errorf("%w: record of %d bytes, at most %d", ErrLimit, len(b), MaxRecord)
	}
	if len(b) < 2+signatureSize || b[0] != Version || b[1] != recordType {
		return nil, fmt.Errorf("%w: header or length", ErrMalformed)
	}
	body, sig := b[:len(b)-signatureSize], b[len(b)-signatureSize:]
	r := &Record{Signature: bytes.Clone(sig)}
	if err := r.decode(body[2:]); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	// The decoder is strict, so this only catches what it cannot see,
	// such as an empty avatar or a zero field written where it is absent.
	if !bytes.Equal(r.appendBody(nil), body) {
		return nil, fmt.Errorf("%w: not canonical", ErrMalformed)
	}
	r.setEncoded(bytes.Clone(b))
	return r, nil
}

func (r *Record) decode(body []byte) error {
	d := wire.NewDecoder(body)
	copy(r.Group[:], d.Bytes(fGroup, 32, 32))
	r.Version = d.Uint(fVersion, maxVersion)
	if p, ok := d.OptBytes(fPrev, HashSize, HashSize); ok {
		copy(r.Prev[:], p)
	}
	r.Kind = Kind(d.Uint(fKind, uint64(maxKind)))
	r.Signer = string(d.Bytes(fSigner, api.MinUsername, api.MaxUsername))
	for d.More(fMembers) {
		if len(r.Members) == MaxRecordUsers {
			return fmt.Errorf("%w: more than %d members in one record", ErrLimit, MaxRecordUsers)
		}
		m, err := decodeMember(d.Bytes(fMembers, 1, maxMemberLen))
		if err != nil {
			return err
		}
		r.Members = append(r.Members, m)
	}
	if t, ok := d.OptBytes(fTarget, api.MinUsername, api.MaxUsername); ok {
		r.Target = string(t)
	}
	if b, ok := d.OptBytes(fInfo, 1, maxInfoLen); ok {
		info, err := decodeInfo(b)
		if err != nil {
			return err
		}
		r.Info = info
	}
	if b, ok := d.OptBytes(fSettings, 1, maxSettingsLen); ok {
		sd := wire.NewDecoder(b)
		r.Settings = &Settings{SendAdminsOnly: sd.Uint(fSetSendAdmins, 1) == 1, InfoAdminsOnly: sd.Uint(fSetInfoAdmins, 1) == 1}
		if err := sd.Finish(); err != nil {
			return fmt.Errorf("%w: settings: %w", ErrMalformed, err)
		}
	}
	if b, ok := d.OptBytes(fLink, 1, maxLinkLen); ok {
		ld := wire.NewDecoder(b)
		l := &Link{}
		copy(l.ProofKey[:], ld.Bytes(fLinkProofKey, 32, 32))
		l.Direct = ld.Uint(fLinkDirect, 1) == 1
		if err := ld.Finish(); err != nil {
			return fmt.Errorf("%w: link: %w", ErrMalformed, err)
		}
		r.Link = l
	}
	if p, ok := d.OptBytes(fProof, proofSize, proofSize); ok {
		r.Proof = bytes.Clone(p)
	}
	r.Time = int64(d.Uint(fTime, maxVersion))
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

func decodeMember(b []byte) (Member, error) {
	d := wire.NewDecoder(b)
	m := Member{Username: string(d.Bytes(fMemberUsername, api.MinUsername, api.MaxUsername))}
	copy(m.Identity[:], d.Bytes(fMemberIdentity, keys.PublicKeySize, keys.PublicKeySize))
	if err := d.Finish(); err != nil {
		return Member{}, fmt.Errorf("%w: member: %w", ErrMalformed, err)
	}
	return m, nil
}

func decodeInfo(b []byte) (*Info, error) {
	d := wire.NewDecoder(b)
	info := &Info{
		Title:       string(d.Bytes(fInfoTitle, 0, MaxTitle)),
		Description: string(d.Bytes(fInfoDesc, 0, MaxDescription)),
	}
	if a, ok := d.OptBytes(fInfoAvatar, 1, MaxAvatar); ok {
		info.Avatar = bytes.Clone(a)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: info: %w", ErrMalformed, err)
	}
	return info, nil
}

// validUsername reports whether s is a username in normal form.
func validUsername(s string) bool {
	n, err := api.NormalizeUsername(s)
	return err == nil && n == s
}

// check enforces which fields each kind has and every structural limit
// (spec/protocol.md §11.2).
func (r *Record) check() error {
	if err := r.checkHeader(); err != nil {
		return err
	}
	if err := r.checkFields(); err != nil {
		return err
	}
	if err := r.checkMembers(); err != nil {
		return err
	}
	if r.Info != nil {
		return r.Info.check()
	}
	return nil
}

func (r *Record) checkHeader() error {
	switch {
	case r.Kind == 0 || r.Kind > maxKind:
		return fmt.Errorf("%w: kind %d", ErrMalformed, r.Kind)
	case r.Version == 0 || r.Version > maxVersion:
		return fmt.Errorf("%w: version %d", ErrMalformed, r.Version)
	case (r.Version == 1) != (r.Kind == KindCreate):
		return fmt.Errorf("%w: version 1 is the create record, and only it", ErrMalformed)
	case r.Version == 1 && r.Prev != [32]byte{}:
		return fmt.Errorf("%w: the create record has no prev", ErrMalformed)
	case !validUsername(r.Signer):
		return fmt.Errorf("%w: signer %q is no username in normal form", ErrMalformed, r.Signer)
	case r.Time < 0 || r.Time > maxVersion:
		return fmt.Errorf("%w: time", ErrMalformed)
	}
	return nil
}

// checkFields enforces which optional fields each kind has.
func (r *Record) checkFields() error {
	k := r.Kind
	hasMembers := k == KindCreate || k == KindAdd || k == KindJoin
	hasTarget := k == KindRemove || k == KindPromote || k == KindDemote
	hasInfo := k == KindCreate || k == KindInfo
	hasSettings := k == KindCreate || k == KindSettings
	switch {
	case hasMembers != (len(r.Members) > 0):
		return fmt.Errorf("%w: a %s record %s members", ErrMalformed, k, has(hasMembers))
	case hasTarget != (r.Target != ""):
		return fmt.Errorf("%w: a %s record %s a target", ErrMalformed, k, has(hasTarget))
	case hasTarget && !validUsername(r.Target):
		return fmt.Errorf("%w: target %q is no username in normal form", ErrMalformed, r.Target)
	case hasInfo != (r.Info != nil):
		return fmt.Errorf("%w: a %s record %s info", ErrMalformed, k, has(hasInfo))
	case hasSettings != (r.Settings != nil):
		return fmt.Errorf("%w: a %s record %s settings", ErrMalformed, k, has(hasSettings))
	case k != KindLink && r.Link != nil:
		return fmt.Errorf("%w: a %s record has no link", ErrMalformed, k)
	case (k == KindJoin) != (r.Proof != nil):
		return fmt.Errorf("%w: a %s record %s a proof", ErrMalformed, k, has(k == KindJoin))
	case r.Proof != nil && len(r.Proof) != proofSize:
		return fmt.Errorf("%w: proof of %d bytes", ErrMalformed, len(r.Proof))
	case r.Signature != nil && len(r.Signature) != signatureSize:
		return fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(r.Signature))
	}
	return nil
}

func has(b bool) string {
	if b {
		return "needs"
	}
	return "has no"
}

func (r *Record) checkMembers() error {
	if len(r.Members) > MaxRecordUsers {
		return fmt.Errorf("%w: more than %d members in one record", ErrLimit, MaxRecordUsers)
	}
	for i, m := range r.Members {
		if !validUsername(m.Username) {
			return fmt.Errorf("%w: member %q is no username in normal form", ErrMalformed, m.Username)
		}
		if i > 0 && r.Members[i-1].Username >= m.Username {
			return fmt.Errorf("%w: members not sorted by username, or listed twice", ErrMalformed)
		}
	}
	switch r.Kind {
	case KindCreate:
		if _, ok := findMember(r.Members, r.Signer); !ok {
			return fmt.Errorf("%w: the creator is not among the members", ErrMalformed)
		}
	case KindJoin:
		if len(r.Members) != 1 || r.Members[0].Username != r.Signer {
			return fmt.Errorf("%w: a join lists exactly its signer", ErrMalformed)
		}
	}
	return nil
}

func (i *Info) check() error {
	switch {
	case len(i.Title) > MaxTitle || !utf8.ValidString(i.Title) || strings.TrimSpace(i.Title) == "":
		return fmt.Errorf("%w: title must be 1 to %d bytes of UTF-8, not only spaces", ErrMalformed, MaxTitle)
	case len(i.Description) > MaxDescription || !utf8.ValidString(i.Description):
		return fmt.Errorf("%w: description must be at most %d bytes of UTF-8", ErrMalformed, MaxDescription)
	case len(i.Avatar) > MaxAvatar:
		return fmt.Errorf("%w: avatar of %d bytes, at most %d", ErrMalformed, len(i.Avatar), MaxAvatar)
	}
	return nil
}

// clone returns a deep copy of r, sharing nothing with it.
func (r *Record) clone() *Record {
	c := *r
	c.Members = slices.Clone(r.Members)
	if r.Info != nil {
		info := *r.Info
		info.Avatar = bytes.Clone(r.Info.Avatar)
		c.Info = &info
	}
	if r.Settings != nil {
		s := *r.Settings
		c.Settings = &s
	}
	if r.Link != nil {
		l := *r.Link
		c.Link = &l
	}
	c.Proof = bytes.Clone(r.Proof)
	c.Signature = bytes.Clone(r.Signature)
	c.encoded = bytes.Clone(r.encoded)
	return &c
}
