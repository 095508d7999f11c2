package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/attachment"
	"github.com/parley-chat/parley/internal/group"
)

// A group's avatar is an encrypted attachment (spec/client.md §10.2):
// the file goes to the server encrypted under a fresh key, and the group's
// info record carries the pointer (its blob name, key, size, name and
// type), so only members can fetch and open it.

// maxAvatar bounds an avatar's size.
const maxAvatar = 5 << 20

// ErrNoAvatar means the group has no avatar.
var ErrNoAvatar = errors.New("client: the group has no avatar")

// SetGroupAvatar sets the avatar of the group conv to the image f (at most
// 5 MiB; the same rights as the title).
func (c *Client) SetGroupAvatar(ctx context.Context, conv ConversationID, f File, progress func(done, total int64)) error {
	if f.ContentType == "" || !strings.HasPrefix(f.ContentType, "image/") {
		return errors.New("client: an avatar is an image (give its content type, image/...)")
	}
	f.Body = io.LimitReader(f.Body, maxAvatar+1)
	p, err := c.encryptUpload(ctx, f, progress)
	if err != nil {
		return err
	}
	if p.Size > maxAvatar {
		return fmt.Errorf("client: an avatar is at most %d MiB", maxAvatar>>20)
	}
	avatar, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return c.change(ctx, conv, group.KindInfo, func(r *group.Record, s *group.State) error {
		in := s.Info()
		r.Info = &group.Info{Title: in.Title, Description: in.Description, Avatar: avatar}
		return nil
	}, nil, nil)
}

// GroupAvatar fetches, checks and decrypts the avatar of the group conv
// into w, and returns what it is.
func (c *Client) GroupAvatar(ctx context.Context, conv ConversationID, w io.Writer) (*Attachment, error) {
	id, ok := conv.Group()
	if !ok {
		return nil, ErrNoSuchGroup
	}
	var raw []byte
	c.mu.Lock()
	err := c.view(ctx, func(tx sealedTx) error {
		l, _, err := c.loadGroup(tx, id)
		if err == nil {
			raw = l.State().Info().Avatar
		}
		return err
	})
	c.unlock()
	if err != nil {
		return nil, err
	}
	p, err := parseAvatar(raw)
	if err != nil {
		return nil, err
	}
	return p.public(), c.download(ctx, p, w, nil)
}

// parseAvatar reads an avatar pointer as a member wrote it: anything
// malformed is no avatar.
func parseAvatar(b []byte) (*filePointer, error) {
	if len(b) == 0 {
		return nil, ErrNoAvatar
	}
	var p filePointer
	if err := json.Unmarshal(b, &p); err != nil || len(p.Blob) != 32 || len(p.Key) != attachment.KeySize ||
		p.Size < 0 || p.Size > maxAvatar || p.Name == "" || len(p.Name) > maxAttachName || !utf8.ValidString(p.Name) ||
		!strings.HasPrefix(p.ContentType, "image/") || len(p.ContentType) > maxAttachName {
		return nil, fmt.Errorf("%w (its pointer is malformed)", ErrNoAvatar)
	}
	return &p, nil
}
