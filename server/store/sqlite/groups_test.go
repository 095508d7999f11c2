package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// bodies reads the bodies table: how many rows, their references and
// content bytes in all.
func bodies(t *testing.T, s *Store) (rows, refs, size int64) {
	t.Helper()
	err := s.rdb.QueryRowContext(t.Context(),
		"SELECT COUNT(*), COALESCE(SUM(refs), 0), COALESCE(SUM(length(content)), 0) FROM bodies").Scan(&rows, &refs, &size)
	if err != nil {
		t.Fatal(err)
	}
	return rows, refs, size
}

func checkBodies(t *testing.T, s *Store, rows, refs, size int64) {
	t.Helper()
	if r, n, b := bodies(t, s); r != rows || n != refs || b != size {
		t.Fatalf("bodies: %d rows, %d references, %d bytes; want %d, %d, %d", r, n, b, rows, refs, size)
	}
}

// TestSharedBodyStoredOnce: a shared content is one row of bodies, however
// many envelopes name it, with no content of their own; it goes with the
// last of them, whichever way each goes: ack, device removal, the janitor,
// recovery. A call of duplicates alone leaves no body behind.
func TestSharedBodyStoredOnce(t *testing.T) {
	ctx := t.Context()
	s := openFile(t, filepath.Join(t.TempDir(), "parley.db"))
	defer s.Close()
	t0 := time.UnixMilli(time.Now().UnixMilli())
	newAcct := func(name string) (store.Account, store.Device) {
		a, d, err := s.CreateAccount(ctx, store.Account{Username: name, IdentityKey: make([]byte, 33), Created: t0},
			store.Device{Name: "d", Created: t0}, nil, store.PreKeySet{})
		if err != nil {
			t.Fatal(err)
		}
		return a, d
	}
	a, from := newAcct("sender")
	var devs []store.Device
	for _, name := range []string{"r1", "r2", "r3"} {
		acct, d := newAcct(name)
		d2, err := s.AddDevice(ctx, store.Device{AccountID: acct.ID, Name: "d2", Created: t0}, 6)
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d, d2)
	}
	envsFor := func(n byte, expires time.Time, to ...store.Device) []store.Envelope {
		envs := make([]store.Envelope, len(to))
		for i, d := range to {
			envs[i] = store.Envelope{DestAccount: d.AccountID, DestDevice: d.ID, SenderAccount: a.ID,
				SenderName: a.Username, SenderDevice: from.ID, ClientID: [16]byte{n}, Type: 3,
				Created: t0, Expires: expires}
		}
		return envs
	}
	lim := store.QueueLimits{MaxQueue: 100}
	content := make([]byte, 10_000)
	envs := envsFor(1, t0.Add(time.Hour), devs...)
	if _, err := s.EnqueueShared(ctx, content, envs, lim); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, s, 1, 6, 10_000)
	var own int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT SUM(length(content)) FROM messages").Scan(&own); err != nil || own != 0 {
		t.Fatalf("envelopes hold %d content bytes of their own, %v; want 0", own, err)
	}
	// A retry stores no second body.
	if _, err := s.EnqueueShared(ctx, content, envsFor(1, t0.Add(time.Hour), devs...), lim); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, s, 1, 6, 10_000)

	// Acks, one device at a time; the body stays while any refers to it.
	for i, e := range envs[:2] {
		if err := s.Ack(ctx, e.DestAccount, e.DestDevice, []uint64{e.Seq}); err != nil {
			t.Fatal(err)
		}
		checkBodies(t, s, 1, int64(5-i), 10_000)
	}
	// The removal of a device, then of all of an account's (recovery
	// removes them the same way, by the same cascade).
	if err := s.RemoveDevice(ctx, devs[2].AccountID, devs[2].ID); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, s, 1, 3, 10_000)
	if _, err := s.wconn.ExecContext(ctx, "DELETE FROM devices WHERE account_id = ?", devs[4].AccountID); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, s, 1, 1, 10_000)
	if err := s.Ack(ctx, envs[3].DestAccount, envs[3].DestDevice, []uint64{envs[3].Seq}); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, s, 0, 0, 0)

	// The janitor.
	if _, err := s.EnqueueShared(ctx, content[:5], envsFor(2, t0.Add(time.Minute), devs[0], devs[1]), lim); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, s, 1, 2, 5)
	if n, err := s.DeleteExpired(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("DeleteExpired = %d, %v", n, err)
	}
	checkBodies(t, s, 0, 0, 0)
	var queued, bytes int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT SUM(queued), SUM(queued_bytes) FROM devices").Scan(&queued, &bytes); err != nil || queued != 0 || bytes != 0 {
		t.Fatalf("devices count %d envelopes, %d bytes, %v; want none", queued, bytes, err)
	}
}
