package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/attachment"
)

// Attachments (spec/client.md §8): a file is encrypted under a key of its
// own into a temporary file, uploaded as an opaque blob, and announced by
// a text whose content carries the blob's digest, the key, the size, the
// name and the type. Receivers fetch the blob and decrypt it.

const (
	uploadPiece     = 4 << 20 // bytes per upload request
	maxTransferFail = 4       // failures in a row, with no progress, before giving up
	blobContentType = "application/octet-stream"
	defaultFileType = "application/octet-stream"
)

// Errors of attachments a caller may branch on.
var (
	// ErrNoSuchMessage means no stored message has that ID.
	ErrNoSuchMessage = errors.New("client: no such message")
	// ErrNoAttachment means the message carries no file.
	ErrNoAttachment = errors.New("client: the message has no attachment")
	// ErrDamaged means an attachment's blob does not decrypt, or is not
	// the one the message names: the server or the network changed it, or
	// the sender sent a broken file. Nothing more is known, by design.
	ErrDamaged = errors.New("client: the attachment is damaged (it does not decrypt or does not match its digest)")
	// ErrAmbiguousMessage means several conversations hold a message with
	// that ID (FindMessage); name the conversation too.
	ErrAmbiguousMessage = errors.New("client: several conversations have a message with that ID")
)

// Attachment describes a file attached to a message. The key that opens
// it stays in the store; Download and OpenAttachment use it.
type Attachment struct {
	// Name is the sender's name for the file. It is not a safe path:
	// use SafeName to save it.
	Name        string
	ContentType string
	Size        int64  // bytes, decrypted
	Blob        string // the SHA-256 of the ciphertext, hex: its name on the server
}

func (p *filePointer) public() *Attachment {
	if p == nil {
		return nil
	}
	return &Attachment{Name: p.Name, ContentType: p.ContentType, Size: p.Size, Blob: hex.EncodeToString(p.Blob)}
}

// File is a file to send with SendAttachment.
type File struct {
	// Name is shown to the recipient: 1–255 bytes of UTF-8.
	Name string
	// ContentType is its media type; "" guesses it from Name's extension.
	ContentType string
	// Body is read to its end, once.
	Body io.Reader
	// Caption is an optional text sent with the file.
	Caption string
}

// SendFile sends the file at path to the conversation to, as SendAttachment does, under
// its base name. progress, if not nil, is called as the upload advances.
func (c *Client) SendFile(ctx context.Context, to ConversationID, path string, progress func(done, total int64)) (Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return Message{}, fmt.Errorf("client: %w", err)
	}
	defer f.Close()
	return c.SendAttachment(ctx, to, File{Name: filepath.Base(path), Body: f}, progress)
}

// SendAttachment encrypts f under a fresh key into a temporary file (in
// Config.TempDir), uploads it, resuming after errors, and then sends to
// a message that carries the file's key and digest (spec/client.md §8).
// progress, if not nil, gets the bytes the server holds and the
// ciphertext's size as the upload advances. Nothing is sent if the upload
// fails.
func (c *Client) SendAttachment(ctx context.Context, to ConversationID, f File, progress func(done, total int64)) (Message, error) {
	to, err := to.normalize()
	if err != nil {
		return Message{}, err
	}
	if to.Peer() == c.acct.Username {
		return Message{}, ErrSelf
	}
	if len(f.Caption) > maxText {
		return Message{}, fmt.Errorf("client: a message is at most %d bytes", maxText)
	}
	p, err := c.encryptUpload(ctx, f, progress)
	if err != nil {
		return Message{}, err
	}
	return c.sendText(ctx, to, &content{Text: f.Caption, Attachment: p})
}

// encryptUpload encrypts f under a fresh key and uploads it, and returns
// what a reader needs to fetch and decrypt it.
func (c *Client) encryptUpload(ctx context.Context, f File, progress func(done, total int64)) (*filePointer, error) {
	if f.Body == nil {
		return nil, errors.New("client: File.Body is nil")
	}
	if f.Name == "" || len(f.Name) > maxAttachName || !utf8.ValidString(f.Name) {
		return nil, fmt.Errorf("client: a file name is 1–%d bytes of UTF-8", maxAttachName)
	}
	if f.ContentType == "" {
		f.ContentType = mime.TypeByExtension(filepath.Ext(f.Name))
	}
	if f.ContentType == "" || len(f.ContentType) > maxAttachName || !utf8.ValidString(f.ContentType) {
		f.ContentType = defaultFileType
	}
	key, err := attachment.NewKey(c.rand)
	if err != nil {
		return nil, err
	}
	tmp, err := c.newSpool()
	if err != nil {
		return nil, err
	}
	defer tmp.Close()
	w := attachment.NewWriter(tmp, &key)
	n, err := io.Copy(w, f.Body)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("client: encrypting %s: %w", f.Name, err)
	}
	digest := w.Digest()
	if err := c.upload(ctx, tmp, w.Size(), hex.EncodeToString(digest[:]), blobContentType, progress); err != nil {
		return nil, err
	}
	return &filePointer{Blob: digest[:], Key: key.Bytes(), Size: n, Name: f.Name, ContentType: f.ContentType}, nil
}

// upload sends the size bytes in src as the blob sum (encrypted
// attachments, or a channel's public media), resuming from the offset the
// server holds after each error.
func (c *Client) upload(ctx context.Context, src io.ReaderAt, size int64, sum, contentType string, progress func(done, total int64)) error {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	req := api.UploadRequest{Size: size, SHA256: sum, ContentType: contentType}
	var (
		st       api.UploadStatus
		err      error
		created  bool
		failures int
	)
	for {
		switch {
		case !created:
			st, err = c.http.CreateUpload(ctx, req)
			created = err == nil
		case st.Complete:
			progress(size, size)
			return nil
		case err != nil:
			// After a failure, ask where the upload stands.
			st, err = c.http.UploadStatus(ctx, st.ID)
		default:
			progress(st.Offset, size)
			var next api.UploadStatus
			body := io.NewSectionReader(src, st.Offset, min(uploadPiece, size-st.Offset))
			next, err = c.http.UploadChunk(ctx, st.ID, st.Offset, body)
			if err == nil {
				if next.Offset <= st.Offset && !next.Complete {
					err = fmt.Errorf("client: the upload did not advance past %d bytes", st.Offset)
				} else {
					failures = 0
				}
				st = next
			}
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *api.Error
		if errors.As(err, &ae) {
			switch ae.Code {
			case api.CodeNotFound: // the upload expired: start again
				created = false
			case api.CodeOffsetMismatch, api.CodeRateLimited, api.CodeUnavailable, api.CodeInternal:
			default:
				return fmt.Errorf("client: uploading the attachment: %w", err)
			}
		}
		if failures++; failures >= maxTransferFail {
			return fmt.Errorf("client: uploading the attachment: %w", err)
		}
		c.log.Warn("attachment upload interrupted; resuming", "err", err, "failures", failures)
		if err := sleep(ctx, time.Duration(failures)*250*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// FindMessage returns the message with ID id, in whichever conversation
// holds it: ErrNoSuchMessage if none does, ErrAmbiguousMessage if several
// do (IDs are chosen by senders).
func (c *Client) FindMessage(ctx context.Context, id MessageID) (Message, error) {
	var (
		out   Message
		found int
	)
	suffix := "/" + id.String()
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketMsgIndex, "", func(k string, v []byte) error {
			if !strings.HasSuffix(k, suffix) {
				return nil
			}
			var r messageRecord
			if err := tx.getJSON(bucketMessage, string(v), &r); err != nil {
				return err
			}
			out = r.message()
			found++
			return nil
		})
	})
	switch {
	case err != nil:
		return Message{}, err
	case found == 0:
		return Message{}, ErrNoSuchMessage
	case found > 1:
		return Message{}, ErrAmbiguousMessage
	}
	return out, nil
}

// pointer returns the attachment of message id in the conversation conv.
func (c *Client) pointer(ctx context.Context, conv ConversationID, id MessageID) (*filePointer, error) {
	conv, err := conv.normalize()
	if err != nil {
		return nil, ErrNoSuchMessage
	}
	var r messageRecord
	err = c.view(ctx, func(tx sealedTx) error {
		mk, err := tx.get(bucketMsgIndex, msgIndexKey(conv, id))
		if err != nil {
			return err
		}
		return tx.getJSON(bucketMessage, string(mk), &r)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoSuchMessage
	}
	if err != nil {
		return nil, err
	}
	if r.Attachment == nil {
		return nil, ErrNoAttachment
	}
	return r.Attachment, nil
}

// Download fetches the attachment of message id in the conversation with
// peer, decrypts it and writes it to w. It resumes from where it was after
// a dropped connection. It writes only authenticated chunks, but if it
// fails (ErrDamaged, or the network) what it wrote is not the whole file:
// discard it. progress, if not nil, gets the ciphertext bytes received and
// their total.
func (c *Client) Download(ctx context.Context, conv ConversationID, id MessageID, w io.Writer, progress func(done, total int64)) error {
	p, err := c.pointer(ctx, conv, id)
	if err != nil {
		return err
	}
	return c.download(ctx, p, w, progress)
}

// download fetches, checks and decrypts the file p points to into w.
func (c *Client) download(ctx context.Context, p *filePointer, w io.Writer, progress func(done, total int64)) error {
	key, err := attachment.KeyFromBytes(p.Key)
	if err != nil {
		return ErrDamaged
	}
	size, err := attachment.CiphertextSize(p.Size)
	if err != nil {
		return ErrDamaged
	}
	blob := c.openBlob(ctx, p)
	defer blob.Close()
	h := sha256.New()
	var src io.Reader = io.NewSectionReader(blob, 0, size)
	if progress != nil {
		src = &counting{r: src, total: size, progress: progress}
	}
	n, err := attachment.Decrypt(w, io.TeeReader(src, h), &key)
	switch {
	case errors.Is(err, attachment.ErrDecrypt) || errors.Is(err, errBlobSize):
		return ErrDamaged
	case err != nil:
		return fmt.Errorf("client: downloading the attachment: %w", err)
	case n != p.Size || !bytes.Equal(h.Sum(nil), p.Blob):
		return ErrDamaged
	}
	return nil
}

// DownloadFile downloads the attachment as Download does into a new file
// at path, through a temporary file in the same directory that becomes
// path only once the whole file has been checked. An existing file at
// path is replaced.
func (c *Client) DownloadFile(ctx context.Context, conv ConversationID, id MessageID, path string, progress func(done, total int64)) error {
	return writeChecked(path, func(w io.Writer) error { return c.Download(ctx, conv, id, w, progress) })
}

// writeChecked writes a file at path with fill, under a temporary name in
// the same directory, renamed to path only if fill succeeds: a download
// that fails its checks leaves nothing.
func writeChecked(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer os.Remove(f.Name())
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// AttachmentReader reads a decrypted attachment, fetching and decrypting
// only the chunks read: ReadAt (safe for concurrent use), and Read and
// Seek (not). Every chunk is authenticated as it is read, and the last one
// when it is opened; the blob's digest is not checked, since the whole
// blob is not read. Errors of authentication are ErrDamaged.
type AttachmentReader struct {
	r    *attachment.RandomReader
	blob blobSource
}

// OpenAttachment opens the attachment of message id in the conversation
// with peer for reading at any offset (a video played from the middle).
// ctx bounds every read. Close it when done.
func (c *Client) OpenAttachment(ctx context.Context, conv ConversationID, id MessageID) (*AttachmentReader, error) {
	p, err := c.pointer(ctx, conv, id)
	if err != nil {
		return nil, err
	}
	key, err := attachment.KeyFromBytes(p.Key)
	if err != nil {
		return nil, ErrDamaged
	}
	size, err := attachment.CiphertextSize(p.Size)
	if err != nil {
		return nil, ErrDamaged
	}
	blob := c.openBlob(ctx, p)
	r, err := attachment.NewRandomReader(blob, size, &key)
	if err == nil && r.Size() != p.Size {
		err = attachment.ErrDecrypt
	}
	if err != nil {
		blob.Close()
		return nil, damaged(err)
	}
	return &AttachmentReader{r: r, blob: blob}, nil
}

// Size is the attachment's size.
func (a *AttachmentReader) Size() int64 { return a.r.Size() }

// ReadAt reads len(p) bytes at off (io.ReaderAt).
func (a *AttachmentReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := a.r.ReadAt(p, off)
	return n, damaged(err)
}

// Read reads from the current offset (io.Reader).
func (a *AttachmentReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	return n, damaged(err)
}

// Seek sets the offset of the next Read (io.Seeker).
func (a *AttachmentReader) Seek(offset int64, whence int) (int64, error) {
	return a.r.Seek(offset, whence)
}

// Close ends the download in progress, if any.
func (a *AttachmentReader) Close() error { return a.blob.Close() }

func damaged(err error) error {
	if errors.Is(err, attachment.ErrDecrypt) || errors.Is(err, errBlobSize) {
		return ErrDamaged
	}
	return err
}

// remoteBlob is an io.ReaderAt over a blob on the server. It keeps one
// download open and goes on reading it while reads are sequential, so a
// whole-file read is one request; a read elsewhere starts another. After
// an error it asks again from the offset it reached, up to
// maxTransferFail times in a row without progress.
type remoteBlob struct {
	ctx  context.Context
	http *transport.Client
	sum  string
	size int64 // the ciphertext's expected size

	mu   sync.Mutex // guards what follows
	body io.ReadCloser
	at   int64 // body's offset
}

var errBlobSize = errors.New("client: the blob does not have the expected size")

func (c *Client) remoteBlob(ctx context.Context, p *filePointer) *remoteBlob {
	size, _ := attachment.CiphertextSize(p.Size)
	return &remoteBlob{ctx: ctx, http: c.http, sum: hex.EncodeToString(p.Blob), size: size}
}

func (b *remoteBlob) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.body != nil && b.at != off {
		b.closeBody()
	}
	n, failures := 0, 0
	for n < len(p) {
		var err error
		if b.body == nil {
			err = b.open(off + int64(n))
		}
		if err == nil {
			var k int
			k, err = io.ReadFull(b.body, p[n:])
			n += k
			b.at += int64(k)
			if k > 0 {
				failures = 0
			}
			if err == nil {
				break
			}
			b.closeBody() // cut short: ask again from where it stopped
		}
		if b.ctx.Err() != nil {
			return n, b.ctx.Err()
		}
		if failures++; failures >= maxTransferFail || !retryable(err) {
			return n, fmt.Errorf("client: downloading %s: %w", b.sum, err)
		}
		if err := sleep(b.ctx, time.Duration(failures-1)*250*time.Millisecond); err != nil {
			return n, err
		}
	}
	return n, nil
}

// open starts a download at off. b.mu is held.
func (b *remoteBlob) open(off int64) error {
	body, size, err := b.http.DownloadBlob(b.ctx, b.sum, off)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
			return fmt.Errorf("client: the server no longer has blob %s: %w", b.sum, err)
		}
		return err
	}
	if size >= 0 && size != b.size { // -1: the server did not say
		body.Close()
		return errBlobSize
	}
	b.body, b.at = body, off
	return nil
}

func retryable(err error) bool {
	var ae *api.Error
	if errors.Is(err, errBlobSize) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.As(err, &ae) {
		return ae.Code == api.CodeRateLimited || ae.Code == api.CodeUnavailable || ae.Code == api.CodeInternal
	}
	return true // the network
}

func (b *remoteBlob) closeBody() {
	if b.body != nil {
		b.body.Close()
		b.body = nil
	}
}

// Close ends the download in progress.
func (b *remoteBlob) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeBody()
	return nil
}

// counting reports the bytes read through it.
type counting struct {
	r        io.Reader
	n, total int64
	progress func(done, total int64)
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 || err == io.EOF {
		c.progress(c.n, c.total)
	}
	return n, err
}
