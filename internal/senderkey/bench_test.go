package senderkey

import (
	"testing"
)

const benchSize = 1 << 10

func BenchmarkEncrypt(b *testing.B) {
	s, _ := newGroup(b, 80)
	pt := make([]byte, benchSize)
	b.ReportAllocs()
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := s.Encrypt(pt, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	s, r := newGroup(b, 81)
	pt := make([]byte, benchSize)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		m, err := s.Encrypt(pt, nil)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m
	}
	b.ReportAllocs()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Decrypt(msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
