// Package store defines parleyd's durable state: accounts, devices,
// prekeys, per-device message queues, provisioning mailboxes, link tokens and
// invites. Store is the interface every backend implements; storetest is the
// one conformance suite they all pass, and sqlite is the embedded default.
//
// The store holds only what the server may know: public keys, hashes of
// credentials, and end-to-end encrypted envelopes it cannot read.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors a backend returns (wrapped or bare) and callers branch on with
// errors.Is.
var (
	ErrNotFound        = errors.New("store: not found")
	ErrUsernameTaken   = errors.New("store: username taken")
	ErrTooManyDevices  = errors.New("store: device limit reached")
	ErrQueueFull       = errors.New("store: device queue full")
	ErrTokenInvalid    = errors.New("store: token unknown, used or expired")
	ErrNoSignedPreKey  = errors.New("store: device has no signed prekey")
	ErrNoKEMPreKey     = errors.New("store: device has no KEM prekey")
	ErrClosed          = errors.New("store: closed")
	ErrInviteRequired  = errors.New("store: invite unknown or used")
	ErrProvisionExists = errors.New("store: provisioning mailbox already written")
)

// Account is a registered user. Username is already normalised.
type Account struct {
	ID          int64
	Username    string
	IdentityKey []byte // encoded X25519 identity key, shared by all devices
	Created     time.Time
}

// Device is one device of an account. CredentialHash is SHA-256 of the
// device's secret; the secret itself is never stored.
type Device struct {
	AccountID      int64
	ID             uint32 // 1 is the device that registered the account
	Name           string
	CredentialHash [32]byte
	Created        time.Time
}

// SignedPreKey is a device's current signed X25519 prekey.
type SignedPreKey struct {
	ID        uint32
	PublicKey []byte // encoded, 33 bytes
	Signature []byte // XEdDSA by the identity key, 64 bytes
}

// PreKey is an unsigned one-time X25519 prekey.
type PreKey struct {
	ID        uint32
	PublicKey []byte
}

// KEMPreKey is a signed ML-KEM-1024 prekey.
type KEMPreKey struct {
	ID        uint32
	PublicKey []byte // encoded, 1569 bytes
	Signature []byte
}

// PreKeyCounts is how many one-time prekeys a device has left.
type PreKeyCounts struct {
	OneTime    int
	KEMOneTime int
}

// Bundle is what TakeBundle hands out for one device: the signed prekey,
// one one-time KEM prekey or else the last-resort one, and one one-time
// X25519 prekey if any is left. The one-time keys it returns are deleted
// in the same transaction, so no two callers ever get the same one.
type Bundle struct {
	DeviceID     uint32
	SignedPreKey SignedPreKey
	KEMPreKey    KEMPreKey
	LastResort   bool    // KEMPreKey is the last-resort key
	OneTime      *PreKey // nil when the device has none left
}

// Envelope is one end-to-end encrypted message queued for one device.
type Envelope struct {
	Seq           uint64 // assigned by Enqueue; increases with every envelope
	DestAccount   int64
	DestDevice    uint32
	SenderAccount int64
	SenderName    string
	SenderDevice  uint32
	ClientID      [16]byte // the sender's message ID; (sender device, ClientID, destination) is unique
	Type          uint8
	Content       []byte
	Created       time.Time
	Expires       time.Time
}

// Store is parleyd's durable state. All methods are safe for concurrent
// use and take ctx first; a method that returns without error has made its
// change durable.
type Store interface {
	// CreateAccount creates an account and its first device (ID 1) in one
	// transaction. If inviteHash is not nil, the invite must exist unused
	// and is used up in the same transaction (ErrInviteRequired).
	CreateAccount(ctx context.Context, a Account, first Device, inviteHash *[32]byte) (Account, Device, error)
	// AccountByName returns an account by normalised username.
	AccountByName(ctx context.Context, username string) (Account, error)
	// DeviceByName returns an account and one of its devices.
	DeviceByName(ctx context.Context, username string, deviceID uint32) (Account, Device, error)

	// AddDevice gives d the lowest free device ID of the account, unless
	// the account has max devices already (ErrTooManyDevices).
	AddDevice(ctx context.Context, d Device, max int) (Device, error)
	// Devices lists an account's devices by ID.
	Devices(ctx context.Context, accountID int64) ([]Device, error)
	// RemoveDevice deletes a device with its prekeys and queue.
	RemoveDevice(ctx context.Context, accountID int64, deviceID uint32) error

	// SetSignedPreKey replaces the device's signed prekey.
	SetSignedPreKey(ctx context.Context, accountID int64, deviceID uint32, k SignedPreKey) error
	// SetLastResortKEMPreKey replaces the device's last-resort KEM prekey.
	SetLastResortKEMPreKey(ctx context.Context, accountID int64, deviceID uint32, k KEMPreKey) error
	// AddOneTimePreKeys and AddKEMPreKeys add one-time prekeys; an ID the
	// device already has is replaced.
	AddOneTimePreKeys(ctx context.Context, accountID int64, deviceID uint32, ks []PreKey) error
	AddKEMPreKeys(ctx context.Context, accountID int64, deviceID uint32, ks []KEMPreKey) error
	// PreKeyCounts reports the device's remaining one-time prekeys.
	PreKeyCounts(ctx context.Context, accountID int64, deviceID uint32) (PreKeyCounts, error)
	// TakeBundle returns a bundle for the device, consuming its one-time
	// prekeys atomically (see Bundle). ErrNoSignedPreKey or ErrNoKEMPreKey
	// if the device never uploaded those.
	TakeBundle(ctx context.Context, accountID int64, deviceID uint32) (Bundle, error)

	// Enqueue stores envelopes durably (fsync'd) and assigns their Seq.
	// An envelope whose (SenderAccount, SenderDevice, ClientID,
	// DestAccount, DestDevice) is already queued is a duplicate: it is not
	// stored again and keeps the Seq of the first (dup reports which). A
	// destination with maxQueue envelopes already queued fails the whole
	// call with ErrQueueFull and stores nothing.
	Enqueue(ctx context.Context, envs []Envelope, maxQueue int) (dup []bool, err error)
	// Pending returns up to limit envelopes queued for a device with Seq
	// greater than after, in Seq order, that have not expired at now.
	Pending(ctx context.Context, accountID int64, deviceID uint32, after uint64, limit int, now time.Time) ([]Envelope, error)
	// Ack deletes envelopes from the device's own queue; Seqs that are not
	// in that queue are ignored.
	Ack(ctx context.Context, accountID int64, deviceID uint32, seqs []uint64) error
	// QueueDepth counts the envelopes queued for a device.
	QueueDepth(ctx context.Context, accountID int64, deviceID uint32) (int, error)
	// DeleteExpired deletes envelopes, provisioning mailboxes and link
	// tokens that expired before now, and reports how many envelopes went.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)

	// CreateProvisioning opens an empty provisioning mailbox.
	CreateProvisioning(ctx context.Context, id string, expires time.Time) error
	// PutProvisioning writes a mailbox's one message (ErrNotFound if it
	// does not exist or expired, ErrProvisionExists if already written).
	PutProvisioning(ctx context.Context, id string, body []byte, now time.Time) error
	// TakeProvisioning returns and deletes the message; ErrNotFound if the
	// mailbox is unknown or expired, or (nil, nil) while it is still empty.
	TakeProvisioning(ctx context.Context, id string, now time.Time) ([]byte, error)

	// CreateLinkToken stores a device-link token's hash for an account.
	CreateLinkToken(ctx context.Context, accountID int64, tokenHash [32]byte, expires time.Time) error
	// AddDeviceWithToken consumes a link token and adds d to its account
	// in one transaction (ErrTokenInvalid, ErrTooManyDevices).
	AddDeviceWithToken(ctx context.Context, tokenHash [32]byte, d Device, max int, now time.Time) (Account, Device, error)

	// CreateInvite stores an invite code's hash.
	CreateInvite(ctx context.Context, codeHash [32]byte) error

	// Close flushes and closes the store.
	Close() error
}
