package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/group"
	"github.com/parley-chat/parley/internal/senderkey"
	"github.com/parley-chat/parley/internal/wire"
)

// receiverRecord is a member device's sender key for one group, as this
// device holds it, with what it has seen of the device's message numbers.
type receiverRecord struct {
	State []byte `json:"state"` // senderkey.Receiver.Marshal
	// Next is the GroupSeq expected next; Missing, numbers below it that
	// have not arrived (at most maxMissing, oldest dropped).
	Next    uint64   `json:"next"`
	Missing []uint64 `json:"missing,omitempty"`
	// Chain is the chain ID of the last message that counted, if
	// Chained: a number seen before on another chain is the device
	// numbering anew (checkSeq).
	Chain   uint32 `json:"chain,omitempty"`
	Chained bool   `json:"chained,omitempty"`
}

const maxMissing = 1000

func recvKey(id GroupID, user string, dev uint32) string {
	return groupKey(id) + "/" + user + "/" + strconv.FormatUint(uint64(dev), 10)
}

// handleGroupMessage processes a sender-key envelope (spec/client.md
// §10.4): it finds the group by the distribution ID, checks that the
// sender is a member, decrypts under that member device's chain (which
// checks the signature of the sender's signing key, so no member can
// pose as another), and stores the message. Forged, replayed and
// unreadable envelopes are dropped and acknowledged; only a store error
// leaves an envelope unacknowledged.
func (c *Client) handleGroupMessage(ctx context.Context, f *api.Frame, rb *receiptBatch) error {
	sender, dev := f.Sender, f.SenderDevice
	c.mu.Lock()
	defer c.unlock()
	m, err := wire.ParseSenderKeyMessage(f.Content)
	if err != nil {
		c.log.Warn("malformed group envelope dropped", "sender", sender, "device", dev, "err", err)
		return nil
	}
	var (
		events   []Event
		receipts []MessageID
		conv     ConversationID
		drop     string
	)
	err = c.update(ctx, func(tx sealedTx) error {
		events, receipts, drop = nil, nil, ""
		// What a blocked member says in a group goes undecrypted
		// (spec/client.md §11.7).
		if b, err := isBlocked(tx, sender); err != nil || b && sender != c.acct.Username {
			if b {
				drop = "blocked"
			}
			return err
		}
		if f.Seq != 0 {
			if _, err := tx.get(bucketSeen, seenKey(sender, dev, f.ClientID)); err == nil {
				drop = "repeat"
				return nil
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := tx.put(bucketSeen, seenKey(sender, dev, f.ClientID), []byte(strconv.FormatInt(c.nowMillis(), 10))); err != nil {
				return err
			}
		}
		gk, err := tx.get(bucketGroupDist, hex.EncodeToString(m.DistributionID))
		if errors.Is(err, ErrNotFound) {
			drop = "unknown group"
			return nil
		} else if err != nil {
			return err
		}
		id, ok := parseGroupKey(string(gk))
		if !ok {
			return fmt.Errorf("client: damaged group index")
		}
		conv = GroupConversation(id)
		l, _, err := c.loadGroup(tx, id)
		if err != nil {
			return err
		}
		if _, ok := l.State().Member(sender); !ok {
			drop = "sender is not a member"
			return nil
		}
		var rr receiverRecord
		if err := tx.getJSON(bucketGroupRecv, recvKey(id, sender, dev), &rr); errors.Is(err, ErrNotFound) {
			drop = "no sender key"
			if f.Seq != 0 {
				events, err = c.noteGroup(tx, conv, sender, dev, KindDecryptionFailed, noteTime(c, f),
					fmt.Sprintf("A message from %s (device %d) could not be decrypted: their key has not arrived.", sender, dev))
			}
			return err
		} else if err != nil {
			return err
		}
		recv, err := senderkey.UnmarshalReceiver(rr.State)
		if err != nil {
			return fmt.Errorf("client: stored sender key: %w", err)
		}
		pt, err := recv.DecryptAt(f.Content, c.now())
		if err != nil {
			drop = "does not decrypt (forged, replayed or too old): " + err.Error()
			return nil
		}
		body, err := unpadContent(pt)
		var ct *content
		if err == nil {
			ct, err = parseContent(body)
		}
		switch {
		case err != nil:
			drop = "unreadable content: " + err.Error()
		case ct.Group == nil || *ct.Group != id:
			drop = "content of another conversation"
		case ct.Kind != kindText && ct.Kind != kindTyping && !ct.Kind.action():
			drop = "content kind not sent to groups"
		}
		if drop != "" {
			return nil
		}
		rr.State = recv.Marshal()
		ct.stored = f.Timestamp
		if ct.Kind != kindTyping {
			evs, fresh, err := c.checkSeq(tx, conv, sender, dev, &rr, ct, m.ChainID)
			if err != nil {
				return err
			}
			events = append(events, evs...)
			if !fresh {
				drop = "a message number seen before"
				return tx.putJSON(bucketGroupRecv, recvKey(id, sender, dev), &rr)
			}
		}
		if err := tx.putJSON(bucketGroupRecv, recvKey(id, sender, dev), &rr); err != nil {
			return err
		}
		events, receipts, err = c.apply(tx, sender, dev, ct, &id, events)
		return err
	})
	if err != nil {
		return err
	}
	if drop != "" && drop != "repeat" {
		c.log.Warn("group envelope dropped", "sender", sender, "device", dev, "why", drop)
	}
	c.purgeStore(ctx)
	c.emitAll(events)
	rb.add(conv, sender, receipts)
	c.runProfileFetches(ctx)
	return nil
}

// checkSeq follows the message numbers of one member device: a number
// past the next expected leaves a gap, told to the user as a note (the
// server withheld or delayed messages); a late message fills its place;
// a number seen before is not fresh, unless it comes on another chain
// than the last message: only the sender device can start a chain, so it
// numbers anew (a device restored from a backup, spec/client.md §13.5)
// and the receiver follows it. A replay on a chain fails to decrypt
// before it gets here.
func (c *Client) checkSeq(tx sealedTx, conv ConversationID, sender string, dev uint32, rr *receiverRecord, ct *content, chain uint32) ([]Event, bool, error) {
	seq := ct.GroupSeq
	switch {
	case seq == 0:
		return nil, false, nil
	case seq < rr.Next && rr.Chained && chain != rr.Chain && !slices.Contains(rr.Missing, seq):
		rr.Next, rr.Missing, rr.Chain = seq+1, nil, chain
		return nil, true, nil
	case rr.Next == 0 || seq == rr.Next:
	case seq > rr.Next:
		n := seq - rr.Next
		for s := rr.Next; s < seq && len(rr.Missing) < maxMissing; s++ {
			rr.Missing = append(rr.Missing, s)
		}
		what := "message"
		if n > 1 {
			what = "messages"
		}
		events, err := c.noteGroup(tx, conv, sender, dev, KindGap, ct.Timestamp-1,
			fmt.Sprintf("%d %s from %s (device %d) did not arrive, or not yet.", n, what, sender, dev))
		if err != nil {
			return nil, false, err
		}
		events = append(events, &GroupGapEvent{Conversation: conv, From: sender, Device: dev, Missing: int(n)})
		rr.Next, rr.Chain, rr.Chained = seq+1, chain, true
		return events, true, nil
	default:
		i := slices.Index(rr.Missing, seq)
		if i < 0 {
			return nil, false, nil
		}
		rr.Missing = slices.Delete(rr.Missing, i, i+1)
		return nil, true, nil
	}
	rr.Next, rr.Chain, rr.Chained = seq+1, chain, true
	return nil, true, nil
}

// noteGroup adds a note to a group conversation, with an ID of its own.
func (c *Client) noteGroup(tx sealedTx, conv ConversationID, from string, dev uint32, kind MessageKind, at int64, text string) ([]Event, error) {
	r := &messageRecord{ID: newID(c), Conv: conv, From: from, FromDevice: dev, Kind: kind, Text: text, Timestamp: at, Status: StatusUnread}
	if _, err := storeMessage(tx, r); err != nil {
		return nil, err
	}
	return []Event{&MessageEvent{Message: r.message()}}, nil
}

// groupTitle is the title of the group conv, as this device knows it.
func (c *Client) groupTitle(tx sealedTx, conv ConversationID) string {
	id, ok := conv.Group()
	if !ok {
		return string(conv)
	}
	l, _, err := c.loadGroup(tx, id)
	if err != nil {
		return string(conv)
	}
	return l.State().Info().Title
}

// groupAllows reports whether ct from sender belongs in the group conv:
// messages and typing from members (from admins only, if the group says
// so), receipts from anyone (they count only for the accounts a message
// went to), syncs from this account.
func (c *Client) groupAllows(tx sealedTx, conv ConversationID, sender string, ct *content) (bool, error) {
	id, _ := conv.Group()
	l, _, err := c.loadGroup(tx, id)
	if errors.Is(err, ErrNoSuchGroup) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	s := l.State()
	switch ct.Kind {
	case kindText, kindTyping, kindEdit, kindDelete, kindReaction, kindTimer:
		m, ok := s.Member(sender)
		if !ok || (ct.Kind != kindTyping && s.Settings().SendAdminsOnly && !m.Admin) {
			c.log.Warn("group content from a sender the group does not allow", "sender", sender)
			return false, nil
		}
		return true, nil
	case kindReceipt:
		return true, nil
	case kindSyncSent, kindSyncRead:
		return sender == c.acct.Username, nil
	}
	return false, nil
}

// groupRecipients lists the members of the group but this account, for
// an outgoing message another of this account's devices sent.
func (c *Client) groupRecipients(tx sealedTx, id GroupID) []string {
	l, _, err := c.loadGroup(tx, id)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range l.State().Members() {
		if m.Username != c.acct.Username {
			out = append(out, m.Username)
		}
	}
	return out
}

// applyGroupContent applies group records, a sender key or a join
// request, which come over the 1:1 sessions.
func (c *Client) applyGroupContent(tx sealedTx, sender string, dev uint32, ct *content) ([]Event, error) {
	id := *ct.Group
	switch ct.Kind {
	case kindGroupRecords:
		return c.applyRecords(tx, sender, id, ct.GroupRecords)
	case kindSenderKey:
		return nil, c.applySenderKey(tx, sender, dev, id, ct)
	case kindJoinRequest:
		return c.applyJoinRequest(tx, sender, dev, id, ct)
	}
	return nil, nil
}

// applySenderKey keeps a member device's sender-key chain. It must come
// from a member whose 1:1 session has the identity key the group's
// records name for them.
func (c *Client) applySenderKey(tx sealedTx, sender string, dev uint32, id GroupID, ct *content) error {
	l, _, err := c.loadGroup(tx, id)
	if errors.Is(err, ErrNoSuchGroup) {
		c.log.Warn("sender key for an unknown group dropped", "sender", sender)
		return nil
	} else if err != nil {
		return err
	}
	m, ok := l.State().Member(sender)
	if !ok {
		c.log.Warn("sender key from a non-member dropped", "sender", sender)
		return nil
	}
	ds, err := loadSessions(tx, sender, dev)
	if err != nil {
		return err
	}
	if ds.active == nil || ds.active.RemoteIdentity() != m.Identity {
		c.log.Warn("sender key from a session with another identity key than the group names dropped", "sender", sender)
		return nil
	}
	var rr receiverRecord
	var recv *senderkey.Receiver
	switch err := tx.getJSON(bucketGroupRecv, recvKey(id, sender, dev), &rr); {
	case errors.Is(err, ErrNotFound):
		if recv, err = senderkey.NewReceiver(ct.Distribution); err != nil {
			c.log.Warn("bad sender key dropped", "sender", sender, "err", err)
			return nil
		}
		rr.Next = ct.GroupSeq
	case err != nil:
		return err
	default:
		if recv, err = senderkey.UnmarshalReceiver(rr.State); err != nil {
			return err
		}
		if err := recv.Process(ct.Distribution); err != nil {
			c.log.Warn("bad sender key dropped", "sender", sender, "err", err)
			return nil
		}
	}
	if recv.DistributionID() != distributionID(id) {
		c.log.Warn("sender key for another group dropped", "sender", sender)
		return nil
	}
	rr.State = recv.Marshal()
	return tx.putJSON(bucketGroupRecv, recvKey(id, sender, dev), &rr)
}

// applyRecords adds group records that sender sent. For a group this
// device does not know, the records must start with the creation and
// make this account a member. Each record refused is told to the user as
// a note naming the rule it broke; the state is what the accepted
// records make (spec/client.md §10.2).
func (c *Client) applyRecords(tx sealedTx, sender string, id GroupID, recs [][]byte) ([]Event, error) {
	l, gr, err := c.loadGroup(tx, id)
	conv := GroupConversation(id)
	var before *group.State
	switch {
	case errors.Is(err, ErrNoSuchGroup):
		l, err = group.NewLog(recs[0], c.groupOptions())
		if err != nil || GroupID(l.State().ID()) != id {
			c.log.Warn("group records without a valid creation dropped", "sender", sender, "err", err)
			return nil, nil
		}
		for _, b := range recs[1:] {
			if _, err := l.Add(b); err != nil {
				c.log.Warn("group record refused", "sender", sender, "err", err)
			}
		}
		s := l.State()
		if _, ok := s.Member(c.acct.Username); !ok {
			return nil, nil // not ours to keep
		}
		if _, ok := s.Member(sender); !ok && sender != c.acct.Username {
			c.log.Warn("group records from a non-member dropped", "sender", sender)
			return nil, nil
		}
		gr = &groupRecord{}
	case err != nil:
		return nil, err
	default:
		before = l.State()
	}
	var events []Event
	if before != nil {
		for _, b := range recs {
			if _, err := l.Add(b); err != nil {
				evs, nerr := c.noteGroup(tx, conv, sender, 0, KindGroupRefused, c.nowMillis(),
					fmt.Sprintf("A change to this group sent by %s was refused: %s.", sender, refusal(err)))
				if nerr != nil {
					return nil, nerr
				}
				events = append(events, evs...)
				events = append(events, &GroupRefusedEvent{Conversation: conv, From: sender, Reason: refusal(err)})
			}
		}
	}
	if err := c.keepLog(tx, id, l, gr); err != nil {
		return nil, err
	}
	evs, err := c.noteChanges(tx, id, l, gr)
	if err != nil {
		return nil, err
	}
	events = append(events, evs...)
	if before != nil {
		if err := c.afterMembership(tx, id, before, l.State()); err != nil {
			return nil, err
		}
	}
	if gr.Link != nil {
		c.linkChecks = append(c.linkChecks, id)
	}
	for _, r := range l.Dropped(c.acct.Username) {
		h := r.Hash()
		k := hex.EncodeToString(h[:])
		if !slices.Contains(gr.Rebased, k) {
			gr.Rebased = append(gr.Rebased, k)
			c.rebases = append(c.rebases, rebaseJob{group: id, rec: r})
		}
	}
	return events, c.putGroup(tx, id, gr)
}

// refusal is the reason a record was refused, in words.
func refusal(err error) string {
	switch {
	case errors.Is(err, group.ErrSignature):
		return "its signature does not verify (forged, or not by the member it names)"
	case errors.Is(err, group.ErrNotAllowed):
		return "its signer was not allowed to make it (" + err.Error() + ")"
	case errors.Is(err, group.ErrStale):
		return "it does not follow the group's state (replayed or out of date)"
	case errors.Is(err, group.ErrLimit):
		return "it breaks a limit of the group (" + err.Error() + ")"
	}
	return "it is malformed (" + err.Error() + ")"
}

// mentionsIn lists the members of the group that text names as
// @username (spec/client.md §10.4), and whether this account is one.
func (c *Client) mentionsIn(tx sealedTx, id GroupID, text string) ([]string, bool) {
	l, _, err := c.loadGroup(tx, id)
	if err != nil {
		return nil, false
	}
	s := l.State()
	var out []string
	me := false
	for _, name := range atNames(text) {
		if _, ok := s.Member(name); ok && !slices.Contains(out, name) {
			out = append(out, name)
			me = me || name == c.acct.Username
		}
	}
	return out, me
}

// atNames finds the words of text that are "@" and a username, in
// normal form.
func atNames(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || (i > 0 && isNameByte(text[i-1])) {
			continue
		}
		j := i + 1
		for j < len(text) && isNameByte(text[j]) {
			j++
		}
		if n, err := api.NormalizeUsername(text[i+1 : j]); err == nil {
			out = append(out, n)
		}
		i = j - 1
	}
	return out
}

func isNameByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
