package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/parley-chat/parley/client"
)

type backupCmd struct {
	Create  backupCreateCmd  `cmd:"" help:"Write an encrypted backup of this device's whole state to FILE."`
	Restore backupRestoreCmd `cmd:"" help:"Make this --home the device a backup FILE holds (asks for its backup key)."`
}

type backupCreateCmd struct {
	File string `arg:"" type:"path" help:"Where to write the backup; it must not exist."`
}

func (c *backupCreateCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := os.Stat(c.File); err == nil {
		return fail("choose another FILE, or remove the old one first", "%s exists already", c.File)
	}
	// Written under a temporary name, renamed once whole: a failed
	// backup leaves no file that looks like one.
	f, err := os.CreateTemp(filepath.Dir(c.File), "."+filepath.Base(c.File)+".part-*")
	if err != nil {
		return fail("choose a FILE in a writable directory", "cannot write the backup: %v", err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	sum, err := cl.Backup(r.ctx, w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.File)
	}
	if err != nil {
		return err
	}
	r.errf("Wrote %s: %d records and %d attachments, %s.\n", c.File, sum.Records, sum.Attachments, size(sum.Bytes))
	if sum.Missing+sum.Damaged > 0 {
		r.errf("%d attachments are not in it: the server no longer had them, or served them damaged.\n", sum.Missing+sum.Damaged)
	}
	r.errf("Your backup key (write it down: it is shown once, and it is the only way to restore this backup):\n")
	r.outf("backup key: %s\n", client.FormatBackupKey(sum.Key))
	return nil
}

type backupRestoreCmd struct {
	File string `arg:"" type:"existingfile" help:"The backup to restore."`
}

func (c *backupRestoreCmd) Run(r *run) error {
	cfg, err := r.newConfig(nil)
	if err != nil {
		return err
	}
	restored := false
	defer func() {
		if !restored { // a failed restore leaves no store behind
			cfg.Store.Close()
			removeStore(r)
		}
	}()
	key, err := r.backupKey()
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	cl, err := client.RestoreBackup(r.ctx, cfg, bufio.NewReaderSize(f, 1<<20), key)
	if err != nil {
		return err
	}
	restored = true
	defer cl.Close()
	r.outf("@%s (device %d) on %s, restored from %s\n", cl.Username(), cl.DeviceID(), cl.Server(), c.File)
	r.errf("This is the same device as the one backed up: stop parley there, or the two will share its messages.\n")
	return nil
}

// backupKey reads $PARLEY_BACKUP_KEY, or asks at the terminal, or reads
// one line of stdin.
func (r *run) backupKey() (string, error) {
	if k := r.env.Getenv("PARLEY_BACKUP_KEY"); k != "" {
		return k, nil
	}
	if f, ok := r.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(r.env.Stderr, "Backup key: ")
		k, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(r.env.Stderr)
		return string(k), err
	}
	line, err := bufio.NewReader(r.env.Stdin).ReadString('\n')
	if line == "" && err != nil {
		return "", fail("give the backup key on stdin or in PARLEY_BACKUP_KEY", "no backup key")
	}
	return line, nil
}
