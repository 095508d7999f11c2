package api

import (
	"errors"
	"strings"
)

// Username rules (spec/api.md §4.1): 3 to 32 characters from a-z, 0-9 and
// '_', starting with a letter. Input is case-folded first (ASCII only, so
// no two distinct strings fold to look-alikes), so "Alice" and "alice" are
// one name. Names of staff roles and of the service are reserved.
const (
	MinUsername = 3
	MaxUsername = 32
)

// Errors NormalizeUsername returns.
var (
	ErrUsernameInvalid  = errors.New("api: username must be 3-32 letters, digits or '_', starting with a letter")
	ErrUsernameReserved = errors.New("api: username is reserved")
)

var reserved = map[string]bool{
	"admin": true, "administrator": true, "root": true, "system": true,
	"parley": true, "parleyd": true, "support": true, "help": true,
	"security": true, "abuse": true, "moderator": true, "mod": true,
	"staff": true, "official": true, "api": true, "www": true,
	"server": true, "operator": true, "postmaster": true, "noreply": true,
	"everyone": true, "channel": true, "me": true, "null": true,
	"count": true, // GET /v1/keys/count would shadow a user called "count"
}

// NormalizeUsername case-folds s and checks it against the rules.
func NormalizeUsername(s string) (string, error) {
	s = strings.TrimPrefix(s, "@")
	if len(s) < MinUsername || len(s) > MaxUsername {
		return "", ErrUsernameInvalid
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case 'a' <= c && c <= 'z', c == '_' && i > 0, '0' <= c && c <= '9' && i > 0:
		default:
			return "", ErrUsernameInvalid
		}
	}
	n := string(b)
	if reserved[n] {
		return "", ErrUsernameReserved
	}
	return n, nil
}
