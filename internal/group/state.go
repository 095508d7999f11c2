package group

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/parley-chat/parley/internal/keys"
)

// State is a group as of one record (spec/protocol.md §11.3): its
// version and head hash, members, admins, info, settings and link. A
// State never changes once a caller holds it; Apply returns a new one.
type State struct {
	id         ID
	version    uint64
	head       [HashSize]byte
	info       Info
	settings   Settings
	link       *Link
	members    map[string]Member
	maxMembers int
}

// NewState verifies a create record (spec/protocol.md §11.4) and returns
// the group's state at version 1: the creator an admin since version 1,
// every listed member a member since version 1.
func NewState(genesis []byte, o Options) (*State, error) {
	r, err := Parse(genesis)
	if err != nil {
		return nil, err
	}
	return genesisState(r, o)
}

func genesisState(r *Record, o Options) (*State, error) {
	if r.Kind != KindCreate {
		return nil, fmt.Errorf("%w: a group starts with a create record, not %s", ErrNotAllowed, r.Kind)
	}
	if len(r.Members) > o.maxMembers() {
		return nil, fmt.Errorf("%w: %d members, at most %d", ErrLimit, len(r.Members), o.maxMembers())
	}
	creator, _ := findMember(r.Members, r.Signer)
	if !r.verify(creator.Identity) {
		return nil, fmt.Errorf("%w: create record of %s", ErrSignature, r.Signer)
	}
	s := &State{id: r.Group, members: make(map[string]Member, len(r.Members)), maxMembers: o.maxMembers()}
	s.apply(r)
	return s, nil
}

// ID is the group's ID.
func (s *State) ID() ID { return s.id }

// Version is the version of the record the state is at.
func (s *State) Version() uint64 { return s.version }

// Head is the hash of the record the state is at: the Prev of its children.
func (s *State) Head() [32]byte { return s.head }

// Info returns the group's info.
func (s *State) Info() Info {
	i := s.info
	i.Avatar = bytes.Clone(s.info.Avatar)
	return i
}

// Settings returns the group's settings.
func (s *State) Settings() Settings { return s.settings }

// Link returns a copy of the group's invite link; nil when there is none.
func (s *State) Link() *Link {
	if s.link == nil {
		return nil
	}
	l := *s.link
	return &l
}

// Members returns the members, sorted by username.
func (s *State) Members() []Member {
	out := slices.Collect(maps.Values(s.members))
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Username, b.Username) })
	return out
}

// Admins returns the admins, highest rank first (spec/protocol.md §11.3).
func (s *State) Admins() []Member {
	var out []Member
	for _, m := range s.members {
		if m.Admin {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int {
		if outranks(a, b) {
			return -1
		}
		return 1
	})
	return out
}

// Member returns the member with the given username.
func (s *State) Member(name string) (Member, bool) {
	m, ok := s.members[name]
	return m, ok
}

// IsAdmin reports whether name is an admin.
func (s *State) IsAdmin(name string) bool { return s.members[name].Admin }

// Len returns the number of members.
func (s *State) Len() int { return len(s.members) }

// Outranks reports whether member a outranks member b (spec/protocol.md
// §11.3): an admin outranks a non-admin; among admins the lower
// AdminSince, then among all the lower Since, then the lower username.
// It is false if either is not a member or a == b.
func (s *State) Outranks(a, b string) bool {
	ma, oka := s.members[a]
	mb, okb := s.members[b]
	return oka && okb && a != b && outranks(ma, mb)
}

// outranks is the rank order: a total order on distinct members.
func outranks(a, b Member) bool {
	switch {
	case a.Admin != b.Admin:
		return a.Admin
	case a.Admin && a.AdminSince != b.AdminSince:
		return a.AdminSince < b.AdminSince
	case a.Since != b.Since:
		return a.Since < b.Since
	}
	return a.Username < b.Username
}

// Next returns a record for the version after s, with Group, Version,
// Prev, Kind and Signer filled in; the caller sets the rest and signs it.
func (s *State) Next(kind Kind, signer string) *Record {
	return &Record{Group: s.id, Version: s.version + 1, Prev: s.head, Kind: kind, Signer: signer}
}

// Rebase returns a copy of r's change as the child of s, unsigned: the
// way a client signs again a change that lost a fork (Log.Dropped).
// Whether it is still allowed is for Allowed to say.
func (s *State) Rebase(r *Record) *Record {
	c := r.clone()
	c.Group, c.Version, c.Prev = s.id, s.version+1, s.head
	c.Signature, c.encoded, c.hash = nil, nil, [HashSize]byte{}
	return c
}

// Allowed reports whether r may be the next record of s, with every check
// of spec/protocol.md §11.4 but the signature, so that a client can test
// a change before signing it. Members need not be sorted yet (Sign sorts
// them). The errors: ErrMalformed (structure, or another group), ErrStale
// (an earlier version), ErrUnknownParent (a version skip, or another
// prev), ErrNotAllowed, ErrLimit.
func (s *State) Allowed(r *Record) error {
	c := r.clone()
	c.cleanMembers()
	if err := c.check(); err != nil {
		return err
	}
	return s.allowed(c)
}

// Verify is Allowed and the signature check of a signed or parsed record
// (ErrSignature): exactly what Log.Add checks of a record whose parent is
// s. It checks the record as encoded (Encoded), so fields changed after
// Sign or Parse play no part.
func (s *State) Verify(r *Record) error {
	_, err := s.verified(r)
	return err
}

// Apply verifies r (Verify) and returns the state it makes; s is unchanged.
func (s *State) Apply(r *Record) (*State, error) {
	p, err := s.verified(r)
	if err != nil {
		return nil, err
	}
	n := s.clone()
	n.apply(p)
	return n, nil
}

// verified parses r's encoding again and checks it as the child of s.
func (s *State) verified(r *Record) (*Record, error) {
	if r.encoded == nil {
		return nil, fmt.Errorf("%w: the record is not signed", ErrMalformed)
	}
	p, err := Parse(r.encoded)
	if err != nil {
		return nil, err
	}
	if err := s.allowed(p); err != nil {
		return nil, err
	}
	if err := s.verifySignature(p); err != nil {
		return nil, err
	}
	return p, nil
}

// allowed checks a record whose structure is already checked.
func (s *State) allowed(r *Record) error {
	switch {
	case r.Group != s.id:
		return fmt.Errorf("%w: record of another group", ErrMalformed)
	case r.Version <= s.version:
		return fmt.Errorf("%w: version %d, the state is at %d", ErrStale, r.Version, s.version)
	case r.Version > s.version+1:
		return fmt.Errorf("%w: version %d skips from %d", ErrUnknownParent, r.Version, s.version)
	case r.Prev != s.head:
		return fmt.Errorf("%w: prev is not the hash of version %d", ErrUnknownParent, s.version)
	}
	if r.Kind == KindJoin {
		return s.allowedJoin(r)
	}
	signer, ok := s.members[r.Signer]
	if !ok {
		return fmt.Errorf("%w: %s is not a member", ErrNotAllowed, r.Signer)
	}
	if !signer.Admin && adminOnly(r.Kind, s.settings) {
		return fmt.Errorf("%w: %s is not an admin, and only admins make %s records", ErrNotAllowed, r.Signer, r.Kind)
	}
	switch r.Kind {
	case KindAdd:
		for _, m := range r.Members {
			if _, dup := s.members[m.Username]; dup {
				return fmt.Errorf("%w: %s is already a member", ErrNotAllowed, m.Username)
			}
		}
		if len(s.members)+len(r.Members) > s.maxMembers {
			return fmt.Errorf("%w: %d members, at most %d", ErrLimit, len(s.members)+len(r.Members), s.maxMembers)
		}
	case KindRemove, KindPromote, KindDemote:
		return s.allowedTarget(r, signer)
	}
	return nil
}

// adminOnly reports whether only admins sign records of kind k.
func adminOnly(k Kind, set Settings) bool {
	switch k {
	case KindLeave:
		return false
	case KindInfo:
		return set.InfoAdminsOnly
	}
	return true
}

// allowedTarget checks the target of a remove, promote or demote.
func (s *State) allowedTarget(r *Record, signer Member) error {
	t, ok := s.members[r.Target]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is not a member", ErrNotAllowed, r.Target)
	case r.Kind == KindRemove && r.Target == r.Signer:
		return fmt.Errorf("%w: an admin leaves rather than removes himself", ErrNotAllowed)
	case r.Kind == KindPromote && t.Admin:
		return fmt.Errorf("%w: %s is already an admin", ErrNotAllowed, r.Target)
	case r.Kind == KindDemote && !t.Admin:
		return fmt.Errorf("%w: %s is not an admin", ErrNotAllowed, r.Target)
	case r.Kind != KindPromote && t.Admin && !outranks(signer, t):
		return fmt.Errorf("%w: %s does not outrank %s", ErrNotAllowed, r.Signer, r.Target)
	}
	return nil
}

// allowedJoin checks a join: the signer is no member, the group has a
// direct link, and the proof is the link's for this signer and key.
func (s *State) allowedJoin(r *Record) error {
	if _, ok := s.members[r.Signer]; ok {
		return fmt.Errorf("%w: %s is already a member", ErrNotAllowed, r.Signer)
	}
	if s.link == nil {
		return fmt.Errorf("%w: the group has no invite link", ErrNotAllowed)
	}
	if !s.link.Direct {
		return fmt.Errorf("%w: the group's link needs an admin's approval", ErrNotAllowed)
	}
	want := JoinProof(s.link.ProofKey, s.id, r.Signer, r.Members[0].Identity)
	if !hmac.Equal(want, r.Proof) {
		return fmt.Errorf("%w: the join proof is not the group's link's", ErrNotAllowed)
	}
	if len(s.members)+1 > s.maxMembers {
		return fmt.Errorf("%w: the group has %d members, at most %d", ErrLimit, len(s.members), s.maxMembers)
	}
	return nil
}

// signerKey is the identity key r must verify under in s: the member's,
// or for a join the one it lists.
func (s *State) signerKey(r *Record) keys.PublicKey {
	if r.Kind == KindJoin {
		return r.Members[0].Identity
	}
	return s.members[r.Signer].Identity
}

func (s *State) verifySignature(r *Record) error {
	if !r.verify(s.signerKey(r)) {
		return fmt.Errorf("%w: %s record of %s at version %d", ErrSignature, r.Kind, r.Signer, r.Version)
	}
	return nil
}

// clone returns a copy of s that shares nothing mutable with it.
func (s *State) clone() *State {
	c := *s
	c.members = maps.Clone(s.members)
	c.link = s.Link()
	return &c
}

// apply moves s on by r, which is allowed (spec/protocol.md §11.4).
func (s *State) apply(r *Record) {
	s.version, s.head = r.Version, r.hash
	switch r.Kind {
	case KindCreate:
		for _, m := range r.Members {
			s.members[m.Username] = Member{Username: m.Username, Identity: m.Identity, Since: r.Version}
		}
		s.members[r.Signer] = Member{Username: r.Signer, Identity: s.members[r.Signer].Identity,
			Admin: true, AdminSince: r.Version, Since: r.Version}
		s.info, s.settings = r.Info.copy(), *r.Settings
	case KindAdd, KindJoin:
		for _, m := range r.Members {
			s.members[m.Username] = Member{Username: m.Username, Identity: m.Identity, Since: r.Version}
		}
	case KindRemove:
		delete(s.members, r.Target)
	case KindLeave:
		delete(s.members, r.Signer)
		s.keepAnAdmin(r.Version)
	case KindPromote:
		m := s.members[r.Target]
		m.Admin, m.AdminSince = true, r.Version
		s.members[r.Target] = m
	case KindDemote:
		m := s.members[r.Target]
		m.Admin, m.AdminSince = false, 0
		s.members[r.Target] = m
	case KindInfo:
		s.info = r.Info.copy()
	case KindSettings:
		s.settings = *r.Settings
	case KindLink:
		s.link = nil
		if r.Link != nil {
			l := *r.Link
			s.link = &l
		}
	}
}

// keepAnAdmin makes the longest-standing member (lowest Since, then
// username) an admin at version v if members remain and none is an admin.
func (s *State) keepAnAdmin(v uint64) {
	var next *Member
	for _, m := range s.members {
		if m.Admin {
			return
		}
		if next == nil || m.Since < next.Since || (m.Since == next.Since && m.Username < next.Username) {
			next = &m
		}
	}
	if next != nil {
		next.Admin, next.AdminSince = true, v
		s.members[next.Username] = *next
	}
}

func (i *Info) copy() Info {
	c := *i
	c.Avatar = bytes.Clone(i.Avatar)
	return c
}
