package ratchet_test

import (
	"fmt"
	"testing"

	"github.com/parley-chat/parley/internal/ratchet"
)

var benchSizes = []int{100, 1024, 64 * 1024}

func BenchmarkEncrypt(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			alice, _ := newPair(b, 1)
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := alice.Encrypt(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecrypt decrypts messages of one chain in order. Messages are
// made in batches outside the timer.
func BenchmarkDecrypt(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			alice, bob := newPair(b, 1)
			pt := make([]byte, size)
			const batch = 256
			msgs := make([][]byte, 0, batch)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(msgs) == 0 {
					b.StopTimer()
					for range batch {
						m, err := alice.Encrypt(pt)
						if err != nil {
							b.Fatal(err)
						}
						msgs = append(msgs, m)
					}
					b.StartTimer()
				}
				if _, err := bob.Decrypt(msgs[0]); err != nil {
					b.Fatal(err)
				}
				msgs = msgs[1:]
			}
		})
	}
}

// BenchmarkRoundTrip is one encrypt and one decrypt in the same chain: the
// per-message cost of a conversation with no DH ratchet step.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			alice, bob := newPair(b, 1)
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				m, err := alice.Encrypt(pt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bob.Decrypt(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRatchetStep is one message each way, so every decryption is a
// DH ratchet step (two X25519 agreements and a key generation).
func BenchmarkRatchetStep(b *testing.B) {
	alice, bob := newPair(b, 1)
	pt := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range [][2]*ratchet.Session{{alice, bob}, {bob, alice}} {
			m, err := p[0].Encrypt(pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p[1].Decrypt(m); err != nil {
				b.Fatal(err)
			}
		}
	}
}
