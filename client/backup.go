package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/attachment"
)

// Encrypted backups (spec/client.md §13): Backup writes the whole state of
// the device, its records and the ciphertexts of the attachments its
// messages carry, into one stream sealed under a new 30-digit backup key;
// RestoreBackup reads it into an empty store, sealed under a new
// passphrase, as the same device of the same account. Neither ever holds
// more than a page of records or a piece of an attachment in memory.

const (
	// backupPage is how many records a read of a bucket takes at once.
	backupPage = 256
	// restoreIDGap moves the prekey ID counters of a restored device past
	// the IDs the original may have used since the backup (§13.5).
	restoreIDGap = 1 << 20
)

// BackupSummary is what Backup wrote.
type BackupSummary struct {
	// Key opens the backup: 30 digits to show the user once
	// (FormatBackupKey). Nothing else can restore it.
	Key         string
	Records     int64 // records of the store
	Attachments int   // attachments whose ciphertext is in the backup
	// Missing are attachments neither the server nor the attachment
	// directory had any more: they are not in the backup.
	Missing int
	// Damaged are attachments the server served with the wrong size or
	// contents: not in the backup either.
	Damaged int
	Bytes   int64 // the backup's size
}

// backupBlobRef is an attachment a message of the backup carries.
type backupBlobRef struct {
	p      filePointer
	digest [32]byte
}

// Backup writes an encrypted backup of the device's whole state to w and
// returns its new backup key with a summary. The records are read in one
// transaction while the client's lock is held, so they are one
// consistent state; then every attachment the messages carry is streamed
// from the attachment directory or the server. If Backup fails, what it
// wrote to w is no backup: discard it.
func (c *Client) Backup(ctx context.Context, w io.Writer) (BackupSummary, error) {
	cw := &countingWriter{w: w}
	key, err := newBackupKey(c.rand)
	if err != nil {
		return BackupSummary{}, err
	}
	k, err := sealBackupHeader(cw, key, c.rand)
	if err != nil {
		return BackupSummary{}, err
	}
	sw := newStreamWriter(cw, k.payload)
	rw := &recordWriter{w: sw}
	refs, err := c.backupRecords(ctx, rw)
	if err != nil {
		return BackupSummary{}, err
	}
	sum := BackupSummary{Key: key, Records: int64(rw.records)}
	buf := make([]byte, blobPiece)
	for _, ref := range refs {
		if err := c.backupBlob(ctx, rw, ref, buf, &sum); err != nil {
			return BackupSummary{}, err
		}
	}
	if err := rw.end(); err != nil {
		return BackupSummary{}, err
	}
	if err := sw.Close(); err != nil {
		return BackupSummary{}, err
	}
	sum.Bytes = cw.n
	return sum, nil
}

// backupRecords writes every record of every bucket and returns the
// attachments the messages carry, each once.
func (c *Client) backupRecords(ctx context.Context, rw *recordWriter) ([]backupBlobRef, error) {
	c.mu.Lock()
	defer c.unlock()
	var refs []backupBlobRef
	seen := map[[32]byte]bool{}
	err := c.view(ctx, func(tx sealedTx) error {
		for _, b := range backupBuckets {
			err := eachRecord(tx, b, func(k string, v []byte) error {
				if b == bucketMessage {
					if ref, ok := attachmentOf(v); ok && !seen[ref.digest] {
						seen[ref.digest] = true
						refs = append(refs, ref)
					}
				}
				return rw.record(b, k, v)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return refs, err
}

// attachmentOf returns the attachment a stored message carries, if any.
func attachmentOf(v []byte) (backupBlobRef, bool) {
	var r struct {
		Attachment *filePointer `json:"attachment"`
	}
	if json.Unmarshal(v, &r) != nil || r.Attachment == nil || len(r.Attachment.Blob) != sha256.Size {
		return backupBlobRef{}, false
	}
	p := *r.Attachment
	p.Key = nil // the key stays in the message record
	return backupBlobRef{p: p, digest: [32]byte(p.Blob)}, true
}

// eachRecord calls fn with every record of bucket, opened, in key order,
// a page at a time if the store's Tx is a Pager.
func eachRecord(tx sealedTx, bucket string, fn func(key string, value []byte) error) error {
	pg, ok := tx.tx.(Pager)
	if !ok {
		return tx.scan(bucket, "", fn)
	}
	after := ""
	for {
		n := 0
		err := pg.Page(bucket, "", after, backupPage, func(k string, b []byte) error {
			v, err := tx.v.open(valueAD(bucket, k), b)
			if err != nil {
				return err
			}
			n, after = n+1, k
			return fn(k, v)
		})
		if err != nil || n < backupPage {
			return err
		}
	}
}

// backupBlob writes one attachment's ciphertext, or counts it missing or
// damaged. It reads the first piece before it writes anything, so that a
// blob the server no longer has leaves no entry.
func (c *Client) backupBlob(ctx context.Context, rw *recordWriter, ref backupBlobRef, buf []byte, sum *BackupSummary) error {
	blob := c.openBlob(ctx, &ref.p)
	defer blob.Close()
	var size int64
	first := 0
	var err error
	if size, err = ciphertextSize(ref.p.Size); err == nil {
		first, err = blob.ReadAt(buf[:min(int64(len(buf)), size)], 0)
	}
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Code == api.CodeNotFound:
		sum.Missing++
		return nil
	case errors.Is(err, errBlobSize) || errors.Is(err, ErrDamaged):
		sum.Damaged++
		return nil
	case err != nil && !errors.Is(err, io.EOF):
		return fmt.Errorf("client: backing up attachment %x: %w", ref.digest, err)
	}
	h := sha256.New()
	h.Write(buf[:first])
	rest := io.TeeReader(io.NewSectionReader(blob, int64(first), size-int64(first)), h)
	src := io.MultiReader(bytes.NewReader(bytes.Clone(buf[:first])), rest)
	if err := rw.blob(ref.digest, src, buf); err != nil {
		return fmt.Errorf("client: backing up attachment %x: %w", ref.digest, err)
	}
	if [32]byte(h.Sum(nil)) != ref.digest {
		sum.Damaged++ // written, and discarded on restore (§13.4)
		return nil
	}
	sum.Attachments++
	return nil
}

func ciphertextSize(plain int64) (int64, error) {
	if n, err := attachment.CiphertextSize(plain); err == nil && n > 0 {
		return n, nil
	}
	return 0, ErrDamaged
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// RestoreBackup reads the backup r, opened with key (as typed: spaces
// allowed), into cfg.Store, which must be empty, sealed under
// cfg.Passphrase, with the attachments it holds in cfg.AttachmentDir, and
// returns the restored device, opened. It is the same device of the same
// account: same identity, so contacts see no change of safety number.
// Every session becomes receive-only and every group sender chain is
// renewed before its next use (§13.5). On any error the store and the
// directory are left as they were: ErrBackupKey, ErrBackupCorrupt,
// ErrNotBackup, ErrBackupVersion, ErrBackupKeyFormat, and ErrExists for a
// store that is not empty.
func RestoreBackup(ctx context.Context, cfg Config, r io.Reader, key string) (*Client, error) {
	key, err := ParseBackupKey(key)
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.AttachmentDir == "" {
		return nil, fmt.Errorf("client: Config.AttachmentDir is required to restore a backup")
	}
	if err := os.MkdirAll(cfg.AttachmentDir, 0o700); err != nil {
		return nil, fmt.Errorf("client: the attachment directory: %w", err)
	}
	if err := c.st.View(ctx, checkEmpty); err != nil {
		return nil, err
	}
	k, err := openBackupHeader(r, key)
	if err != nil {
		return nil, err
	}
	hdr, v, err := newVaultHeader(cfg.Passphrase)
	if err != nil {
		return nil, err
	}
	c.v = v
	sink := &restoreSink{dir: cfg.AttachmentDir}
	var a accountRecord
	err = c.st.Update(ctx, func(tx Tx) error {
		if err := checkEmpty(tx); err != nil {
			return err
		}
		if err := tx.Put(vaultBucket, vaultKey, hdr); err != nil {
			return err
		}
		sink.tx = c.sealed(tx)
		if err := readRecords(newStreamReader(r, k.payload), sink); err != nil {
			return err
		}
		if err := sink.tx.getJSON(bucketAccount, keySelf, &a); err != nil {
			return fmt.Errorf("%w (it holds no account)", ErrBackupCorrupt)
		}
		return c.prepareRestored(sink.tx, &a)
	})
	if err != nil {
		sink.discard()
		return nil, err
	}
	if err := sink.keep(); err != nil {
		return nil, err
	}
	if err := c.setAccount(&a); err != nil {
		return nil, err
	}
	return c, nil
}

var errFound = errors.New("client: found")

// checkEmpty is ErrExists if the store holds a vault or any record.
func checkEmpty(tx Tx) error {
	if _, err := tx.Get(vaultBucket, vaultKey); err == nil {
		return ErrExists
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	pg, paged := tx.(Pager)
	for _, b := range backupBuckets {
		var err error
		if paged {
			err = pg.Page(b, "", "", 1, func(string, []byte) error { return errFound })
		} else {
			err = tx.Scan(b, "", func(string, []byte) error { return errFound })
		}
		if errors.Is(err, errFound) {
			return ErrExists
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// restoreSink writes a backup's records, sealed, into a transaction, and
// its attachments into the attachment directory under temporary names.
type restoreSink struct {
	tx    sealedTx
	dir   string
	blobs []*blobWriter
}

func (s *restoreSink) record(bucket, key string, value []byte) error {
	return s.tx.put(bucket, key, value)
}

func (s *restoreSink) blob(digest [32]byte, r io.Reader) error {
	b, err := newBlobWriter(s.dir, digest, r)
	if err != nil {
		return err
	}
	s.blobs = append(s.blobs, b)
	return nil
}

func (s *restoreSink) keep() error {
	for i, b := range s.blobs {
		if err := b.keep(); err != nil {
			for _, o := range s.blobs[i+1:] {
				o.discard()
			}
			return fmt.Errorf("client: restoring an attachment: %w", err)
		}
	}
	return nil
}

func (s *restoreSink) discard() {
	for _, b := range s.blobs {
		b.discard()
	}
}

// prepareRestored makes a restored state safe to send from (§13.5). The
// original device may have sent on every session and sender chain since
// the backup, so reusing them would reuse message keys: every session
// becomes receive-only (archived, spec/client.md §4.1), so that the next
// message to a device starts a new one from a prekey bundle, and every
// sender chain of this device is marked for rotation, so the next group
// message starts a new chain and distributes it. The signed prekeys are
// rotated at the next connection, and the ID counters move past any the
// original used since.
func (c *Client) prepareRestored(tx sealedTx, a *accountRecord) error {
	now := c.nowMillis()
	ks, err := tx.keys(bucketSession, "")
	if err != nil {
		return err
	}
	for _, k := range ks {
		user, d, err := parseSessionKey(k)
		if err != nil {
			return fmt.Errorf("%w (a session record is misnamed)", ErrBackupCorrupt)
		}
		ds, err := loadSessions(tx, user, d)
		if err != nil {
			return err
		}
		ds.archiveAll(now, false)
		if err := ds.save(tx, user, d); err != nil {
			return err
		}
	}
	gs, err := tx.keys(bucketGroupSend, "")
	if err != nil {
		return err
	}
	for _, g := range gs {
		var sr senderRecord
		if err := tx.getJSON(bucketGroupSend, g, &sr); err != nil {
			return err
		}
		sr.Rotate = true
		if err := tx.putJSON(bucketGroupSend, g, &sr); err != nil {
			return err
		}
	}
	a.SignedRotatedAt = 0 // rotate at the next MaintainPreKeys
	for _, id := range []*uint32{&a.NextPreKeyID, &a.NextKEMID, &a.NextSignedID} {
		if *id < math.MaxUint32-restoreIDGap {
			*id += restoreIDGap
		}
	}
	return tx.putJSON(bucketAccount, keySelf, a)
}
