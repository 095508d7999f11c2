package attachment

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// testKey is a fixed key, so that seeds and failures are reproducible.
func testKey(b byte) *Key {
	k, err := KeyFromBytes(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		panic(err)
	}
	return &k
}

func plaintext(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func encrypt(t testing.TB, pt []byte, key *Key) []byte {
	t.Helper()
	var ct bytes.Buffer
	digest, size, err := Encrypt(&ct, bytes.NewReader(pt), key)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(ct.Len()) || digest != sha256.Sum256(ct.Bytes()) {
		t.Fatalf("Encrypt reports %d bytes and digest %x for %d bytes", size, digest, ct.Len())
	}
	return ct.Bytes()
}

// decryptBoth decrypts ct in order and at random, and checks they agree.
func decryptBoth(t *testing.T, ct []byte, key *Key) ([]byte, error) {
	t.Helper()
	var seq bytes.Buffer
	_, err := Decrypt(&seq, bytes.NewReader(ct), key)
	r, rerr := NewRandomReader(bytes.NewReader(ct), int64(len(ct)), key)
	var all []byte
	if rerr == nil {
		all, rerr = io.ReadAll(r)
	}
	if (err == nil) != (rerr == nil) {
		t.Fatalf("in order: %v; at random: %v", err, rerr)
	}
	if err == nil && !bytes.Equal(seq.Bytes(), all) {
		t.Fatal("in order and at random decrypt to different plaintexts")
	}
	return seq.Bytes(), err
}

var sizes = []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3<<20 + 12345}

func TestRoundTrip(t *testing.T) {
	for _, n := range sizes {
		pt := plaintext(n, uint64(n))
		ct := encrypt(t, pt, testKey(1))
		if want, _ := CiphertextSize(int64(n)); int64(len(ct)) != want {
			t.Errorf("%d bytes: ciphertext is %d bytes, CiphertextSize says %d", n, len(ct), want)
		}
		if got, err := PlaintextSize(int64(len(ct))); err != nil || got != int64(n) {
			t.Errorf("%d bytes: PlaintextSize(%d) = %d, %v", n, len(ct), got, err)
		}
		got, err := decryptBoth(t, ct, testKey(1))
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%d bytes: round trip gives %d bytes, %v", n, len(got), err)
		}
		// Encryption is a function of the key and the plaintext: the
		// same file under the same key has the same digest.
		if again := encrypt(t, pt, testKey(1)); !bytes.Equal(again, ct) {
			t.Errorf("%d bytes: encryption is not deterministic under one key", n)
		}
	}
}

// TestWriterChunking: however the plaintext is split into writes, the
// ciphertext is the same.
func TestWriterChunking(t *testing.T) {
	pt := plaintext(3*ChunkSize+77, 7)
	want := encrypt(t, pt, testKey(1))
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var ct bytes.Buffer
		w := NewWriter(&ct, testKey(1))
		for rest := pt; len(rest) > 0; {
			k := min(len(rest), r.IntN(2*ChunkSize)+1)
			if r.IntN(4) == 0 { // end exactly on a chunk boundary
				k = min(len(rest), ChunkSize-(len(pt)-len(rest))%ChunkSize)
			}
			if n, err := w.Write(rest[:k]); n != k || err != nil {
				t.Fatal(n, err)
			}
			rest = rest[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ct.Bytes(), want) || w.Digest() != sha256.Sum256(want) || w.Size() != int64(len(want)) {
			t.Fatal("split writes give another ciphertext")
		}
		if _, err := w.Write([]byte{1}); err == nil {
			t.Fatal("Write after Close succeeded")
		}
	}
}

func TestRandomAccess(t *testing.T) {
	pt := plaintext(5*ChunkSize+999, 3)
	ct := encrypt(t, pt, testKey(2))
	r, err := NewRandomReader(bytes.NewReader(ct), int64(len(ct)), testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(pt)) {
		t.Fatalf("Size %d, want %d", r.Size(), len(pt))
	}
	rnd := rand.New(rand.NewPCG(4, 5))
	for range 500 {
		off := rnd.Int64N(int64(len(pt)) + 10)
		buf := make([]byte, rnd.IntN(3*ChunkSize))
		n, err := r.ReadAt(buf, off)
		want := pt[min(off, int64(len(pt))):]
		want = want[:min(len(want), len(buf))]
		if n != len(want) || !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d bytes, wrong", len(buf), off, n)
		}
		if n < len(buf) && err != io.EOF || n == len(buf) && err != nil {
			t.Fatalf("ReadAt(%d bytes, %d): %d, %v", len(buf), off, n, err)
		}
		// Seek and Read agree with ReadAt.
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(r, int64(len(buf))))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Seek(%d) and Read: %d bytes, %v", off, len(got), err)
		}
	}
	if _, err := r.Seek(-1, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || len(b) != 1 || b[0] != pt[len(pt)-1] {
		t.Fatalf("last byte: %x, %v", b, err)
	}
}

// TestEveryBitFlip: changing any bit of a ciphertext makes it fail.
func TestEveryBitFlip(t *testing.T) {
	for _, n := range []int{0, 1, 100} {
		ct := encrypt(t, plaintext(n, 9), testKey(3))
		for i := range len(ct) * 8 {
			bad := bytes.Clone(ct)
			bad[i/8] ^= 1 << (i % 8)
			if _, err := decryptBoth(t, bad, testKey(3)); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("%d bytes, bit %d flipped: %v", n, i, err)
			}
		}
	}
}

// TestTamperingWithChunks: cutting, reordering, adding or dropping chunks
// fails, as does the wrong key.
func TestTamperingWithChunks(t *testing.T) {
	pt := plaintext(3*ChunkSize+500, 11)
	ct := encrypt(t, pt, testKey(4))
	chunk := func(i int) []byte { return ct[i*encChunkSize : min((i+1)*encChunkSize, len(ct))] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	extra := encrypt(t, plaintext(100, 12), testKey(4))

	cases := map[string][]byte{
		"empty":                    nil,
		"swap chunks 0 and 1":      join(chunk(1), chunk(0), chunk(2), chunk(3)),
		"swap chunks 2 and 3":      join(chunk(0), chunk(1), chunk(3), chunk(2)),
		"drop chunk 1":             join(chunk(0), chunk(2), chunk(3)),
		"repeat chunk 0":           join(chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)),
		"append a copy of chunk 1": join(ct, chunk(1)),
		"append a last chunk":      join(ct, extra),
		"append one byte":          join(ct, []byte{0}),
		"append an empty tag":      join(ct, make([]byte, Overhead)),
		"another file's last":      join(chunk(0), chunk(1), chunk(2), extra),
	}
	for cut := range len(ct) / encChunkSize {
		for _, at := range []int{encChunkSize, encChunkSize - 1, encChunkSize/2 + 1, 1} {
			n := cut*encChunkSize + at
			cases["truncated to "+strconv.Itoa(n)] = ct[:n]
		}
	}
	cases["truncated by one byte"] = ct[:len(ct)-1]
	cases["truncated to the tag of the last chunk"] = ct[:len(ct)-500]
	for name, bad := range cases {
		if _, err := decryptBoth(t, bad, testKey(4)); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
	for _, n := range []int{0, 1, ChunkSize + 1} {
		ct := encrypt(t, plaintext(n, 1), testKey(5))
		if _, err := decryptBoth(t, ct, testKey(6)); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%d bytes under another key: %v", n, err)
		}
	}
}

// TestTruncatedAtBoundaryFailsByFlag: a ciphertext cut after a whole
// chunk has a plausible size; it fails only because that chunk was not
// sealed as the last.
func TestTruncatedAtBoundaryFailsByFlag(t *testing.T) {
	ct := encrypt(t, plaintext(2*ChunkSize+1, 13), testKey(7))
	cut := ct[:encChunkSize]
	if n, err := PlaintextSize(int64(len(cut))); err != nil || n != ChunkSize {
		t.Fatalf("PlaintextSize(%d) = %d, %v", len(cut), n, err)
	}
	if _, err := NewRandomReader(bytes.NewReader(cut), int64(len(cut)), testKey(7)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("NewRandomReader of a cut ciphertext: %v", err)
	}
	// A source shorter than the size it is said to have also fails.
	if _, err := NewRandomReader(bytes.NewReader(cut), int64(len(ct)), testKey(7)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("NewRandomReader of a short source: %v", err)
	}
}

func TestSizes(t *testing.T) {
	for c := range int64(3*encChunkSize + 2) {
		n, err := PlaintextSize(c)
		if err != nil {
			continue
		}
		if back, err := CiphertextSize(n); err != nil || back != c {
			t.Fatalf("PlaintextSize(%d) = %d, whose CiphertextSize is %d, %v", c, n, back, err)
		}
	}
	for _, c := range []int64{-1, 0, 15, encChunkSize + 16, encChunkSize + 1, 2*encChunkSize + 16} {
		if _, err := PlaintextSize(c); !errors.Is(err, ErrDecrypt) {
			t.Errorf("PlaintextSize(%d) = %v, want ErrDecrypt", c, err)
		}
	}
	if _, err := CiphertextSize(MaxSize + 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CiphertextSize(MaxSize+1): %v", err)
	}
	if c, err := CiphertextSize(MaxSize); err != nil || c != MaxSize+maxChunks*Overhead {
		t.Errorf("CiphertextSize(MaxSize) = %d, %v", c, err)
	}
}

func TestKeys(t *testing.T) {
	a, err := NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey(nil)
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two fresh keys are equal")
	}
	c, err := KeyFromBytes(a.Bytes())
	if err != nil || !bytes.Equal(c.Bytes(), a.Bytes()) {
		t.Fatal("KeyFromBytes does not round-trip")
	}
	if _, err := KeyFromBytes(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
}

// FuzzDecrypt: arbitrary bytes fail cleanly with ErrDecrypt, never panic;
// in order and at random agree; and whatever decrypts is exactly what
// encrypting its plaintext under that key gives (no other ciphertext
// opens). Seeded with valid ciphertexts of every shape. The key is made
// once. The multi-chunk seeds are 64 KiB: TestMain bounds how long the
// fuzzer minimises each new input (fuzztest.Main), or it would spend a
// minute on each and execute nothing meanwhile.
func FuzzDecrypt(f *testing.F) {
	key := testKey(8)
	for _, n := range []int{0, 1, 100, ChunkSize, ChunkSize + 1} {
		f.Add(encrypt(f, plaintext(n, uint64(n)), key))
	}
	f.Add([]byte{})
	f.Add(make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := decryptBoth(t, ct, key)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("error %v, want ErrDecrypt", err)
			}
			return
		}
		if again := encrypt(t, pt, key); !bytes.Equal(again, ct) {
			t.Fatalf("%d bytes decrypt but are not the encryption of their plaintext", len(ct))
		}
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
