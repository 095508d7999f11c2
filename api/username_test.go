package api

import (
	"errors"
	"testing"
)

func TestNormalizeUsername(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "Alice": "alice", "@BOB_2": "bob_2", "abc": "abc",
		"a234567890123456789012345678901b": "a234567890123456789012345678901b",
	} {
		got, err := NormalizeUsername(in)
		if err != nil || got != want {
			t.Errorf("%q: got (%q, %v), want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ab", "1abc", "_abc", "al ice", "al.ice", "ålice", "al-ice",
		"a2345678901234567890123456789012x", "alice\x00"} {
		if _, err := NormalizeUsername(in); !errors.Is(err, ErrUsernameInvalid) {
			t.Errorf("%q: got %v, want ErrUsernameInvalid", in, err)
		}
	}
	for _, in := range []string{"admin", "Admin", "@parley", "SUPPORT"} {
		if _, err := NormalizeUsername(in); !errors.Is(err, ErrUsernameReserved) {
			t.Errorf("%q: got %v, want ErrUsernameReserved", in, err)
		}
	}
}
