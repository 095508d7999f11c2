package client

import (
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

	"github.com/parley-chat/parley/internal/channel"
)

// MediaFile is an image or a video clip for a channel post. Channel media
// are public: they are uploaded as they are, not encrypted, and the post
// names each by its SHA-256 (spec/protocol.md §10.3).
type MediaFile struct {
	Path string
	// ContentType defaults to what the file name's extension says.
	ContentType string
	// Poster is a still image for a video, optional; without one the
	// server may make one (spec/api.md §11.7).
	Poster        string
	Width, Height uint32
	DurationMS    uint32
}

// PublishMedia uploads files (at most channel.MaxMedia) and posts text
// with them to a channel this device publishes. progress, if not nil,
// gets the bytes uploaded and the total of all files.
func (c *Client) PublishMedia(ctx context.Context, handle, text string, files []MediaFile, progress func(done, total int64)) (Post, error) {
	if len(files) > channel.MaxMedia {
		return Post{}, fmt.Errorf("client: a post has at most %d media items", channel.MaxMedia)
	}
	var total, done int64
	for _, f := range files {
		for _, p := range []string{f.Path, f.Poster} {
			if p == "" {
				continue
			}
			st, err := os.Stat(p)
			if err != nil {
				return Post{}, err
			}
			total += st.Size()
		}
	}
	step := func(d, _ int64) {
		if progress != nil {
			progress(done+d, total)
		}
	}
	var descs [][]byte
	for _, f := range files {
		m := &channel.Media{Width: f.Width, Height: f.Height, DurationMS: f.DurationMS}
		if f.Poster != "" {
			sum, size, err := c.uploadFile(ctx, f.Poster, "", step)
			if err != nil {
				return Post{}, err
			}
			done += size
			m.Poster = &sum
		}
		sum, size, err := c.uploadFile(ctx, f.Path, f.ContentType, step)
		if err != nil {
			return Post{}, err
		}
		done += size
		m.SHA256, m.Size = sum, size
		m.ContentType = f.ContentType
		if m.ContentType == "" {
			m.ContentType = mediaType(f.Path)
		}
		descs = append(descs, m.Marshal())
	}
	return c.publish(ctx, handle, &channel.Record{Kind: channel.KindPost, Text: text, Media: descs})
}

// mediaTypes are the usual channel media, whatever the system's tables say.
var mediaTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp",
	".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime",
}

// mediaType guesses a file's media type from its extension, without
// parameters; unknown is application/octet-stream.
func mediaType(path string) string {
	if t, ok := mediaTypes[strings.ToLower(filepath.Ext(path))]; ok {
		return t
	}
	t, _, err := mime.ParseMediaType(mime.TypeByExtension(filepath.Ext(path)))
	if err != nil || t == "" {
		return "application/octet-stream"
	}
	return t
}

// uploadFile hashes a file and uploads it as a public blob.
func (c *Client) uploadFile(ctx context.Context, path, contentType string, progress func(int64, int64)) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return sum, 0, err
	}
	h.Sum(sum[:0])
	if contentType == "" {
		contentType = mediaType(path)
	}
	if err := c.upload(ctx, f, size, hex.EncodeToString(sum[:]), contentType, progress); err != nil {
		return sum, 0, err
	}
	return sum, size, nil
}

// ErrMediaMismatch means the server sent a media item that is not the one
// the signed post names (another SHA-256 or size): nothing is kept.
var ErrMediaMismatch = errors.New("client: the server sent media that does not match the signed post")

// MediaInfo describes item i of a post's media, from its signed
// descriptor.
func MediaInfo(p Post, i int) (*channel.Media, error) {
	if i < 0 || i >= len(p.Media) {
		return nil, fmt.Errorf("client: post #%d has %d media items, not %d", p.Seq, len(p.Media), i+1)
	}
	return channel.ParseMedia(p.Media[i])
}

// SaveMedia downloads item i of a post's media to w, checking it against
// the signed descriptor: the bytes must have its size and SHA-256, or it
// fails with ErrMediaMismatch (w then holds what came; SaveMediaFile
// keeps nothing). Like an attachment's download it resumes after a
// dropped connection. progress, if not nil, gets the bytes so far and
// the size.
func (c *Client) SaveMedia(ctx context.Context, p Post, i int, w io.Writer, progress func(done, total int64)) error {
	m, err := MediaInfo(p, i)
	if err != nil {
		return err
	}
	blob := &remoteBlob{ctx: ctx, http: c.http, sum: hex.EncodeToString(m.SHA256[:]), size: m.Size}
	defer blob.Close()
	h := sha256.New()
	var src io.Reader = io.NewSectionReader(blob, 0, m.Size)
	if progress != nil {
		src = &counting{r: src, total: m.Size, progress: progress}
	}
	n, err := io.Copy(w, io.TeeReader(src, h))
	switch {
	case errors.Is(err, errBlobSize):
		return ErrMediaMismatch
	case err != nil:
		return err
	case n != m.Size || [32]byte(h.Sum(nil)) != m.SHA256:
		return ErrMediaMismatch
	}
	return nil
}

// SaveMediaFile is SaveMedia to a file at path, written under a temporary
// name and renamed only once it checks out.
func (c *Client) SaveMediaFile(ctx context.Context, p Post, i int, path string, progress func(done, total int64)) error {
	return writeChecked(path, func(w io.Writer) error { return c.SaveMedia(ctx, p, i, w, progress) })
}

// MediaExtension is a file extension for a media content type, or "".
func MediaExtension(contentType string) string {
	exts, _ := mime.ExtensionsByType(contentType)
	if len(exts) == 0 {
		return ""
	}
	// Prefer the common spellings.
	for _, e := range exts {
		if e == ".jpg" || e == ".mp4" || e == ".png" || e == ".webp" || e == ".gif" {
			return e
		}
	}
	return exts[0]
}
