package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/parley-chat/parley/client"
)

type getCmd struct {
	ID     string `arg:"" help:"The message's ID, as parley inbox shows it beside a file."`
	Output string `short:"o" placeholder:"PATH" help:"Where to save the file (default: the sender's name for it, in the current directory); - writes it to stdout."`
}

func (c *getCmd) Run(r *run) error {
	var id client.MessageID
	if err := id.UnmarshalText([]byte(strings.TrimSpace(c.ID))); err != nil {
		return fail("copy the 32-character ID that parley inbox shows beside the file", "%q is not a message ID", c.ID)
	}
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := cl.FindMessage(r.ctx, id)
	if errors.Is(err, client.ErrNoSuchMessage) { // perhaps not fetched yet
		err := cl.Sync(r.ctx)
		w.report(r)
		if err != nil {
			return err
		}
		m, err = cl.FindMessage(r.ctx, id)
	}
	switch {
	case errors.Is(err, client.ErrNoSuchMessage):
		return fail("check the ID against parley inbox", "no message %s on this device", id)
	case errors.Is(err, client.ErrAmbiguousMessage):
		return fail("ask the sender to send the file again", "several conversations have a message %s", id)
	case err != nil:
		return err
	case m.Attachment == nil:
		return fail("parley get fetches files; this message is text only", "message %s has no file", id)
	}
	a := m.Attachment
	bar := newProgress(r, "downloading "+safe(a.SafeName()))
	if c.Output == "-" {
		err = cl.Download(r.ctx, m.Conversation, m.ID, r.env.Stdout, bar.update)
		bar.done()
		return downloadError(err)
	}
	path := c.Output
	if path == "" {
		path = a.SafeName()
		if _, err := os.Lstat(path); err == nil {
			return fail("choose another name with -o PATH", "%s exists already", path)
		}
	}
	err = cl.DownloadFile(r.ctx, m.Conversation, m.ID, path, bar.update)
	bar.done()
	if err != nil {
		return downloadError(err)
	}
	r.errf("saved %s (%s)\n", safe(path), size(a.Size))
	return nil
}

func downloadError(err error) error {
	if errors.Is(err, client.ErrDamaged) {
		return fail("ask the sender to send the file again", "the file is damaged: it does not decrypt or is not the one sent; nothing was saved")
	}
	return err
}

// size formats n bytes for people: 512 B, 1.5 KiB, 5.0 MiB.
func size(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}

// progress draws a bar on stderr, redrawn in place, when stderr is a
// terminal; otherwise it prints nothing (rule 2: nothing on stderr is
// needed to use the result).
type progress struct {
	r     *run
	label string
	tty   bool
	drawn time.Time
	shown bool
}

func newProgress(r *run, label string) *progress {
	f, ok := r.env.Stderr.(*os.File)
	return &progress{r: r, label: label, tty: ok && term.IsTerminal(int(f.Fd()))}
}

const barWidth = 30

func (p *progress) update(done, total int64) {
	if !p.tty || done < total && time.Since(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn, p.shown = time.Now(), true
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	full := int(frac * barWidth)
	bar := strings.Repeat("=", full) + strings.Repeat(" ", barWidth-full)
	p.r.errf("\r%s [%s] %3.0f%% %s of %s\x1b[K", p.label, bar, 100*frac, size(done), size(total))
}

// done ends the bar's line.
func (p *progress) done() {
	if p.shown {
		p.r.errf("\n")
	}
}
