package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Authentication (spec/api.md §3): every device has a 256-bit random secret
// made by the server at registration or linking and shown once. The store
// keeps only SHA-256(secret); a request carries
// "Authorization: Basic base64(username.deviceID:secret)". A fast hash is
// enough because the secret has full entropy: there is nothing to
// brute-force. Hashes are compared in constant time, and an unknown user is
// compared against a dummy hash so timing does not reveal which names exist.
// We chose this over a signed challenge with the identity key because it
// costs one hash per request instead of an XEdDSA verification, needs no
// extra round trip, and a removed device's secret dies with its row.

const secretSize = 32

// newSecret returns a fresh device secret and its hash.
func newSecret() (string, [32]byte) {
	var b [secretSize]byte
	rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return s, sha256.Sum256([]byte(s))
}

var dummyHash = sha256.Sum256([]byte("parley: no such device"))

type principal struct {
	account store.Account
	device  store.Device
}

type ctxKey struct{}

func callerOf(r *http.Request) *principal {
	p, _ := r.Context().Value(ctxKey{}).(*principal)
	return p
}

// parseBasic splits the Authorization header.
func parseBasic(r *http.Request) (user string, device uint32, secret string, ok bool) {
	u, pass, ok := r.BasicAuth()
	if !ok {
		return "", 0, "", false
	}
	name, dev, ok := strings.Cut(u, ".")
	if !ok {
		return "", 0, "", false
	}
	id, err := strconv.ParseUint(dev, 10, 32)
	if err != nil || id == 0 || strconv.FormatUint(id, 10) != dev {
		return "", 0, "", false // only the canonical decimal form
	}
	norm, err := api.NormalizeUsername(name)
	if err != nil {
		return "", 0, "", false
	}
	return norm, uint32(id), pass, true
}

// authenticate checks the request's credentials against the store.
func (h *Handler) authenticate(ctx context.Context, r *http.Request) (*principal, error) {
	user, dev, secret, ok := parseBasic(r)
	if !ok {
		return nil, errUnauthorized
	}
	acct, d, err := h.store.DeviceByName(ctx, user, dev)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	want := d.CredentialHash
	if err != nil {
		want = dummyHash
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || err != nil {
		return nil, errUnauthorized
	}
	return &principal{account: acct, device: d}, nil
}

// auth wraps a handler that needs an authenticated device.
func (h *Handler) auth(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.authenticate(r.Context(), r)
		if err != nil {
			return err
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
}
