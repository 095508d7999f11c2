// Package storetest is the conformance suite for store.Store: every backend
// (the embedded sqlite one, a PostgreSQL one) runs Run from its own tests and
// must pass all of it. The suite tests the contract written on the Store
// interface, through its methods only, never a backend's tables.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// Open opens an empty store for one subtest. Reopen closes that store and
// opens the same data again, for the durability tests. The backend closes
// whatever store is open last in t.Cleanup (a Close that reports
// store.ErrClosed there is fine: some subtests close the store themselves).
// Subtests run in parallel, so Open must give each call a store of its own.
type Open func(t *testing.T) (s store.Store, reopen func() store.Store)

// Run runs the conformance suite against the backend that open opens.
func Run(t *testing.T, open Open) {
	// First, before any parallel subtest exists, so that the goroutine
	// count is the backend's alone.
	t.Run("CloseStopsGoroutines", func(t *testing.T) { testCloseStopsGoroutines(t, open) })

	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, reopen func() store.Store)
	}{
		{"AccountCreateLookup", testAccountCreateLookup},
		{"CreateAccountStoresPreKeys", testCreateAccountPreKeys},
		{"UsernameTaken", testUsernameTaken},
		{"Invites", testInvites},
		{"Devices", testDevices},
		{"DeviceIDsNeverReused", testDeviceIDsNeverReused},
		{"RemoveDeviceRemovesPreKeysAndQueue", testRemoveDeviceCascade},
		{"LinkTokens", testLinkTokens},
		{"LinkTokenAccount", testLinkTokenAccount},
		{"PreKeysArriveWithTheirDevice", testPreKeysArriveWithDevice},
		{"RecoveryHashStored", testRecoveryHashStored},
		{"RecoverAccount", testRecoverAccount},
		{"RecoverRefused", testRecoverRefused},

		{"SetPreKeys", testSetPreKeys},
		{"SetPreKeysAtomic", testSetPreKeysAtomic},
		{"SignedAndLastResortPreKeys", testSignedAndLastResort},
		{"OneTimePreKeys", testOneTimePreKeys},
		{"TakeBundleConcurrent", testTakeBundleConcurrent},
		{"BaseBundle", testBaseBundle},

		{"EnqueueSeqs", testEnqueueSeqs},
		{"EnqueueDedup", testEnqueueDedup},
		{"EnqueueDedupOnlyWhileQueued", testEnqueueDedupOnlyWhileQueued},
		{"EnqueueQueueFull", testEnqueueQueueFull},
		{"EnqueueSenderShare", testEnqueueSenderShare},
		{"EnqueueUnknownDevice", testEnqueueUnknownDevice},
		{"PendingAfterLimit", testPendingAfterLimit},
		{"Expiry", testExpiry},
		{"AckOwnQueueOnly", testAckOwnQueueOnly},
		{"EnqueueConcurrent", testEnqueueConcurrent},
		{"Durability", testDurability},
		{"EnqueueShared", testEnqueueShared},
		{"EnqueueSharedBounds", testEnqueueSharedBounds},
		{"SharedContentGoes", testSharedContentGoes},
		{"GroupLinks", testGroupLinks},
		{"Profiles", testProfiles},
		{"ProfileRace", testProfileRace},

		{"Provisioning", testProvisioning},

		{"Uploads", testUploads},
		{"BlobOwners", testBlobOwners},
		{"Quota", testQuota},
		{"RetainBlob", testRetainBlob},
		{"MediaExpiry", testMediaExpiry},
		{"MediaClosed", testMediaClosed},
		{"Posters", testPosters},

		{"ChannelCreate", testChannelCreate},
		{"ChannelRecords", testChannelRecords},
		{"ChannelFollow", testChannelFollow},
		{"ChannelSearch", testChannelSearch},
		{"Moderation", testModeration},
		{"OperatorKey", testOperatorKey},

		{"UnknownDevices", testUnknownDevices},
		{"ExpiresAtNowIsExpired", testExpiryBoundary},
		{"CancelledCalls", testCancelledCalls},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, reopen := open(t)
			tc.fn(t, s, reopen)
		})
	}
}

// now is the current time to the millisecond, the precision a backend may
// keep.
func now() time.Time { return time.UnixMilli(time.Now().UnixMilli()) }

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func credential(name string, id int) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "secret of %s/%d", name, id))
}

// newAccount creates an account with its first device.
func newAccount(t *testing.T, s store.Store, name string) (store.Account, store.Device) {
	t.Helper()
	a, d, err := s.CreateAccount(t.Context(),
		store.Account{Username: name, IdentityKey: randBytes(t, 33), Created: now()},
		store.Device{Name: name + " phone", CredentialHash: credential(name, 1), Created: now()},
		nil, store.PreKeySet{})
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a, d
}

// addDevice adds a device to an existing account.
func addDevice(t *testing.T, s store.Store, a store.Account, name string) store.Device {
	t.Helper()
	d, err := s.AddDevice(t.Context(), store.Device{
		AccountID: a.ID, Name: name, CredentialHash: credential(a.Username, len(name)), Created: now(),
	}, 10)
	if err != nil {
		t.Fatalf("AddDevice(%s): %v", name, err)
	}
	return d
}

// envelope is message n from one device to another; n makes its ClientID.
func envelope(from store.Device, fromName string, to store.Device, n int, created time.Time) store.Envelope {
	var id [16]byte
	binary.BigEndian.PutUint32(id[:4], from.ID)
	binary.BigEndian.PutUint64(id[8:], uint64(n))
	return store.Envelope{
		DestAccount:   to.AccountID,
		DestDevice:    to.ID,
		SenderAccount: from.AccountID,
		SenderName:    fromName,
		SenderDevice:  from.ID,
		ClientID:      id,
		Type:          uint8(1 + n%3),
		Content:       fmt.Appendf(nil, "ciphertext %d from %d/%d", n, from.AccountID, from.ID),
		Created:       created,
		Expires:       created.Add(time.Hour),
	}
}

func sameDevice(got, want store.Device) bool {
	return got.AccountID == want.AccountID && got.ID == want.ID && got.Name == want.Name &&
		got.CredentialHash == want.CredentialHash && got.Created.Equal(want.Created)
}

func sameEnvelope(got, want store.Envelope) bool {
	return got.Seq == want.Seq &&
		got.DestAccount == want.DestAccount && got.DestDevice == want.DestDevice &&
		got.SenderAccount == want.SenderAccount && got.SenderName == want.SenderName &&
		got.SenderDevice == want.SenderDevice && got.ClientID == want.ClientID &&
		got.Type == want.Type && bytes.Equal(got.Content, want.Content) &&
		got.Created.Equal(want.Created) && got.Expires.Equal(want.Expires)
}

// checkPending checks that the device's pending queue at time at is want.
func checkPending(t *testing.T, s store.Store, d store.Device, at time.Time, want ...store.Envelope) {
	t.Helper()
	got, err := s.Pending(t.Context(), d.AccountID, d.ID, 0, 1000, at)
	if err != nil {
		t.Fatalf("Pending(%d/%d): %v", d.AccountID, d.ID, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Pending(%d/%d): %d envelopes, want %d", d.AccountID, d.ID, len(got), len(want))
	}
	for i := range want {
		if !sameEnvelope(got[i], want[i]) {
			t.Fatalf("Pending(%d/%d)[%d] = %+v, want %+v", d.AccountID, d.ID, i, got[i], want[i])
		}
	}
}

func checkDepth(t *testing.T, s store.Store, d store.Device, want int) {
	t.Helper()
	n, err := s.QueueDepth(t.Context(), d.AccountID, d.ID)
	if err != nil || n != want {
		t.Fatalf("QueueDepth(%d/%d) = %d, %v; want %d", d.AccountID, d.ID, n, err, want)
	}
}

func checkTotal(t *testing.T, s store.Store, want int64) {
	t.Helper()
	n, err := s.QueuedTotal(t.Context())
	if err != nil || n != want {
		t.Fatalf("QueuedTotal = %d, %v; want %d", n, err, want)
	}
}

// testCloseStopsGoroutines checks that a store's goroutines end with Close,
// including after callers gave up on their ctx.
func testCloseStopsGoroutines(t *testing.T, open Open) {
	before := runtime.NumGoroutine()
	s, _ := open(t)
	a, d := newAccount(t, s, "leak")
	for i := range 20 {
		e := envelope(d, a.Username, d, i, now())
		if _, err := s.Enqueue(t.Context(), []store.Envelope{e}, store.QueueLimits{MaxQueue: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pending(t.Context(), a.ID, d.ID, 0, 10, now()); err != nil {
		t.Fatal(err)
	}
	// Callers that give up while their envelopes wait or commit.
	var wg sync.WaitGroup
	for i := range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		wg.Go(func() {
			e := envelope(d, a.Username, d, 100+i, now())
			_, err := s.Enqueue(ctx, []store.Envelope{e}, store.QueueLimits{MaxQueue: 1000})
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Enqueue with a cancelled ctx: %v", err)
			}
		})
		cancel()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Goroutines of closed connection pools may take a moment to return.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines before Open, %d after Close:\n%s", before, runtime.NumGoroutine(), buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
