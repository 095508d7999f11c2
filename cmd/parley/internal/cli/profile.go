package cli

import (
	"errors"
	"mime"
	"os"
	"path/filepath"
	"strings"

	"github.com/parley-chat/parley/client"
)

// parley profile: this account's display name, about line and avatar,
// encrypted for its contacts (spec/client.md §12).
type profileCmd struct {
	Set  profileSetCmd  `cmd:"" help:"Set your display name, about line or avatar; your contacts and groups see the change."`
	Show profileShowCmd `cmd:"" help:"Show your profile, or a contact's (fetching what arrived first)."`
}

type profileSetCmd struct {
	Name     *string `help:"Your display name (at most 128 bytes; empty removes it)." placeholder:"NAME"`
	About    *string `help:"Your about line (at most 512 bytes; empty removes it)." placeholder:"TEXT"`
	Avatar   string  `type:"existingfile" placeholder:"FILE" help:"Your picture (an image, at most 5 MiB)." xor:"avatar"`
	NoAvatar bool    `help:"Remove your picture." xor:"avatar"`
}

func (c *profileSetCmd) Run(r *run) error {
	if c.Name == nil && c.About == nil && c.Avatar == "" && !c.NoAvatar {
		return fail("give --name, --about, --avatar FILE or --no-avatar", "nothing to change")
	}
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	ch := client.ProfileChange{Name: c.Name, About: c.About, RemoveAvatar: c.NoAvatar}
	if c.Avatar != "" {
		f, err := os.Open(c.Avatar)
		if err != nil {
			return fail("check the path of the image", "cannot read the image: %v", err)
		}
		defer f.Close()
		ch.Avatar = &client.File{ContentType: mime.TypeByExtension(filepath.Ext(c.Avatar)), Body: f}
	}
	p, err := cl.SetProfile(r.ctx, ch)
	if err != nil {
		return profileError(err, cl.Username(), true)
	}
	r.errf("profile set (version %d); your contacts and groups are told\n", p.Version)
	return nil
}

type profileShowCmd struct {
	User       string `arg:"" optional:"" help:"The account, e.g. @bob (default: yours)."`
	SaveAvatar string `placeholder:"PATH" help:"Also save the picture here."`
}

func (c *profileShowCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	user := username(c.User)
	if user == "" {
		user = cl.Username()
	}
	// What arrived first may change the profile (a notice, a new key).
	if err := cl.Sync(r.ctx); err != nil {
		r.errf("note: new messages not fetched: %s\n", safe(err.Error()))
	}
	p, err := cl.Profile(r.ctx, user)
	if err != nil {
		return profileError(err, user, strings.EqualFold(user, cl.Username()))
	}
	// The username first: it is the identity; the name is only what
	// the account calls itself.
	r.outf("@%s\n", safe(p.Username))
	if p.Name != "" {
		r.outf("name: %s\n", safe(p.Name))
	}
	if p.About != "" {
		r.outf("about: %s\n", safe(p.About))
	}
	if a := p.Avatar; a != nil {
		r.outf("avatar: %s, %d bytes\n", safe(a.ContentType), a.Size)
	}
	r.outf("version: %d\n", p.Version)
	if c.SaveAvatar == "" {
		return nil
	}
	err = writeChecked(c.SaveAvatar, func(f *os.File) error { _, err := cl.ProfileAvatar(r.ctx, user, f); return err })
	if errors.Is(err, client.ErrNoAvatar) {
		return fail("it shows once they set one", "@%s has no picture", safe(user))
	}
	if err != nil {
		return err
	}
	r.errf("saved the picture of @%s as %s\n", safe(user), safe(c.SaveAvatar))
	return nil
}

// profileError turns the SDK's profile errors into advice; user is the
// account shown, own whether it is this one.
func profileError(err error, user string, own bool) error {
	switch {
	case errors.Is(err, client.ErrProfileNameTooLong):
		return fail("choose a shorter --name", "a display name is at most %d bytes", client.MaxProfileName)
	case errors.Is(err, client.ErrProfileAboutTooLong):
		return fail("choose a shorter --about", "an about line is at most %d bytes", client.MaxProfileAbout)
	case errors.Is(err, client.ErrProfileText):
		return fail("use one line of plain text", "a display name or about line may not hold control characters or bidirectional controls")
	case errors.Is(err, client.ErrNoProfile) && own:
		return fail("set one with `parley profile set --name NAME`", "you have no profile yet")
	case errors.Is(err, client.ErrNoProfile):
		return fail("it shows once they set one", "@%s has no profile", safe(user))
	case errors.Is(err, client.ErrNoProfileKey):
		return fail("it arrives with their next message to you", "@%s has not shared their profile with you", safe(user))
	case errors.Is(err, client.ErrProfileRefused):
		return fail("the server (or someone between you and it) served an altered or older profile; what was shown before stays",
			"the profile of @%s was refused", safe(user))
	}
	return err
}
