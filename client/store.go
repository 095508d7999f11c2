package client

import (
	"context"
	"errors"
)

// Store is where a client keeps its state: a transactional store of
// byte values under (bucket, key) names. The SDK seals every value it
// writes (vault.go) before it reaches the Store, so a backend only ever
// holds ciphertext, except for the vault header itself. Backends:
// client/sqlitestore (the CLI's SQLite file) and client/memstore.
//
// Buckets and keys are short ASCII names chosen by the SDK; they are not
// secret (they include contacts' usernames), values are.
type Store interface {
	// Update runs fn in a read-write transaction: all of fn's writes
	// commit durably if it returns nil, and none do otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction of a Store.
type Tx interface {
	// Get returns the value, or ErrNotFound.
	Get(bucket, key string) ([]byte, error)
	Put(bucket, key string, value []byte) error
	// Delete removes the value, if any.
	Delete(bucket, key string) error
	// Scan calls fn for every key of bucket that starts with prefix, in
	// ascending byte order of the keys, until fn returns an error. The
	// keys are read before fn is first called, so fn may write.
	Scan(bucket, prefix string, fn func(key string, value []byte) error) error
}

// ErrNotFound is returned by Tx.Get for a missing value.
var ErrNotFound = errors.New("client: not found")

// PageScanner is a Tx that can read a scan a page at a time; the search
// index (search.go) uses it, where a backend has it, to read only the
// newest entries of a word. Without it, Tx.Scan serves.
type PageScanner interface {
	// ScanAfter is Scan limited to the first limit keys that sort after
	// after.
	ScanAfter(bucket, prefix, after string, limit int, fn func(key string, value []byte) error) error
}
