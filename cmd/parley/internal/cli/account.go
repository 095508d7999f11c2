package cli

import (
	"os"
	"time"

	"github.com/parley-chat/parley/client"
)

type initCmd struct {
	Server string `required:"" help:"The server's URL, e.g. http://127.0.0.1:8080." env:"PARLEY_SERVER"`
	Name   string `required:"" help:"Your username: 3-32 letters, digits or _, starting with a letter."`
	Device string `help:"A name for this device." default:"cli"`
	Invite string `help:"An invite code, for an invite-only server."`
}

func (c *initCmd) Run(r *run) error {
	cfg, err := r.newConfig(nil)
	if err != nil {
		return err
	}
	cl, recovery, err := client.Create(r.ctx, cfg, client.CreateOptions{Server: c.Server, Username: username(c.Name), DeviceName: c.Device, InviteCode: c.Invite})
	if err != nil {
		cfg.Store.Close()
		removeStore(r)
		return err
	}
	defer cl.Close()
	r.outf("@%s (device %d) on %s\n", cl.Username(), cl.DeviceID(), cl.Server())
	r.errf("Your recovery key (write it down; it is shown once, and lets you keep @%s if you lose every device):\n", cl.Username())
	r.outf("recovery key: %s\n", recovery)
	return nil
}

type recoverCmd struct {
	Server      string `required:"" help:"The server's URL." env:"PARLEY_SERVER"`
	Name        string `required:"" help:"Your username."`
	RecoveryKey string `required:"" help:"The recovery key shown at parley init; write --recovery-key=KEY, since a key may start with -." env:"PARLEY_RECOVERY_KEY"`
	Device      string `help:"A name for this device." default:"cli"`
}

func (c *recoverCmd) Run(r *run) error {
	cfg, err := r.newConfig(nil)
	if err != nil {
		return err
	}
	cl, recovery, err := client.Recover(r.ctx, cfg, c.Server, username(c.Name), c.RecoveryKey, c.Device)
	if err != nil {
		cfg.Store.Close()
		removeStore(r)
		return err
	}
	defer cl.Close()
	r.outf("@%s (device %d) on %s, with a new identity key\n", cl.Username(), cl.DeviceID(), cl.Server())
	r.errf("Your other devices were removed, and your contacts will see that your safety number changed.\nYour new recovery key (the old one no longer works):\n")
	r.outf("recovery key: %s\n", recovery)
	return nil
}

type whoamiCmd struct{}

func (whoamiCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	r.outf("@%s device %d on %s\n", cl.Username(), cl.DeviceID(), cl.Server())
	return nil
}

// stamp formats a message time: the clock for today, else the date too.
func stamp(t time.Time) string {
	if y, m, d := t.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// removeStore deletes a store that was created for an account whose
// registration failed, so the user can simply try again.
func removeStore(r *run) {
	path, err := r.storePath()
	if err != nil {
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}
