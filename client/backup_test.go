package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
)

// backupOf writes d's backup to a file and returns its path and key.
func backupOf(t *testing.T, d *device) (string, client.BackupSummary) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.parley")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := d.Backup(context.Background(), f)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, sum
}

// restoreTarget is a fresh SQLite store and attachment directory.
type restoreTarget struct {
	dev *device
	cfg client.Config
}

func newRestoreTarget(t *testing.T, httpc *http.Client) *restoreTarget {
	d := newDevice(t)
	cfg := config(t, d.path, d)
	cfg.AttachmentDir = filepath.Join(filepath.Dir(d.path), "attachments")
	cfg.HTTPClient = httpc
	t.Cleanup(func() { cfg.Store.Close() })
	return &restoreTarget{dev: d, cfg: cfg}
}

func (rt *restoreTarget) restore(path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := client.RestoreBackup(context.Background(), rt.cfg, f, key)
	if err == nil {
		rt.dev.Client = c
	}
	return err
}

// noBlobs refuses every blob download: what a restored device opens
// must come from its attachment directory.
type noBlobs struct{}

func (noBlobs) RoundTrip(r *http.Request) (*http.Response, error) {
	if isBlobDownload(r) {
		return nil, errors.New("test: blob downloads are refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func safetyNumber(t *testing.T, d *device, peer string) string {
	t.Helper()
	n, _, err := d.SafetyNumber(context.Background(), peer)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBackupRoundTrip(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.send("bob", "hi bob")
	syncAll(t, bob)
	bob.send("alice", "hello alice")
	syncAll(t, alice)
	file := make([]byte, 150<<10)
	rand.Read(file)
	att, err := alice.SendAttachment(ctx, client.Direct("bob"), client.File{Name: "photo.jpg", Body: bytes.NewReader(file)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "Family", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, g.Conversation, "to the family"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	bobSees := safetyNumber(t, bob, "alice")
	aliceSees := safetyNumber(t, alice, "bob")
	before, err := bob.ActiveSessionForTest(ctx, "alice", alice.DeviceID())
	if err != nil || before == nil {
		t.Fatalf("bob's session with alice: %x, %v", before, err)
	}

	path, sum := backupOf(t, alice)
	if sum.Attachments != 1 || sum.Missing != 0 || sum.Damaged != 0 || sum.Records == 0 {
		t.Fatalf("backup summary %+v", sum)
	}
	// The original goes on after the backup: its sessions and sender
	// chain move past the copy's.
	alice.send("bob", "after the backup")
	if _, err := alice.Send(ctx, g.Conversation, "family, after the backup"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	alice.Close()
	// In flight to the old device's chains when it stops.
	bob.send("alice", "while you were away")

	rt := newRestoreTarget(t, &http.Client{Transport: noBlobs{}})
	if err := rt.restore(path, client.FormatBackupKey(sum.Key)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restored := rt.dev
	t.Cleanup(func() { restored.Close() })
	if restored.Username() != "alice" || restored.DeviceID() != alice.DeviceID() || !bytes.Equal(restored.IdentityKey(), alice.IdentityKey()) {
		t.Fatalf("restored %s.%d, want alice.%d with the same identity", restored.Username(), restored.DeviceID(), alice.DeviceID())
	}
	if got := safetyNumber(t, restored, "bob"); got != aliceSees {
		t.Errorf("the restored device's safety number with bob is %s, want %s", got, aliceSees)
	}
	if want := []string{"alice: hi bob", "bob: hello alice", "alice: "}; !slices.Equal(restored.transcript("bob"), want) {
		t.Errorf("restored history %q, want %q", restored.transcript("bob"), want)
	}
	if cs, err := restored.Contacts(ctx); err != nil || len(cs) != 1 || cs[0].Username != "bob" {
		t.Errorf("restored contacts %+v, %v", cs, err)
	}
	// The search index is not in the backup (its tokens come from the
	// old data key): the first search builds it again.
	if got := restored.search("family"); !slices.Equal(got, []string{"to the family"}) {
		t.Errorf("search on the restored device: %q", got)
	}
	if got := restored.groupTexts(g.Conversation); !slices.Equal(got, []string{"alice: to the family"}) {
		t.Errorf("restored group history %q", got)
	}
	// The attachment opens with blob downloads refused: it came from
	// the backup.
	var buf bytes.Buffer
	if err := restored.Download(ctx, client.Direct("bob"), att.ID, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), file) {
		t.Fatalf("restored attachment: %d bytes, %v", buf.Len(), err)
	}

	// The message in flight to the old chain is read; what the restored
	// device sends goes on a new session, so no message key is reused.
	syncAll(t, restored)
	restored.waitMessage("while you were away")
	restored.send("bob", "back from the backup")
	if _, err := restored.Send(ctx, g.Conversation, "family, from the backup"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	bob.waitMessage("back from the backup")
	bob.waitMessage("family, from the backup")
	if gaps := bob.notes(g.Conversation, client.KindGap); len(gaps) != 0 {
		t.Errorf("bob notes gaps in the restored device's group messages: %q", gaps)
	}
	after, err := bob.ActiveSessionForTest(ctx, "alice", alice.DeviceID())
	if err != nil || after == nil || bytes.Equal(after, before) {
		t.Fatalf("bob's session with the restored alice: %x, %v; want a new one (was %x)", after, err, before)
	}
	if got := safetyNumber(t, bob, "alice"); got != bobSees {
		t.Errorf("bob's safety number with alice changed: %s, was %s", got, bobSees)
	}
	bob.send("alice", "welcome back")
	syncAll(t, restored)
	restored.waitMessage("welcome back")
}

// tamperBackup is one backup of a state large enough for several chunks.
func tamperBackup(t *testing.T, srv *parleytest.Server) (*device, string, string) {
	alice, _ := register(t, srv, "alice")
	register(t, srv, "bob")
	big := make([]byte, 300<<10)
	rand.Read(big)
	if _, err := alice.SendAttachment(context.Background(), client.Direct("bob"), client.File{Name: "big.bin", Body: bytes.NewReader(big)}, nil); err != nil {
		t.Fatal(err)
	}
	path, sum := backupOf(t, alice)
	return alice, path, sum.Key
}

const chunk = 64<<10 + 16 // a sealed STREAM chunk

func TestBackupWrongKeyAndTamper(t *testing.T) {
	srv := start(t)
	alice, path, key := tamperBackup(t, srv)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const header = 105
	if len(orig) < header+3*chunk {
		t.Fatalf("the backup is %d bytes: too small for the cases", len(orig))
	}
	wrong := []byte(key)
	wrong[3] = '0' + (wrong[3]-'0'+1)%10
	flip := func(at int) []byte { b := bytes.Clone(orig); b[at] ^= 0x01; return b }
	for _, c := range []struct {
		name string
		data []byte
		key  string
		want error
	}{
		{"wrong key", orig, string(wrong), client.ErrBackupKey},
		{"not a backup", []byte("hello, world"), key, client.ErrNotBackup},
		{"empty file", nil, key, client.ErrNotBackup},
		{"header salt", flip(20), key, client.ErrBackupCorrupt},
		{"header MAC", flip(50), key, client.ErrBackupCorrupt},
		{"header checksum", flip(header - 1), key, client.ErrBackupCorrupt},
		{"first chunk", flip(header + 10), key, client.ErrBackupCorrupt},
		{"middle chunk", flip(header + chunk + 100), key, client.ErrBackupCorrupt},
		{"last chunk", flip(len(orig) - 5), key, client.ErrBackupCorrupt},
		{"cut at a chunk boundary", orig[:header+2*chunk], key, client.ErrBackupCorrupt},
		{"cut in a chunk", orig[:len(orig)-7], key, client.ErrBackupCorrupt},
		{"header only", orig[:header], key, client.ErrBackupCorrupt},
		{"appended byte", append(bytes.Clone(orig), 0), key, client.ErrBackupCorrupt},
		{"appended chunk", append(bytes.Clone(orig), orig[header:header+chunk]...), key, client.ErrBackupCorrupt},
		{"chunks swapped", swapChunks(orig, header), key, client.ErrBackupCorrupt},
		{"key too short", orig, key[:29], client.ErrBackupKeyFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "b")
			if err := os.WriteFile(p, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			rt := newRestoreTarget(t, nil)
			if err := rt.restore(p, c.key); !errors.Is(err, c.want) {
				t.Fatalf("restore: %v, want %v", err, c.want)
			}
			assertEmpty(t, rt)
		})
	}

	t.Run("store not empty", func(t *testing.T) {
		alice.Close()
		st, err := sqlitestore.Open(context.Background(), alice.path)
		if err != nil {
			t.Fatal(err)
		}
		rt := &restoreTarget{dev: newDevice(t), cfg: client.Config{Store: st, Passphrase: passphrase, AttachmentDir: t.TempDir()}}
		if err := rt.restore(path, key); !errors.Is(err, client.ErrExists) {
			t.Fatalf("restore over an account: %v, want ErrExists", err)
		}
		c, err := client.Open(context.Background(), rt.cfg)
		if err != nil || c.Username() != "alice" {
			t.Fatalf("the account after a refused restore: %v", err)
		}
		c.Close()
	})
}

// swapChunks exchanges the first two chunks after the header.
func swapChunks(b []byte, header int) []byte {
	out := bytes.Clone(b)
	copy(out[header:], b[header+chunk:header+2*chunk])
	copy(out[header+chunk:], b[header:header+chunk])
	return out
}

// assertEmpty checks that a failed restore left no account and no file.
func assertEmpty(t *testing.T, rt *restoreTarget) {
	t.Helper()
	if _, err := client.Open(context.Background(), rt.cfg); !errors.Is(err, client.ErrNoAccount) {
		t.Errorf("the store after a failed restore: %v, want ErrNoAccount", err)
	}
	if es, _ := os.ReadDir(rt.cfg.AttachmentDir); len(es) != 0 {
		t.Errorf("the attachment directory holds %d files after a failed restore", len(es))
	}
}
