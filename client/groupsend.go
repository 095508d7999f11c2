package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/group"
	"github.com/parley-chat/parley/internal/senderkey"
	"github.com/parley-chat/parley/internal/wire"
)

// senderRecord is this device's sender key for one group (spec/client.md
// §10.3).
type senderRecord struct {
	State []byte `json:"state"` // senderkey.Sender.Marshal
	// Have lists, per account, the devices that were given the current
	// chain; an account not in it gets the chain before the next message.
	Have map[string][]uint32 `json:"have"`
	// Seq is the GroupSeq of the last message sent on any chain.
	Seq uint64 `json:"seq"`
	// Rotate: a member or a device left; start a new chain before the
	// next message, so they cannot read it.
	Rotate bool `json:"rotate,omitempty"`
}

// GroupDeliveryError reports a group change made and kept, that did not
// reach some members' devices; they get it with the next change (or can
// be sent it again).
type GroupDeliveryError struct {
	Users []string
	Err   error
}

func (e *GroupDeliveryError) Error() string {
	return fmt.Sprintf("client: the change is made, but did not reach %s: %v", strings.Join(e.Users, ", "), e.Err)
}

func (e *GroupDeliveryError) Unwrap() error { return e.Err }

// publishGroup sends records, just added to the group's log, to every device
// of every member and of this account, and to also (accounts the records
// removed). The accounts in fresh, just added, get the whole chain
// instead, so they can check every step from the creation on. c.mu is
// held.
func (c *Client) publishGroup(ctx context.Context, id GroupID, l *group.Log, recs [][]byte, fresh, also []string) error {
	s := l.State()
	var chain [][]byte
	if len(fresh) > 0 {
		chain = l.Chain()
	}
	var toChain, toRecs []string
	for _, m := range s.Members() {
		switch {
		case m.Username == c.acct.Username:
		case slices.Contains(fresh, m.Username):
			toChain = append(toChain, m.Username)
		default:
			toRecs = append(toRecs, m.Username)
		}
	}
	for _, u := range also {
		if _, ok := s.Member(u); !ok && u != c.acct.Username {
			toRecs = append(toRecs, u)
		}
	}
	toRecs = append(toRecs, c.acct.Username) // this account's other devices
	failed := map[string]error{}
	c.sendRecords(ctx, id, toChain, chain, failed)
	c.sendRecords(ctx, id, toRecs, recs, failed)
	if len(failed) == 0 {
		return nil
	}
	e := &GroupDeliveryError{}
	for _, u := range append(toChain, toRecs...) {
		if err := failed[u]; err != nil {
			c.log.Warn("group change not delivered", "group", id, "user", u, "err", err)
			e.Users = append(e.Users, u)
			if e.Err == nil {
				e.Err = err
			}
		}
	}
	return e
}

// maxRecordBytes bounds the records of one content, well under an
// envelope's 256 KiB.
const maxRecordBytes = 192 << 10

// sendRecords sends group records to every device of users, in contents
// of at most maxRecordsPer records and maxRecordBytes, each content to
// all of them in as few requests as fit (deliverKeptEach), kept for
// resending if a device cannot decrypt them. An account that a content
// did not reach gets no later one; its error goes into failed. c.mu is
// held.
func (c *Client) sendRecords(ctx context.Context, id GroupID, users []string, recs [][]byte, failed map[string]error) {
	for len(recs) > 0 && len(users) > 0 {
		n, size := 0, 0
		for n < len(recs) && n < maxRecordsPer && (n == 0 || size+len(recs[n]) <= maxRecordBytes) {
			size += len(recs[n])
			n++
		}
		ct := &content{Kind: kindGroupRecords, Timestamp: c.nowMillis(), Group: &id, GroupRecords: recs[:n]}
		errs := c.deliverKeptEach(ctx, users, ct)
		users = slices.DeleteFunc(slices.Clone(users), func(u string) bool { return errs[u] != nil })
		maps.Copy(failed, errs)
		recs = recs[n:]
	}
}

// sendGroupText sends a message to the group to (spec/client.md §10.4).
// c.mu is held.
func (c *Client) sendGroupText(ctx context.Context, to ConversationID, ct *content) (Message, error) {
	id, _ := to.Group()
	var members, mentions []string
	if err := c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		members, err = c.mayPost(l.State())
		mentions, _ = c.mentionsIn(tx, id, ct.Text)
		return err
	}); err != nil {
		return Message{}, err
	}
	rec := &messageRecord{ID: ct.ID, Conv: to, Outgoing: true, From: c.acct.Username, FromDevice: c.acct.DeviceID,
		Kind: KindText, Text: ct.Text, ReplyTo: ct.ReplyTo, Attachment: ct.Attachment, Timestamp: ct.Timestamp,
		Status: StatusSending, Recipients: members, Mentions: mentions, Forwarded: ct.Forwarded}
	sentTimer(rec, ct)
	if err := c.update(ctx, func(tx sealedTx) error { _, _, err := c.storeText(tx, rec); return err }); err != nil {
		return Message{}, err
	}
	sendErr := c.groupSend(ctx, id, ct, false)
	rec.Status = StatusSent
	if sendErr != nil {
		rec.Status = StatusFailed
	}
	if err := c.update(ctx, func(tx sealedTx) error {
		return tx.putJSON(bucketMessage, messageKey(to, rec.Timestamp, rec.ID), rec)
	}); err != nil && sendErr == nil {
		sendErr = err
	}
	return rec.message(), sendErr
}

// mayPost checks that this account may send in the group of s, and
// returns the other members.
func (c *Client) mayPost(s *group.State) ([]string, error) {
	me, ok := s.Member(c.acct.Username)
	if !ok {
		return nil, ErrNotGroupMember
	}
	if s.Settings().SendAdminsOnly && !me.Admin {
		return nil, fmt.Errorf("%w: only admins may send messages in this group", ErrGroupNotAllowed)
	}
	var out []string
	for _, m := range s.Members() {
		if m.Username != c.acct.Username {
			out = append(out, m.Username)
		}
	}
	return out, nil
}

// sendGroupEphemeral sends a typing content to the members' devices that
// are online and already have this device's sender key. c.mu is held.
func (c *Client) sendGroupEphemeral(ctx context.Context, to ConversationID, ct *content) error {
	id, _ := to.Group()
	return c.groupSend(ctx, id, ct, true)
}

// groupSend encrypts ct once under this device's sender key for the
// group and sends it in one request to every device of every member and
// to this account's other devices (spec/api.md §6.6). Before that, it
// starts a new chain if a member or device left, and gives the chain to
// every account that lacks it over the 1:1 sessions. A stale device list
// is corrected and the send tried again, as for 1:1 sends. c.mu is held.
func (c *Client) groupSend(ctx context.Context, id GroupID, ct *content, ephemeral bool) error {
	gone := map[string]bool{} // accounts the server no longer has
	for attempt := 0; ; attempt++ {
		var (
			members []string
			sr      *senderRecord
			sender  *senderkey.Sender
		)
		err := c.update(ctx, func(tx sealedTx) error {
			l, _, err := c.loadGroup(tx, id)
			if err != nil {
				return err
			}
			if members, err = c.mayPost(l.State()); err != nil && !ephemeral {
				return err
			} else if err != nil {
				members = nil
			}
			if sr, sender, err = c.loadSender(tx, id); err != nil {
				return err
			}
			if !ephemeral && ct.GroupSeq == 0 {
				sr.Seq++
				ct.GroupSeq = sr.Seq
			}
			return c.saveSender(tx, id, sr, sender)
		})
		if err != nil {
			return err
		}
		members = slices.DeleteFunc(members, func(u string) bool { return gone[u] })
		// Typing too: before this device's first message, no member could
		// read it otherwise.
		next := ct.GroupSeq
		if ephemeral {
			next = sr.Seq + 1
		}
		if err := c.shareSenderKey(ctx, id, sr, sender, members, next, gone); err != nil {
			return err
		}
		members = slices.DeleteFunc(members, func(u string) bool { return gone[u] })
		var msg []byte
		if err := c.update(ctx, func(tx sealedTx) error {
			var err error
			if msg, err = sender.Encrypt(padContent(ct.marshal()), c.rand); err != nil {
				return fmt.Errorf("client: encrypt for the group: %w", err)
			}
			return c.saveSender(tx, id, sr, sender)
		}); err != nil {
			return err
		}
		req := api.MultiSendRequest{ClientID: ct.ID[:], Type: uint8(wire.TypeSenderKey), Content: msg, Ephemeral: ephemeral}
		for _, u := range members {
			if devs := sr.Have[u]; len(devs) > 0 {
				req.Recipients = append(req.Recipients, api.MultiRecipient{Username: u, Devices: devs})
			}
		}
		own := sr.Have[c.acct.Username]
		if len(req.Recipients) == 0 && len(own) == 0 {
			return nil // alone in the group, with no other device
		}
		// This account always, its other devices as far as known (maybe
		// none): the server's answer tells of a device linked since.
		req.Recipients = append(req.Recipients, api.MultiRecipient{Username: c.acct.Username, Devices: own})
		_, err = c.http.SendMulti(ctx, req)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeStaleDevices {
			return err
		}
		if ephemeral {
			return nil // typing is not worth a round of bundles
		}
		if attempt+1 == maxSendAttempts {
			return err
		}
		if err := c.fixRecipients(ctx, id, ae.Accounts, gone); err != nil {
			return err
		}
	}
}

// fixRecipients acts on a stale-device answer: an account the server no
// longer has is left out of this send; an account with new devices is
// given the sender key again (so the new devices get it); removed
// devices' sessions become receive-only and, as they could read the
// chain, it is replaced. c.mu is held.
func (c *Client) fixRecipients(ctx context.Context, id GroupID, stale []api.StaleAccount, gone map[string]bool) error {
	if stale == nil {
		return errors.New("client: the server said the device list is stale without saying how")
	}
	return c.update(ctx, func(tx sealedTx) error {
		sr, sender, err := c.loadSender(tx, id)
		if err != nil {
			return err
		}
		for _, a := range stale {
			switch {
			case a.Unknown:
				gone[a.Username] = true
				delete(sr.Have, a.Username)
				sr.Rotate = true
			default:
				if len(a.Extra) > 0 {
					sr.Rotate = true
				}
				for _, d := range a.Extra {
					if err := c.archiveDevice(tx, a.Username, d, true); err != nil {
						return err
					}
				}
				if a.Username == c.acct.Username {
					c.ownDevAt = c.now().AddDate(-1, 0, 0)
				}
				delete(sr.Have, a.Username)
			}
		}
		return c.saveSender(tx, id, sr, sender)
	})
}

// shareSenderKey gives the current chain, over the 1:1 sessions, to
// every member (and this account's other devices) that lacks it, and
// records who has it. A member whose identity key differs from the one
// the group's records name gets nothing: the user is told (the
// IdentityChangedEvent of the session, and a note). c.mu is held.
func (c *Client) shareSenderKey(ctx context.Context, id GroupID, sr *senderRecord, sender *senderkey.Sender, members []string, next uint64, gone map[string]bool) error {
	var need []string
	for _, u := range append(slices.Clone(members), c.acct.Username) {
		if _, ok := sr.Have[u]; !ok {
			need = append(need, u)
		}
	}
	if len(need) == 0 {
		return nil
	}
	var to []string
	for _, u := range need {
		if u == c.acct.Username {
			// A device linked since may lack the group: it gets the chain
			// first (the others already hold every record of it).
			if err := c.sendOwnChain(ctx, id); err != nil {
				return err
			}
		} else if err := c.checkMemberIdentity(ctx, id, u); err != nil {
			c.log.Warn("sender key withheld", "group", id, "user", u, "err", err)
			gone[u] = true
			continue
		}
		to = append(to, u)
	}
	if len(to) == 0 {
		return nil
	}
	// One content for all, each device its own 1:1 envelope, in as few
	// requests as fit (deliverEach).
	ct := &content{Kind: kindSenderKey, Timestamp: c.nowMillis(), Group: &id, Distribution: sender.Distribution(), GroupSeq: next}
	failed := c.deliverKeptEach(ctx, to, ct)
	var first error
	for _, u := range to {
		switch err := failed[u]; {
		case errors.Is(err, ErrNoSuchUser):
			gone[u] = true
		case err != nil && first == nil:
			first = err
		}
	}
	// Those reached hold the chain, whatever befell the others.
	have := map[string][]uint32{}
	if err := c.update(ctx, func(tx sealedTx) error {
		clear(have)
		for _, u := range to {
			if failed[u] != nil {
				continue
			}
			devs, err := sessionDevices(tx, u, c.acct.DeviceID, u == c.acct.Username)
			if err != nil {
				return err
			}
			have[u] = devs
		}
		cur, _, err := c.loadSender(tx, id)
		if err != nil {
			return err
		}
		if cur.Have == nil {
			cur.Have = map[string][]uint32{}
		}
		maps.Copy(cur.Have, have)
		cur.State = sr.State
		return tx.putJSON(bucketGroupSend, groupKey(id), cur)
	}); err != nil {
		return err
	}
	maps.Copy(sr.Have, have)
	return first
}

// sendOwnChain sends the group's canonical chain to this account's
// other devices. c.mu is held.
func (c *Client) sendOwnChain(ctx context.Context, id GroupID) error {
	var chain [][]byte
	if err := c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err == nil {
			chain = l.Chain()
		}
		return err
	}); err != nil {
		return err
	}
	failed := map[string]error{}
	c.sendRecords(ctx, id, []string{c.acct.Username}, chain, failed)
	return failed[c.acct.Username]
}

// checkMemberIdentity checks that the identity key this device knows for
// user is the one the group's records name for them: otherwise the
// server (or someone in the middle) may be answering for that account,
// and the sender key must not go to it.
func (c *Client) checkMemberIdentity(ctx context.Context, id GroupID, user string) error {
	k, err := c.identityOf(ctx, user)
	if err != nil {
		return err
	}
	return c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		m, ok := l.State().Member(user)
		if !ok {
			return ErrNotGroupMember
		}
		if m.Identity != k {
			return fmt.Errorf("client: %s's safety number differs from the one the group's records name", user)
		}
		return nil
	})
}

// loadSender reads this device's sender key for the group, making one if
// there is none and starting a new chain if one is due.
func (c *Client) loadSender(tx sealedTx, id GroupID) (*senderRecord, *senderkey.Sender, error) {
	sr := &senderRecord{}
	err := tx.getJSON(bucketGroupSend, groupKey(id), sr)
	if errors.Is(err, ErrNotFound) {
		s, err := senderkey.NewSender(distributionID(id), c.rand)
		if err != nil {
			return nil, nil, err
		}
		return &senderRecord{Have: map[string][]uint32{}}, s, nil
	}
	if err != nil {
		return nil, nil, err
	}
	s, err := senderkey.UnmarshalSender(sr.State)
	if err != nil {
		return nil, nil, fmt.Errorf("client: stored sender key: %w", err)
	}
	if sr.Have == nil {
		sr.Have = map[string][]uint32{}
	}
	if sr.Rotate {
		if err := s.Rotate(c.rand); err != nil {
			return nil, nil, err
		}
		sr.Rotate, sr.Have = false, map[string][]uint32{}
	}
	return sr, s, nil
}

func (c *Client) saveSender(tx sealedTx, id GroupID, sr *senderRecord, s *senderkey.Sender) error {
	sr.State = s.Marshal()
	return tx.putJSON(bucketGroupSend, groupKey(id), sr)
}

// markRotation has this device start a new chain for the group before
// its next message.
func (c *Client) markRotation(tx sealedTx, id GroupID) error {
	var sr senderRecord
	if err := tx.getJSON(bucketGroupSend, groupKey(id), &sr); errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	sr.Rotate = true
	return tx.putJSON(bucketGroupSend, groupKey(id), &sr)
}
