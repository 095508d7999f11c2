package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Spool holds an encrypted attachment from its encryption to its upload:
// the blob is named by the SHA-256 of its ciphertext, so the whole
// ciphertext exists before the first byte is sent, and an upload that
// resumes reads it again from where the server stands. Close discards it.
type Spool interface {
	io.Writer
	io.ReaderAt
	io.Closer
}

// newSpool is Config.NewSpool, or by default a temporary file in
// Config.TempDir (in a browser, where there is no file system: memory,
// spool_js.go).
func (c *Client) newSpool() (Spool, error) {
	if c.cfg.NewSpool != nil {
		return c.cfg.NewSpool()
	}
	return defaultSpool(c.cfg.TempDir)
}

// fileSpool is a temporary file, removed when closed.
type fileSpool struct{ *os.File }

func newFileSpool(dir string) (Spool, error) {
	f, err := os.CreateTemp(dir, "parley-upload-*")
	if err != nil {
		return nil, fmt.Errorf("client: a temporary file for the encrypted attachment: %w", err)
	}
	return fileSpool{f}, nil
}

func (s fileSpool) Close() error {
	err := s.File.Close()
	return errors.Join(err, os.Remove(s.Name()))
}

// MemorySpool returns a Spool in memory, for a Config.NewSpool where no
// file system is at hand (a browser) or wanted. It holds the whole
// encrypted attachment.
func MemorySpool() (Spool, error) { return &memSpool{}, nil }

type memSpool struct {
	mu sync.Mutex // guards b: ReadAt may run beside a Write
	b  []byte
}

func (m *memSpool) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = append(m.b, p...)
	return len(p), nil
}

func (m *memSpool) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 {
		return 0, errors.New("client: negative offset")
	}
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memSpool) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = nil
	return nil
}
