package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
)

// Prekey policy (spec/client.md §4).
const (
	preKeyBatch       = 100 // one-time prekeys of each kind uploaded at once
	preKeyLowWater    = 25  // replenish when fewer remain on the server
	signedPreKeyEvery = 7 * 24 * time.Hour
	// Old signed and last-resort prekeys stay usable this long after
	// rotation, for prekey messages still in flight.
	oldPreKeyGrace = 30 * 24 * time.Hour
)

// CreateOptions name a new account.
type CreateOptions struct {
	Server     string // base URL, e.g. http://127.0.0.1:8080
	Username   string
	DeviceName string // defaults to "primary"
	InviteCode string // for invite-only servers
}

// Create generates an identity and prekeys, registers a new account on the
// server and stores it, sealed with cfg.Passphrase, in cfg.Store, which
// must be empty. It returns the account's recovery key: shown to the user
// once, it lets them re-register the username with a new identity if they
// lose every device (Recover).
func Create(ctx context.Context, cfg Config, opts CreateOptions) (c *Client, recoveryKey string, err error) {
	return create(ctx, cfg, opts.Server, opts.DeviceName, func(ctx context.Context, t *transport.Client, id keys.IdentityKeyPair, pre api.PreKeyUpload, hash []byte) (api.Credentials, error) {
		return t.Register(ctx, api.RegisterRequest{Username: opts.Username, IdentityKey: id.Public().Encode(),
			DeviceName: deviceName(opts.DeviceName), InviteCode: opts.InviteCode, PreKeys: pre, RecoveryKeyHash: hash})
	})
}

// Recover re-registers username with a new identity key, using the
// recovery key Create returned. Every other device of the account is
// removed by the server, and contacts see the safety number change.
func Recover(ctx context.Context, cfg Config, server, username, recoveryKey, device string) (*Client, string, error) {
	return create(ctx, cfg, server, device, func(ctx context.Context, t *transport.Client, id keys.IdentityKeyPair, pre api.PreKeyUpload, hash []byte) (api.Credentials, error) {
		return t.Recover(ctx, api.RecoverRequest{Username: username, RecoveryKey: recoveryKey, IdentityKey: id.Public().Encode(),
			DeviceName: deviceName(device), PreKeys: pre, NewRecoveryKeyHash: hash})
	})
}

func deviceName(s string) string {
	if s == "" {
		return "primary"
	}
	return s
}

type registerFunc func(ctx context.Context, t *transport.Client, id keys.IdentityKeyPair, pre api.PreKeyUpload, recoveryHash []byte) (api.Credentials, error)

func create(ctx context.Context, cfg Config, server, device string, register registerFunc) (*Client, string, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, "", err
	}
	if err := c.st.View(ctx, func(tx Tx) error {
		_, err := tx.Get(vaultBucket, vaultKey)
		return err
	}); err == nil {
		return nil, "", ErrExists
	} else if !errors.Is(err, ErrNotFound) {
		return nil, "", err
	}
	id, err := keys.GenerateIdentityKeyPair(c.rand)
	if err != nil {
		return nil, "", err
	}
	rk := make([]byte, 32)
	if _, err := c.rand.Read(rk); err != nil {
		return nil, "", err
	}
	recovery := base64.RawURLEncoding.EncodeToString(rk)
	hash := sha256.Sum256([]byte(recovery))

	pk := make([]byte, profileKeySize) // spec/client.md §12.1
	if _, err := io.ReadFull(c.rand, pk); err != nil {
		return nil, "", err
	}
	a := &accountRecord{Server: server, DeviceName: deviceName(device), Identity: id.Private.Bytes(), RecoveryKey: recovery,
		Created: c.nowMillis(), NextPreKeyID: 1, NextKEMID: 1, NextSignedID: 1, ProfileKey: pk, ProfileKeyAt: c.nowMillis()}
	c.acct, c.id = a, id
	gen, err := c.generatePreKeys(a, true)
	if err != nil {
		return nil, "", err
	}
	creds, err := register(ctx, transport.New(server, cfg.HTTPClient), id, gen.upload, hash[:])
	if err != nil {
		return nil, "", err
	}
	a.Username, a.DeviceID, a.Secret = creds.Username, creds.DeviceID, creds.Secret
	if err := c.saveNew(ctx, a, gen); err != nil {
		return nil, "", err
	}
	return c, recovery, nil
}

// saveNew creates the vault and stores the account and its prekeys.
func (c *Client) saveNew(ctx context.Context, a *accountRecord, gen *generated) error {
	v, err := createVault(ctx, c.st, c.cfg.Passphrase)
	if err != nil {
		return err
	}
	c.v = v
	if err := c.setAccount(a); err != nil {
		return err
	}
	return c.update(ctx, func(tx sealedTx) error {
		if err := gen.save(tx); err != nil {
			return err
		}
		if err := c.listKnown(tx); err != nil { // a new store: nobody is known yet
			return err
		}
		if err := markIndexReady(tx); err != nil { // and its index is complete
			return err
		}
		return tx.putJSON(bucketAccount, keySelf, a)
	})
}

// generated holds new prekeys: their upload and their private records.
type generated struct {
	upload  api.PreKeyUpload
	signed  map[uint32]signedPreKeyRecord
	kem     map[uint32]kemPreKeyRecord
	oneTime map[uint32][]byte
}

func (g *generated) save(tx sealedTx) error {
	for id, r := range g.signed {
		if err := tx.putJSON(bucketSigned, idKey(id), r); err != nil {
			return err
		}
	}
	for id, r := range g.kem {
		if err := tx.putJSON(bucketKEM, idKey(id), r); err != nil {
			return err
		}
	}
	for id, k := range g.oneTime {
		if err := tx.put(bucketOneTime, idKey(id), k); err != nil {
			return err
		}
	}
	return nil
}

// generatePreKeys makes a batch of one-time prekeys of both kinds and, if
// rotate, a new signed prekey and last-resort KEM prekey, advancing the
// ID counters in a (PQXDH §3.2).
func (c *Client) generatePreKeys(a *accountRecord, rotate bool) (*generated, error) {
	g := &generated{signed: map[uint32]signedPreKeyRecord{}, kem: map[uint32]kemPreKeyRecord{}, oneTime: map[uint32][]byte{}}
	now := c.nowMillis()
	if rotate {
		spk, err := pqxdh.GenerateSignedPreKey(c.id, a.NextSignedID, c.rand)
		if err != nil {
			return nil, err
		}
		a.SignedPreKeyID, a.NextSignedID, a.SignedRotatedAt = spk.ID, a.NextSignedID+1, now
		g.signed[spk.ID] = signedPreKeyRecord{Private: spk.Private.Bytes(), Signature: spk.Signature, Created: now}
		g.upload.SignedPreKey = &api.SignedPreKey{ID: spk.ID, PublicKey: spk.Private.Public().Encode(), Signature: spk.Signature}

		lr, err := pqxdh.GenerateKEMPreKey(c.id, a.NextKEMID, true, c.rand)
		if err != nil {
			return nil, err
		}
		a.LastResortID, a.NextKEMID = lr.ID, a.NextKEMID+1
		g.kem[lr.ID] = kemPreKeyRecord{Seed: lr.Private.Seed(), Signature: lr.Signature, LastResort: true, Created: now}
		g.upload.LastResortKEMPreKey = &api.SignedPreKey{ID: lr.ID, PublicKey: lr.Private.Public().Encode(), Signature: lr.Signature}
	}
	for range preKeyBatch {
		opk, err := pqxdh.GenerateOneTimePreKey(a.NextPreKeyID, c.rand)
		if err != nil {
			return nil, err
		}
		a.NextPreKeyID++
		g.oneTime[opk.ID] = opk.Private.Bytes()
		g.upload.OneTimePreKeys = append(g.upload.OneTimePreKeys, api.PreKey{ID: opk.ID, PublicKey: opk.Private.Public().Encode()})

		kem, err := pqxdh.GenerateKEMPreKey(c.id, a.NextKEMID, false, c.rand)
		if err != nil {
			return nil, err
		}
		a.NextKEMID++
		g.kem[kem.ID] = kemPreKeyRecord{Seed: kem.Private.Seed(), Signature: kem.Signature, Created: now}
		g.upload.KEMPreKeys = append(g.upload.KEMPreKeys, api.SignedPreKey{ID: kem.ID, PublicKey: kem.Private.Public().Encode(), Signature: kem.Signature})
	}
	return g, nil
}

// MaintainPreKeys uploads one-time prekeys when the server holds fewer
// than preKeyLowWater of either kind, and rotates the signed and
// last-resort prekeys when they are older than a week. Run and Sync call
// it on every connection.
func (c *Client) MaintainPreKeys(ctx context.Context) error {
	c.mu.Lock()
	defer c.unlock()
	counts, err := c.http.KeyCounts(ctx)
	if err != nil {
		return err
	}
	rotate := c.now().Sub(time.UnixMilli(c.acct.SignedRotatedAt)) >= signedPreKeyEvery
	if !rotate && counts.OneTime >= preKeyLowWater && counts.KEMOneTime >= preKeyLowWater {
		return nil
	}
	a := *c.acct
	gen, err := c.generatePreKeys(&a, rotate)
	if err != nil {
		return err
	}
	// Store the private keys first: a key the server serves must never be
	// one we no longer have.
	if err := c.update(ctx, func(tx sealedTx) error {
		if err := gen.save(tx); err != nil {
			return err
		}
		if rotate {
			if err := c.retirePreKeys(tx, c.acct.SignedPreKeyID, c.acct.LastResortID); err != nil {
				return err
			}
		}
		return tx.putJSON(bucketAccount, keySelf, &a)
	}); err != nil {
		return err
	}
	c.acct = &a
	if err := c.http.UploadKeys(ctx, gen.upload); err != nil {
		return fmt.Errorf("client: upload prekeys: %w", err)
	}
	c.log.Info("prekeys uploaded", "one_time", len(gen.upload.OneTimePreKeys), "rotated", rotate)
	return nil
}

// retirePreKeys marks the signed and last-resort prekeys that a rotation
// replaced, and deletes those replaced more than oldPreKeyGrace ago.
func (c *Client) retirePreKeys(tx sealedTx, oldSigned, oldLastResort uint32) error {
	now := c.nowMillis()
	cutoff := c.now().Add(-oldPreKeyGrace).UnixMilli()
	var s signedPreKeyRecord
	if err := tx.getJSON(bucketSigned, idKey(oldSigned), &s); err == nil && s.Replaced == 0 {
		s.Replaced = now
		if err := tx.putJSON(bucketSigned, idKey(oldSigned), &s); err != nil {
			return err
		}
	}
	var k kemPreKeyRecord
	if err := tx.getJSON(bucketKEM, idKey(oldLastResort), &k); err == nil && k.Replaced == 0 {
		k.Replaced = now
		if err := tx.putJSON(bucketKEM, idKey(oldLastResort), &k); err != nil {
			return err
		}
	}
	var drop []string
	if err := tx.scan(bucketSigned, "", func(key string, v []byte) error {
		var r signedPreKeyRecord
		if err := jsonUnmarshal(v, &r); err != nil {
			return err
		}
		if r.Replaced != 0 && r.Replaced < cutoff {
			drop = append(drop, key)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, key := range drop {
		if err := tx.del(bucketSigned, key); err != nil {
			return err
		}
	}
	drop = drop[:0]
	if err := tx.scan(bucketKEM, "", func(key string, v []byte) error {
		var r kemPreKeyRecord
		if err := jsonUnmarshal(v, &r); err != nil {
			return err
		}
		if r.LastResort && r.Replaced != 0 && r.Replaced < cutoff {
			drop = append(drop, key)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, key := range drop {
		if err := tx.del(bucketKEM, key); err != nil {
			return err
		}
	}
	return nil
}

// RecoveryKey returns the account's recovery key (see Create).
func (c *Client) RecoveryKey() string { return c.acct.RecoveryKey }
