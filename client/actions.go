package client

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/wire"
)

// The conversation features of spec/client.md §11: edits, deletes,
// reactions and disappearing timers travel as contents of their own (the
// "actions"), end to end like messages; forwarding and a message's own
// timer are fields of a text. An action that names a message this device
// does not hold yet waits for it (bucketPending) and is applied when it
// comes.

const (
	// EditWindow is how long after sending a message its author may edit
	// it or delete it for everyone (spec/client.md §11.1).
	EditWindow = 24 * time.Hour
	// editSlack allows for the clocks of the sender and the server.
	editSlack = 10 * time.Minute

	maxEmoji      = 32 // bytes
	maxEmojiRunes = 10
	maxEdits      = 50 // earlier texts kept per message
	maxPendingPer = 64 // actions waiting for one message
	// actions waiting in one chat
	maxPendingPerChat = 1000
	pendingKeepFor    = seenTTL
)

// Timers are the disappearing-message timers a chat can have (spec/client.md
// §11.5), shortest first; 0 is off.
var Timers = []time.Duration{0, 30 * time.Second, 5 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 28 * 24 * time.Hour}

// Errors of the conversation features. Each names what the user asked
// for and why it cannot be done.
var (
	ErrNotAuthor   = errors.New("client: only its author can edit or delete a message for everyone")
	ErrEditWindow  = errors.New("client: a message can be edited or deleted for everyone only within 24 hours of sending it")
	ErrNotEditable = errors.New("client: this message cannot be edited, deleted or reacted to (a note, or already deleted)")
	ErrBadEmoji    = errors.New("client: a reaction is one emoji")
	ErrBadTimer    = errors.New("client: disappearing timer must be off, 30s, 5m, 1h, 1d, 1w or 4w")
)

func validTimer(sec uint64) bool {
	for _, t := range Timers {
		if uint64(t/time.Second) == sec {
			return true
		}
	}
	return false
}

// validEmoji accepts one emoji: symbols with their modifiers, joiners,
// variation selectors, keycaps and flag tags; no letters, no controls.
func validEmoji(s string) bool {
	if s == "" || len(s) > maxEmoji || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxEmojiRunes {
		return false
	}
	symbol := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.So, r):
			symbol = true
		case r == 0x200D || r == 0xFE0F || r == 0x20E3 || (r >= 0xE0020 && r <= 0xE007F):
		case unicode.Is(unicode.Sk, r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
		case r == '#' || r == '*' || (r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return symbol || strings.ContainsRune(s, 0x20E3)
}

func (c *content) marshalAction(e *wire.Encoder) {
	switch c.Kind {
	case kindEdit, kindDelete, kindReaction:
		if c.Target != nil { // always, but for a test's malformed content
			e.Bytes(cTarget, c.Target[:])
		}
	}
	if (c.Kind == kindSyncBlock || c.Kind == kindSyncRequest) && c.Remove {
		e.Uint(cRemove, 1)
	}
	if c.Kind == kindReaction {
		if c.Remove {
			e.Uint(cRemove, 1)
		} else {
			e.Bytes(cEmoji, []byte(c.Emoji))
		}
	}
	switch {
	case c.Kind == kindTimer:
		e.Uint(cTimer, uint64(c.Timer))
	case (c.Kind == kindText || c.Kind == kindSyncSent) && c.Timer != 0:
		e.Uint(cTimer, uint64(c.Timer))
	}
	if (c.Kind == kindText || c.Kind == kindSyncSent) && c.Forwarded {
		e.Uint(cForwarded, 1)
	}
	if c.Kind == kindDelete && c.ForMe {
		e.Uint(cForMe, 1)
	}
}

// parseAction reads fields 11–18 (in order), for the kinds that carry them.
// Optional flags are written only when set, so that each content has one
// encoding.
func (c *content) parseAction(d *wire.Decoder) error {
	switch c.Kind {
	case kindEdit, kindDelete, kindReaction:
		c.Target = new(MessageID)
		copy(c.Target[:], d.Bytes(cTarget, len(MessageID{}), len(MessageID{})))
	}
	if c.Kind == kindSyncBlock || c.Kind == kindSyncRequest {
		if v, ok := d.OptUint(cRemove, 1); ok {
			if v != 1 {
				return fmt.Errorf("%w: removal flag 0", errContent)
			}
			c.Remove = true
		}
	}
	if c.Kind == kindReaction {
		if v, ok := d.OptUint(cRemove, 1); ok {
			if v != 1 {
				return fmt.Errorf("%w: reaction removal flag 0", errContent)
			}
			c.Remove = true
		} else {
			c.Emoji = string(d.Bytes(cEmoji, 1, maxEmoji))
			if d.Err() == nil && !validEmoji(c.Emoji) {
				return fmt.Errorf("%w: %w", errContent, ErrBadEmoji)
			}
		}
	}
	switch c.Kind {
	case kindTimer:
		v := d.Uint(cTimer, 1<<32-1)
		if d.Err() == nil && !validTimer(v) {
			return fmt.Errorf("%w: %w", errContent, ErrBadTimer)
		}
		c.Timer = uint32(v)
	case kindText, kindSyncSent:
		if v, ok := d.OptUint(cTimer, 1<<32-1); ok {
			if v == 0 || !validTimer(v) {
				return fmt.Errorf("%w: %w", errContent, ErrBadTimer)
			}
			c.Timer = uint32(v)
		}
		if v, ok := d.OptUint(cForwarded, 1); ok {
			if v != 1 {
				return fmt.Errorf("%w: forwarded flag 0", errContent)
			}
			c.Forwarded = true
		}
	case kindDelete:
		if v, ok := d.OptUint(cForMe, 1); ok {
			if v != 1 {
				return fmt.Errorf("%w: delete-for-me flag 0", errContent)
			}
			c.ForMe = true
		}
	}
	return nil
}

// errRefused wraps why an action was not applied; on receipt it is logged
// and the action dropped, for the user's own action it is returned.
type errRefused struct{ err error }

func (e errRefused) Error() string { return e.err.Error() }
func (e errRefused) Unwrap() error { return e.err }

func refuse(err error) error { return errRefused{err} }

// applyAction applies an action from sender's device dev to conv, whose
// membership the caller checked. The message it names may not be here
// yet: then it waits (bucketPending), unless it is a delete for me.
func (c *Client) applyAction(tx sealedTx, sender string, dev uint32, ct *content, conv ConversationID) ([]Event, error) {
	if ct.Kind == kindTimer {
		return c.applyTimer(tx, sender, dev, ct, conv)
	}
	mk, r, err := messageByID(tx, conv, *ct.Target)
	if errors.Is(err, ErrNotFound) {
		if ct.Kind == kindDelete && ct.ForMe || sender == c.acct.Username && dev == c.acct.DeviceID {
			return nil, refuse(ErrNoSuchMessage)
		}
		return nil, keepPending(tx, sender, dev, ct, conv, c.nowMillis())
	}
	if err != nil {
		return nil, err
	}
	if err := c.actionAllowed(sender, ct, &r); err != nil {
		return nil, err
	}
	switch ct.Kind {
	case kindEdit:
		old := messageRecord{Kind: r.Kind, Text: r.Text, Timestamp: r.Timestamp}
		if !applyEdit(&r, ct) {
			return nil, nil
		}
		if err := tx.putJSON(bucketMessage, mk, &r); err != nil {
			return nil, err
		}
		if err := reindexMessage(tx, mk, &old, &r); err != nil {
			return nil, err
		}
	case kindReaction:
		if !applyReaction(&r, sender, ct) {
			return nil, nil
		}
		if err := tx.putJSON(bucketMessage, mk, &r); err != nil {
			return nil, err
		}
	case kindDelete:
		if ct.ForMe {
			if err := c.eraseMessage(tx, mk, &r); err != nil {
				return nil, err
			}
			return []Event{&MessageErasedEvent{Conversation: conv, ID: r.ID}}, nil
		}
		if err := c.tombstone(tx, mk, &r); err != nil {
			return nil, err
		}
	}
	return []Event{&MessageChangedEvent{Message: r.message()}}, nil
}

// actionAllowed checks an action on the stored message r against the
// rules of spec/client.md §11: only the author edits or deletes for
// everyone, within EditWindow of sending; only this account deletes for
// itself; anyone in the conversation reacts; notes take no action.
func (c *Client) actionAllowed(sender string, ct *content, r *messageRecord) error {
	if r.Kind != KindText {
		return refuse(ErrNotEditable)
	}
	switch {
	case ct.Kind == kindDelete && ct.ForMe:
		if sender != c.acct.Username {
			return refuse(ErrNotAuthor)
		}
		return nil
	case ct.Kind == kindReaction:
		return nil
	}
	if r.From != sender {
		return refuse(ErrNotAuthor)
	}
	if time.Duration(ct.Timestamp-r.Timestamp)*time.Millisecond > EditWindow {
		return refuse(ErrEditWindow)
	}
	// The sender's clock is its own; the server's storing times bound
	// what it can claim, where both are known.
	if r.Stored > 0 && ct.stored > 0 && time.Duration(ct.stored-r.Stored)*time.Millisecond > EditWindow+editSlack {
		return refuse(ErrEditWindow)
	}
	if sender == c.acct.Username && ct.stored == 0 && time.Duration(c.nowMillis()-r.Timestamp)*time.Millisecond > EditWindow {
		return refuse(ErrEditWindow) // this device's own action: its clock is the judge
	}
	return nil
}

// applyEdit makes ct's text the message's, or files it among the earlier
// texts if a later edit is already shown. It reports whether r changed.
func applyEdit(r *messageRecord, ct *content) bool {
	if r.EditID != nil && *r.EditID == ct.ID || r.ID == ct.ID {
		return false
	}
	for _, e := range r.Edits {
		if e.ID == ct.ID {
			return false
		}
	}
	shownAt, shownID := r.Timestamp, r.ID
	if r.EditID != nil {
		shownAt, shownID = r.EditedAt, *r.EditID
	}
	e := editRecord{Text: ct.Text, At: ct.Timestamp, ID: ct.ID}
	if ct.Timestamp > shownAt || ct.Timestamp == shownAt && string(ct.ID[:]) > string(shownID[:]) {
		e = editRecord{Text: r.Text, At: shownAt, ID: shownID}
		r.Text, r.EditedAt, r.EditID = ct.Text, ct.Timestamp, &ct.ID
	}
	i := len(r.Edits)
	for i > 0 && r.Edits[i-1].At > e.At {
		i--
	}
	r.Edits = append(r.Edits[:i], append([]editRecord{e}, r.Edits[i:]...)...)
	if len(r.Edits) > maxEdits {
		r.Edits = r.Edits[len(r.Edits)-maxEdits:]
	}
	return true
}

// applyReaction records sender's reaction, unless a later one of theirs
// is already recorded. It reports whether r changed.
func applyReaction(r *messageRecord, sender string, ct *content) bool {
	old, ok := r.Reactions[sender]
	if ok && (old.At > ct.Timestamp || old.At == ct.Timestamp && string(old.ID[:]) >= string(ct.ID[:])) {
		return false
	}
	if r.Reactions == nil {
		r.Reactions = map[string]reactionRecord{}
	}
	r.Reactions[sender] = reactionRecord{Emoji: ct.Emoji, At: ct.Timestamp, ID: ct.ID}
	return true
}

// tombstone deletes a message for everyone: what it said, its file's key,
// its earlier texts and reactions go; a note that it was deleted stays.
func (c *Client) tombstone(tx sealedTx, mk string, r *messageRecord) error {
	c.purge = true
	if err := unindexMessage(tx, mk, r); err != nil {
		return err
	}
	*r = messageRecord{ID: r.ID, Conv: r.Conv, Outgoing: r.Outgoing, From: r.From, FromDevice: r.FromDevice, Kind: KindDeleted,
		Timestamp: r.Timestamp, Status: r.Status, Stored: r.Stored, Recipients: r.Recipients, Receipts: r.Receipts}
	if err := unindexExpiry(tx, mk); err != nil {
		return err
	}
	return tx.putJSON(bucketMessage, mk, r)
}

// eraseMessage removes a message from the store altogether (delete for
// me, or its timer ran out).
func (c *Client) eraseMessage(tx sealedTx, mk string, r *messageRecord) error {
	c.purge = true
	if err := unindexMessage(tx, mk, r); err != nil {
		return err
	}
	if err := unindexExpiry(tx, mk); err != nil {
		return err
	}
	if err := tx.del(bucketMessage, mk); err != nil {
		return err
	}
	return tx.del(bucketMsgIndex, msgIndexKey(r.Conv, r.ID))
}

// pendingAction is an action kept until the message it names arrives.
type pendingAction struct {
	Sender  string `json:"sender"`
	Device  uint32 `json:"device"`
	Content []byte `json:"content"` // marshalled
	Stored  int64  `json:"stored"`
	At      int64  `json:"at"` // when it was kept, unix ms
}

func pendingPrefix(conv ConversationID, target MessageID) string {
	return msgIndexKey(conv, target) + "/"
}

func keepPending(tx sealedTx, sender string, dev uint32, ct *content, conv ConversationID, now int64) error {
	prefix := pendingPrefix(conv, *ct.Target)
	held, err := tx.keys(bucketPending, prefix)
	if err != nil {
		return err
	}
	if len(held) >= maxPendingPer {
		return nil
	}
	// And a bound per chat: actions naming messages that never come
	// cannot fill the store (they wait pendingKeepFor at most).
	if all, err := tx.keys(bucketPending, string(conv)+"/"); err != nil || len(all) >= maxPendingPerChat {
		return err
	}
	return tx.putJSON(bucketPending, prefix+ct.ID.String(),
		&pendingAction{Sender: sender, Device: dev, Content: ct.marshal(), Stored: ct.stored, At: now})
}

// prunePending forgets the actions that waited since before cutoff (unix
// ms) for a message that never came: the deduplication window is as long
// as a resend of it can take.
func prunePending(tx sealedTx, cutoff int64) error {
	var old []string
	if err := tx.scan(bucketPending, "", func(k string, v []byte) error {
		var p pendingAction
		if jsonUnmarshal(v, &p) != nil || p.At < cutoff {
			old = append(old, k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range old {
		if err := tx.del(bucketPending, k); err != nil {
			return err
		}
	}
	return nil
}

// applyPending applies the actions that waited for the message id of conv,
// just stored, oldest first, and forgets them.
func (c *Client) applyPending(tx sealedTx, conv ConversationID, id MessageID) ([]Event, error) {
	prefix := pendingPrefix(conv, id)
	var held []pendingAction
	var keys []string
	if err := tx.scan(bucketPending, prefix, func(k string, v []byte) error {
		var p pendingAction
		if err := jsonUnmarshal(v, &p); err != nil {
			return err
		}
		held, keys = append(held, p), append(keys, k)
		return nil
	}); err != nil {
		return nil, err
	}
	var events []Event
	for i, p := range held {
		if err := tx.del(bucketPending, keys[i]); err != nil {
			return nil, err
		}
		ct, err := parseContent(p.Content)
		if err != nil {
			continue
		}
		ct.stored = p.Stored
		evs, err := c.applyAction(tx, p.Sender, p.Device, ct, conv)
		var refused errRefused
		if errors.As(err, &refused) {
			c.log.Warn("action refused", "sender", p.Sender, "kind", ct.Kind, "why", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	return events, nil
}

// storeText stores an arriving message and applies what waited for it.
func (c *Client) storeText(tx sealedTx, r *messageRecord) (bool, []Event, error) {
	stored, err := storeMessage(tx, r)
	if err != nil || !stored {
		return stored, nil, err
	}
	if err := indexExpiry(tx, r); err != nil {
		return false, nil, err
	}
	evs, err := c.applyPending(tx, r.Conv, r.ID)
	return true, evs, err
}

// timerLine is the note a timer change leaves in the chat.
func timerLine(who string, sec uint32) string {
	if sec == 0 {
		return who + " turned off disappearing messages."
	}
	return fmt.Sprintf("%s set disappearing messages to %s.", who, TimerName(time.Duration(sec)*time.Second))
}

// TimerName names a timer as the user picks it: "off", "30s", "5m",
// "1h", "1d", "1w", "4w".
func TimerName(d time.Duration) string {
	switch {
	case d == 0:
		return "off"
	case d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// ParseTimer reads a timer as TimerName writes it.
func ParseTimer(s string) (time.Duration, error) {
	for _, t := range Timers {
		if TimerName(t) == strings.ToLower(strings.TrimSpace(s)) {
			return t, nil
		}
	}
	return 0, ErrBadTimer
}

// applyTimer sets conv's timer, unless a later setting is already in
// force, and leaves a note in the chat.
func (c *Client) applyTimer(tx sealedTx, sender string, dev uint32, ct *content, conv ConversationID) ([]Event, error) {
	var cr convRecord
	if err := tx.getJSON(bucketConv, string(conv), &cr); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if cr.TimerID == ct.ID || cr.TimerAt > ct.Timestamp || cr.TimerAt == ct.Timestamp && string(cr.TimerID[:]) > string(ct.ID[:]) {
		return nil, nil
	}
	cr.Timer, cr.TimerAt, cr.TimerID = ct.Timer, ct.Timestamp, ct.ID
	if err := tx.putJSON(bucketConv, string(conv), &cr); err != nil {
		return nil, err
	}
	who := sender
	status := StatusUnread
	if sender == c.acct.Username {
		who, status = "You", StatusRead
	}
	note := &messageRecord{ID: ct.ID, Conv: conv, Outgoing: sender == c.acct.Username, From: sender, FromDevice: dev,
		Kind: KindTimerChanged, Text: timerLine(who, ct.Timer), Timestamp: ct.Timestamp, Status: status, Timer: ct.Timer}
	if _, err := storeMessage(tx, note); err != nil {
		return nil, err
	}
	return []Event{&MessageEvent{Message: note.message()}}, nil
}
