package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

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
