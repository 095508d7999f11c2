package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/parley-chat/parley/client"
)

type sendCmd struct {
	To   string   `arg:"" help:"The recipient, e.g. @bob."`
	Text []string `arg:"" optional:"" help:"The message (with --file, an optional caption). Several words are joined with spaces."`
	File string   `short:"f" type:"existingfile" placeholder:"PATH" help:"Send this file, end-to-end encrypted."`
}

func (c *sendCmd) Run(r *run) error {
	text := strings.Join(c.Text, " ")
	if c.File != "" {
		return c.sendFile(r, text)
	}
	if strings.TrimSpace(text) == "" {
		return fail("give the message after the recipient: parley send @bob \"hello\"", "the message is empty")
	}
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := cl.Send(r.ctx, username(c.To), text)
	if err != nil {
		return err
	}
	r.errf("sent to @%s (%s)\n", m.Peer, m.ID)
	return nil
}

func (c *sendCmd) sendFile(r *run, caption string) error {
	f, err := os.Open(c.File)
	if err != nil {
		return fail("check the path of the file", "cannot read the file: %v", err)
	}
	defer f.Close()
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	bar := newProgress(r, "uploading "+filepath.Base(c.File))
	m, err := cl.SendAttachment(r.ctx, username(c.To), client.File{Name: filepath.Base(c.File), Body: f, Caption: caption}, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	r.errf("sent %s (%s) to @%s (%s)\n", m.Attachment.Name, size(m.Attachment.Size), m.Peer, m.ID)
	return nil
}

type inboxCmd struct {
	Peek bool `help:"Show unread messages without marking them read (no read receipts)."`
}

func (c *inboxCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	r.errf("fetching…\n")
	if err := cl.Sync(r.ctx); err != nil {
		return err
	}
	convs, err := cl.Conversations(r.ctx)
	if err != nil {
		return err
	}
	shown := 0
	for _, conv := range convs {
		if conv.Unread == 0 {
			continue
		}
		ms, err := cl.Messages(r.ctx, conv.Peer, 0)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Status != client.StatusUnread {
				continue
			}
			printMessage(r, m)
			shown++
		}
		if !c.Peek {
			if err := cl.MarkRead(r.ctx, conv.Peer); err != nil {
				return err
			}
		}
	}
	if shown == 0 {
		r.errf("no unread messages\n")
	}
	return nil
}

// printMessage writes one message by rule 1: "time  sender: text".
func printMessage(r *run, m client.Message) {
	switch m.Kind {
	case client.KindText:
		text := m.Text
		if a := m.Attachment; a != nil {
			// The ID is what `parley get` takes.
			text = strings.TrimSpace(fmt.Sprintf("%s [file %s, %s, id %s]", text, a.SafeName(), size(a.Size), m.ID))
		}
		r.outf("%s  @%s: %s\n", stamp(m.Time), m.From, text)
	default:
		r.outf("%s  ! %s\n", stamp(m.Time), m.Text)
	}
}
