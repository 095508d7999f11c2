// Package client is Parley's SDK: the small API that a bot, the parley
// CLI and TUI, and the browser client share. A Client is one device of one
// account. It keeps its keys, sessions, contacts and messages in a Store,
// sealed with a key derived from the user's passphrase; it encrypts every
// message end to end to each device of the recipient and to the account's
// own other devices, and decrypts, stores and acknowledges what arrives.
//
// What it protects: message contents, receipts and typing notifications
// are end-to-end encrypted (spec/protocol.md); the server sees only who
// sends to which device, when, and the padded size. At rest, private keys,
// session state, contacts' records and message bodies are encrypted; the
// names under which they are stored (contacts' usernames, message times)
// are not. What it does not protect: a device whose passphrase and store
// are both taken, and metadata the server sees.
//
// The wire schema of message contents and the rules for sessions, sync
// transcripts and linking are spec/client.md.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/parley-chat/parley/internal/channel"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
)

// Errors a caller may branch on.
var (
	// ErrNoAccount means the store holds no account yet.
	ErrNoAccount = errors.New("client: no account in this store")
	// ErrExists means the store already holds an account.
	ErrExists = errors.New("client: the store already holds an account")
	// ErrIdentityNotVerified means a verified contact's identity key
	// changed: nothing is sent to them until the user verifies the new
	// safety number (Client.Verify).
	ErrIdentityNotVerified = errors.New("client: the contact's safety number changed; verify it before sending")
	// ErrNoSuchUser means the server knows no such username.
	ErrNoSuchUser = errors.New("client: no such user")
)

// Config configures a Client. Store and Passphrase are required.
type Config struct {
	Store      Store
	Passphrase []byte
	// HTTPClient is used for every request; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Events receives what happens, mostly from the goroutine that
	// processes incoming envelopes (Run or Sync), while the client's lock
	// is held: it must return quickly and must not call the Client
	// (hand the event to another goroutine, as the TUI does through a
	// channel). nil drops events; everything that matters is also stored.
	Events func(Event)
	Logger *slog.Logger // nil discards
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of randomness; nil means crypto/rand.
	Rand io.Reader
	// TempDir holds attachments while they are encrypted and uploaded;
	// "" means os.TempDir().
	TempDir string
	// NewSpool, if set, makes the Spool an attachment is kept in from its
	// encryption to its upload, instead of a temporary file in TempDir
	// (MemorySpool keeps it in memory; under js/wasm that is the default).
	NewSpool func() (Spool, error)
	// AttachmentDir holds the attachments' ciphertexts that a restored
	// backup brought (attachmentdir.go): Download and OpenAttachment read
	// a blob from here before asking the server. RestoreBackup requires
	// it; "" means none.
	AttachmentDir string
}

// Client is one device of one account.
type Client struct {
	cfg   Config
	st    Store
	v     *vault
	log   *slog.Logger
	now   func() time.Time
	rand  io.Reader
	emitF func(Event)

	// mu serialises every operation that reads and writes state (sends,
	// the processing of one envelope, linking), so that session states
	// never fork. It is held across network calls of a send.
	mu       sync.Mutex
	acct     *accountRecord
	id       keys.IdentityKeyPair
	http     *transport.Client // authenticated as this device
	ownDevs  []uint32          // the account's other devices, as last read
	ownDevAt time.Time
	resetAt  map[string]time.Time // last session reset per peer device
	prunedAt time.Time
	resends  []resendJob             // resends asked for by the envelope being processed (retry.go)
	reports  map[string]reportBudget // decryption-error contents sent per peer device (retry.go)
	// chains caches each channel's verified chain state (channelchain.go),
	// rebuilt from the store when missing; guarded by mu like the rest.
	chains map[string]*channel.State
	// groupLogs caches each group's verified log (groups.go), rebuilt
	// from the store when the stored records change; guarded by mu.
	groupLogs map[GroupID]groupCache
	// rebases are this account's group changes that lost to concurrent
	// ones, to sign again once the envelope that decided it commits.
	rebases []rebaseJob
	// linkChecks are groups whose invite link this device made, changed
	// by the envelope being processed: the server's copy follows.
	linkChecks []GroupID
	// profileFetches are the accounts whose profiles the envelope being
	// processed marked stale: fetched once it commits (profileshare.go).
	profileFetches map[string]bool
	// groupMax is the server's bound on a group's members, learnt once
	// (0 until then: the default, 1000).
	groupMax int
	// purge is set when messages were erased: the store is asked to wipe
	// their traces (Purger) once the transaction commits.
	purge bool

	qmu        sync.Mutex // guards queue and delivering (emit, unlock)
	queue      []Event
	delivering bool
}

// Open opens the account in cfg.Store with cfg.Passphrase. A wrong
// passphrase is ErrWrongPassphrase and changes nothing.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if c.v, err = openVault(ctx, cfg.Store, cfg.Passphrase); err != nil {
		return nil, err
	}
	var a accountRecord
	err = cfg.Store.View(ctx, func(tx Tx) error { return c.sealed(tx).getJSON(bucketAccount, keySelf, &a) })
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoAccount
	}
	if err != nil {
		return nil, err
	}
	if err := c.setAccount(&a); err != nil {
		return nil, err
	}
	return c, nil
}

func newClient(cfg Config) (*Client, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("client: Config.Store is required")
	}
	c := &Client{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now, rand: cfg.Rand, emitF: cfg.Events, resetAt: map[string]time.Time{}, chains: map[string]*channel.State{}, groupLogs: map[GroupID]groupCache{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

func (c *Client) setAccount(a *accountRecord) error {
	k, err := keys.NewPrivateKey(a.Identity)
	if err != nil {
		return fmt.Errorf("client: the stored identity key is damaged: %w", err)
	}
	c.acct, c.id = a, keys.IdentityKeyPair{Private: k}
	c.http = transport.New(a.Server, c.cfg.HTTPClient).As(api.Credentials{Username: a.Username, DeviceID: a.DeviceID, Secret: a.Secret})
	return nil
}

func (c *Client) sealed(tx Tx) sealedTx { return sealedTx{tx: tx, v: c.v} }

// update and view run fn in a sealed transaction.
func (c *Client) update(ctx context.Context, fn func(sealedTx) error) error {
	return c.st.Update(ctx, func(tx Tx) error { return fn(c.sealed(tx)) })
}

func (c *Client) view(ctx context.Context, fn func(sealedTx) error) error {
	return c.st.View(ctx, func(tx Tx) error { return fn(c.sealed(tx)) })
}

// Close closes the store.
func (c *Client) Close() error { return c.st.Close() }

// Username is the account's username.
func (c *Client) Username() string { return c.acct.Username }

// DeviceID is this device's ID.
func (c *Client) DeviceID() uint32 { return c.acct.DeviceID }

// Server is the server's base URL.
func (c *Client) Server() string { return c.acct.Server }

// IdentityKey is the account's public identity key, encoded.
func (c *Client) IdentityKey() []byte { return c.identity().Public().Encode() }

func (c *Client) identity() keys.IdentityKeyPair { return c.id }

// Events are queued by emit and delivered in order, never while c.mu is
// held: a callback may call back into the client (its own events then go
// out after it returns, in their place in the order), and a UI thread
// that calls in is not held up by another's callback. A call delivers the
// events it caused before it returns, unless another goroutine is
// delivering at that moment, which then delivers them.
func (c *Client) emit(e Event) {
	if c.emitF == nil {
		return
	}
	c.qmu.Lock()
	c.queue = append(c.queue, e)
	c.qmu.Unlock()
	// Not under c.mu (nobody holds it): deliver now. Under it, this
	// goroutine's or another's unlock delivers.
	if c.mu.TryLock() {
		c.unlock()
	}
}

// unlock releases c.mu and delivers the queued events.
func (c *Client) unlock() {
	c.mu.Unlock()
	c.qmu.Lock()
	if c.delivering {
		c.qmu.Unlock()
		return // the goroutine delivering, maybe this one further up, delivers these
	}
	c.delivering = true
	for len(c.queue) > 0 {
		evs := c.queue
		c.queue = nil
		c.qmu.Unlock()
		for _, e := range evs {
			c.emitF(e)
		}
		c.qmu.Lock()
	}
	c.delivering = false
	c.qmu.Unlock()
}

func (c *Client) nowMillis() int64 { return c.now().UnixMilli() }
