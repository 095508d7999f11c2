package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/client"
)

// Changing a post: edit, delete, pin. A post is named by its number, the
// #N that `parley channel feed` shows (the server's Seq of the original
// post, which edits keep). Each change is a record signed with the
// channel's key, so only a device holding it can make one.

type channelEditCmd struct {
	Handle string   `arg:"" help:"The channel, e.g. @news."`
	Post   string   `arg:"" help:"The post's number, #N in parley channel feed."`
	Text   []string `arg:"" help:"The new text; the earlier one stays visible (feed --history)."`
	// Replacing media is a new post: delete this one and post again.
	DropMedia bool `help:"Remove the post's images and clips too (by default an edit keeps them)."`
}

func (c *channelEditCmd) Run(r *run) error {
	text := strings.Join(c.Text, " ")
	if strings.TrimSpace(text) == "" {
		return fail("give the new text after the post's number", "the new text is empty")
	}
	return changePost(r, c.Handle, c.Post, func(cl *client.Client, handle string, id [16]byte) (string, error) {
		var err error
		if c.DropMedia {
			_, err = cl.EditPostMedia(r.ctx, handle, id, text, nil)
		} else {
			_, err = cl.EditPost(r.ctx, handle, id, text)
		}
		return "edited", err
	})
}

type channelDeleteCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
	Post   string `arg:"" help:"The post's number, #N in parley channel feed."`
}

func (c *channelDeleteCmd) Run(r *run) error {
	return changePost(r, c.Handle, c.Post, func(cl *client.Client, handle string, id [16]byte) (string, error) {
		return "deleted", cl.DeletePost(r.ctx, handle, id)
	})
}

type channelPinCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
	Post   string `arg:"" help:"The post's number, #N in parley channel feed."`
	Unpin  bool   `help:"Unpin it instead."`
}

func (c *channelPinCmd) Run(r *run) error {
	return changePost(r, c.Handle, c.Post, func(cl *client.Client, handle string, id [16]byte) (string, error) {
		if c.Unpin {
			return "unpinned", cl.PinPost(r.ctx, handle, id, false)
		}
		return "pinned", cl.PinPost(r.ctx, handle, id, true)
	})
}

// changePost finds post number ref of the channel and applies change to
// it, reporting what was done.
func changePost(r *run, handle, ref string, change func(*client.Client, string, [16]byte) (string, error)) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	handle = username(handle)
	p, err := findPost(r, cl, handle, ref)
	if err != nil {
		return err
	}
	done, err := change(cl, handle, p.ID)
	if errors.Is(err, client.ErrNotPublisher) {
		return fail("change posts from a device of the channel's owner or of an admin", "you are not the owner or an admin of @%s", handle)
	}
	if err != nil {
		return err
	}
	r.errf("%s post #%s of @%s\n", done, strings.TrimPrefix(ref, "#"), handle)
	return nil
}

// findPost catches up with the channel and returns its post number ref
// ("7" or "#7").
func findPost(r *run, cl *client.Client, handle, ref string) (client.Post, error) {
	n, err := parsePostNumber(ref)
	if err != nil {
		return client.Post{}, err
	}
	posts, err := cl.Feed(r.ctx, handle, 0)
	if err != nil {
		return client.Post{}, err
	}
	for _, p := range posts {
		if p.Seq == n && p.Removed == "" && !p.Withheld {
			return p, nil
		}
	}
	return client.Post{}, fail("give a post number from `parley channel feed`", "@%s has no post #%d", handle, n)
}

type channelGetCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
	Post   string `arg:"" help:"The post's number, #N in parley channel feed."`
	Dir    string `default:"." help:"The directory to save the files in."`
}

// Run saves every media item of a post as HANDLE-N-I.EXT, each checked
// against the signed post (its SHA-256 and size) before it is kept.
func (c *channelGetCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	handle := username(c.Handle)
	p, err := findPost(r, cl, handle, c.Post)
	if err != nil {
		return err
	}
	if len(p.Media) == 0 {
		return fail("parley channel get saves images and clips; this post is text only", "post #%d of @%s has no media", p.Seq, handle)
	}
	for i := range p.Media {
		m, err := client.MediaInfo(p, i)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s-%d-%d%s", handle, p.Seq, i+1, client.MediaExtension(m.ContentType))
		path := filepath.Join(c.Dir, name)
		if _, err := os.Lstat(path); err == nil {
			return fail("remove it, or choose another --dir", "%s exists already", path)
		}
		bar := newProgress(r, "downloading "+name)
		err = cl.SaveMediaFile(r.ctx, p, i, path, bar.update)
		bar.done()
		if errors.Is(err, client.ErrMediaMismatch) {
			return fail("do not trust what this server serves for @"+handle, "item %d of post #%d is not the one the signed post names; it was not saved", i+1, p.Seq)
		}
		if err != nil {
			return err
		}
		r.outf("%s\n", path)
		r.errf("saved %s (%s, %s)\n", path, safe(m.ContentType), size(m.Size))
	}
	return nil
}

// parsePostNumber reads "7" or "#7".
func parsePostNumber(ref string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(ref, "#"), 10, 64)
	if err != nil || n == 0 {
		return 0, fail("give the post's number, as #N in `parley channel feed`", "%q is not a post number", ref)
	}
	return n, nil
}
