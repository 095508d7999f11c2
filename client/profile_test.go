package client

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/wire"
)

func sampleProfiles() []*profilePlain {
	avatar := &filePointer{Blob: bytes.Repeat([]byte{0xa1}, 32), Key: bytes.Repeat([]byte{0xa2}, 32), Size: 4096,
		Name: avatarName, ContentType: "image/png"}
	return []*profilePlain{
		{Version: 1},
		{Version: 2, Name: "Alice"},
		{Version: 3, About: "likes tea"},
		{Version: 4, Name: "Zoë 🫖", About: "ünïcödé", Avatar: avatar},
		{Version: maxProfileVersion, Name: strings.Repeat("n", MaxProfileName), About: strings.Repeat("a", MaxProfileAbout),
			Avatar: &filePointer{Blob: avatar.Blob, Key: avatar.Key, Size: maxAvatar, Name: avatarName,
				ContentType: "image/" + strings.Repeat("x", maxAttachName-6)}},
	}
}

// TestProfilePlainRoundTrip: every sample decodes to itself, re-encodes to
// the same bytes, and no strict prefix decodes but one that ends before an
// optional field.
func TestProfilePlainRoundTrip(t *testing.T) {
	for _, p := range sampleProfiles() {
		b := p.marshal()
		got, err := parseProfilePlain(b)
		if err != nil {
			t.Fatalf("version %d: %v", p.Version, err)
		}
		if again := got.marshal(); !bytes.Equal(again, b) {
			t.Errorf("version %d: re-encoding differs", p.Version)
		}
		if got.Name != p.Name || got.About != p.About || (got.Avatar == nil) != (p.Avatar == nil) {
			t.Errorf("version %d parsed as %+v", p.Version, got)
		}
		// A prefix that ends before an optional field is that shorter
		// profile; any other prefix is refused.
		fuzztest.RefusesEveryPrefix(t, b, func(b []byte) error {
			if q, err := parseProfilePlain(b); err == nil && !bytes.Equal(q.marshal(), b) {
				return nil
			}
			return errProfile
		})
	}
}

// TestProfilePlainRefuses: what no client writes is refused.
func TestProfilePlainRefuses(t *testing.T) {
	enc := func(fn func(e *wire.Encoder)) []byte {
		var e wire.Encoder
		fn(&e)
		return e.B
	}
	avatar := func(e *wire.Encoder, typ string) {
		e.Bytes(pAvatarBlob, make([]byte, 32))
		e.Bytes(pAvatarKey, make([]byte, 32))
		e.Uint(pAvatarSize, 1)
		e.Bytes(pAvatarType, []byte(typ))
	}
	bad := map[string][]byte{
		"empty":             nil,
		"version 0":         enc(func(e *wire.Encoder) { e.Uint(pVersion, 0) }),
		"version over 2^53": enc(func(e *wire.Encoder) { e.Uint(pVersion, maxProfileVersion+1) }),
		"empty name":        enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Bytes(pName, nil) }),
		"name too long":     enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Bytes(pName, make([]byte, MaxProfileName+1)) }),
		"about too long":    enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Bytes(pAbout, make([]byte, MaxProfileAbout+1)) }),
		"name not UTF-8":    enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Bytes(pName, []byte{0xff}) }),
		"avatar not image":  enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); avatar(e, "text/html") }),
		"avatar half":       enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Bytes(pAvatarBlob, make([]byte, 32)) }),
		"avatar too large": enc(func(e *wire.Encoder) {
			e.Uint(pVersion, 1)
			e.Bytes(pAvatarBlob, make([]byte, 32))
			e.Bytes(pAvatarKey, make([]byte, 32))
			e.Uint(pAvatarSize, maxAvatar+1)
			e.Bytes(pAvatarType, []byte("image/png"))
		}),
		"fields out of order": enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Bytes(pAbout, []byte("a")); e.Bytes(pName, []byte("n")) }),
		"unknown field":       enc(func(e *wire.Encoder) { e.Uint(pVersion, 1); e.Uint(9, 1) }),
	}
	for name, b := range bad {
		if _, err := parseProfilePlain(b); !errors.Is(err, errProfile) {
			t.Errorf("%s: %v, want errProfile", name, err)
		}
	}
}

// TestProfileSealOpen: a sealed profile opens with its key, username and
// version only; every ciphertext has one size; altered bytes, another
// key, another account's name or another version are ErrProfileRefused.
func TestProfileSealOpen(t *testing.T) {
	var k, other profileKey
	rand.Read(k[:])
	rand.Read(other[:])
	for _, p := range sampleProfiles() {
		ct, err := sealProfile(k, "alice", p, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != profileCipherSize {
			t.Fatalf("version %d: %d bytes, want %d whatever the profile", p.Version, len(ct), profileCipherSize)
		}
		got, err := openProfile(k, "alice", p.Version, ct)
		if err != nil || !bytes.Equal(got.marshal(), p.marshal()) {
			t.Fatalf("version %d does not open: %v", p.Version, err)
		}
		for what, try := range map[string]func() error{
			"another key":     func() error { _, err := openProfile(other, "alice", p.Version, ct); return err },
			"another account": func() error { _, err := openProfile(k, "carol", p.Version, ct); return err },
			"another version": func() error { _, err := openProfile(k, "alice", p.Version+1, ct); return err },
			"a flipped bit": func() error {
				b := bytes.Clone(ct)
				b[len(b)/2] ^= 1
				_, err := openProfile(k, "alice", p.Version, b)
				return err
			},
			"cut short": func() error { _, err := openProfile(k, "alice", p.Version, ct[:len(ct)-1]); return err },
			"format 2": func() error {
				b := bytes.Clone(ct)
				b[0] = 2
				_, err := openProfile(k, "alice", p.Version, b)
				return err
			},
			"no bytes":     func() error { _, err := openProfile(k, "alice", p.Version, nil); return err },
			"a byte added": func() error { _, err := openProfile(k, "alice", p.Version, append(bytes.Clone(ct), 0)); return err },
		} {
			if err := try(); err != ErrProfileRefused {
				t.Errorf("version %d, %s: %v, want ErrProfileRefused", p.Version, what, err)
			}
		}
	}
	// A plaintext whose inner version is not the outer one is refused,
	// even under the right key and associated data.
	p := &profilePlain{Version: 7, Name: "x"}
	ct, _ := sealProfile(k, "alice", p, rand.Reader)
	aead, _ := profileAEAD(k)
	padded, _ := aead.Open(nil, ct[1:profileHead], ct[profileHead:], profileAD("alice", 7))
	resealed := aead.Seal(bytes.Clone(ct[:profileHead]), ct[1:profileHead], padded, profileAD("alice", 8))
	if _, err := openProfile(k, "alice", 8, resealed); err != ErrProfileRefused {
		t.Fatalf("inner version 7 served as 8: %v", err)
	}
}

// TestProfileText: what the user types is checked; what others wrote is
// made safe to show, idempotently.
func TestProfileText(t *testing.T) {
	for _, s := range []string{"a\x1b[2Jb", "rtl\u202eevil", "two\nlines", "\xff", "tab\there", "sep\u2028x"} {
		if _, err := checkProfileText(s, MaxProfileName, ErrProfileNameTooLong); !errors.Is(err, ErrProfileText) {
			t.Errorf("checkProfileText(%q) = %v, want ErrProfileText", s, err)
		}
	}
	if got, err := checkProfileText("  Zoë  ", MaxProfileName, ErrProfileNameTooLong); err != nil || got != "Zoë" {
		t.Errorf("checkProfileText trims to %q, %v", got, err)
	}
	if _, err := checkProfileText(strings.Repeat("é", MaxProfileName/2+1), MaxProfileName, ErrProfileNameTooLong); !errors.Is(err, ErrProfileNameTooLong) {
		t.Errorf("a long name: %v", err)
	}
	for in, want := range map[string]string{
		"Alice":                     "Alice",
		"a\x1b[2Jb":                 "a[2Jb",
		"rtl\u202eevil\u2066":       "rtlevil",
		" two\n\nlines\t here ":     "two lines here",
		"bad\xffbyte":               "badbyte",
		"\u00a0nbsp\u2028sep\u0085": "nbsp sep",
		"\x00\x07\x7f\u009b":        "",
		strings.Repeat("é", 100):    strings.Repeat("é", MaxProfileName/2),
	} {
		got := sanitizeProfileText(in, MaxProfileName)
		if got != want {
			t.Errorf("sanitizeProfileText(%q) = %q, want %q", in, got, want)
		}
		if again := sanitizeProfileText(got, MaxProfileName); again != got {
			t.Errorf("sanitizeProfileText is not idempotent on %q: %q", got, again)
		}
	}
}

// FuzzProfilePlain: the decoder of profile plaintexts (what a contact's
// profile key opens), seeded with the samples and their edits, never
// panics; what it accepts re-encodes to the same bytes, shows safely, and
// no strict prefix that is not itself canonical is accepted.
func FuzzProfilePlain(f *testing.F) {
	for _, p := range sampleProfiles() {
		b := p.marshal()
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProfilePlain(b)
		if err != nil {
			if !errors.Is(err, errProfile) {
				t.Fatalf("error %v is not errProfile", err)
			}
			return
		}
		if !bytes.Equal(p.marshal(), b) {
			t.Fatalf("parse/marshal of %x differs", b)
		}
		if s := sanitizeProfileText(p.Name, MaxProfileName); strings.ContainsAny(s, "\x1b\n\r\u202e") || len(s) > MaxProfileName {
			t.Fatalf("name %q shows as %q", p.Name, s)
		}
		for _, n := range fuzztest.PrefixLengths(b) {
			if q, err := parseProfilePlain(b[:n]); err == nil && !bytes.Equal(q.marshal(), b[:n]) {
				t.Fatalf("prefix of %d/%d bytes parsed", n, len(b))
			}
		}
	})
}

// FuzzProfileOpen: arbitrary bytes served as a profile never open, never
// panic; only the genuine ciphertext does.
func FuzzProfileOpen(f *testing.F) {
	var k profileKey
	p := &profilePlain{Version: 3, Name: "Alice", About: "hi"}
	valid, err := sealProfile(k, "alice", p, bytes.NewReader(make([]byte, 24)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:profileHead])
	f.Add([]byte{profileFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := openProfile(k, "alice", 3, b); err == nil && !bytes.Equal(b, valid) {
			t.Fatalf("forged profile %x opened", b)
		} else if err != nil && err != ErrProfileRefused {
			t.Fatalf("error %v, want ErrProfileRefused alone", err)
		}
	})
}
