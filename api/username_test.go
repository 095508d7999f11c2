package api

import (
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
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

// FuzzNormalizeUsername: any input normalises without panicking, and an
// accepted name is stable under normalisation and within the rules.
func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"alice", "Alice", "@bob_2", "admin", "count", "x", "ålice", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeUsername(s)
		if err != nil {
			return
		}
		if again, err := NormalizeUsername(n); err != nil || again != n {
			t.Fatalf("%q -> %q is not stable", s, n)
		}
		if len(n) < MinUsername || len(n) > MaxUsername {
			t.Fatalf("%q has length %d", n, len(n))
		}
		for _, c := range []byte(n) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
				t.Fatalf("%q holds %q", n, c)
			}
		}
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
