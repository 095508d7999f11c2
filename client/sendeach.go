package client

import (
	"context"
	"errors"
	"slices"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/ratchet"
)

// Sending one content to many accounts over their 1:1 sessions, in few
// requests (spec/api.md §6.6, the form with envelopes; spec/client.md
// §10.3): what a group gives every member one at a time (a sender key, its
// records) goes as one PUT /v1/messages per maxEachBytes of envelopes,
// each device still getting its own Double Ratchet message, as a 1:1 send
// gives it.

const (
	// maxEachBytes bounds the envelopes' contents in one request, so that
	// with base64 (4/3) and the JSON around them the body stays under
	// api.MaxBody.
	maxEachBytes = 2 << 20
	// eachOverhead is what one envelope adds to a request's body beyond
	// its content, counted against maxEachBytes; an account adds its name.
	eachOverhead = 48
)

// deliverEach delivers ct to every device of each of users (of this
// account: every other device), as deliver does, but in as few requests
// as fit. Accounts without sessions get them from their bundles first, one
// account at a time. A stale answer is mended for every account it names
// (spec/api.md §6.6) and only those accounts' envelopes are made again;
// the request's other envelopes, which were not stored, go again as they
// were. It returns the error of each account not reached: ErrNoSuchUser
// for one that does not exist, ErrIdentityNotVerified for a blocked
// contact. c.mu is held.
func (c *Client) deliverEach(ctx context.Context, users []string, ct *content) map[string]error {
	failed := map[string]error{}
	plaintext := padContent(ct.marshal())
	fresh := map[string]map[uint32]*ratchet.Session{}
	pending, err := c.startEach(ctx, users, fresh, failed)
	if err != nil {
		return failAll(failed, users, err)
	}
	ready := map[string][]api.OutgoingEnvelope{} // made, not yet stored
	for attempt := 0; len(pending) > 0 || len(ready) > 0; attempt++ {
		if err := c.encryptEach(ctx, pending, plaintext, fresh, ready, failed); err != nil {
			return failAll(failed, users, err)
		}
		stale, err := c.sendEach(ctx, ct.ID, ready, failed)
		if err != nil {
			return failAll(failed, users, err)
		}
		if attempt+1 >= maxSendAttempts {
			// No more mending: the stale accounts fail, the rest of
			// their requests goes again.
			for _, s := range stale {
				if _, ok := ready[s.Username]; ok {
					failed[s.Username] = errStaleDevices
					delete(ready, s.Username)
				}
			}
			pending = nil
			continue
		}
		if pending, err = c.mendEach(ctx, stale, fresh, ready, failed); err != nil {
			return failAll(failed, users, err)
		}
	}
	return failed
}

var errStaleDevices = errors.New("client: the server's device list kept changing; try again")

// failAll records err for every account of users not yet failed.
func failAll(failed map[string]error, users []string, err error) map[string]error {
	for _, u := range users {
		if failed[u] == nil {
			failed[u] = err
		}
	}
	return failed
}

// startEach starts sessions, into fresh, with every account of users that
// has none, and returns the accounts to encrypt for: all but those that
// failed (in failed) and this account when it has no other device.
func (c *Client) startEach(ctx context.Context, users []string, fresh map[string]map[uint32]*ratchet.Session, failed map[string]error) ([]string, error) {
	known := map[string]bool{}
	if err := c.view(ctx, func(tx sealedTx) error {
		for _, u := range users {
			ds, err := sessionDevices(tx, u, c.acct.DeviceID, u == c.acct.Username)
			if err != nil {
				return err
			}
			known[u] = len(ds) > 0
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		if !known[u] {
			if u == c.acct.Username {
				others, err := c.ownDevices(ctx)
				if err != nil {
					failed[u] = err
					continue
				}
				if len(others) == 0 {
					continue // no other device: nothing to sync
				}
			}
			fresh[u] = map[uint32]*ratchet.Session{}
			if err := c.startSessions(ctx, u, 0, fresh[u]); err != nil {
				failed[u] = err
				continue
			}
		}
		out = append(out, u)
	}
	return out, nil
}

// encryptEach makes, in one transaction, the envelopes of every account of
// users into ready, saving the fresh sessions first (encryptIn).
func (c *Client) encryptEach(ctx context.Context, users []string, plaintext []byte, fresh map[string]map[uint32]*ratchet.Session, ready map[string][]api.OutgoingEnvelope, failed map[string]error) error {
	if len(users) == 0 {
		return nil
	}
	made := map[string][]api.OutgoingEnvelope{}
	var changed, blocked []string
	err := c.update(ctx, func(tx sealedTx) error {
		clear(made)
		changed, blocked = changed[:0], blocked[:0]
		for _, u := range users {
			envs, b, ch, err := c.encryptIn(tx, u, u == c.acct.Username, plaintext, fresh[u])
			if err != nil {
				return err
			}
			if ch {
				changed = append(changed, u)
			}
			if b {
				blocked = append(blocked, u)
			}
			made[u] = envs
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range users {
		delete(fresh, u)
		if slices.Contains(changed, u) {
			c.emit(&IdentityChangedEvent{Peer: u, Held: slices.Contains(blocked, u)})
		}
		switch {
		case slices.Contains(blocked, u):
			failed[u] = ErrIdentityNotVerified
		case len(made[u]) > 0:
			ready[u] = made[u]
		}
	}
	return nil
}

// sendEach sends the envelopes in ready, in requests of at most
// maxEachBytes and of as many accounts as the server allows in one, with
// client ID id. An account whose request was stored leaves ready; one
// whose request failed leaves it into failed. It returns the accounts
// stale answers named; their requests' other accounts stay in ready.
func (c *Client) sendEach(ctx context.Context, id MessageID, ready map[string][]api.OutgoingEnvelope, failed map[string]error) ([]api.StaleAccount, error) {
	bound := c.groupMax
	if bound <= 0 {
		bound = api.DefaultMaxGroupMembers
	}
	users := make([]string, 0, len(ready))
	for u := range ready {
		users = append(users, u)
	}
	slices.Sort(users)
	var stale []api.StaleAccount
	for len(users) > 0 {
		req := api.MultiSendRequest{ClientID: id[:]}
		size, others, n := 0, 0, 0
		for ; n < len(users); n++ {
			u := users[n]
			add := len(u) + eachOverhead
			for _, e := range ready[u] {
				add += len(e.Content) + eachOverhead
			}
			self := u == c.acct.Username
			if n > 0 && (size+add > maxEachBytes || !self && others == bound) {
				break
			}
			size += add
			if !self {
				others++
			}
			req.Recipients = append(req.Recipients, api.MultiRecipient{Username: u, Envelopes: ready[u]})
		}
		batch := users[:n]
		users = users[n:]
		_, err := c.http.SendMulti(ctx, req)
		var ae *api.Error
		switch {
		case err == nil:
			for _, u := range batch {
				delete(ready, u)
			}
		case errors.As(err, &ae) && ae.Code == api.CodeStaleDevices && namesAny(ae.Accounts, batch):
			stale = append(stale, ae.Accounts...)
		case ctx.Err() != nil:
			return nil, err
		default:
			for _, u := range batch {
				failed[u] = err
				delete(ready, u)
			}
		}
	}
	return stale, nil
}

// namesAny reports whether a stale answer names an account of batch; one
// that names none is not an answer this client can mend.
func namesAny(stale []api.StaleAccount, batch []string) bool {
	return slices.ContainsFunc(stale, func(s api.StaleAccount) bool { return slices.Contains(batch, s.Username) })
}

// mendEach follows a stale answer's accounts: an unknown one fails with
// ErrNoSuchUser; the extra devices' sessions become receive-only (as in
// deliver), the missing devices get sessions from their bundles. It
// returns the accounts to encrypt for again, whose old envelopes it drops.
func (c *Client) mendEach(ctx context.Context, stale []api.StaleAccount, fresh map[string]map[uint32]*ratchet.Session, ready map[string][]api.OutgoingEnvelope, failed map[string]error) ([]string, error) {
	var again []string
	for _, s := range stale {
		u := s.Username // as this client spelt it
		if _, ok := ready[u]; !ok {
			continue // not an account of this send
		}
		delete(ready, u)
		if s.Unknown {
			failed[u] = ErrNoSuchUser
			continue
		}
		if err := c.dropExtra(ctx, u, s.Extra); err != nil {
			return nil, err
		}
		if fresh[u] == nil {
			fresh[u] = map[uint32]*ratchet.Session{}
		}
		var err error
		for _, d := range s.Missing {
			if err = c.startSessions(ctx, u, d, fresh[u]); err != nil {
				break
			}
		}
		if err != nil {
			failed[u] = err
			delete(fresh, u)
			continue
		}
		again = append(again, u)
	}
	return again, nil
}

// deliverKeptEach delivers ct to users (deliverEach) and keeps it, for
// each account reached, for a resend if a device cannot decrypt it, as
// deliverKept does for one. It returns the error of each account not
// reached. c.mu is held.
func (c *Client) deliverKeptEach(ctx context.Context, users []string, ct *content) map[string]error {
	c.rand.Read(ct.ID[:])
	failed := c.deliverEach(ctx, users, ct)
	var events []Event
	err := c.update(ctx, func(tx sealedTx) error {
		var kept []string
		for _, u := range users {
			if failed[u] != nil {
				continue
			}
			if u == c.acct.Username {
				if own, err := sessionDevices(tx, u, c.acct.DeviceID, true); err != nil {
					return err
				} else if len(own) == 0 {
					continue
				}
			}
			kept = append(kept, u)
		}
		var err error
		events, err = c.retainEach(tx, kept, ct)
		return err
	})
	c.emitAll(events)
	if err != nil {
		return failAll(failed, users, err)
	}
	return failed
}
