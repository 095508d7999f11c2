// Package store defines parleyd's durable state: accounts, devices,
// prekeys, per-device message queues, provisioning mailboxes, link tokens,
// invites and encrypted profiles. Store is the interface every backend implements; storetest is the
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
	ErrExists          = errors.New("store: already exists")
	ErrUsernameTaken   = errors.New("store: username taken")
	ErrTooManyDevices  = errors.New("store: device limit reached")
	ErrQueueFull       = errors.New("store: device queue full")
	ErrSenderQueueFull = errors.New("store: sender's share of the device queue full")
	ErrTokenInvalid    = errors.New("store: token unknown, used or expired")
	ErrNoSignedPreKey  = errors.New("store: device has no signed prekey")
	ErrNoKEMPreKey     = errors.New("store: device has no KEM prekey")
	ErrClosed          = errors.New("store: closed")
	ErrInviteRequired  = errors.New("store: invite unknown or used")
	ErrProvisionExists = errors.New("store: provisioning mailbox already written")
	ErrRecoveryInvalid = errors.New("store: recovery key unknown or wrong")
)

// Account is a registered user. Username is already normalised.
type Account struct {
	ID          int64
	Username    string
	IdentityKey []byte // encoded X25519 identity key, shared by all devices
	Created     time.Time
	// RecoveryHash is SHA-256 of the account's recovery key, or nil if it
	// has none (see RecoverAccount).
	RecoveryHash *[32]byte
}

// Device is one device of an account. CredentialHash is SHA-256 of the
// device's secret; the secret itself is never stored.
type Device struct {
	AccountID      int64
	ID             uint32 // 1 is the device that registered the account; never reused (see AddDevice)
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

// PreKeySet is a device's prekeys as one write (SetPreKeys, CreateAccount,
// AddDeviceWithToken). A nil or empty field leaves what the device has
// stored alone; a non-nil key replaces the stored one. One-time keys are
// added, and one whose ID the device already has replaces it; within one
// list a later entry with the same ID wins.
type PreKeySet struct {
	SignedPreKey        *SignedPreKey
	LastResortKEMPreKey *KEMPreKey
	OneTime             []PreKey
	KEMOneTime          []KEMPreKey
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

// Recovery is what RecoverAccount writes: the holder of an account's
// recovery key gives it a new identity key and a new first device.
type Recovery struct {
	Username     string   // normalised
	RecoveryHash [32]byte // must be the account's stored RecoveryHash
	IdentityKey  []byte   // the account's new identity key
	// NewRecoveryHash replaces the stored hash; nil keeps it.
	NewRecoveryHash *[32]byte
	Device          Device    // the new device (Name, CredentialHash, Created)
	PreKeys         PreKeySet // the new device's prekeys, as SetPreKeys
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

// QueueLimits bound what Enqueue stores for each destination device
// (spec/api.md §6.4). Bytes are content bytes (len(Envelope.Content)).
type QueueLimits struct {
	// MaxQueue bounds the envelopes queued for one device; below 1 it
	// refuses every envelope that is not a duplicate.
	MaxQueue int
	// MaxBytes bounds the bytes queued for one device; 0 means no bound.
	MaxBytes int64
	// SenderMax and SenderMaxBytes bound one sender account's share of
	// another account's device queue: the envelopes and bytes that sender
	// has queued there. A sender's envelopes for its own account's devices
	// have no share bound. 0 means no bound.
	SenderMax      int
	SenderMaxBytes int64
}

// Store is parleyd's durable state.
//
// What holds for every method:
//   - All methods are safe for concurrent use and take ctx first. A method
//     that returns without error has made its change durable; one that
//     returns an error has changed nothing, except DeleteExpired (it deletes
//     in steps, and reports how many envelopes went before the error) and
//     as said below for a ctx that ends.
//   - If ctx ends while a write is under way, the method returns ctx.Err(),
//     but the write may still commit: an Enqueue may have stored its
//     envelopes (a retry with the same ClientIDs gets them back as
//     duplicates), a TakeBundle may have used up one-time prekeys that never
//     reach the caller. Every other write is likewise either done or not.
//   - Something with an expiry time has expired at now if expires <= now,
//     everywhere: envelopes, provisioning mailboxes and link tokens.
//   - A time read back may be truncated to the millisecond.
//   - A device is named by (accountID, deviceID). Where a method below says
//     ErrNotFound for an unknown device, that covers an unknown account, an
//     ID the account never had and a removed device alike.
//   - After Close every method returns ErrClosed.
type Store interface {
	ChannelStore
	BlobStore    // media: blobs, their owners, uploads in progress (blobs.go)
	PosterStore  // posters the server makes for videos (posters.go)
	GroupStore   // shared contents and group links (groups.go)
	ProfileStore // encrypted profiles (profiles.go)

	// CreateAccount creates an account (with a.RecoveryHash, if set), its
	// first device (ID 1) and that device's prekeys (keys, as SetPreKeys)
	// in one transaction: if it fails, none of them is stored. a.ID and
	// first's AccountID and ID are assigned. If inviteHash is not nil, the invite must exist unused and
	// is used up in the same transaction (ErrInviteRequired, checked before
	// the username); with ErrUsernameTaken it is not used up.
	CreateAccount(ctx context.Context, a Account, first Device, inviteHash *[32]byte, keys PreKeySet) (Account, Device, error)
	// AccountByName returns an account by normalised username.
	AccountByName(ctx context.Context, username string) (Account, error)
	// DeviceByName returns an account and one of its devices.
	DeviceByName(ctx context.Context, username string, deviceID uint32) (Account, Device, error)

	// AddDevice adds d to account d.AccountID (ErrNotFound if there is no
	// such account) unless it has max devices already (ErrTooManyDevices).
	// Device IDs are never reused: d gets an ID one higher than any the
	// account has ever had, removed devices included, so the first device
	// is 1 and a device added after a removal does not get the removed
	// one's ID (senders must not mistake it for the old device). A call
	// that fails uses up no ID. An account that has had every uint32 ID
	// gets ErrTooManyDevices.
	AddDevice(ctx context.Context, d Device, max int) (Device, error)
	// Devices lists an account's devices by ID; an unknown account has
	// none (an empty list, not an error).
	Devices(ctx context.Context, accountID int64) ([]Device, error)
	// RemoveDevice deletes a device with its prekeys and queue
	// (ErrNotFound for an unknown device).
	RemoveDevice(ctx context.Context, accountID int64, deviceID uint32) error

	// SetPreKeys stores k for the device in one transaction (see
	// PreKeySet): a concurrent TakeBundle sees all of k or none of it.
	// ErrNotFound for an unknown device, even when k is empty.
	SetPreKeys(ctx context.Context, accountID int64, deviceID uint32, k PreKeySet) error
	// PreKeyCounts reports the device's remaining one-time prekeys
	// (ErrNotFound for an unknown device).
	PreKeyCounts(ctx context.Context, accountID int64, deviceID uint32) (PreKeyCounts, error)
	// TakeBundle returns a bundle for the device, consuming its one-time
	// prekeys atomically (see Bundle); the bundle is read in one
	// transaction, so it never mixes keys from before and after a
	// concurrent SetPreKeys. ErrNotFound for an unknown device;
	// ErrNoSignedPreKey or ErrNoKEMPreKey if the device never uploaded
	// those. If ctx ends, the keys may be used up without reaching the
	// caller (see Store); a wasted one-time key is harmless.
	TakeBundle(ctx context.Context, accountID int64, deviceID uint32) (Bundle, error)
	// BaseBundle returns a bundle for the device that uses up nothing: its
	// signed prekey and its last-resort KEM prekey (LastResort true), and
	// no one-time prekey of either kind, even if some are left. It is for a
	// requester past its share of the device's one-time prekeys
	// (spec/api.md §6.3). It reads in one transaction, as TakeBundle does,
	// and fails the same way (ErrNotFound, ErrNoSignedPreKey, or
	// ErrNoKEMPreKey when the device has no last-resort KEM prekey).
	BaseBundle(ctx context.Context, accountID int64, deviceID uint32) (Bundle, error)

	// Enqueue stores envelopes durably (fsync'd), all or none, and
	// reports which were duplicates: len(dup) == len(envs).
	//
	// Seqs: on success Enqueue writes each envelope's Seq into the
	// caller's slice, envs[i].Seq, and that is the only way it reports
	// them. On error envs is left as it was.
	//
	// Duplicates: an envelope whose (SenderAccount, SenderDevice,
	// ClientID, DestAccount, DestDevice) matches an earlier envelope of the
	// same call, or one still queued, is a duplicate: it is not stored
	// again and gets the Seq of the first. Only queued envelopes count: once
	// the first has been acked, deleted by DeleteExpired (an expired
	// envelope still counts until then) or removed with its device, the
	// same key makes a new envelope with a new Seq.
	//
	// Queue bounds (lim): the call fails whole, storing nothing, with
	// ErrSenderQueueFull if it would take a sender's share of a device of
	// another account past lim.SenderMax envelopes or lim.SenderMaxBytes
	// bytes, else with ErrQueueFull if it would take any destination's
	// queue past lim.MaxQueue envelopes (QueueDepth) or lim.MaxBytes bytes.
	// Duplicates are not stored and count for nothing; expired envelopes
	// count until DeleteExpired removes them.
	//
	// An envelope for an unknown device fails the whole call with
	// ErrNotFound. If ctx ends, the envelopes may still be stored (see
	// Store): callers retry with the same ClientIDs.
	Enqueue(ctx context.Context, envs []Envelope, lim QueueLimits) (dup []bool, err error)
	// Pending returns up to limit envelopes queued for a device with Seq
	// greater than after, in Seq order, that have not expired at now. An
	// unknown device has none; a limit below 1 returns none.
	Pending(ctx context.Context, accountID int64, deviceID uint32, after uint64, limit int, now time.Time) ([]Envelope, error)
	// Ack deletes envelopes from the device's own queue; Seqs that are not
	// in that queue, and an unknown device, are ignored.
	Ack(ctx context.Context, accountID int64, deviceID uint32, seqs []uint64) error
	// QueueDepth counts the envelopes queued for a device, expired ones
	// included until DeleteExpired removes them (ErrNotFound for an
	// unknown device).
	QueueDepth(ctx context.Context, accountID int64, deviceID uint32) (int, error)
	// QueuedTotal counts the envelopes queued for all devices, counted the
	// same way as QueueDepth (for the queue-depth metric).
	QueuedTotal(ctx context.Context) (int64, error)
	// DeleteExpired deletes the envelopes, provisioning mailboxes and link
	// tokens that have expired at now (expires <= now), and reports how
	// many envelopes went.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)

	// CreateProvisioning opens an empty provisioning mailbox. ErrExists if
	// a mailbox with that id exists, written, empty or expired but not yet
	// deleted by DeleteExpired or TakeProvisioning.
	CreateProvisioning(ctx context.Context, id string, expires time.Time) error
	// PutProvisioning writes a mailbox's one message (ErrNotFound if it
	// does not exist or expired, ErrProvisionExists if already written).
	PutProvisioning(ctx context.Context, id string, body []byte, now time.Time) error
	// TakeProvisioning returns and deletes the message; ErrNotFound if the
	// mailbox is unknown or expired, or (nil, nil) while it is still empty.
	// A written empty message is a non-nil empty slice.
	TakeProvisioning(ctx context.Context, id string, now time.Time) ([]byte, error)

	// CreateLinkToken stores a device-link token's hash for an account
	// (ErrNotFound for an unknown account, ErrExists if the hash is
	// stored already). A token belongs to that one account for its life.
	CreateLinkToken(ctx context.Context, accountID int64, tokenHash [32]byte, expires time.Time) error
	// LinkTokenAccount returns the account a link token belongs to, if the
	// token is valid at now: stored, unused and unexpired (ErrTokenInvalid
	// otherwise). It only reads: the token stays usable. It lets a caller
	// check a new device's prekeys against the account's identity key
	// before AddDeviceWithToken consumes the token.
	LinkTokenAccount(ctx context.Context, tokenHash [32]byte, now time.Time) (Account, error)
	// AddDeviceWithToken consumes a link token valid at now, adds d to its
	// account as AddDevice does and stores the device's prekeys (keys, as
	// SetPreKeys), all in one transaction. It fails with ErrTokenInvalid or
	// ErrTooManyDevices; if it fails, nothing changes: a valid token stays
	// usable.
	AddDeviceWithToken(ctx context.Context, tokenHash [32]byte, d Device, max int, now time.Time, keys PreKeySet) (Account, Device, error)

	// RecoverAccount replaces an account's identity key and devices, in
	// one transaction: the account named r.Username must have a
	// RecoveryHash equal to r.RecoveryHash (ErrRecoveryInvalid otherwise,
	// also for an unknown account or one without a hash). Then every
	// device of the account is removed with its prekeys and queue (as
	// RemoveDevice), its link tokens are deleted, its identity key becomes
	// r.IdentityKey, its RecoveryHash r.NewRecoveryHash if that is set,
	// and r.Device is added with r.PreKeys, taking the next device ID as
	// AddDevice does (so an ID higher than any the account ever had). It
	// returns the account as it now is, the new device, and the IDs of
	// the removed devices in ascending order. ErrTooManyDevices if the
	// account has had every uint32 ID. If it fails, nothing changes.
	RecoverAccount(ctx context.Context, r Recovery) (Account, Device, []uint32, error)

	// CreateInvite stores an invite code's hash. Creating an invite that
	// exists already changes nothing: a used one stays used.
	CreateInvite(ctx context.Context, codeHash [32]byte) error

	// Close flushes and closes the store. Every call after it, Close
	// included, returns ErrClosed.
	Close() error
}
