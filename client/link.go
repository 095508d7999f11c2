package client

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
)

// Linking a device (spec/client.md §5), as Signal links a desktop:
//
//  1. The new device opens a provisioning mailbox on the server and makes
//     an ephemeral X25519 key pair. It shows a link code (and a QR code of
//     it): the mailbox ID and the ephemeral public key.
//  2. On an existing device, the user approves the code. That device asks
//     the server for a link token, and writes to the mailbox the account's
//     identity key pair, the token and the contact list, encrypted to the
//     new device's key: ECDH with a fresh ephemeral key of its own,
//     HKDF-SHA-256, AES-256-GCM, with both public keys and the mailbox ID
//     as associated data.
//  3. The new device takes the message, decrypts it, generates prekeys
//     signed by the account's identity key and registers with the token.
//
// The server sees only the mailbox ID and ciphertext. The code must reach
// the existing device over a channel the server does not control (typed
// or scanned); whoever holds it could read the message.

const (
	linkCodePrefix = "PL1-"
	linkInfo       = "Parley_Provisioning_v1"
	linkAD         = "parley-provisioning-v1"
	linkVersion    = 1
	mailboxIDSize  = 16
	linkPoll       = 500 * time.Millisecond
)

// ErrBadLinkCode means a link code is malformed.
var ErrBadLinkCode = errors.New("client: malformed link code")

// provisionMessage is what the existing device sends the new one.
type provisionMessage struct {
	Username    string             `json:"username"`
	Identity    []byte             `json:"identity"` // private key
	LinkToken   string             `json:"link_token"`
	RecoveryKey string             `json:"recovery_key,omitempty"`
	Contacts    []provisionContact `json:"contacts"`
	Channels    []provisionChannel `json:"channels,omitempty"`
	// Groups holds the canonical chain of each group the account is in,
	// as far as they fit in provisionGroupBudget; the others reach the
	// new device with the group's next change or message (groupsend.go).
	Groups [][][]byte `json:"groups,omitempty"`
	// Known lists the accounts this one wrote to or accepted; Blocks,
	// those it blocked (spec/client.md §11.7, §11.8).
	Known  []string `json:"known,omitempty"`
	Blocks []string `json:"blocks,omitempty"`
	// ProfileKey is the account's profile key, made at ProfileKeyAt
	// (spec/client.md §12.2).
	ProfileKey   []byte `json:"profile_key,omitempty"`
	ProfileKeyAt int64  `json:"profile_key_at,omitempty"`
}

// provisionGroupBudget bounds the group records of a link message, under
// the server's api.MaxProvisioning with room for the contacts and
// channels: ten groups of a thousand members fit.
const provisionGroupBudget = 768 << 10

// provisionChannel is a channel the account knows: its pinned genesis key,
// whether the account follows it, and, if the account owns it, its owner
// key (spec/client.md §9.3), so the new device can verify and post at
// once. (An admin needs nothing: they sign with the account's identity
// key, which every device has.)
type provisionChannel struct {
	Handle  string `json:"handle"`
	Genesis []byte `json:"genesis"`
	Follows bool   `json:"follows"`
	Seed    []byte `json:"seed,omitempty"` // the owner key's seed
}

type provisionContact struct {
	Username string `json:"username"`
	Identity []byte `json:"identity"`
	Verified bool   `json:"verified"`
	Held     bool   `json:"blocked"` // sending held after a key change (the name predates blocking)
	// The contact's profile key, as contactRecord keeps it.
	ProfileKey   []byte `json:"profile_key,omitempty"`
	ProfileKeyAt int64  `json:"profile_key_at,omitempty"`
}

// Linker is a new device waiting to be linked.
type Linker struct {
	cfg       Config
	server    string
	device    string
	t         *transport.Client
	mailbox   string
	ephemeral keys.PrivateKey
	code      string
	expires   time.Time
}

// BeginLink opens a provisioning mailbox on server for a new device named
// device. Show the user Code(), then call Wait.
func BeginLink(ctx context.Context, cfg Config, server, device string) (*Linker, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	eph, err := keys.GeneratePrivateKey(c.rand)
	if err != nil {
		return nil, err
	}
	t := transport.New(server, cfg.HTTPClient)
	p, err := t.CreateProvisioning(ctx)
	if err != nil {
		return nil, err
	}
	id, err := base64.RawURLEncoding.DecodeString(p.ID)
	if err != nil || len(id) != mailboxIDSize {
		return nil, fmt.Errorf("client: the server returned a malformed mailbox ID")
	}
	pub := eph.Public()
	code := linkCodePrefix + base64.RawURLEncoding.EncodeToString(append(id, pub[:]...))
	return &Linker{cfg: cfg, server: server, device: deviceName(device), t: t, mailbox: p.ID, ephemeral: eph,
		code: code, expires: time.UnixMilli(p.Expires)}, nil
}

// Code is the link code to enter or scan on an existing device.
func (l *Linker) Code() string { return l.code }

// Expires is when the mailbox, and so the code, expires.
func (l *Linker) Expires() time.Time { return l.expires }

// Wait polls the mailbox until an existing device approves the link (or
// ctx ends, or the mailbox expires), then registers this device and
// stores the account in cfg.Store, which must be empty.
func (l *Linker) Wait(ctx context.Context) (*Client, error) {
	var sealed []byte
	for {
		b, err := l.t.TakeProvisioning(ctx, l.mailbox)
		if err != nil {
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
				return nil, fmt.Errorf("client: the link code expired; start again")
			}
			return nil, err
		}
		if b != nil {
			sealed = b
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(linkPoll):
		}
	}
	msg, err := l.open(sealed)
	if err != nil {
		return nil, err
	}
	c, err := newClient(l.cfg)
	if err != nil {
		return nil, err
	}
	id, err := keys.NewPrivateKey(msg.Identity)
	if err != nil {
		return nil, fmt.Errorf("client: the link message carries a malformed identity key")
	}
	a := &accountRecord{Server: l.server, DeviceName: l.device, Identity: msg.Identity, RecoveryKey: msg.RecoveryKey,
		Created: c.nowMillis(), NextPreKeyID: 1, NextKEMID: 1, NextSignedID: 1}
	if _, ok := profileKeyFrom(msg.ProfileKey); ok {
		a.ProfileKey, a.ProfileKeyAt = msg.ProfileKey, msg.ProfileKeyAt
	}
	c.acct, c.id = a, keys.IdentityKeyPair{Private: id}
	gen, err := c.generatePreKeys(a, true)
	if err != nil {
		return nil, err
	}
	creds, err := l.t.Link(ctx, api.LinkRequest{LinkToken: msg.LinkToken, DeviceName: l.device, PreKeys: gen.upload})
	if err != nil {
		return nil, err
	}
	a.Username, a.DeviceID, a.Secret = creds.Username, creds.DeviceID, creds.Secret
	if err := c.saveNew(ctx, a, gen); err != nil {
		return nil, err
	}
	err = c.update(ctx, func(tx sealedTx) error {
		for _, pc := range msg.Contacts {
			name, err := api.NormalizeUsername(pc.Username)
			if err != nil {
				continue
			}
			if _, err := keys.DecodePublicKey(pc.Identity); err != nil {
				continue
			}
			r := contactRecord{Identity: pc.Identity, Verified: pc.Verified, Held: pc.Held, Added: c.nowMillis()}
			if _, ok := profileKeyFrom(pc.ProfileKey); ok {
				r.ProfileKey, r.ProfileKeyAt = pc.ProfileKey, pc.ProfileKeyAt
			}
			if err := tx.putJSON(bucketContact, name, &r); err != nil {
				return err
			}
		}
		if err := storeProvisionedChannels(tx, msg.Channels); err != nil {
			return err
		}
		if err := c.storeProvisionedPeers(tx, msg.Known, msg.Blocks); err != nil {
			return err
		}
		return c.storeProvisionedGroups(tx, msg.Groups)
	})
	return c, err
}

// storeProvisionedChannels pins the channels of a link message and keeps
// their keys. The message is as trusted as the identity key it carries;
// entries that are malformed are skipped, as contacts are. Records are
// fetched and verified from the pinned key on the first catch-up.
func storeProvisionedChannels(tx sealedTx, chans []provisionChannel) error {
	for _, pc := range chans {
		handle, err := api.NormalizeUsername(pc.Handle)
		if err != nil || len(pc.Genesis) != ed25519.PublicKeySize {
			continue
		}
		if err := tx.putJSON(bucketChannel, handle, &channelRecord{Genesis: pc.Genesis, Follows: pc.Follows}); err != nil {
			return err
		}
		if len(pc.Seed) != ed25519.SeedSize {
			continue
		}
		kr := channelKeyRecord{Seed: pc.Seed}
		if err := tx.putJSON(bucketChannelKey, handle, &kr); err != nil {
			return err
		}
	}
	return nil
}

// provisionedChannels lists the channels this device knows, with the
// keys of those it publishes to, for a link message.
func provisionedChannels(tx sealedTx) ([]provisionChannel, error) {
	var out []provisionChannel
	err := tx.scan(bucketChannel, "", func(handle string, v []byte) error {
		var cr channelRecord
		if err := jsonUnmarshal(v, &cr); err != nil {
			return err
		}
		pc := provisionChannel{Handle: handle, Genesis: cr.Genesis, Follows: cr.Follows}
		var kr channelKeyRecord
		switch err := tx.getJSON(bucketChannelKey, handle, &kr); {
		case err == nil:
			pc.Seed = kr.Seed
		case !errors.Is(err, ErrNotFound):
			return err
		}
		out = append(out, pc)
		return nil
	})
	return out, err
}

func linkKey(shared [32]byte, mailbox []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, shared[:], mailbox, linkInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func linkAssociated(mailbox []byte, sender, recipient keys.PublicKey) []byte {
	ad := append([]byte(linkAD), mailbox...)
	ad = append(ad, sender[:]...)
	return append(ad, recipient[:]...)
}

// open decrypts the mailbox message: version ‖ sender's ephemeral key
// (33, encoded) ‖ nonce (12) ‖ AES-GCM ciphertext.
func (l *Linker) open(b []byte) (*provisionMessage, error) {
	bad := fmt.Errorf("client: the link message does not decrypt; start again")
	if len(b) < 1+keys.EncodedPublicKeySize+12+16 || b[0] != linkVersion {
		return nil, bad
	}
	sender, err := keys.DecodePublicKey(b[1 : 1+keys.EncodedPublicKeySize])
	if err != nil {
		return nil, bad
	}
	shared, err := l.ephemeral.Agree(sender)
	if err != nil {
		return nil, bad
	}
	mailbox, _ := base64.RawURLEncoding.DecodeString(l.mailbox)
	aead, err := linkKey(shared, mailbox)
	if err != nil {
		return nil, bad
	}
	rest := b[1+keys.EncodedPublicKeySize:]
	pt, err := aead.Open(nil, rest[:12], rest[12:], linkAssociated(mailbox, sender, l.ephemeral.Public()))
	if err != nil {
		return nil, bad
	}
	var m provisionMessage
	if err := json.Unmarshal(pt, &m); err != nil {
		return nil, bad
	}
	return &m, nil
}

// parseLinkCode splits a link code into the mailbox ID and the new
// device's public key.
func parseLinkCode(code string) (mailbox []byte, key keys.PublicKey, err error) {
	code = strings.TrimSpace(code)
	rest, ok := strings.CutPrefix(code, linkCodePrefix)
	if !ok {
		return nil, key, ErrBadLinkCode
	}
	for _, ch := range rest { // the decoder would skip \r and \n
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return nil, key, ErrBadLinkCode
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) != mailboxIDSize+keys.PublicKeySize {
		return nil, key, ErrBadLinkCode
	}
	copy(key[:], raw[mailboxIDSize:])
	return raw[:mailboxIDSize], key, nil
}

// ApproveLink links the device that shows code to this account: it sends
// that device the account's identity key, a link token, the contact list
// and the channels (pinned keys, and the signing keys of those the
// account publishes to) through its provisioning mailbox, encrypted to
// its key.
func (c *Client) ApproveLink(ctx context.Context, code string) error {
	mailbox, recipient, err := parseLinkCode(code)
	if err != nil {
		return err
	}

	c.mu.Lock()
	defer c.unlock()
	tok, err := c.http.LinkToken(ctx)
	if err != nil {
		return err
	}
	msg := provisionMessage{Username: c.acct.Username, Identity: c.acct.Identity, LinkToken: tok.Token, RecoveryKey: c.acct.RecoveryKey,
		ProfileKey: c.acct.ProfileKey, ProfileKeyAt: c.acct.ProfileKeyAt}
	if err := c.view(ctx, func(tx sealedTx) error {
		err := tx.scan(bucketContact, "", func(k string, v []byte) error {
			var r contactRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			msg.Contacts = append(msg.Contacts, provisionContact{Username: k, Identity: r.Identity, Verified: r.Verified, Held: r.Held,
				ProfileKey: r.ProfileKey, ProfileKeyAt: r.ProfileKeyAt})
			return nil
		})
		if err != nil {
			return err
		}
		if msg.Channels, err = provisionedChannels(tx); err != nil {
			return err
		}
		if msg.Known, err = knownAccounts(tx); err != nil {
			return err
		}
		if msg.Blocks, err = tx.keys(bucketBlock, ""); err != nil {
			return err
		}
		msg.Groups, err = c.provisionedGroups(tx)
		return err
	}); err != nil {
		return err
	}
	pt, err := json.Marshal(&msg)
	if err != nil {
		return err
	}
	defer clear(pt)
	eph, err := keys.GeneratePrivateKey(c.rand)
	if err != nil {
		return err
	}
	shared, err := eph.Agree(recipient)
	if err != nil {
		return ErrBadLinkCode // a low-order point
	}
	aead, err := linkKey(shared, mailbox)
	if err != nil {
		return err
	}
	nonce := make([]byte, 12)
	c.rand.Read(nonce)
	var out bytes.Buffer
	out.WriteByte(linkVersion)
	out.Write(eph.Public().Encode())
	out.Write(nonce)
	out.Write(aead.Seal(nil, nonce, pt, linkAssociated(mailbox, eph.Public(), recipient)))
	if err := c.http.PutProvisioning(ctx, base64.RawURLEncoding.EncodeToString(mailbox), out.Bytes()); err != nil {
		return err
	}
	c.ownDevAt = time.Time{} // the new device will show up
	return nil
}

// Device is one device of the account.
type Device struct {
	ID      uint32
	Name    string
	Created time.Time
	Current bool // this device
}

// Devices lists the account's devices.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	list, err := c.http.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Device, len(list))
	for i, d := range list {
		out[i] = Device{ID: d.ID, Name: d.Name, Created: time.UnixMilli(d.Created), Current: d.ID == c.acct.DeviceID}
	}
	return out, nil
}

// RemoveDevice removes a device of the account; its credentials stop
// working at once.
func (c *Client) RemoveDevice(ctx context.Context, id uint32) error {
	c.mu.Lock()
	defer c.unlock()
	if err := c.http.RemoveDevice(ctx, id); err != nil {
		return err
	}
	c.ownDevAt = time.Time{}
	// What the device sent before may still be queued here: its sessions
	// become receive-only (spec/client.md §4.1).
	return c.update(ctx, func(tx sealedTx) error { return c.archiveDevice(tx, c.acct.Username, id, true) })
}
