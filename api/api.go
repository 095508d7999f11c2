// Package api holds the types of Parley's client–server API (spec/api.md):
// the JSON bodies of the HTTP endpoints, the binary WebSocket frames, the
// error catalogue and the username rules. The server (server/httpapi) and the
// Go clients (client/transport) share them, so the two cannot drift apart.
//
// Nothing here is end-to-end cryptography: envelopes are opaque bytes to
// this package and to the server.
package api

// Version is the API version, the "v1" in every path.
const Version = 1

// Limits every server enforces (spec/api.md §2).
const (
	// MaxEnvelope is the largest content of one envelope.
	MaxEnvelope = 256 << 10
	// MaxBody is the largest HTTP request body.
	MaxBody = 4 << 20
	// MaxProvisioning is the largest provisioning message.
	MaxProvisioning = 1 << 20
	// MaxPreKeysPerUpload bounds the one-time prekeys in one upload.
	MaxPreKeysPerUpload = 200
	// ClientIDSize is the size of a sender's message ID.
	ClientIDSize = 16
	// MaxInFlight is how many envelopes the server delivers on a
	// WebSocket before it waits for acknowledgements (spec/api.md §7.3).
	MaxInFlight = 1024
	// MaxEphemeral is the largest content of one envelope of an ephemeral
	// send (spec/api.md §6.5).
	MaxEphemeral = 4 << 10
	// RecoveryKeyHashSize is the size of a recovery-key hash: SHA-256 of
	// the recovery key (spec/api.md §4.3).
	RecoveryKeyHashSize = 32
)

// PreKey is a one-time X25519 prekey (keys are the 33-byte encoding).
type PreKey struct {
	ID        uint32 `json:"id"`
	PublicKey []byte `json:"public_key"`
}

// SignedPreKey is a signed X25519 or ML-KEM-1024 prekey.
type SignedPreKey struct {
	ID        uint32 `json:"id"`
	PublicKey []byte `json:"public_key"`
	Signature []byte `json:"signature"`
}

// PreKeyUpload sets a device's prekeys. Every field is optional in
// PUT /v1/keys; registration and linking need the signed prekey and the
// last-resort KEM prekey.
type PreKeyUpload struct {
	SignedPreKey        *SignedPreKey  `json:"signed_prekey,omitempty"`
	LastResortKEMPreKey *SignedPreKey  `json:"last_resort_kem_prekey,omitempty"`
	OneTimePreKeys      []PreKey       `json:"one_time_prekeys,omitempty"`
	KEMPreKeys          []SignedPreKey `json:"kem_prekeys,omitempty"`
}

// RegisterRequest is the body of POST /v1/accounts.
type RegisterRequest struct {
	Username    string       `json:"username"`
	IdentityKey []byte       `json:"identity_key"`
	DeviceName  string       `json:"device_name"`
	InviteCode  string       `json:"invite_code,omitempty"`
	PreKeys     PreKeyUpload `json:"prekeys"`
	// RecoveryKeyHash, if set, is SHA-256 of the account's recovery key
	// (RecoveryKeyHashSize bytes), which lets POST /v1/accounts/recover
	// replace the identity key and devices later (spec/api.md §4.3).
	RecoveryKeyHash []byte `json:"recovery_key_hash,omitempty"`
}

// RecoverRequest is the body of POST /v1/accounts/recover: the holder of
// the account's recovery key gives it a new identity key and a new first
// device; every old device is removed (spec/api.md §4.3).
type RecoverRequest struct {
	Username    string `json:"username"`
	RecoveryKey string `json:"recovery_key"` // the key itself; the server compares its SHA-256
	IdentityKey []byte `json:"identity_key"` // the account's new identity key
	DeviceName  string `json:"device_name"`
	// PreKeys are the new device's, signed by the new identity key; they
	// must include the signed and last-resort KEM prekeys.
	PreKeys PreKeyUpload `json:"prekeys"`
	// NewRecoveryKeyHash, if set, replaces the recovery-key hash; without
	// it the same recovery key keeps working.
	NewRecoveryKeyHash []byte `json:"new_recovery_key_hash,omitempty"`
}

// Credentials answer registration and linking: the device authenticates
// every later request with Username, DeviceID and Secret (spec/api.md §3).
type Credentials struct {
	Username string `json:"username"`
	DeviceID uint32 `json:"device_id"`
	Secret   string `json:"secret"`
}

// LinkToken answers POST /v1/devices/link-tokens.
type LinkToken struct {
	Token   string `json:"token"`
	Expires int64  `json:"expires"` // unix milliseconds
}

// LinkRequest is the body of POST /v1/devices.
type LinkRequest struct {
	LinkToken  string       `json:"link_token"`
	DeviceName string       `json:"device_name"`
	PreKeys    PreKeyUpload `json:"prekeys"`
}

// DeviceInfo is one entry of GET /v1/devices.
type DeviceInfo struct {
	ID      uint32 `json:"id"`
	Name    string `json:"name"`
	Created int64  `json:"created"` // unix milliseconds
}

// PreKeyCounts answers GET /v1/keys/count.
type PreKeyCounts struct {
	OneTime    int `json:"one_time"`
	KEMOneTime int `json:"kem_one_time"`
}

// Bundles answers GET /v1/keys/{username}: one wire-encoded prekey bundle
// (spec/protocol.md §7.5) per device.
type Bundles struct {
	Username string   `json:"username"`
	Bundles  [][]byte `json:"bundles"`
}

// Provisioning answers POST /v1/provisioning.
type Provisioning struct {
	ID      string `json:"id"`
	Expires int64  `json:"expires"`
}

// OutgoingEnvelope is one envelope of a send, for one recipient device.
type OutgoingEnvelope struct {
	DeviceID uint32 `json:"device_id"`
	Type     uint8  `json:"type"`
	Content  []byte `json:"content"`
}

// SendRequest is the body of PUT /v1/messages/{username}: one envelope for
// every device of the recipient (spec/api.md §6).
type SendRequest struct {
	ClientID  []byte             `json:"client_id"`
	Envelopes []OutgoingEnvelope `json:"envelopes"`
	// Ephemeral sends are passed only to the recipient devices connected
	// at that moment, as Seq-0 deliveries, and never stored: for typing
	// indicators and the like (spec/api.md §6.5). Best effort.
	Ephemeral bool `json:"ephemeral,omitempty"`
}

// SendResponse answers a send that was stored, or an ephemeral send that
// was passed on (Duplicate is then always false).
type SendResponse struct {
	Duplicate bool `json:"duplicate,omitempty"`
}
