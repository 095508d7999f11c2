package api

// Profiles (spec/api.md §14): each account stores one opaque, end-to-end
// encrypted profile, which the server hands to any authenticated device.

// Limits of profiles.
const (
	// MaxProfileCiphertext bounds a stored profile's ciphertext.
	MaxProfileCiphertext = 8 << 10
	// MaxProfileVersion is the highest profile version, so that every
	// version is exact in a JSON number (2^53 - 1).
	MaxProfileVersion = 1<<53 - 1
)

// Profile is the body of PUT /v1/profile and the answer of GET
// /v1/profile/{username}: the profile's version, which every PUT must
// raise, and its ciphertext, which the server neither reads nor checks.
type Profile struct {
	Version    uint64 `json:"version"`
	Ciphertext []byte `json:"ciphertext"`
}
