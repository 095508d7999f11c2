package channel

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/protocoltest"
)

func newKey(t testing.TB, seed uint64) ed25519.PrivateKey {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	protocoltest.Rand(seed).Read(s)
	return ed25519.NewKeyFromSeed(s)
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func sample(genesis ed25519.PublicKey) []*Record {
	target := [IDSize]byte{7}
	img := (&Media{SHA256: [32]byte{1}, Size: 10, ContentType: "image/png", Width: 1, Height: 1}).Marshal()
	vid := (&Media{SHA256: [32]byte{2}, Size: 99, ContentType: "video/mp4", DurationMS: 3000, Poster: &[32]byte{1}}).Marshal()
	return []*Record{
		{Channel: genesis, ID: [IDSize]byte{1}, Time: 1795737600000, Kind: KindPost, Text: "**hello** [world](https://example.org)", Media: [][]byte{img, vid}},
		{Channel: genesis, ID: [IDSize]byte{2}, Time: 2, Kind: KindEdit, Target: &target, Text: "fixed"},
		{Channel: genesis, ID: [IDSize]byte{3}, Time: 3, Kind: KindDelete, Target: &target},
		{Channel: genesis, ID: [IDSize]byte{4}, Time: 4, Kind: KindPin, Target: &target},
		{Channel: genesis, ID: [IDSize]byte{5}, Time: 5, Kind: KindUnpin, Target: &target},
		{Channel: genesis, ID: [IDSize]byte{6}, Time: 6, Kind: KindProfile, Title: "News", About: "Daily", Avatar: img},
		{Channel: genesis, ID: [IDSize]byte{8}, Time: 8, Kind: KindProfile, Title: "News"},
	}
}

func TestSignVerify(t *testing.T) {
	k := newKey(t, 1)
	for _, r := range sample(pub(k)) {
		b, err := r.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NewChain(pub(k))
		got, err := c.Verify(b)
		if err != nil {
			t.Fatalf("kind %d: %v", r.Kind, err)
		}
		if again, _ := got.Sign(k); !bytes.Equal(again, b) {
			t.Errorf("kind %d: re-encoding differs", r.Kind)
		}
		// Forged: every single-bit change is refused, and so is every
		// strict prefix.
		for i := range len(b) * 8 {
			m := bytes.Clone(b)
			m[i/8] ^= 1 << (i % 8)
			if _, err := c.Verify(m); err == nil {
				t.Fatalf("kind %d: bit %d flipped verifies", r.Kind, i)
			}
		}
		for n := range len(b) {
			if _, err := c.Verify(b[:n]); err == nil {
				t.Fatalf("kind %d: prefix %d verifies", r.Kind, n)
			}
		}
	}
}

func TestOtherKeyOrChannel(t *testing.T) {
	k, other := newKey(t, 1), newKey(t, 2)
	r := sample(pub(k))[0]
	b, _ := r.Sign(other) // claims k's channel, signed by another key
	c, _ := NewChain(pub(k))
	if _, err := c.Verify(b); !errors.Is(err, ErrSignature) {
		t.Fatalf("signed by another key: %v", err)
	}
	r2 := sample(pub(other))[0]
	b2, _ := r2.Sign(other)
	if _, err := c.Verify(b2); !errors.Is(err, ErrWrongChannel) {
		t.Fatalf("another channel's record: %v", err)
	}
}

func TestHandover(t *testing.T) {
	k0, k1 := newKey(t, 1), newKey(t, 2)
	g := pub(k0)
	c, _ := NewChain(g)
	post := func(k ed25519.PrivateKey, epoch uint32, time int64) []byte {
		r := &Record{Channel: g, Epoch: epoch, ID: [IDSize]byte{byte(time)}, Time: time, Kind: KindPost, Text: "x"}
		b, err := r.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	early := post(k1, 1, 5)
	if _, err := c.Verify(early); !errors.Is(err, ErrEpoch) {
		t.Fatalf("epoch-1 record before the handover: %v", err)
	}
	ho := &Record{Channel: g, Epoch: 0, ID: [IDSize]byte{99}, Time: 100, Kind: KindHandover, NewKey: pub(k1)}
	hb, _ := ho.Sign(k0)
	if _, err := c.Verify(hb); err != nil || c.Epoch() != 1 {
		t.Fatalf("handover: %v, epoch %d", err, c.Epoch())
	}
	if _, err := c.Verify(post(k1, 1, 150)); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := c.Verify(post(k0, 0, 50)); err != nil {
		t.Fatalf("old key, dated before the handover: %v", err)
	}
	if _, err := c.Verify(post(k0, 0, 150)); !errors.Is(err, ErrEpoch) {
		t.Fatalf("retired key, dated after its retirement: %v", err)
	}
	// The retired key cannot hand over again (fork the chain).
	fork := &Record{Channel: g, Epoch: 0, ID: [IDSize]byte{98}, Time: 90, Kind: KindHandover, NewKey: pub(newKey(t, 3))}
	fb, _ := fork.Sign(k0)
	if _, err := c.Verify(fb); !errors.Is(err, ErrEpoch) {
		t.Fatalf("fork by the retired key: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	g := pub(newKey(t, 1))
	bad := []*Record{
		{Channel: g, Kind: KindEdit, Text: "no target"},
		{Channel: g, Kind: KindPost, Target: &[IDSize]byte{}},
		{Channel: g, Kind: KindProfile},
		{Channel: g, Kind: 0},
		{Channel: g[:5], Kind: KindPost},
		{Channel: g, Kind: KindPost, Media: make([][]byte, MaxMedia+1)},
	}
	for i, r := range bad {
		if _, err := r.Sign(newKey(t, 1)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: %v", i, err)
		}
	}
}

// FuzzParse: parsing arbitrary bytes never panics, and what parses
// re-encodes to the same bytes.
func FuzzParse(f *testing.F) {
	k := newKey(f, 1)
	for _, r := range sample(pub(k)) {
		b, _ := r.Sign(k)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		again := append(r.appendBody(nil), r.Signature...)
		if !bytes.Equal(again, b) {
			t.Fatalf("parse/encode of %x differs", b)
		}
	})
}

func TestMediaRoundTrip(t *testing.T) {
	poster := [32]byte{9}
	for _, m := range []*Media{
		{SHA256: [32]byte{1}, Size: 1234, ContentType: "image/jpeg", Width: 640, Height: 480},
		{SHA256: [32]byte{2}, Size: 1 << 30, ContentType: "video/mp4", Width: 1280, Height: 720, DurationMS: 15000, Poster: &poster},
	} {
		b := m.Marshal()
		got, err := ParseMedia(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
	}
	bad := (&Media{ContentType: "video/mp4; codecs=avc1"}).Marshal() // parameters are not allowed
	if _, err := ParseMedia(bad); err == nil {
		t.Fatal("content type with parameters accepted")
	}
}

func FuzzParseMedia(f *testing.F) {
	f.Add((&Media{SHA256: [32]byte{1}, Size: 5, ContentType: "image/png"}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMedia(b)
		if err == nil && !bytes.Equal(m.Marshal(), b) {
			t.Fatalf("parse/marshal of %x differs", b)
		}
	})
}

func TestFold(t *testing.T) {
	g := pub(newKey(t, 1))
	rec := func(id byte, k Kind, target byte, text string) Sequenced {
		r := &Record{Channel: g, ID: [IDSize]byte{id}, Kind: k, Text: text, Time: int64(id)}
		if target != 0 {
			r.Target = &[IDSize]byte{target}
		}
		return Sequenced{Seq: uint64(id), Record: r}
	}
	posts := Fold([]Sequenced{
		rec(1, KindPost, 0, "a"),
		rec(2, KindPost, 0, "b"),
		rec(3, KindPost, 0, "c"),
		rec(4, KindEdit, 1, "a2"),
		rec(5, KindDelete, 2, ""),
		rec(6, KindPin, 1, ""),
		rec(7, KindEdit, 9, "no such post"),
	})
	if len(posts) != 2 || posts[0].Text != "c" || posts[1].Text != "a2" || !posts[1].Pinned ||
		len(posts[1].Edits) != 1 || posts[1].Edits[0] != "a" || posts[1].Edited != 4 {
		t.Fatalf("folded: %+v %+v", posts[0], posts[1])
	}
}
