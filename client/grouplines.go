package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley/internal/group"
)

// GroupChangedEvent reports changes to a group's state, each told in
// Lines as the conversation shows it ("alice added bob").
type GroupChangedEvent struct {
	Conversation ConversationID
	Lines        []string
}

// GroupRefusedEvent reports a group record that was refused: forged, by
// a member not allowed to make it, replayed, or malformed. The state is
// unchanged; Reason says which rule it broke.
type GroupRefusedEvent struct {
	Conversation ConversationID
	From         string
	Reason       string
}

// GroupGapEvent reports that messages from a member device are missing:
// its message numbers jumped by Missing (the server withheld or delayed
// them). Those that arrive later take their places.
type GroupGapEvent struct {
	Conversation ConversationID
	From         string
	Device       uint32
	Missing      int
}

// JoinRequestEvent reports that From, holding the group's invite link,
// asks to join; an admin adds them with AddMembers.
type JoinRequestEvent struct {
	Conversation ConversationID
	From         string
}

func (*GroupChangedEvent) event() {}
func (*GroupRefusedEvent) event() {}
func (*GroupGapEvent) event()     {}
func (*JoinRequestEvent) event()  {}

// noteChanges adds a line to the conversation for each record of the
// canonical chain not told yet, and reports them.
func (c *Client) noteChanges(tx sealedTx, id GroupID, l *group.Log, gr *groupRecord) ([]Event, error) {
	conv := GroupConversation(id)
	var lines []string
	var events []Event
	chain := l.Chain()
	var info group.Info // as it was before each record
	for _, b := range chain {
		h := group.Hash(b)
		k := hex.EncodeToString(h[:])
		r, err := group.Parse(b)
		if err != nil {
			return nil, err
		}
		before := info
		if r.Info != nil {
			info = *r.Info
		}
		if slices.Contains(gr.Noted, k) {
			continue
		}
		gr.Noted = append(gr.Noted, k)
		line := c.describe(r, before)
		lines = append(lines, line)
		var mid MessageID
		copy(mid[:], h[:])
		m := &messageRecord{ID: mid, Conv: conv, From: r.Signer, Kind: KindGroupChange, Text: line,
			Timestamp: r.Time, Status: StatusUnread}
		if r.Signer == c.acct.Username {
			m.Status, m.Outgoing = StatusRead, true
		}
		if _, err := storeMessage(tx, m); err != nil {
			return nil, err
		}
		events = append(events, &MessageEvent{Message: m.message()})
	}
	if len(lines) > 0 {
		events = append(events, &GroupChangedEvent{Conversation: conv, Lines: lines})
	}
	return events, nil
}

// describe tells a record in words, with "you" for this account; before
// is the group's info before it.
func (c *Client) describe(r *group.Record, before group.Info) string {
	who := func(u string) string {
		if u == c.acct.Username {
			return "you"
		}
		return u
	}
	by := who(r.Signer)
	switch r.Kind {
	case group.KindCreate:
		var others []string
		for _, m := range r.Members {
			if m.Username != r.Signer {
				others = append(others, who(m.Username))
			}
		}
		s := fmt.Sprintf("%s created the group %q", by, r.Info.Title)
		if len(others) > 0 {
			s += " with " + list(others)
		}
		return s
	case group.KindAdd:
		var names []string
		for _, m := range r.Members {
			names = append(names, who(m.Username))
		}
		return fmt.Sprintf("%s added %s", by, list(names))
	case group.KindRemove:
		return fmt.Sprintf("%s removed %s", by, who(r.Target))
	case group.KindLeave:
		return fmt.Sprintf("%s left", by)
	case group.KindPromote:
		return fmt.Sprintf("%s made %s an admin", by, who(r.Target))
	case group.KindDemote:
		return fmt.Sprintf("%s made %s a member (no longer an admin)", by, who(r.Target))
	case group.KindInfo:
		var what []string
		if r.Info.Title != before.Title {
			what = append(what, fmt.Sprintf("set the title to %q", r.Info.Title))
		}
		if r.Info.Description != before.Description {
			what = append(what, "changed the description")
		}
		if !bytes.Equal(r.Info.Avatar, before.Avatar) {
			what = append(what, "changed the picture")
		}
		if len(what) == 0 {
			what = []string{fmt.Sprintf("set the title to %q again", r.Info.Title)}
		}
		return by + " " + strings.Join(what, " and ")
	case group.KindSettings:
		send, edit := "everyone sends", "everyone edits the title"
		if r.Settings.SendAdminsOnly {
			send = "only admins send"
		}
		if r.Settings.InfoAdminsOnly {
			edit = "only admins edit the title"
		}
		return fmt.Sprintf("%s changed the settings: %s, %s", by, send, edit)
	case group.KindLink:
		switch {
		case r.Link == nil:
			return fmt.Sprintf("%s revoked the invite link", by)
		case r.Link.Direct:
			return fmt.Sprintf("%s made an invite link (joins directly)", by)
		}
		return fmt.Sprintf("%s made an invite link (an admin approves)", by)
	case group.KindJoin:
		return fmt.Sprintf("%s joined with the invite link", by)
	}
	return fmt.Sprintf("%s changed the group", by)
}

func list(names []string) string {
	switch len(names) {
	case 0:
		return "nobody"
	case 1:
		return names[0]
	}
	if len(names) > 5 {
		return fmt.Sprintf("%s and %d others", strings.Join(names[:4], ", "), len(names)-4)
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// rebaseJob is a change of this account's that lost to a concurrent one
// (spec/client.md §10.2): it is signed again on the winning head, if the
// group's rules still allow it there.
type rebaseJob struct {
	group GroupID
	rec   *group.Record
}

// runRebases signs again the changes that lost. c.mu is held.
func (c *Client) runRebases(ctx context.Context) {
	jobs := c.rebases
	c.rebases = nil
	for _, j := range jobs {
		old := j.rec
		var fresh, also []string
		switch old.Kind {
		case group.KindAdd:
			for _, m := range old.Members {
				fresh = append(fresh, m.Username)
			}
		case group.KindRemove:
			also = []string{old.Target}
		case group.KindCreate, group.KindJoin:
			continue
		}
		err := c.changeLocked(ctx, GroupConversation(j.group), old.Kind, func(r *group.Record, s *group.State) error {
			r.Members, r.Target, r.Info, r.Settings, r.Link, r.Proof = old.Members, old.Target, old.Info, old.Settings, old.Link, old.Proof
			if old.Kind == group.KindAdd {
				r.Members = slices.DeleteFunc(slices.Clone(old.Members), func(m group.Member) bool { _, in := s.Member(m.Username); return in })
				if len(r.Members) == 0 {
					return fmt.Errorf("client: everyone it added is a member already")
				}
			}
			return nil
		}, fresh, also)
		if err != nil {
			c.log.Info("a group change that lost to a concurrent one was not made again", "group", j.group, "kind", old.Kind, "err", err)
		}
	}
}

// provisionedGroups lists the chains of the groups the account is in,
// for a link message, as many as fit in provisionGroupBudget.
func (c *Client) provisionedGroups(tx sealedTx) ([][][]byte, error) {
	logs, err := c.memberGroups(tx)
	if err != nil {
		return nil, err
	}
	var out [][][]byte
	budget := provisionGroupBudget
	for _, l := range logs {
		chain := l.Chain()
		n := 0
		for _, b := range chain {
			n += len(b) * 4 / 3 // base64 in the JSON
		}
		if n > budget {
			continue
		}
		budget -= n
		out = append(out, chain)
	}
	return out, nil
}

// memberGroups returns the verified logs of the groups this account is
// in, in the order of their IDs.
func (c *Client) memberGroups(tx sealedTx) ([]*group.Log, error) {
	ks, err := tx.keys(bucketGroup, "")
	if err != nil {
		return nil, err
	}
	var out []*group.Log
	for _, k := range ks {
		id, ok := parseGroupKey(k)
		if !ok {
			continue
		}
		l, _, err := c.loadGroup(tx, id)
		if err != nil {
			return nil, err
		}
		if _, ok := l.State().Member(c.acct.Username); ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// storeProvisionedGroups keeps the groups of a link message, each chain
// verified from its creation, with its lines in the conversation.
func (c *Client) storeProvisionedGroups(tx sealedTx, chains [][][]byte) error {
	for _, chain := range chains {
		if len(chain) == 0 {
			continue
		}
		r, err := group.Parse(chain[0])
		if err != nil {
			continue
		}
		if _, err := c.applyRecords(tx, c.acct.Username, GroupID(r.Group), chain); err != nil {
			return err
		}
	}
	return nil
}
