package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/parley-chat/parley/api"
)

// Blocking (spec/client.md §11.7). A blocked account's envelopes are
// dropped before any session state is touched: not decrypted, not
// answered with a receipt, not shown. The block list is this account's
// own, kept on its devices and synced between them end to end; the
// server never learns it.

const (
	bucketBlock = "block" // user → blockRecord
	// bucketKnown lists the accounts this one has written to or whose
	// request it accepted (user → unix ms, raw): a first message from
	// anyone else is a message request (requests.go). Its key knownDone
	// says that the accounts of an older store were listed.
	bucketKnown = "known"
	knownDone   = "~"
)

// ErrBlocked means the account is blocked: unblock it to write to it.
var ErrBlocked = errors.New("client: you blocked this account; unblock it to write to it")

// ErrBlockNotSynced means a block (or unblock) was set on this device,
// but the account's other devices could not be told: the error wraps
// why. Doing it again tells them.
var ErrBlockNotSynced = errors.New("client: the block was set on this device, but the account's other devices were not told")

type blockRecord struct {
	At int64 `json:"at"` // unix ms
}

func isBlocked(tx sealedTx, user string) (bool, error) {
	_, err := tx.get(bucketBlock, user)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Block blocks user: nothing the account sends reaches this account's
// devices any more, and nothing is sent to it but what a group it shares
// with this account needs (spec/client.md §11.7). The account is not told.
// The account's profile key is rotated, so the blocked account no longer
// sees profile changes (spec/client.md §12.2).
func (c *Client) Block(ctx context.Context, user string) error {
	if err := c.setBlocked(ctx, user, true); err != nil {
		return err
	}
	if err := c.RotateProfileKey(ctx, user); err != nil {
		return fmt.Errorf("client: blocked, but the profile key was not changed (blocking again tries again): %w", err)
	}
	return nil
}

// Unblock lifts a block. What the account sent while blocked is gone.
func (c *Client) Unblock(ctx context.Context, user string) error {
	return c.setBlocked(ctx, user, false)
}

func (c *Client) setBlocked(ctx context.Context, user string, blocked bool) error {
	user, err := api.NormalizeUsername(user)
	if err != nil {
		return err
	}
	if user == c.acct.Username {
		return ErrSelf
	}
	c.mu.Lock()
	defer c.unlock()
	if err := c.update(ctx, func(tx sealedTx) error { return c.putBlocked(tx, user, blocked) }); err != nil {
		return err
	}
	ct := &content{Kind: kindSyncBlock, Timestamp: c.nowMillis(), Destination: user, Remove: !blocked}
	c.rand.Read(ct.ID[:])
	if err := c.syncAction(ctx, Direct(user), ct, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrBlockNotSynced, err)
	}
	return nil
}

func (c *Client) putBlocked(tx sealedTx, user string, blocked bool) error {
	if !blocked {
		return tx.del(bucketBlock, user)
	}
	return tx.putJSON(bucketBlock, user, &blockRecord{At: c.nowMillis()})
}

// BlockedAccounts lists the accounts this account blocked, in name order.
func (c *Client) BlockedAccounts(ctx context.Context) ([]string, error) {
	var out []string
	err := c.view(ctx, func(tx sealedTx) error {
		var err error
		out, err = tx.keys(bucketBlock, "")
		return err
	})
	return out, err
}

// IsBlocked reports whether user is blocked.
func (c *Client) IsBlocked(ctx context.Context, user string) (bool, error) {
	user, err := api.NormalizeUsername(user)
	if err != nil {
		return false, err
	}
	var b bool
	err = c.view(ctx, func(tx sealedTx) error {
		var err error
		b, err = isBlocked(tx, user)
		return err
	})
	return b, err
}

// ReportAndBlock reports user to the server's operator (category one of
// api.ReportCategories, note optional; spec/api.md §12.1), then blocks it
// and deletes the chat with it. The report names the account and the
// category; it carries none of the messages, which the server cannot
// read.
func (c *Client) ReportAndBlock(ctx context.Context, user, category, note string) error {
	user, err := api.NormalizeUsername(user)
	if err != nil {
		return err
	}
	if user == c.acct.Username {
		return ErrSelf
	}
	if err := c.http.Report(ctx, api.ReportRequest{Account: user, Category: category, Note: note}); err != nil {
		return err
	}
	if err := c.Block(ctx, user); err != nil {
		return err
	}
	return c.DeleteChat(ctx, Direct(user))
}

// blockedSender reports what to do with an envelope from sender, before
// it is decrypted: drop is set for a blocked account; groupOnly, for a
// blocked account that shares a group with this one, whose envelopes
// are decrypted so that the group's state and keys stay the same on
// every member's devices, and nothing else of them is applied
// (spec/client.md §11.7).
func (c *Client) blockedSender(tx sealedTx, sender string) (drop, groupOnly bool, err error) {
	if sender == c.acct.Username {
		return false, false, nil
	}
	b, err := isBlocked(tx, sender)
	if err != nil || !b {
		return false, false, err
	}
	groups, err := c.memberGroups(tx)
	if err != nil {
		return false, false, err
	}
	for _, l := range groups {
		if _, them := l.State().Member(sender); them {
			return false, true, nil
		}
	}
	return true, false, nil
}

// groupHasBlocked reports whether a member of the group is blocked.
func (c *Client) groupHasBlocked(tx sealedTx, id GroupID) (bool, error) {
	l, _, err := c.loadGroup(tx, id)
	if err != nil {
		return false, err
	}
	for _, m := range l.State().Members() {
		if b, err := isBlocked(tx, m.Username); err != nil || b {
			return b, err
		}
	}
	return false, nil
}

// blockedKeeps reports whether a content from a blocked account that
// shares a group with this one is applied: only what keeps the group
// working, never anything shown.
func blockedKeeps(k contentKind) bool {
	return k == kindGroupRecords || k == kindSenderKey || k == kindReset || k == kindDecryptionError
}

// applyBlockSync applies another own device's block or unblock.
func (c *Client) applyBlockSync(tx sealedTx, ct *content) error {
	if ct.Destination == c.acct.Username {
		return nil
	}
	return c.putBlocked(tx, ct.Destination, !ct.Remove)
}

// known reports whether user is an account this one wrote to or
// accepted. In a store made before message requests whose accounts are
// not listed yet (listKnown), every 1:1 chat it holds counts.
func (c *Client) known(tx sealedTx, user string) (bool, error) {
	if user == c.acct.Username {
		return true, nil
	}
	_, err := tx.get(bucketKnown, user)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err == nil, err
	}
	if _, err := tx.get(bucketKnown, knownDone); err == nil || !errors.Is(err, ErrNotFound) {
		return false, err
	}
	_, err = tx.get(bucketConv, string(Direct(user)))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// listKnown fills bucketKnown, once, for a store made before message
// requests: every 1:1 conversation it holds is one the user had.
func (c *Client) listKnown(tx sealedTx) error {
	if _, err := tx.get(bucketKnown, knownDone); err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	convs, err := tx.keys(bucketConv, "")
	if err != nil {
		return err
	}
	for _, k := range convs {
		if conv := ConversationID(k); !conv.IsGroup() {
			if err := tx.put(bucketKnown, conv.Peer(), []byte(strconv.FormatInt(c.nowMillis(), 10))); err != nil {
				return err
			}
		}
	}
	return tx.put(bucketKnown, knownDone, nil)
}

// markKnown records that this account wrote to user or accepted it.
func (c *Client) markKnown(tx sealedTx, user string) error {
	if err := c.listKnown(tx); err != nil {
		return err
	}
	return tx.put(bucketKnown, user, []byte(strconv.FormatInt(c.nowMillis(), 10)))
}

// knownAccounts lists the known accounts, for the link message: in an
// older store not listed yet, the peers of its 1:1 chats.
func knownAccounts(tx sealedTx) ([]string, error) {
	ks, err := tx.keys(bucketKnown, "")
	if err != nil {
		return nil, err
	}
	if slices.Contains(ks, knownDone) {
		return slices.DeleteFunc(ks, func(k string) bool { return k == knownDone }), nil
	}
	convs, err := tx.keys(bucketConv, "")
	for _, k := range convs {
		if conv := ConversationID(k); !conv.IsGroup() && !slices.Contains(ks, conv.Peer()) {
			ks = append(ks, conv.Peer())
		}
	}
	return ks, err
}

// storeProvisionedPeers keeps a link message's known and blocked
// accounts; malformed names are skipped, as contacts are.
func (c *Client) storeProvisionedPeers(tx sealedTx, known, blocked []string) error {
	if err := c.listKnown(tx); err != nil {
		return err
	}
	for _, k := range known {
		if name, err := api.NormalizeUsername(k); err == nil {
			if err := c.markKnown(tx, name); err != nil {
				return err
			}
		}
	}
	for _, b := range blocked {
		if name, err := api.NormalizeUsername(b); err == nil && name != c.acct.Username {
			if err := c.putBlocked(tx, name, true); err != nil {
				return err
			}
		}
	}
	return nil
}
