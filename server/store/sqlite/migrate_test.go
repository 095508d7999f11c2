package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// TestMigrateKeepsAccounts: a database written under the first schema
// opens under the newest with its accounts and devices, and an account
// from before 0002 has no recovery hash, so it cannot be recovered.
func TestMigrateKeepsAccounts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, after, err := migrateOne(ctx, conn, ms[:1]); err != nil || after != 1 {
		t.Fatalf("migrate to version 1 = %d, %v", after, err)
	}
	for _, q := range []string{
		"INSERT INTO accounts (username, identity_key, created, next_device_id) VALUES ('old', x'05', 1, 2)",
		"INSERT INTO devices (account_id, id, name, credential_hash, created) VALUES (1, 1, 'phone', zeroblob(32), 1)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(conn.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}

	s := openFile(t, path)
	defer s.Close()
	a, d, err := s.DeviceByName(ctx, "old", 1)
	if err != nil || a.RecoveryHash != nil || d.Name != "phone" {
		t.Fatalf("DeviceByName after migration = %+v, %+v, %v; want the device, and no recovery hash", a, d, err)
	}
	_, _, _, err = s.RecoverAccount(ctx, store.Recovery{Username: "old", IdentityKey: []byte{5}, Device: store.Device{Name: "x"}})
	if !errors.Is(err, store.ErrRecoveryInvalid) {
		t.Fatalf("RecoverAccount(account from before 0002) = %v, want ErrRecoveryInvalid", err)
	}
	if d, err := s.AddDevice(ctx, store.Device{AccountID: a.ID, Name: "tablet"}, 5); err != nil || d.ID != 2 {
		t.Fatalf("AddDevice after migration = %d, %v; want 2", d.ID, err)
	}
}

// TestMigrateCountsQueueShares: envelopes queued before 0006 count in the
// device's bytes and in their sender's share after it, and leave both when
// acked.
func TestMigrateCountsQueueShares(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 5; v++ {
		if _, after, err := migrateOne(ctx, conn, ms[:5]); err != nil || after != v {
			t.Fatalf("migrate to version %d = %d, %v", v, after, err)
		}
	}
	qs := []string{
		"INSERT INTO accounts (id, username, identity_key, created, next_device_id) VALUES (1, 'old', x'05', 1, 2), (2, 'sender', x'05', 1, 2)",
		"INSERT INTO devices (account_id, id, name, credential_hash, created) VALUES (1, 1, 'phone', zeroblob(32), 1), (2, 1, 'phone', zeroblob(32), 1)",
	}
	for i := range 3 {
		qs = append(qs, fmt.Sprintf(`INSERT INTO messages (dest_account, dest_device, sender_account, sender_name, sender_device,
			client_id, type, content, created, expires) VALUES (1, 1, 2, 'sender', 1, x'000000000000000000000000000000%02x', 1, zeroblob(10), 1, 1e15)`, i))
		qs = append(qs, "UPDATE devices SET queued = queued + 1 WHERE account_id = 1 AND id = 1")
	}
	for _, q := range qs {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := errors.Join(conn.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}

	s := openFile(t, path)
	defer s.Close()
	env := func(n byte, size int) store.Envelope {
		e := store.Envelope{DestAccount: 1, DestDevice: 1, SenderAccount: 2, SenderName: "sender", SenderDevice: 1,
			Type: 1, Content: make([]byte, size), Created: time.Now(), Expires: time.Now().Add(time.Hour)}
		e.ClientID[0] = n
		return e
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{env(1, 1)}, store.QueueLimits{MaxQueue: 100, SenderMax: 3}); !errors.Is(err, store.ErrSenderQueueFull) {
		t.Fatalf("Enqueue past a share of envelopes from before 0006 = %v, want ErrSenderQueueFull", err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{env(1, 1)}, store.QueueLimits{MaxQueue: 100, MaxBytes: 30}); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("Enqueue past the bytes of envelopes from before 0006 = %v, want ErrQueueFull", err)
	}
	pending, err := s.Pending(ctx, 1, 1, 0, 10, time.Now())
	if err != nil || len(pending) != 3 {
		t.Fatalf("Pending = %d, %v", len(pending), err)
	}
	if err := s.Ack(ctx, 1, 1, []uint64{pending[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{env(1, 10)}, store.QueueLimits{MaxQueue: 100, MaxBytes: 30, SenderMax: 3}); err != nil {
		t.Fatalf("Enqueue after an ack = %v", err)
	}
}
