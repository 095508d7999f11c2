package cli

import (
	"strconv"

	"github.com/skip2/go-qrcode"

	"github.com/parley-chat/parley/client"
)

type devicesCmd struct {
	List    devicesListCmd    `cmd:"" default:"1" help:"List the account's devices."`
	Link    devicesLinkCmd    `cmd:"" help:"On a NEW device: show a link code, and wait until an existing device approves it."`
	Approve devicesApproveCmd `cmd:"" help:"On an existing device: approve a link code shown by a new device."`
	Remove  devicesRemoveCmd  `cmd:"" help:"Remove a device; its access ends at once."`
}

type devicesListCmd struct{}

func (devicesListCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	ds, err := cl.Devices(r.ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		mark := ""
		if d.Current {
			mark = "  (this device)"
		}
		r.outf("%d  %s  added %s%s\n", d.ID, safe(d.Name), d.Created.Format("2006-01-02"), mark)
	}
	return nil
}

type devicesLinkCmd struct {
	Server string `required:"" help:"The server's URL." env:"PARLEY_SERVER"`
	Device string `help:"A name for this device." default:"cli"`
}

func (c *devicesLinkCmd) Run(r *run) error {
	cfg, err := r.newConfig(nil)
	if err != nil {
		return err
	}
	l, err := client.BeginLink(r.ctx, cfg, c.Server, c.Device)
	if err != nil {
		cfg.Store.Close()
		removeStore(r)
		return err
	}
	if qr, err := qrcode.New(l.Code(), qrcode.Medium); err == nil {
		r.errf("%s", qr.ToSmallString(false))
	}
	r.errf("On a device that already has your account, run:\n  parley devices approve %s\nWaiting (the code expires at %s)…\n", l.Code(), l.Expires().Format("15:04"))
	r.outf("link code: %s\n", l.Code())
	cl, err := l.Wait(r.ctx)
	if err != nil {
		cfg.Store.Close()
		removeStore(r)
		return err
	}
	defer cl.Close()
	r.outf("linked: @%s device %d\n", safe(cl.Username()), cl.DeviceID())
	return nil
}

type devicesApproveCmd struct {
	Code string `arg:"" help:"The link code the new device shows (PL1-…)."`
}

func (c *devicesApproveCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ApproveLink(r.ctx, c.Code); err != nil {
		if err == client.ErrBadLinkCode {
			return fail("copy the whole code the new device shows, starting PL1-", "that is not a link code")
		}
		return err
	}
	r.errf("approved: the new device is joining @%s\n", cl.Username())
	return nil
}

type devicesRemoveCmd struct {
	ID string `arg:"" help:"The device's ID, from parley devices list."`
}

func (c *devicesRemoveCmd) Run(r *run) error {
	id, err := strconv.ParseUint(c.ID, 10, 32)
	if err != nil || id == 0 {
		return fail("give a device ID from `parley devices list`", "%q is not a device ID", c.ID)
	}
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.RemoveDevice(r.ctx, uint32(id)); err != nil {
		return err
	}
	r.errf("removed device %d\n", id)
	return nil
}
