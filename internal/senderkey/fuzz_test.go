package senderkey

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/wire"
)

// fuzzReceiver is a receiver state that the fuzz targets start from: two
// chains, with skipped keys, of the sender whose messages seed the corpus.
func fuzzReceiver(f *testing.F) (state []byte, msgs [][]byte, dists [][]byte) {
	f.Helper()
	s, r := newGroup(f, 60)
	dists = append(dists, s.Distribution())
	msgs = encryptN(f, s, 4)
	mustDecrypt(f, r, msgs[2], plaintextN(2))
	if err := s.Rotate(testRand(61)); err != nil {
		f.Fatal(err)
	}
	dists = append(dists, s.Distribution())
	if err := r.Process(dists[1]); err != nil {
		f.Fatal(err)
	}
	msgs = append(msgs, encryptN(f, s, 2)...)
	return r.Marshal(), msgs, dists
}

// addVectorSeeds adds every value of the vector file whose key starts
// with prefix.
func addVectorSeeds(f *testing.F, prefix string) {
	secs, err := kat.Load(vectorFile)
	if err != nil {
		f.Fatal(err)
	}
	for _, sec := range secs {
		for _, k := range sec.Keys {
			if strings.HasPrefix(k, prefix) {
				b, err := sec.Hex(k)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
}

// checkPrefixes fails if parse accepts one of the strict prefixes of b
// that fuzztest.PrefixLengths picks (all of them for inputs up to 112
// bytes): checking every prefix of every input costs O(n²) per input.
func checkPrefixes(t *testing.T, b []byte, parse func([]byte) error) {
	t.Helper()
	fuzztest.RefusesPrefixes(t, b, parse)
}

func TestMain(m *testing.M) { fuzztest.Main(m) }

func FuzzSenderKeyMessage(f *testing.F) {
	state, msgs, _ := fuzzReceiver(f)
	for _, m := range msgs {
		f.Add(m)
	}
	addVectorSeeds(f, "message_")
	f.Add([]byte{})
	f.Add([]byte{wire.Version, byte(wire.TypeSenderKey)})

	f.Fuzz(func(t *testing.T, b []byte) {
		m, perr := wire.ParseSenderKeyMessage(b)
		if perr == nil {
			if got := m.Marshal(); !bytes.Equal(got, b) {
				t.Fatalf("re-marshal differs:\n%x\n%x", got, b)
			}
			checkPrefixes(t, b, func(p []byte) error {
				_, err := wire.ParseSenderKeyMessage(p)
				return err
			})
		}
		r, err := UnmarshalReceiver(state)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := r.DecryptAt(b, testNow)
		switch {
		case err == nil:
			if perr != nil || pt == nil {
				t.Fatal("decrypted a message that does not parse")
			}
		case errors.Is(err, ErrNoSenderKey) && perr == nil, errors.Is(err, ErrDecrypt):
			if !bytes.Equal(r.Marshal(), state) {
				t.Fatal("failed decrypt changed the state")
			}
		default:
			t.Fatalf("unexpected error %v (parse error %v)", err, perr)
		}
	})
}

func FuzzDistributionMessage(f *testing.F) {
	state, _, dists := fuzzReceiver(f)
	for _, d := range dists {
		f.Add(d)
	}
	addVectorSeeds(f, "distribution")
	f.Add([]byte{wire.Version, byte(wire.TypeSenderKeyDistribution)})

	f.Fuzz(func(t *testing.T, b []byte) {
		m, perr := wire.ParseSenderKeyDistributionMessage(b)
		if perr == nil {
			if got := m.Marshal(); !bytes.Equal(got, b) {
				t.Fatalf("re-marshal differs:\n%x\n%x", got, b)
			}
			checkPrefixes(t, b, func(p []byte) error {
				_, err := wire.ParseSenderKeyDistributionMessage(p)
				return err
			})
		}
		for _, st := range [][]byte{state, new(Receiver).Marshal()} {
			r, err := UnmarshalReceiver(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Process(b); err != nil {
				if !errors.Is(err, ErrInvalidDistribution) {
					t.Fatalf("unexpected error %v", err)
				}
				if !bytes.Equal(r.Marshal(), st) {
					t.Fatal("failed Process changed the state")
				}
				continue
			}
			if perr != nil {
				t.Fatal("processed a distribution that does not parse")
			}
			after := r.Marshal()
			if c, err := UnmarshalReceiver(after); err != nil || !bytes.Equal(c.Marshal(), after) {
				t.Fatalf("state after Process does not round-trip: %v", err)
			}
		}
	})
}

func FuzzSenderKeyState(f *testing.F) {
	sender, receivers := testStates(f)
	f.Add(sender)
	for _, r := range receivers {
		f.Add(r)
	}
	_, msgs, _ := fuzzReceiver(f)

	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := UnmarshalSender(b); err == nil {
			if got := s.Marshal(); !bytes.Equal(got, b) {
				t.Fatalf("sender re-marshal differs:\n%x\n%x", got, b)
			}
			checkPrefixes(t, b, func(p []byte) error {
				_, err := UnmarshalSender(p)
				return err
			})
			if _, err := s.Encrypt([]byte("fuzz"), testRand(1)); err != nil && !errors.Is(err, ErrChainExhausted) {
				t.Fatal(err)
			}
		} else if !errors.Is(err, ErrInvalidState) {
			t.Fatalf("sender: unexpected error %v", err)
		}

		r, err := UnmarshalReceiver(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("receiver: unexpected error %v", err)
			}
			return
		}
		if got := r.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("receiver re-marshal differs:\n%x\n%x", got, b)
		}
		checkPrefixes(t, b, func(p []byte) error {
			_, err := UnmarshalReceiver(p)
			return err
		})
		for _, m := range msgs {
			before := r.Marshal()
			if _, err := r.DecryptAt(m, testNow); err != nil && !bytes.Equal(before, r.Marshal()) {
				t.Fatal("failed decrypt changed the state")
			}
		}
	})
}
