package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/fuzztest"
)

// FuzzParseBasic: any Authorization header parses without panicking, and
// what it accepts is a normalised username, a device ID above zero and the
// secret exactly as sent.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"alice.1:secret", "Bob.42:x", "alice:nodevice", "a.1:", ".1:x", "alice.0:x",
		"alice.4294967296:x", "alice.1.2:x", "ålice.1:x", ""} {
		f.Add(s, true)
	}
	f.Add("Basic !!!", false)
	f.Fuzz(func(t *testing.T, creds string, basic bool) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		if basic {
			user, pass, _ := strings.Cut(creds, ":")
			r.SetBasicAuth(user, pass)
		} else {
			r.Header.Set("Authorization", creds)
		}
		user, dev, secret, ok := parseBasic(r)
		if !ok {
			return
		}
		if n, err := api.NormalizeUsername(user); err != nil || n != user {
			t.Fatalf("accepted username %q is not normalised", user)
		}
		if dev == 0 {
			t.Fatal("accepted device 0")
		}
		if basic {
			if want := creds[strings.IndexByte(creds, ':')+1:]; strings.Contains(creds, ":") && secret != want {
				t.Fatalf("secret %q, sent %q", secret, want)
			}
			if !strings.Contains(strings.ToLower(creds), user+"."+strconv.FormatUint(uint64(dev), 10)) {
				t.Fatalf("accepted %s.%d from %q", user, dev, creds)
			}
		}
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
