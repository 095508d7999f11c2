package client

import (
	"context"
	"errors"
)

// Store is where a client keeps its state: a transactional store of
// byte values under (bucket, key) names. The SDK seals every value it
// writes (vault.go) before it reaches the Store, so a backend only ever
// holds ciphertext, except for the vault header itself. Backends:
// client/sqlitestore (the CLI's SQLite file); client/storetest is the
// conformance suite every backend passes.
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

// Pager is an optional interface of a Tx that reads a bucket a page at a
// time: a caller reading a whole bucket (Backup) holds one page in memory
// rather than the bucket, and the search index (search.go) reads only the
// newest entries of a word. client/sqlitestore implements it; over a Tx
// without it, Scan serves.
type Pager interface {
	// Page calls fn for at most limit keys of bucket that start with
	// prefix and sort after after ("" for the first page), in ascending
	// byte order, until fn returns an error.
	Page(bucket, prefix, after string, limit int, fn func(key string, value []byte) error) error
}
