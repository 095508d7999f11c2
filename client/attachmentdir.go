package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parley-chat/parley/internal/attachment"
)

// The attachment directory (Config.AttachmentDir, spec/client.md §13.4)
// keeps attachments' ciphertexts, each under the hex SHA-256 that names
// its blob on the server. A restored backup fills it, so that a restored
// device opens the attachments of its history after the server has
// dropped them; reads look here first and go to the server otherwise.
// The files are ciphertext: the keys that open them stay in the sealed
// message records.

// blobSource is where an attachment's ciphertext is read from.
type blobSource interface {
	io.ReaderAt
	io.Closer
}

// openBlob returns the ciphertext of p from the attachment directory if
// it holds it, with the size p implies, and from the server otherwise.
func (c *Client) openBlob(ctx context.Context, p *filePointer) blobSource {
	if f := c.localBlob(p); f != nil {
		return f
	}
	return c.remoteBlob(ctx, p)
}

func (c *Client) localBlob(p *filePointer) *os.File {
	if c.cfg.AttachmentDir == "" || len(p.Blob) != sha256.Size {
		return nil
	}
	f, err := os.Open(filepath.Join(c.cfg.AttachmentDir, hex.EncodeToString(p.Blob)))
	if err != nil {
		return nil
	}
	size, err := attachment.CiphertextSize(p.Size)
	if fi, serr := f.Stat(); err != nil || serr != nil || fi.Size() != size {
		f.Close()
		return nil
	}
	return f
}

// blobWriter writes one ciphertext into the attachment directory under a
// temporary name, checking its digest; keep gives it its own name.
type blobWriter struct {
	f      *os.File
	digest [32]byte
	ok     bool // written whole, with the digest it is named by
}

func newBlobWriter(dir string, digest [32]byte, r io.Reader) (*blobWriter, error) {
	f, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		return nil, fmt.Errorf("client: restoring an attachment: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("client: restoring an attachment: %w", cerr)
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return &blobWriter{f: f, digest: digest, ok: [32]byte(h.Sum(nil)) == digest}, nil
}

// keep renames the blob to its digest, or removes it if it did not match.
func (b *blobWriter) keep() error {
	if !b.ok {
		return os.Remove(b.f.Name())
	}
	return os.Rename(b.f.Name(), filepath.Join(filepath.Dir(b.f.Name()), hex.EncodeToString(b.digest[:])))
}

func (b *blobWriter) discard() { os.Remove(b.f.Name()) }
