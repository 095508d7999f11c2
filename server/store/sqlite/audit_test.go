package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// TestAuditLogAppendOnly: the audit log refuses UPDATE and DELETE, even
// from SQL run directly against the database.
func TestAuditLogAppendOnly(t *testing.T) {
	ctx := t.Context()
	s := openFile(t, filepath.Join(t.TempDir(), "parley.db"))
	defer s.Close()
	a, _, err := s.CreateAccount(ctx, store.Account{Username: "owner", IdentityKey: make([]byte, 33), Created: time.Now()},
		store.Device{Name: "d", Created: time.Now()}, nil, store.PreKeySet{})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.CreateChannel(ctx, store.Channel{Handle: "news", OwnerID: a.ID, GenesisKey: make([]byte, 32), Created: time.Now()},
		store.ChannelRecord{Kind: 7, Data: []byte("p"), Created: time.Now(), Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Moderate(ctx, store.AuditEntry{Time: time.Now(), Admin: "op", Action: store.ActionSuspend, ChannelID: c.ID, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit_log SET reason = 'rewritten'", "DELETE FROM audit_log"} {
		if err := s.write(ctx, "tamper", 0, func(t *wtx) error { _, err := t.exec(q); return err }); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	log, err := s.AuditLog(ctx, 10)
	if err != nil || len(log) != 1 || log[0].Reason != "r" {
		t.Fatalf("audit log after tampering: %+v %v", log, err)
	}
}
