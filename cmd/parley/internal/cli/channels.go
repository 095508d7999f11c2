package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/markup"
)

type channelCmd struct {
	Create   channelCreateCmd   `cmd:"" help:"Create a channel; this device keeps its owner key (and gives it to devices you link later)."`
	Post     channelPostCmd     `cmd:"" help:"Post to a channel you own or are an admin of."`
	Follow   channelFollowCmd   `cmd:"" help:"Follow a channel (its key is pinned the first time)."`
	Unfollow channelUnfollowCmd `cmd:"" help:"Stop following a channel."`
	Feed     channelFeedCmd     `cmd:"" help:"Catch up with a channel and show its posts, newest first."`
	Search   channelSearchCmd   `cmd:"" help:"Find channels by handle or title."`
	Admin    channelAdminCmd    `cmd:"" help:"List the admins, make someone an admin (the owner key certifies their identity key), or --remove them (that key is revoked)."`
	Profile  channelProfileCmd  `cmd:"" help:"Change a channel's title, description and avatar."`
	Edit     channelEditCmd     `cmd:"" help:"Replace a post's text; the earlier text stays visible."`
	Delete   channelDeleteCmd   `cmd:"" help:"Delete a post."`
	Pin      channelPinCmd      `cmd:"" help:"Pin a post, or --unpin it."`
	Get      channelGetCmd      `cmd:"" help:"Save a post's images and clips, each checked against the signed post."`
	Report   channelReportCmd   `cmd:"" help:"Report a channel or one of its posts to the server's operator."`
	Fork     channelForkCmd     `cmd:"" help:"Show the evidence of a channel's fork, or --resolve it to take records again."`
}

type channelAdminCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
	User   string `arg:"" optional:"" help:"The user, e.g. @bob; without it, list the admins."`
	Remove bool   `help:"Remove the admin: their identity key signs nothing from now on."`
}

func (c *channelAdminCmd) Run(r *run) error {
	if c.User == "" && c.Remove {
		return fail("give the username to remove after the channel's handle", "whom to remove?")
	}
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.User == "" {
		return listAdmins(r, cl, username(c.Handle))
	}
	if c.Remove {
		if err := cl.RemoveChannelAdmin(r.ctx, username(c.Handle), username(c.User)); err != nil {
			if errors.Is(err, client.ErrNotPublisher) {
				return fail("run this on a device of the channel's owner", "this device has no owner key for @%s", username(c.Handle))
			}
			return err
		}
		r.errf("@%s is no longer an admin of @%s; followers refuse what their key signs from now on\n", username(c.User), username(c.Handle))
		return nil
	}
	if err := cl.AddChannelAdmin(r.ctx, username(c.Handle), username(c.User)); err != nil {
		if errors.Is(err, client.ErrNotPublisher) {
			return fail("run this on a device of the channel's owner", "this device has no owner key for @%s", username(c.Handle))
		}
		return err
	}
	r.errf("@%s is an admin of @%s; they sign with their own identity key, on any of their devices\n", username(c.User), username(c.Handle))
	return nil
}

// listAdmins prints the admins the channel's chain certifies, once this
// device has caught up with it, by username.
func listAdmins(r *run, cl *client.Client, handle string) error {
	if err := cl.CatchUp(r.ctx, handle); err != nil {
		return err
	}
	admins, err := cl.ChannelAdmins(r.ctx, handle)
	if err != nil {
		return err
	}
	slices.SortFunc(admins, func(a, b client.ChannelAdmin) int { return strings.Compare(a.Username, b.Username) })
	for _, a := range admins {
		r.outf("@%s\n", safe(a.Username))
	}
	if len(admins) == 0 {
		r.errf("@%s has no admins; make someone one with `parley channel admin @%s` and their username\n", safe(handle), safe(handle))
	}
	return nil
}

type channelProfileCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
	Title  string `required:"" help:"The title."`
	About  string `help:"The description."`
	Avatar string `help:"An image file." type:"existingfile"`
}

func (c *channelProfileCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.SetChannelProfile(r.ctx, username(c.Handle), c.Title, c.About, c.Avatar)
}

type channelReportCmd struct {
	Handle   string `arg:"" help:"The channel, e.g. @news."`
	Post     string `help:"The post's number (#N in parley channel feed); without it the channel is reported."`
	Category string `required:"" enum:"spam,abuse,violence,sexual,illegal,copyright,other" help:"One of: spam, abuse, violence, sexual, illegal, copyright, other."`
	Note     string `help:"What the operator should know."`
}

func (c *channelReportCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	handle := username(c.Handle)
	var id *[16]byte
	if c.Post != "" {
		p, err := findPost(r, cl, handle, c.Post)
		if err != nil {
			return err
		}
		id = &p.ID
	}
	if err := cl.ReportChannel(r.ctx, handle, id, c.Category, c.Note); err != nil {
		return err
	}
	r.errf("reported to the server's operator\n")
	return nil
}

type channelCreateCmd struct {
	Handle string `arg:"" help:"The channel's handle, e.g. @news."`
	Title  string `required:"" help:"The channel's title."`
	About  string `help:"A description."`
}

func (c *channelCreateCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	info, err := cl.CreateChannel(r.ctx, username(c.Handle), c.Title, c.About)
	if err != nil {
		return err
	}
	r.outf("@%s  %s\n", safe(info.Handle), safe(info.Title))
	r.errf("created; post with: parley channel post @%s \"text\"\n", safe(info.Handle))
	return nil
}

type channelPostCmd struct {
	Handle string   `arg:"" help:"The channel, e.g. @news."`
	Text   []string `arg:"" optional:"" help:"The post's text (markup: **bold**, _italic_, [label](https://…), URLs)."`
	File   []string `help:"An image or video clip to attach (up to 10; repeat the flag). Videos: faststart MP4 (H.264/AAC)." type:"existingfile"`
	Poster string   `help:"A still image shown for the (last) video before it plays." type:"existingfile"`
}

func (c *channelPostCmd) Run(r *run) error {
	text := strings.Join(c.Text, " ")
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	var p client.Post
	if len(c.File) == 0 {
		if strings.TrimSpace(text) == "" {
			return fail("give the text after the channel, or --file", "the post is empty")
		}
		p, err = cl.Publish(r.ctx, username(c.Handle), text)
	} else {
		files := make([]client.MediaFile, len(c.File))
		for i, f := range c.File {
			files[i] = client.MediaFile{Path: f}
		}
		files[len(files)-1].Poster = c.Poster
		bar := newProgress(r, "uploading")
		p, err = cl.PublishMedia(r.ctx, username(c.Handle), text, files, bar.update)
		bar.done()
	}
	if err != nil {
		if err == client.ErrNotPublisher {
			return fail("post from a device of the channel's owner or of an admin", "you are not the owner or an admin of @%s", username(c.Handle))
		}
		return err
	}
	r.outf("%s\n", hex.EncodeToString(p.ID[:]))
	r.errf("posted to @%s (#%d)\n", safe(p.Channel), p.Seq)
	return nil
}

type channelFollowCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
}

func (c *channelFollowCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	info, err := cl.Follow(r.ctx, username(c.Handle))
	if err != nil {
		return err
	}
	r.outf("@%s  %s  %s\n", safe(info.Handle), safe(info.Title), count(info.Followers, "follower"))
	if info.About != "" {
		r.outf("    %s\n", safeBody(info.About))
	}
	r.errf("following @%s; read it with `parley channel feed @%s`\n", safe(info.Handle), safe(info.Handle))
	return nil
}

type channelUnfollowCmd struct {
	Handle string `arg:"" help:"The channel, e.g. @news."`
}

func (c *channelUnfollowCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Unfollow(r.ctx, username(c.Handle)); err != nil {
		return err
	}
	r.errf("unfollowed @%s\n", username(c.Handle))
	return nil
}

type channelFeedCmd struct {
	Handle  string `arg:"" help:"The channel, e.g. @news."`
	N       int    `short:"n" default:"20" help:"How many posts."`
	History bool   `help:"Show the earlier versions of edited posts."`
}

func (c *channelFeedCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	posts, err := cl.Feed(r.ctx, username(c.Handle), c.N)
	if err != nil {
		if err == client.ErrChannelKeyChanged {
			return fail("do not trust this channel until you know why", "@%s is now signed by another key than the one pinned when you followed it", username(c.Handle))
		}
		return err
	}
	for _, p := range posts {
		if p.Withheld {
			r.outf("       #%d  [withheld: the server did not serve the records from here on; the feed stops until it does]\n", p.Seq)
			continue
		}
		if p.Removed != "" {
			r.outf("       #%d  [removed by the server's operator: %s]\n", p.Seq, safe(p.Removed))
			continue
		}
		mark := ""
		if p.Pinned {
			mark = " [pinned]"
		}
		if len(p.Edits) > 0 {
			mark += " (edited)"
		}
		media := ""
		if len(p.Media) > 0 {
			media = fmt.Sprintf("  [%d media]", len(p.Media))
		}
		if p.Views > 0 {
			media += "  · " + viewCount(p.Views)
		}
		r.outf("%s  #%d%s  %s%s\n", stamp(p.Time), p.Seq, mark, safeBody(markup.Plain(p.Text)), media)
		if c.History {
			for _, e := range p.Edits {
				r.outf("    was: %s\n", safeBody(markup.Plain(e)))
			}
		}
	}
	if len(posts) == 0 {
		r.errf("no posts yet\n")
	}
	return nil
}

type channelSearchCmd struct {
	Query string `arg:"" optional:"" help:"Part of a handle or title; empty lists all."`
}

func (c *channelSearchCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	cs, err := cl.SearchChannels(r.ctx, c.Query)
	if err != nil {
		return err
	}
	for _, ch := range cs {
		r.outf("@%s  %s  %s\n", safe(ch.Handle), safe(ch.Title), count(ch.Followers, "follower"))
	}
	if len(cs) == 0 {
		r.errf("no channels found\n")
	}
	return nil
}

// viewCount is "1 view" or "N views".
func viewCount(n int64) string { return count(n, "view") }

// count is "1 follower" or "N followers": n and the noun, plural unless
// n is 1 (every noun parley counts takes an s).
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

type channelForkCmd struct {
	Handle  string `arg:"" help:"The channel, e.g. @news."`
	Resolve bool   `help:"Drop the records from the fork on and take the chain as the server serves it now (the evidence stays)."`
}

func (c *channelForkCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	f, err := cl.ChannelFork(r.ctx, username(c.Handle))
	if err != nil {
		return err
	}
	if f == nil {
		r.errf("@%s has not forked\n", username(c.Handle))
		return nil
	}
	r.outf("position %d, seen %s\nyours:  %s\ntheirs: %s\n", f.Position, stamp(f.Seen), hex.EncodeToString(f.Ours), hex.EncodeToString(f.Theirs))
	if c.Resolve {
		if err := cl.ResolveChannelFork(r.ctx, username(c.Handle)); err != nil {
			return err
		}
		r.errf("@%s takes records again from position %d\n", username(c.Handle), f.Position)
	}
	return nil
}
