package kat

import (
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"errors"
	"fmt"
	"io"
)

// typeMLKEM1024 is the type byte of an encoded ML-KEM-1024 key
// (protocol §2.1; keys.TypeMLKEM1024).
const typeMLKEM1024 = 0x0A

// Encapsulator returns the deterministic ML-KEM-1024 encapsulation that
// Parley's own vectors were made with: each call reads the 32-byte message
// m of FIPS 203 ML-KEM.Encaps_internal (§6.2) from r and encapsulates with
// crypto/mlkem/mlkemtest, which Go provides for known-answer tests only.
// Production code encapsulates with keys.KEMPublicKey.Encapsulate, which
// takes no randomness from its caller; this package is imported only by
// tests (repo_test.go checks it).
//
// The result has the type of pqxdh.Encapsulator and takes the encoded key
// 0x0A ‖ ek (protocol §2.1). kat imports neither pqxdh nor keys, so that
// their own tests can use it.
func Encapsulator(r io.Reader) func(encodedKey []byte) (sharedKey, ciphertext []byte, err error) {
	return func(encodedKey []byte) ([]byte, []byte, error) {
		var m [32]byte
		if _, err := io.ReadFull(r, m[:]); err != nil {
			return nil, nil, fmt.Errorf("kat: encapsulating: %w", err)
		}
		if len(encodedKey) != 1+mlkem.EncapsulationKeySize1024 || encodedKey[0] != typeMLKEM1024 {
			return nil, nil, errors.New("kat: encapsulating: not an encoded ML-KEM-1024 key")
		}
		ek, err := mlkem.NewEncapsulationKey1024(encodedKey[1:])
		if err != nil {
			return nil, nil, fmt.Errorf("kat: encapsulating: %w", err)
		}
		return mlkemtest.Encapsulate1024(ek, m[:])
	}
}
