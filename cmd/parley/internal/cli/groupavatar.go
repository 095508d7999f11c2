package cli

import (
	"errors"
	"mime"
	"os"
	"path/filepath"

	"github.com/parley-chat/parley/client"
)

type groupAvatarCmd struct {
	Group string `arg:"" help:"The group, e.g. +Family."`
	Image string `arg:"" optional:"" type:"existingfile" help:"The picture to set (an image, at most 5 MiB)."`
	Get   string `placeholder:"PATH" help:"Save the group's picture here instead."`
}

func (c *groupAvatarCmd) Run(r *run) error {
	if (c.Image == "") == (c.Get == "") {
		return fail("give an image to set, or --get PATH to save the picture", "nothing to do")
	}
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.Get != "" {
		err := writeChecked(c.Get, func(f *os.File) error { _, err := cl.GroupAvatar(r.ctx, conv, f); return err })
		if errors.Is(err, client.ErrNoAvatar) {
			return fail("an admin sets one with `parley group avatar "+c.Group+" IMAGE`", "%s has no picture", safe(c.Group))
		}
		if err != nil {
			return err
		}
		r.errf("saved the picture of %s as %s\n", safe(c.Group), safe(c.Get))
		return nil
	}
	f, err := os.Open(c.Image)
	if err != nil {
		return fail("check the path of the image", "cannot read the image: %v", err)
	}
	defer f.Close()
	typ := mime.TypeByExtension(filepath.Ext(c.Image))
	err = cl.SetGroupAvatar(r.ctx, conv, client.File{Name: filepath.Base(c.Image), ContentType: typ, Body: f}, nil)
	if err := groupError(err, c.Group); err != nil {
		return err
	}
	r.errf("set the picture of %s\n", safe(c.Group))
	return nil
}

// writeChecked writes path through a temporary file in its directory,
// renamed to path only once fill succeeded.
func writeChecked(path string, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".parley-*")
	if err != nil {
		return fail("choose a writable place with --get PATH", "cannot write there: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
