package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/group"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/ratchet"
)

// Private groups (spec/client.md §10). A group's state is the chain of
// records its members signed (internal/group); every device of every
// member keeps the records it accepted and derives the state from them
// itself, so no one, the server included, can add a member or change the
// group without a signature its members accept. Messages go under Sender
// Keys (groupsend.go, groupreceive.go).

// Buckets of the group store.
const (
	bucketGroup     = "group" // group ID (hex) → groupRecord
	bucketGroupSend = "gsend" // group ID (hex) → senderRecord: this device's sender key for the group
	bucketGroupRecv = "grecv" // group ID (hex)/user/device → receiverRecord: a member device's sender key
	bucketGroupDist = "gdist" // distribution ID (hex) → group ID (hex, raw)
	// bucketGroupStamp: group ID (hex) → 8 random bytes, new with every
	// write of the group's record (putGroup), so that loadGroup knows its
	// cache is current without reading the record.
	bucketGroupStamp = "gstamp"
)

const (
	// maxGroupMembers is the most members a group may have: the servers'
	// default (spec/api.md §6.6).
	maxGroupMembers = 1000
)

var (
	// ErrNoSuchGroup means a group conversation names a group this device
	// does not know.
	ErrNoSuchGroup = errors.New("client: no such group")
	// ErrNotGroupMember means this account is not (or no longer) a member
	// of the group.
	ErrNotGroupMember = errors.New("client: you are not a member of this group")
	// ErrGroupNotAllowed means the group's rules do not let this account
	// make the change (or send): only admins may, or the target ranks
	// higher. The error says which rule.
	ErrGroupNotAllowed = errors.New("client: the group does not allow it")
	// ErrGroupFull means a group would have more members than the
	// server allows (parleyd's -max-group-members, 1000 by default).
	ErrGroupFull = errors.New("client: the group would have more members than this server allows")
	// ErrAmbiguousGroup means a group name matches several groups.
	ErrAmbiguousGroup = errors.New("client: several groups match that name")
)

// groupRecord is what a device keeps of a group.
type groupRecord struct {
	// Records holds every record accepted, canonical or not
	// (group.Log.All), the create record first.
	Records [][]byte `json:"records"`
	// Noted lists the hashes (hex) of the records that have a line in
	// the conversation, so a record is told once.
	Noted []string `json:"noted,omitempty"`
	// Rebased lists the hashes of this account's records that lost a
	// concurrent change and were signed again on the winning head.
	Rebased []string `json:"rebased,omitempty"`
	// Link is the secret of the invite link this account made, if it is
	// active (grouplink.go).
	Link []byte `json:"link,omitempty"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	Username string
	Admin    bool
}

// GroupSettings are a group's rules.
type GroupSettings struct {
	SendAdminsOnly bool // only admins may send messages
	InfoAdminsOnly bool // only admins may change the title and description
}

// GroupInfo describes a group as this device knows it.
type GroupInfo struct {
	ID           GroupID
	Conversation ConversationID
	Title        string
	Description  string
	Version      uint64 // the number of changes so far, the creation included
	Members      []GroupMember
	Member       bool // this account is a member
	Admin        bool // this account is an admin
	Settings     GroupSettings
	Link         bool        // an invite link is active
	JoinDirect   bool        // the link joins without an admin's approval
	Avatar       *Attachment // the group's picture (GroupAvatar fetches it), or nil
}

// Admins lists the admins' usernames.
func (g GroupInfo) Admins() []string {
	var out []string
	for _, m := range g.Members {
		if m.Admin {
			out = append(out, m.Username)
		}
	}
	return out
}

func groupKey(id GroupID) string { return hex.EncodeToString(id[:]) }

// distributionID is the sender-key distribution ID of a group: the same
// for every sender (spec/client.md §10.3).
func distributionID(id GroupID) [16]byte {
	h := sha256.New()
	h.Write([]byte("Parley_Group_Distribution_v1"))
	h.Write(id[:])
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// groupOptions are the limits this device applies to group records.
func (c *Client) groupOptions() group.Options {
	return group.Options{MaxMembers: max(c.groupMax, maxGroupMembers)}
}

// checkSize refuses a group of n members past the server's bound.
func (c *Client) checkSize(n int) error {
	bound := c.groupMax
	if bound <= 0 {
		bound = maxGroupMembers
	}
	if n > bound {
		return fmt.Errorf("%w (%d members; at most %d)", ErrGroupFull, n, bound)
	}
	return nil
}

// learnGroupMax asks the server, once per Client, how many members a
// group may have (a flag of parleyd raises the default). Every member of a
// group uses one server, so all apply the same bound. c.mu is held.
func (c *Client) learnGroupMax(ctx context.Context) {
	if c.groupMax != 0 {
		return
	}
	info, err := c.http.ServerInfo(ctx)
	if err != nil {
		c.log.Warn("server info not read", "err", err)
		return
	}
	if info.MaxGroupMembers != c.groupMax {
		c.groupMax = info.MaxGroupMembers
		clear(c.groupLogs) // built under the old bound
	}
}

// loadGroup reads a group and rebuilds its log, verifying every record
// again. It returns ErrNoSuchGroup for a group this device never had.
// A group read before comes from c.groupLogs while the stamp beside its
// record is the one read then: a message to a large group reads 8 bytes,
// not the record (tens of kilobytes for a thousand members), and parses
// and verifies nothing. A record stored without a stamp (before stamps
// were kept) is read each time until its next write.
func (c *Client) loadGroup(tx sealedTx, id GroupID) (*group.Log, *groupRecord, error) {
	cached, ok := c.groupLogs[id]
	stamp, err := tx.get(bucketGroupStamp, groupKey(id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	if ok && stamp != nil && bytes.Equal(cached.stamp, stamp) {
		return cached.log, cached.gr.clone(), nil
	}
	var gr groupRecord
	if err := tx.getJSON(bucketGroup, groupKey(id), &gr); errors.Is(err, ErrNotFound) {
		return nil, nil, ErrNoSuchGroup
	} else if err != nil {
		return nil, nil, err
	}
	if ok && cached.n == len(gr.Records) {
		// The same records; another field changed.
		c.groupLogs[id] = groupCache{log: cached.log, n: cached.n, stamp: stamp, gr: gr.clone()}
		return cached.log, &gr, nil
	}
	if len(gr.Records) == 0 {
		return nil, nil, fmt.Errorf("client: group %s has no records", id)
	}
	l, err := group.NewLog(gr.Records[0], c.groupOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("client: stored group %s: %w", id, err)
	}
	for _, b := range gr.Records[1:] {
		if _, err := l.Add(b); err != nil {
			return nil, nil, fmt.Errorf("client: stored group %s: %w", id, err)
		}
	}
	c.groupLogs[id] = groupCache{log: l, n: len(gr.Records), stamp: stamp, gr: gr.clone()}
	return l, &gr, nil
}

// putGroup stores the group's record, and a new stamp beside it.
func (c *Client) putGroup(tx sealedTx, id GroupID, gr *groupRecord) error {
	if err := tx.putJSON(bucketGroup, groupKey(id), gr); err != nil {
		return err
	}
	var stamp [8]byte
	c.rand.Read(stamp[:])
	return tx.put(bucketGroupStamp, groupKey(id), stamp[:])
}

// groupCache is a group's verified log, kept while the stored record
// count matches, and the record it was last read as, with its stamp
// (nil if it had none).
type groupCache struct {
	log   *group.Log
	n     int
	stamp []byte
	gr    *groupRecord
}

// clone copies r's lists, so that a caller may change them.
func (r *groupRecord) clone() *groupRecord {
	out := *r
	out.Records = slices.Clone(r.Records)
	out.Noted = slices.Clone(r.Noted)
	out.Rebased = slices.Clone(r.Rebased)
	out.Link = bytes.Clone(r.Link)
	return &out
}

// keepLog puts the log's records into gr, which the caller then stores,
// and indexes a new group by its distribution ID. The cache is refreshed
// by the next loadGroup.
func (c *Client) keepLog(tx sealedTx, id GroupID, l *group.Log, gr *groupRecord) error {
	delete(c.groupLogs, id)
	isNew := len(gr.Records) == 0
	gr.Records = l.All()
	if !isNew {
		return nil
	}
	return tx.put(bucketGroupDist, hex.EncodeToString(distKey(id)), []byte(groupKey(id)))
}

func distKey(id GroupID) []byte { d := distributionID(id); return d[:] }

// info describes the state s for this account.
func (c *Client) info(s *group.State) GroupInfo {
	id := GroupID(s.ID())
	in := s.Info()
	g := GroupInfo{ID: id, Conversation: GroupConversation(id), Title: in.Title, Description: in.Description,
		Version: s.Version(), Settings: GroupSettings{SendAdminsOnly: s.Settings().SendAdminsOnly, InfoAdminsOnly: s.Settings().InfoAdminsOnly}}
	for _, m := range s.Members() {
		g.Members = append(g.Members, GroupMember{Username: m.Username, Admin: m.Admin})
		if m.Username == c.acct.Username {
			g.Member, g.Admin = true, m.Admin
		}
	}
	if l := s.Link(); l != nil {
		g.Link, g.JoinDirect = true, l.Direct
	}
	if p, err := parseAvatar(in.Avatar); err == nil {
		g.Avatar = p.public()
	}
	return g
}

// Groups lists the groups this device knows, members or not, by title.
func (c *Client) Groups(ctx context.Context) ([]GroupInfo, error) {
	c.mu.Lock()
	defer c.unlock()
	var out []GroupInfo
	err := c.view(ctx, func(tx sealedTx) error {
		ks, err := tx.keys(bucketGroup, "")
		if err != nil {
			return err
		}
		for _, k := range ks {
			id, ok := parseGroupKey(k)
			if !ok {
				continue
			}
			l, _, err := c.loadGroup(tx, id)
			if err != nil {
				return err
			}
			out = append(out, c.info(l.State()))
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b GroupInfo) int { return strings.Compare(a.Title, b.Title) })
	return out, err
}

// parseGroupKey reads a group's store key (its ID in hex).
func parseGroupKey(k string) (GroupID, bool) {
	return ConversationID(groupPrefix + k).Group()
}

// Group describes the group conv.
func (c *Client) Group(ctx context.Context, conv ConversationID) (GroupInfo, error) {
	id, ok := conv.Group()
	if !ok {
		return GroupInfo{}, ErrNoSuchGroup
	}
	c.mu.Lock()
	defer c.unlock()
	var g GroupInfo
	err := c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		g = c.info(l.State())
		return nil
	})
	return g, err
}

// FindGroup resolves a group's name as a person types it: "+" and its
// title (a unique match, ignoring case), or "+" and a prefix of at least
// 4 hex digits of its ID (spec/client.md §10.7).
func (c *Client) FindGroup(ctx context.Context, name string) (ConversationID, error) {
	name = strings.TrimPrefix(strings.TrimSpace(name), groupPrefix)
	if name == "" {
		return "", ErrNoSuchGroup
	}
	gs, err := c.Groups(ctx)
	if err != nil {
		return "", err
	}
	var byTitle, byID []GroupInfo
	for _, g := range gs {
		if strings.EqualFold(g.Title, name) {
			byTitle = append(byTitle, g)
		}
		if len(name) >= 4 && strings.HasPrefix(g.ID.String(), strings.ToLower(name)) {
			byID = append(byID, g)
		}
	}
	for _, m := range [][]GroupInfo{byTitle, byID} {
		switch len(m) {
		case 0:
			continue
		case 1:
			return m[0].Conversation, nil
		}
		return "", fmt.Errorf("%w: %q (give more of the ID, as `parley group list` shows it)", ErrAmbiguousGroup, name)
	}
	return "", ErrNoSuchGroup
}

// checkTitle trims and checks a group title.
func checkTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return "", errors.New("client: a group needs a title")
	case len(title) > group.MaxTitle || !utf8.ValidString(title):
		return "", fmt.Errorf("client: a group title is at most %d bytes of UTF-8", group.MaxTitle)
	}
	return title, nil
}

// CreateGroup creates a group with this account as its admin and the
// given members, and tells every member (spec/client.md §10.2).
func (c *Client) CreateGroup(ctx context.Context, title string, members ...string) (GroupInfo, error) {
	title, err := checkTitle(title)
	if err != nil {
		return GroupInfo{}, err
	}
	users, err := c.normalizeUsers(members)
	if err != nil {
		return GroupInfo{}, err
	}
	c.mu.Lock()
	defer c.unlock()
	c.learnGroupMax(ctx)
	if err := c.checkSize(len(users) + 1); err != nil {
		return GroupInfo{}, err
	}
	list := []group.Member{{Username: c.acct.Username, Identity: c.id.Public()}}
	for _, u := range users {
		k, err := c.identityOf(ctx, u)
		if err != nil {
			return GroupInfo{}, err
		}
		list = append(list, group.Member{Username: u, Identity: k})
	}
	var id GroupID
	if _, err := c.rand.Read(id[:]); err != nil {
		return GroupInfo{}, err
	}
	r := &group.Record{Group: group.ID(id), Version: 1, Kind: group.KindCreate, Signer: c.acct.Username,
		Time: c.nowMillis(), Members: list, Info: &group.Info{Title: title}, Settings: &group.Settings{}}
	b, err := r.Sign(c.id.Private, c.rand)
	if err != nil {
		return GroupInfo{}, err
	}
	l, err := group.NewLog(b, c.groupOptions())
	if err != nil {
		return GroupInfo{}, err
	}
	gr := &groupRecord{}
	var events []Event
	if err := c.update(ctx, func(tx sealedTx) error {
		if err := c.keepLog(tx, id, l, gr); err != nil {
			return err
		}
		events, err = c.noteChanges(tx, id, l, gr)
		if err != nil {
			return err
		}
		return c.putGroup(tx, id, gr)
	}); err != nil {
		return GroupInfo{}, err
	}
	c.emitAll(events)
	err = c.publishGroup(ctx, id, l, [][]byte{b}, users, nil)
	return c.info(l.State()), err
}

func (c *Client) emitAll(events []Event) {
	for _, e := range events {
		c.emit(e)
	}
}

// normalizeUsers checks and normalises usernames, dropping repeats and
// this account.
func (c *Client) normalizeUsers(in []string) ([]string, error) {
	var out []string
	for _, u := range in {
		n, err := api.NormalizeUsername(strings.TrimPrefix(u, "@"))
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrNoSuchUser, u)
		}
		if n != c.acct.Username && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// identityOf is user's identity key as this device knows it, starting
// sessions with the user's devices (from prekey bundles) if it knows
// none. c.mu is held.
func (c *Client) identityOf(ctx context.Context, user string) (keys.PublicKey, error) {
	var r contactRecord
	err := c.view(ctx, func(tx sealedTx) error { return tx.getJSON(bucketContact, user, &r) })
	if err == nil {
		return keys.DecodePublicKey(r.Identity)
	}
	if !errors.Is(err, ErrNotFound) {
		return keys.PublicKey{}, err
	}
	fresh := map[uint32]*ratchet.Session{}
	if err := c.startSessions(ctx, user, 0, fresh); err != nil {
		return keys.PublicKey{}, err
	}
	if len(fresh) == 0 {
		return keys.PublicKey{}, fmt.Errorf("%w: %s has no devices", ErrNoSuchUser, user)
	}
	var changed bool
	if err := c.update(ctx, func(tx sealedTx) error {
		var err error
		changed, err = c.saveFresh(tx, user, false, fresh)
		return err
	}); err != nil {
		return keys.PublicKey{}, err
	}
	if changed {
		c.emit(&IdentityChangedEvent{Peer: user})
	}
	return fresh[sortedKeys(fresh)[0]].RemoteIdentity(), nil
}

// change signs a change of the group conv that fill describes, applies it
// and sends it to the members (and to fresh, the accounts it adds, the
// whole chain; and to also, who it removes). c.mu is not held.
func (c *Client) change(ctx context.Context, conv ConversationID, kind group.Kind, fill func(r *group.Record, s *group.State) error, fresh, also []string) error {
	c.mu.Lock()
	defer c.unlock()
	return c.changeLocked(ctx, conv, kind, fill, fresh, also)
}

// changeLocked is change with c.mu held.
func (c *Client) changeLocked(ctx context.Context, conv ConversationID, kind group.Kind, fill func(r *group.Record, s *group.State) error, fresh, also []string) error {
	id, ok := conv.Group()
	if !ok {
		return ErrNoSuchGroup
	}
	var (
		l      *group.Log
		b      []byte
		events []Event
		link   bool
	)
	err := c.update(ctx, func(tx sealedTx) error {
		var (
			gr  *groupRecord
			err error
		)
		l, gr, err = c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		s := l.State()
		if _, ok := s.Member(c.acct.Username); !ok && kind != group.KindJoin {
			return ErrNotGroupMember
		}
		r := s.Next(kind, c.acct.Username)
		r.Time = c.nowMillis()
		if err := fill(r, s); err != nil {
			return err
		}
		if err := s.Allowed(r); err != nil {
			return fmt.Errorf("%w: %w", ErrGroupNotAllowed, err)
		}
		if b, err = r.Sign(c.id.Private, c.rand); err != nil {
			return err
		}
		before := s
		if _, err := l.Add(b); err != nil {
			return err
		}
		if err := c.keepLog(tx, id, l, gr); err != nil {
			return err
		}
		if events, err = c.noteChanges(tx, id, l, gr); err != nil {
			return err
		}
		if err := c.afterMembership(tx, id, before, l.State()); err != nil {
			return err
		}
		link = gr.Link != nil
		return c.putGroup(tx, id, gr)
	})
	if err != nil {
		delete(c.groupLogs, id)
		return err
	}
	c.emitAll(events)
	err = c.publishGroup(ctx, id, l, [][]byte{b}, fresh, also)
	if link {
		c.linkChecks = append(c.linkChecks, id)
		c.runLinkChecks(ctx)
	}
	return err
}

// AddMembers adds accounts to the group conv (admins only).
func (c *Client) AddMembers(ctx context.Context, conv ConversationID, users ...string) error {
	users, err := c.normalizeUsers(users)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		return errors.New("client: name at least one account to add")
	}
	var list []group.Member
	c.mu.Lock()
	c.learnGroupMax(ctx)
	for _, u := range users {
		k, err := c.identityOf(ctx, u)
		if err != nil {
			c.unlock()
			return err
		}
		list = append(list, group.Member{Username: u, Identity: k})
	}
	c.unlock()
	return c.change(ctx, conv, group.KindAdd, func(r *group.Record, s *group.State) error {
		if err := c.checkSize(s.Len() + len(list)); err != nil {
			return err
		}
		for _, m := range list {
			if _, ok := s.Member(m.Username); ok {
				return fmt.Errorf("%w: %s is a member already", ErrGroupNotAllowed, m.Username)
			}
		}
		r.Members = list
		return nil
	}, users, nil)
}

// RemoveMember removes user from the group conv (admins only; an admin
// only if this account outranks them). Every remaining member's device
// starts a new sender-key chain before its next message, so the removed
// account reads nothing sent after (spec/client.md §10.3).
func (c *Client) RemoveMember(ctx context.Context, conv ConversationID, user string) error {
	return c.targeted(ctx, conv, group.KindRemove, user, true)
}

// Promote makes member user an admin of the group conv (admins only).
func (c *Client) Promote(ctx context.Context, conv ConversationID, user string) error {
	return c.targeted(ctx, conv, group.KindPromote, user, false)
}

// Demote makes admin user a plain member (admins who outrank them only).
func (c *Client) Demote(ctx context.Context, conv ConversationID, user string) error {
	return c.targeted(ctx, conv, group.KindDemote, user, false)
}

func (c *Client) targeted(ctx context.Context, conv ConversationID, kind group.Kind, user string, tell bool) error {
	u, err := api.NormalizeUsername(strings.TrimPrefix(user, "@"))
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, user)
	}
	var also []string
	if tell {
		also = []string{u}
	}
	return c.change(ctx, conv, kind, func(r *group.Record, s *group.State) error {
		if _, ok := s.Member(u); !ok {
			return fmt.Errorf("%w: %s is not a member of the group", ErrGroupNotAllowed, u)
		}
		r.Target = u
		return nil
	}, nil, also)
}

// LeaveGroup takes this account out of the group conv. Its devices stop
// sending and lose the members' sender keys.
func (c *Client) LeaveGroup(ctx context.Context, conv ConversationID) error {
	return c.change(ctx, conv, group.KindLeave, func(*group.Record, *group.State) error { return nil }, nil, nil)
}

// SetGroupInfo sets the title and description of the group conv.
func (c *Client) SetGroupInfo(ctx context.Context, conv ConversationID, title, description string) error {
	title, err := checkTitle(title)
	if err != nil {
		return err
	}
	if len(description) > group.MaxDescription || !utf8.ValidString(description) {
		return fmt.Errorf("client: a group description is at most %d bytes of UTF-8", group.MaxDescription)
	}
	return c.change(ctx, conv, group.KindInfo, func(r *group.Record, s *group.State) error {
		in := s.Info()
		r.Info = &group.Info{Title: title, Description: description, Avatar: in.Avatar}
		return nil
	}, nil, nil)
}

// RenameGroup sets the title of the group conv, keeping its description.
func (c *Client) RenameGroup(ctx context.Context, conv ConversationID, title string) error {
	g, err := c.Group(ctx, conv)
	if err != nil {
		return err
	}
	return c.SetGroupInfo(ctx, conv, title, g.Description)
}

// SetGroupSettings sets the rules of the group conv (admins only).
func (c *Client) SetGroupSettings(ctx context.Context, conv ConversationID, set GroupSettings) error {
	return c.change(ctx, conv, group.KindSettings, func(r *group.Record, _ *group.State) error {
		r.Settings = &group.Settings{SendAdminsOnly: set.SendAdminsOnly, InfoAdminsOnly: set.InfoAdminsOnly}
		return nil
	}, nil, nil)
}

// afterMembership acts on a change of members from before to after: the
// sender keys of those who left are forgotten, and this device's own
// chain is marked for rotation before its next message; if this account
// left, its own sender key goes too.
func (c *Client) afterMembership(tx sealedTx, id GroupID, before, after *group.State) error {
	var gone []string
	for _, m := range before.Members() {
		if _, ok := after.Member(m.Username); !ok {
			gone = append(gone, m.Username)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	for _, u := range gone {
		ks, err := tx.keys(bucketGroupRecv, groupKey(id)+"/"+u+"/")
		if err != nil {
			return err
		}
		for _, k := range ks {
			if err := tx.del(bucketGroupRecv, k); err != nil {
				return err
			}
		}
	}
	if _, ok := after.Member(c.acct.Username); !ok {
		return tx.del(bucketGroupSend, groupKey(id))
	}
	return c.markRotation(tx, id)
}
