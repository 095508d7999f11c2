// Package local is parleyd's embedded default blob store: a blob.Store of
// plain files in one directory (the server uses <DataDir>/blobs).
//
// Layout, under the root directory:
//
//	ab/cd/abcd…   a blob, named by its SHA-256 in hex, fanned out by its
//	              first two and next two hex digits (at most 256 entries
//	              per directory level above the files)
//	tmp/          files being written by Create; emptied by Open
//	uploads/ID    the bytes of an upload in progress
//	uploads/ID.sha256
//	              the SHA-256 state after a prefix of those bytes, so that
//	              Commit need not read the whole upload again
//
// Blobs become visible by rename(2) after their bytes are fsync'd and
// verified, and the directory is fsync'd after, so a crash leaves either
// the whole blob or none of it. The root must be on one filesystem.
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sync"

	"github.com/parley-chat/parley/server/blob"
)

const (
	dirMode     = 0o700
	fileMode    = 0o600
	copyBufSize = 256 << 10
	tmpDir      = "tmp"
	uploadsDir  = "uploads"
	stateSuffix = ".sha256"
)

// Store is a blob.Store in a directory.
type Store struct {
	root string
	bufs sync.Pool // *[]byte of copyBufSize, for copying
}

var _ blob.Store = (*Store)(nil)

// Open opens (creating it if needed) the blob store in dir and removes
// whatever an interrupted Create left in its tmp directory.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/local: open: %w", err)
	}
	for _, d := range []string{abs, filepath.Join(abs, tmpDir), filepath.Join(abs, uploadsDir)} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return nil, fmt.Errorf("blob/local: open: %w", err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(abs, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("blob/local: open: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(abs, tmpDir, e.Name())); err != nil {
			return nil, fmt.Errorf("blob/local: open: %w", err)
		}
	}
	s := &Store{root: abs}
	s.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	return s, nil
}

// Root is the directory the store keeps its files in.
func (s *Store) Root() string { return s.root }

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.root, sum[:2], sum[2:4], sum)
}

func (s *Store) partPath(id string) string  { return filepath.Join(s.root, uploadsDir, id) }
func (s *Store) statePath(id string) string { return s.partPath(id) + stateSuffix }

func checkSum(op, sum string) error {
	if !blob.ValidSum(sum) {
		return fmt.Errorf("blob/local: %s: %w", op, blob.ErrInvalidName)
	}
	return nil
}

func checkID(op, id string) error {
	if !blob.ValidUploadID(id) {
		return fmt.Errorf("blob/local: %s: %w", op, blob.ErrInvalidName)
	}
	return nil
}

// notFound turns a missing file into blob.ErrNotFound.
func notFound(op string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob/local: %s: %w", op, blob.ErrNotFound)
	}
	return fmt.Errorf("blob/local: %s: %w", op, err)
}

// Create implements blob.Store: it streams r to a file in tmp/, hashing as
// it goes, fsyncs and verifies it, and renames it into place.
func (s *Store) Create(ctx context.Context, sum string, size int64, r io.Reader) (err error) {
	const op = "create"
	if err := checkSum(op, sum); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("blob/local: %s: %w", op, blob.ErrSizeMismatch)
	}
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "create-*")
	if err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, rerr, werr := s.copy(ctx, f, h, io.LimitReader(r, size+1))
	switch {
	case werr != nil:
		return fmt.Errorf("blob/local: %s: %w", op, werr)
	case rerr != nil:
		return fmt.Errorf("blob/local: %s: reading: %w", op, rerr)
	case n != size:
		return fmt.Errorf("blob/local: %s: %w: read %d bytes, want %d", op, blob.ErrSizeMismatch, n, size)
	case hex.EncodeToString(h.Sum(nil)) != sum:
		return fmt.Errorf("blob/local: %s: %w", op, blob.ErrDigestMismatch)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	if err := s.install(f.Name(), sum); err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	return nil
}

// install renames the fsync'd file at from to the blob sum's path and
// fsyncs the directories it changed.
func (s *Store) install(from, sum string) error {
	dst := s.blobPath(sum)
	dir := filepath.Dir(dst)
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	if err := os.Rename(from, dst); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if created { // make the new fan-out directories durable too
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
		if err := syncDir(s.root); err != nil {
			return err
		}
	}
	// The file left a directory too: make its removal from tmp/ or
	// uploads/ durable, so that a crash cannot leave it in both places.
	return syncDir(filepath.Dir(from))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// copy copies src to dst and h until EOF, an error or the end of ctx, in
// chunks of copyBufSize. It returns how many bytes reached dst, and the
// read (or ctx) error and write error apart, since callers keep what was
// written after a read error but not after a write error.
func (s *Store) copy(ctx context.Context, dst io.Writer, h hash.Hash, src io.Reader) (n int64, rerr, werr error) {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return n, err, nil
		}
		// Fill the buffer before writing: a network body arrives in
		// pieces of a few KiB, and one write per piece costs syscalls.
		nr, err := io.ReadAtLeast(src, buf, len(buf))
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			h.Write(buf[:nw])
			n += int64(nw)
			if werr != nil {
				return n, nil, werr
			}
		}
		if err == io.EOF {
			return n, nil, nil
		}
		if err != nil {
			return n, err, nil
		}
	}
}

// Open implements blob.Store. The reader is the *os.File, so that
// http.ServeContent's copy can use sendfile(2).
func (s *Store) Open(ctx context.Context, sum string) (io.ReadSeekCloser, blob.Info, error) {
	const op = "open"
	if err := checkSum(op, sum); err != nil {
		return nil, blob.Info{}, err
	}
	f, err := os.Open(s.blobPath(sum))
	if err != nil {
		return nil, blob.Info{}, notFound(op, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, blob.Info{}, fmt.Errorf("blob/local: %s: %w", op, err)
	}
	return f, blob.Info{SHA256: sum, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, sum string) (blob.Info, error) {
	const op = "stat"
	if err := checkSum(op, sum); err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(s.blobPath(sum))
	if err != nil {
		return blob.Info{}, notFound(op, err)
	}
	return blob.Info{SHA256: sum, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements blob.Store. Fan-out directories stay; there are at
// most 65,536 of them.
func (s *Store) Delete(ctx context.Context, sum string) error {
	const op = "delete"
	if err := checkSum(op, sum); err != nil {
		return err
	}
	if err := os.Remove(s.blobPath(sum)); err != nil {
		return notFound(op, err)
	}
	return nil
}

// List implements blob.Store by walking the fan-out directories.
func (s *Store) List(ctx context.Context) iter.Seq2[blob.Info, error] {
	return func(yield func(blob.Info, error) bool) {
		fail := func(err error) { yield(blob.Info{}, fmt.Errorf("blob/local: list: %w", err)) }
		tops, err := os.ReadDir(s.root)
		if err != nil {
			fail(err)
			return
		}
		for _, top := range tops {
			if !top.IsDir() || !isHex2(top.Name()) {
				continue
			}
			subs, err := os.ReadDir(filepath.Join(s.root, top.Name()))
			if err != nil {
				fail(err)
				return
			}
			for _, sub := range subs {
				if !sub.IsDir() || !isHex2(sub.Name()) {
					continue
				}
				dir := filepath.Join(s.root, top.Name(), sub.Name())
				files, err := os.ReadDir(dir)
				if err != nil {
					fail(err)
					return
				}
				for _, f := range files {
					if err := ctx.Err(); err != nil {
						fail(err)
						return
					}
					name := f.Name()
					if !blob.ValidSum(name) || name[:2] != top.Name() || name[2:4] != sub.Name() {
						continue
					}
					fi, err := f.Info()
					if errors.Is(err, fs.ErrNotExist) {
						continue // deleted meanwhile
					}
					if err != nil {
						fail(err)
						return
					}
					if !yield(blob.Info{SHA256: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
						return
					}
				}
			}
		}
	}
}

// isHex2 reports whether s names a fan-out directory: two lowercase hex
// digits.
func isHex2(s string) bool { return len(s) == 2 && isHex(s[0]) && isHex(s[1]) }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// Append implements blob.Store. The SHA-256 of the partial's bytes is
// carried forward in ID.sha256 (see loadState), so each byte is hashed
// once as it arrives.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	const op = "append"
	if err := checkID(op, id); err != nil {
		return offset, err
	}
	if offset < 0 {
		return offset, fmt.Errorf("blob/local: %s: %w", op, blob.ErrOffset)
	}
	flags := os.O_RDWR
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(s.partPath(id), flags, fileMode)
	if err != nil {
		return offset, notFound(op, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return offset, fmt.Errorf("blob/local: %s: %w", op, err)
	}
	if fi.Size() < offset {
		return offset, fmt.Errorf("blob/local: %s: %w: it holds %d bytes, offset %d", op, blob.ErrOffset, fi.Size(), offset)
	}
	h, err := s.hashPrefix(id, f, offset)
	if err != nil {
		return offset, fmt.Errorf("blob/local: %s: %w", op, err)
	}
	if fi.Size() > offset {
		if err := f.Truncate(offset); err != nil {
			return offset, fmt.Errorf("blob/local: %s: %w", op, err)
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, fmt.Errorf("blob/local: %s: %w", op, err)
	}
	n, rerr, werr := s.copy(ctx, f, h, r)
	if err := f.Sync(); err != nil {
		return offset, fmt.Errorf("blob/local: %s: %w", op, err)
	}
	end := offset + n
	if werr != nil {
		// The bytes written before the failure are durable; the hash
		// state is not saved, so the next Append hashes them again.
		return end, fmt.Errorf("blob/local: %s: %w", op, werr)
	}
	s.saveState(id, end, h) // best effort: without it, the next call rehashes
	if rerr != nil {
		return end, fmt.Errorf("blob/local: %s: reading: %w", op, rerr)
	}
	return end, nil
}

// The hash state file. It records the SHA-256 state after the first X
// bytes of the partial: X (8 bytes, big endian), the state
// (hash.Hash's MarshalBinary), and the first 8 bytes of SHA-256 of the
// upload ID and both, so that a torn or garbled file, or one copied from
// another upload, is ignored rather than trusted.
//
// Why it can be trusted when intact: it is written only after the bytes
// it covers were fsync'd, and Append changes only bytes at or after its
// offset. A state with X <= offset still describes the unchanged prefix;
// one with X > offset is removed, durably, before the partial is cut back.
// Anything wrong with the file costs a rehash of the prefix, never a
// wrong digest.
const stateCheckSize = 8

// hashPrefix returns a hash that has consumed the partial's first offset
// bytes: from the saved state and the bytes after it, or from the start.
func (s *Store) hashPrefix(id string, f *os.File, offset int64) (hash.Hash, error) {
	h, x := s.loadState(id)
	if x > offset {
		if err := os.Remove(s.statePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err := syncDir(filepath.Join(s.root, uploadsDir)); err != nil {
			return nil, err
		}
		h, x = sha256.New(), 0
	}
	if x == offset {
		return h, nil
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, x, offset-x), *bp); err != nil {
		return nil, err
	}
	return h, nil
}

// loadState reads the saved hash state: a hash and how many bytes it has
// consumed, or a new hash and 0 if there is none that can be trusted.
func (s *Store) loadState(id string) (hash.Hash, int64) {
	h := sha256.New()
	b, err := os.ReadFile(s.statePath(id))
	if err != nil || len(b) < 8+stateCheckSize {
		return h, 0
	}
	body, check := b[:len(b)-stateCheckSize], b[len(b)-stateCheckSize:]
	want := stateCheck(id, body)
	if !bytes.Equal(check, want[:stateCheckSize]) {
		return h, 0
	}
	x := int64(binary.BigEndian.Uint64(body[:8]))
	if x < 0 || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(body[8:]) != nil {
		return sha256.New(), 0
	}
	return h, x
}

// saveState records that h has consumed the partial's first x bytes,
// written to a temporary file and renamed over the old state. It is a
// cache: a failure is ignored.
func (s *Store) saveState(id string, x int64, h hash.Hash) {
	st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return
	}
	body := binary.BigEndian.AppendUint64(nil, uint64(x))
	body = append(body, st...)
	check := stateCheck(id, body)
	body = append(body, check[:stateCheckSize]...)
	tmp := s.statePath(id) + ".tmp"
	if os.WriteFile(tmp, body, fileMode) != nil || os.Rename(tmp, s.statePath(id)) != nil {
		os.Remove(tmp)
	}
}

// stateCheck is the checksum of a state file's body, bound to its upload.
func stateCheck(id string, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(body)
	return [32]byte(h.Sum(nil))
}

// Commit implements blob.Store.
func (s *Store) Commit(ctx context.Context, id, sum string, size int64) error {
	const op = "commit"
	if err := checkID(op, id); err != nil {
		return err
	}
	if err := checkSum(op, sum); err != nil {
		return err
	}
	f, err := os.Open(s.partPath(id))
	if err != nil {
		return notFound(op, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("blob/local: %s: %w: the upload holds %d bytes, want %d", op, blob.ErrSizeMismatch, fi.Size(), size)
	}
	h, err := s.hashPrefix(id, f, size)
	if err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		f.Close()
		if err := s.Abort(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("blob/local: %s: %w", op, blob.ErrDigestMismatch)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	f.Close()
	if _, err := os.Stat(s.blobPath(sum)); err == nil {
		return s.Abort(ctx, id) // stored already: keep the blob as it is
	}
	if err := s.install(s.partPath(id), sum); err != nil {
		return fmt.Errorf("blob/local: %s: %w", op, err)
	}
	os.Remove(s.statePath(id))
	return nil
}

// Abort implements blob.Store.
func (s *Store) Abort(ctx context.Context, id string) error {
	const op = "abort"
	if err := checkID(op, id); err != nil {
		return err
	}
	for _, p := range []string{s.partPath(id), s.statePath(id), s.statePath(id) + ".tmp"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob/local: %s: %w", op, err)
		}
	}
	return nil
}

// Partials implements blob.Store.
func (s *Store) Partials(ctx context.Context) iter.Seq2[blob.Partial, error] {
	return func(yield func(blob.Partial, error) bool) {
		ents, err := os.ReadDir(filepath.Join(s.root, uploadsDir))
		if err != nil {
			yield(blob.Partial{}, fmt.Errorf("blob/local: partials: %w", err))
			return
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				yield(blob.Partial{}, fmt.Errorf("blob/local: partials: %w", err))
				return
			}
			if !blob.ValidUploadID(e.Name()) { // the state files have a dot
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				yield(blob.Partial{}, fmt.Errorf("blob/local: partials: %w", err))
				return
			}
			if !yield(blob.Partial{ID: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
				return
			}
		}
	}
}
