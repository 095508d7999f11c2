package client

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/group"
)

// Invite links (spec/client.md §10.5). A link is the server's address
// and, after "#", a 32-byte secret. The secret never goes to the server:
// from it come the link's name on the server, the key that seals the
// snapshot of the group's records kept there, and the key of the proof a
// holder shows to join. The link record in the group's chain carries the
// proof key, so every member can check a join; revoking the link (a new
// link record) makes every later proof fail, whatever the server keeps.

// ErrLinkRevoked means an invite link no longer joins anyone: it was
// revoked, replaced, or never existed.
var ErrLinkRevoked = errors.New("client: this invite link was revoked or does not exist")

// ErrBadLink means a text is not an invite link, or its secret is damaged.
var ErrBadLink = errors.New("client: not an invite link")

// ErrJoinRequested means a join was asked for: the group's admins must
// approve it (an admin adds the account), so it is not a member yet.
var ErrJoinRequested = errors.New("client: asked the group's admins to let you in")

const linkPath = "/g#"

// GroupInvite makes a new invite link for the group conv (admins only),
// replacing any earlier one, and returns it. direct: a holder joins at
// once; otherwise an admin approves each request.
func (c *Client) GroupInvite(ctx context.Context, conv ConversationID, direct bool) (string, error) {
	secret := make([]byte, 32)
	if _, err := c.rand.Read(secret); err != nil {
		return "", err
	}
	lk, err := group.DeriveLink(secret)
	if err != nil {
		return "", err
	}
	if err := c.change(ctx, conv, group.KindLink, func(r *group.Record, _ *group.State) error {
		r.Link = &group.Link{ProofKey: lk.ProofKey, Direct: direct}
		return nil
	}, nil, nil); err != nil {
		var de *GroupDeliveryError
		if !errors.As(err, &de) {
			return "", err
		}
	}
	id, _ := conv.Group()
	c.mu.Lock()
	defer c.unlock()
	var old []byte
	if err := c.update(ctx, func(tx sealedTx) error {
		_, gr, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		old, gr.Link = gr.Link, secret
		return c.putGroup(tx, id, gr)
	}); err != nil {
		return "", err
	}
	if old != nil {
		c.dropLink(ctx, old)
	}
	if err := c.refreshLink(ctx, id); err != nil {
		return "", err
	}
	return strings.TrimRight(c.acct.Server, "/") + linkPath + base64.RawURLEncoding.EncodeToString(secret), nil
}

// RevokeGroupInvite revokes the group's invite link (admins only): no
// one joins with it any more, and the server's copy is deleted.
func (c *Client) RevokeGroupInvite(ctx context.Context, conv ConversationID) error {
	err := c.change(ctx, conv, group.KindLink, func(r *group.Record, s *group.State) error {
		if s.Link() == nil {
			return errors.New("client: the group has no invite link")
		}
		r.Link = nil
		return nil
	}, nil, nil)
	var de *GroupDeliveryError
	if err != nil && !errors.As(err, &de) {
		return err
	}
	id, _ := conv.Group()
	c.mu.Lock()
	defer c.unlock()
	c.linkChecks = append(c.linkChecks, id)
	c.runLinkChecks(ctx)
	return err
}

// refreshLink seals the group's current chain for the link this device
// made and puts it on the server, so a holder reads the group as it is.
// c.mu is held.
func (c *Client) refreshLink(ctx context.Context, id GroupID) error {
	var (
		secret []byte
		chain  [][]byte
	)
	if err := c.view(ctx, func(tx sealedTx) error {
		l, gr, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		secret, chain = gr.Link, l.Chain()
		return nil
	}); err != nil || secret == nil {
		return err
	}
	lk, err := group.DeriveLink(secret)
	if err != nil {
		return err
	}
	snap, err := group.SealSnapshot(lk, group.ID(id), chain, c.rand)
	if err != nil {
		return err
	}
	return c.http.PutGroupLink(ctx, lk.ID, snap)
}

// dropLink deletes the server's copy of a link this device made.
func (c *Client) dropLink(ctx context.Context, secret []byte) {
	lk, err := group.DeriveLink(secret)
	if err == nil {
		err = c.http.DeleteGroupLink(ctx, lk.ID)
	}
	var ae *api.Error
	if err != nil && !(errors.As(err, &ae) && ae.Code == api.CodeNotFound) {
		c.log.Warn("invite link not deleted from the server", "err", err)
	}
}

// runLinkChecks brings the server's copy of each link this device made
// in line with the groups that changed: refreshed, or deleted once the
// group's chain no longer names the link. c.mu is held.
func (c *Client) runLinkChecks(ctx context.Context) {
	ids := c.linkChecks
	c.linkChecks = nil
	for _, id := range ids {
		var (
			secret []byte
			live   bool
		)
		if err := c.update(ctx, func(tx sealedTx) error {
			l, gr, err := c.loadGroup(tx, id)
			if err != nil || gr.Link == nil {
				return err
			}
			secret = gr.Link
			lk, err := group.DeriveLink(secret)
			if err != nil {
				return err
			}
			s := l.State()
			_, member := s.Member(c.acct.Username)
			live = member && s.Link() != nil && s.Link().ProofKey == lk.ProofKey
			if !live {
				gr.Link = nil
				return c.putGroup(tx, id, gr)
			}
			return nil
		}); err != nil {
			c.log.Warn("invite link check failed", "err", err)
			continue
		}
		switch {
		case secret == nil:
		case live:
			if err := c.refreshLink(ctx, id); err != nil {
				c.log.Warn("invite link not refreshed", "err", err)
			}
		default:
			c.dropLink(ctx, secret)
		}
	}
}

// parseLink reads the secret of an invite link.
func parseLink(link string) ([]byte, error) {
	i := strings.LastIndexByte(link, '#')
	if i < 0 {
		return nil, fmt.Errorf("%w: an invite link ends with # and its secret", ErrBadLink)
	}
	secret, err := base64.RawURLEncoding.DecodeString(link[i+1:])
	if err != nil || len(secret) != 32 {
		return nil, fmt.Errorf("%w: the link is damaged (its secret is not 32 bytes of base64url)", ErrBadLink)
	}
	return secret, nil
}

// JoinGroup joins a group with an invite link: at once if the group
// allows it, or it asks the admins (ErrJoinRequested; one of them then
// adds this account). It reads the group's records from the sealed copy
// on the server and checks each of them, then signs a join with the
// link's proof that every member checks (spec/client.md §10.5).
func (c *Client) JoinGroup(ctx context.Context, link string) (GroupInfo, error) {
	secret, err := parseLink(link)
	if err != nil {
		return GroupInfo{}, err
	}
	lk, err := group.DeriveLink(secret)
	if err != nil {
		return GroupInfo{}, err
	}
	c.mu.Lock()
	defer c.unlock()
	snap, err := c.http.GroupLink(ctx, lk.ID)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
		return GroupInfo{}, ErrLinkRevoked
	} else if err != nil {
		return GroupInfo{}, err
	}
	gid, chain, err := group.OpenSnapshot(lk, snap)
	if err != nil || len(chain) == 0 {
		return GroupInfo{}, fmt.Errorf("client: the group behind this link cannot be read: %v", err)
	}
	id := GroupID(gid)
	l, err := group.NewLog(chain[0], c.groupOptions())
	if err != nil {
		return GroupInfo{}, fmt.Errorf("client: the group behind this link does not verify: %w", err)
	}
	for _, b := range chain[1:] {
		if _, err := l.Add(b); err != nil {
			return GroupInfo{}, fmt.Errorf("client: the group behind this link does not verify: %w", err)
		}
	}
	s := l.State()
	if s.ID() != gid {
		return GroupInfo{}, errors.New("client: the group behind this link is not the one it names")
	}
	if cur := s.Link(); cur == nil || cur.ProofKey != lk.ProofKey {
		return GroupInfo{}, ErrLinkRevoked
	}
	if _, ok := s.Member(c.acct.Username); ok {
		return c.info(s), nil
	}
	proof := group.JoinProof(lk.ProofKey, gid, c.acct.Username, c.id.Public())
	if !s.Link().Direct {
		admins := c.info(s).Admins()
		ct := &content{Kind: kindJoinRequest, Timestamp: c.nowMillis(), Group: &id, JoinProof: proof}
		for a, err := range c.deliverKeptEach(ctx, admins, ct) {
			c.log.Warn("join request not delivered", "admin", a, "err", err)
		}
		return c.info(s), ErrJoinRequested
	}
	r := s.Next(group.KindJoin, c.acct.Username)
	r.Time = c.nowMillis()
	r.Members = []group.Member{{Username: c.acct.Username, Identity: c.id.Public()}}
	r.Proof = proof
	b, err := r.Sign(c.id.Private, c.rand)
	if err != nil {
		return GroupInfo{}, err
	}
	if _, err := l.Add(b); err != nil {
		return GroupInfo{}, fmt.Errorf("%w: %w", ErrGroupNotAllowed, err)
	}
	gr := &groupRecord{}
	var events []Event
	if err := c.update(ctx, func(tx sealedTx) error {
		if err := c.keepLog(tx, id, l, gr); err != nil {
			return err
		}
		var err error
		if events, err = c.noteChanges(tx, id, l, gr); err != nil {
			return err
		}
		return c.putGroup(tx, id, gr)
	}); err != nil {
		return GroupInfo{}, err
	}
	c.emitAll(events)
	err = c.publishGroup(ctx, id, l, [][]byte{b}, nil, nil)
	return c.info(l.State()), err
}

// applyJoinRequest tells an admin that a holder of the group's link asks
// to join, if the proof holds for the link the group's chain names and
// the identity key of the session it came in.
func (c *Client) applyJoinRequest(tx sealedTx, sender string, dev uint32, id GroupID, ct *content) ([]Event, error) {
	l, _, err := c.loadGroup(tx, id)
	if errors.Is(err, ErrNoSuchGroup) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s := l.State()
	if !s.IsAdmin(c.acct.Username) || s.Link() == nil {
		return nil, nil
	}
	if _, ok := s.Member(sender); ok {
		return nil, nil
	}
	ds, err := loadSessions(tx, sender, dev)
	if err != nil || ds.active == nil {
		return nil, err
	}
	want := group.JoinProof(s.Link().ProofKey, s.ID(), sender, ds.active.RemoteIdentity())
	if !hmac.Equal(want, ct.JoinProof) {
		c.log.Warn("join request with a wrong proof dropped", "sender", sender)
		return nil, nil
	}
	conv := GroupConversation(id)
	events, err := c.noteGroup(tx, conv, sender, dev, KindGroupChange, c.nowMillis(),
		fmt.Sprintf("%s asks to join with the invite link (an admin adds them to let them in)", sender))
	if err != nil {
		return nil, err
	}
	return append(events, &JoinRequestEvent{Conversation: conv, From: sender}), nil
}
