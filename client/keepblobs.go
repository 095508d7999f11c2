package client

import (
	"context"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/attachment"
)

// Avatars outlive the server's blob lifetime (spec/api.md §10: a blob
// lives 30 days after its latest upload or claim): at the start of a
// connection, once every avatarKeepEvery, this device claims the blobs of
// its account's profile avatar and of the avatars of the groups it is in.
// A claim of a stored blob uploads nothing (POST /v1/uploads answers
// Complete) and renews its life; a blob the server no longer has cannot
// be put back from here (the device keeps no plaintext), and is logged.

const (
	avatarKeepEvery = 7 * 24 * time.Hour
	keyAvatarsKept  = "~kept" // in bucketProfile: when avatars were last claimed (unix ms)
)

// keepAvatars claims the avatars' blobs if avatarKeepEvery passed since
// the last time. Failures are logged: the next connection tries again.
func (c *Client) keepAvatars(ctx context.Context) {
	now := c.nowMillis()
	var due bool
	var blobs []*filePointer
	c.mu.Lock()
	err := c.view(ctx, func(tx sealedTx) error {
		if v, err := tx.get(bucketProfile, keyAvatarsKept); err == nil {
			if at, err := strconv.ParseInt(string(v), 10, 64); err == nil && time.Duration(now-at)*time.Millisecond < avatarKeepEvery {
				return nil
			}
		}
		due = true
		var own profileRecord
		if err := getProfile(tx, c.acct.Username, &own); err == nil && own.Avatar != nil {
			blobs = append(blobs, own.Avatar)
		}
		groups, err := c.memberGroups(tx)
		if err != nil {
			return err
		}
		for _, l := range groups {
			if p, err := parseAvatar(l.State().Info().Avatar); err == nil {
				blobs = append(blobs, p)
			}
		}
		return nil
	})
	c.unlock()
	if err != nil || !due {
		if err != nil {
			c.log.Warn("avatar upkeep failed", "err", err)
		}
		return
	}
	for _, p := range blobs {
		size, err := attachment.CiphertextSize(p.Size)
		if err != nil {
			continue
		}
		st, err := c.http.CreateUpload(ctx, api.UploadRequest{Size: size, SHA256: hex.EncodeToString(p.Blob), ContentType: "application/octet-stream"})
		if err != nil {
			c.log.Warn("avatar upkeep failed", "err", err)
			return
		}
		if !st.Complete {
			c.log.Warn("an avatar's blob is gone from the server; set the picture again", "blob", hex.EncodeToString(p.Blob[:8]))
		}
	}
	c.mu.Lock()
	defer c.unlock()
	if err := c.update(ctx, func(tx sealedTx) error {
		return tx.put(bucketProfile, keyAvatarsKept, []byte(strconv.FormatInt(now, 10)))
	}); err != nil {
		c.log.Warn("avatar upkeep failed", "err", err)
	}
}
