package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/parley-chat/parley/client"
)

type sendCmd struct {
	To   string   `arg:"" help:"The recipient, e.g. @bob, or a group, e.g. +Family."`
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
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	to, err := r.sendTarget(cl, c.To)
	if err != nil {
		return err
	}
	m, err := cl.Send(r.ctx, to, text)
	w.report(r)
	if err != nil {
		return sendError(err, c.To)
	}
	r.errf("sent to %s (%s)\n", safe(convName(c.To, m.Conversation)), m.ID)
	return nil
}

// sendTarget resolves a recipient; for a group, it first fetches what
// is queued, so a send follows the group's latest members.
func (r *run) sendTarget(cl *client.Client, to string) (client.ConversationID, error) {
	if strings.HasPrefix(to, "+") {
		if err := cl.Sync(r.ctx); err != nil {
			return "", err
		}
	}
	return r.target(cl, to)
}

// convName is how output names a conversation: as the user typed a
// group, or @user.
func convName(typed string, conv client.ConversationID) string {
	if conv.IsGroup() {
		return typed
	}
	return "@" + string(conv)
}

// sendError names the contact in the advice for a blocked account and
// for a changed safety number, and words a group's refusals as the group commands do.
func sendError(err error, to string) error {
	if strings.HasPrefix(to, "+") {
		return groupError(err, to)
	}
	if errors.Is(err, client.ErrBlocked) {
		peer := safe(username(to))
		return fail(fmt.Sprintf("unblock them first with `parley unblock @%s`", peer), "you blocked @%s; nothing was sent", peer)
	}
	if errors.Is(err, client.ErrIdentityNotVerified) {
		peer := safe(username(to))
		return fail(fmt.Sprintf("compare the new number with `parley verify @%s`, then confirm it with `parley verify @%s --confirm`", peer, peer),
			"the safety number with @%s changed since you verified it; nothing was sent", peer)
	}
	return err
}

// identityWatch gathers the contacts whose safety number changed, or
// whose verification mark another of the account's devices changed, and
// the requests to join a group this account administers, while a
// command ran (the client reports them as events, from its own
// goroutines), to tell the user at the end.
type identityWatch struct {
	mu       sync.Mutex
	changed  []*client.IdentityChangedEvent
	verified []*client.VerifiedElsewhereEvent
	joins    []*client.JoinRequestEvent
}

func (w *identityWatch) note(e client.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e := e.(type) {
	case *client.IdentityChangedEvent:
		w.changed = append(w.changed, e)
	case *client.VerifiedElsewhereEvent:
		w.verified = append(w.verified, e)
	case *client.JoinRequestEvent:
		w.joins = append(w.joins, e)
	}
}

// report prints, on stderr, two lines for each contact whose safety
// number changed: that it did, and how to check it. A verified contact
// is also blocked: sending to them waits until they are verified again.
func (w *identityWatch) report(r *run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range w.changed {
		if seen[e.Peer] {
			continue
		}
		seen[e.Peer] = true
		peer := safe(e.Peer)
		r.errf("! the safety number with @%s changed: a reinstall, an account recovery, or someone in the middle\n", peer)
		if e.Held {
			r.errf("  → you had verified @%s, so nothing more is sent to them until you compare the new number with `parley verify @%s` and confirm it (--confirm)\n", peer, peer)
		} else {
			r.errf("  → compare the new number with @%s in person or over a channel you trust: `parley verify @%s`\n", peer, peer)
		}
	}
	for _, e := range w.verified {
		peer, what := safe(e.Peer), "verified"
		if !e.Verified {
			what = "not verified"
		}
		if e.Refused {
			r.errf("! your device %d marked @%s %s for another safety number than this device has; nothing changed here\n", e.Device, peer, what)
			r.errf("  → compare the number on both devices with `parley verify @%s`\n", peer)
			continue
		}
		r.errf("@%s was marked %s on your device %d, and here too\n", peer, what, e.Device)
	}
	// A join request is told once, when it arrives: the line it adds to
	// the group is not unread, so inbox would not show it.
	for _, e := range w.joins {
		id, ok := e.Conversation.Group()
		if !ok {
			continue
		}
		g, peer := "+"+id.String()[:8], safe(e.From)
		r.errf("! @%s asks to join %s with its invite link\n", peer, g)
		r.errf("  → let them in with `parley group add %s @%s`\n", g, peer)
	}
}

func (c *sendCmd) sendFile(r *run, caption string) error {
	f, err := os.Open(c.File)
	if err != nil {
		return fail("check the path of the file", "cannot read the file: %v", err)
	}
	defer f.Close()
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	to, err := r.sendTarget(cl, c.To)
	if err != nil {
		return err
	}
	bar := newProgress(r, "uploading "+safe(filepath.Base(c.File)))
	m, err := cl.SendAttachment(r.ctx, to, client.File{Name: filepath.Base(c.File), Body: f, Caption: caption}, bar.update)
	bar.done()
	w.report(r)
	if err != nil {
		return sendError(err, c.To)
	}
	r.errf("sent %s (%s) to %s (%s)\n", safe(m.Attachment.Name), size(m.Attachment.Size), safe(convName(c.To, m.Conversation)), m.ID)
	return nil
}

type inboxCmd struct {
	Peek bool `help:"Show unread messages without marking them read (no read receipts)."`
}

func (c *inboxCmd) Run(r *run) error {
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	r.errf("fetching…\n")
	err = cl.Sync(r.ctx)
	w.report(r)
	if err != nil {
		return err
	}
	convs, err := cl.Conversations(r.ctx)
	if err != nil {
		return err
	}
	groups, err := cl.Groups(r.ctx)
	if err != nil {
		return err
	}
	shown := 0
	var requests []string
	for _, conv := range convs {
		if conv.Unread == 0 {
			continue
		}
		ms, err := cl.Messages(r.ctx, conv.ID, 0)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Status != client.StatusUnread {
				continue
			}
			printMessage(r, m, "", where(conv, groups))
			shown++
		}
		if conv.Request {
			requests = append(requests, conv.Title)
		}
		if !c.Peek {
			if err := cl.MarkRead(r.ctx, conv.ID); err != nil {
				return err
			}
		}
	}
	if shown == 0 {
		r.errf("no unread messages\n")
	}
	// A request is read like any message, but its sender gets no read
	// receipt until it is accepted (spec/client.md §11.8).
	for _, p := range requests {
		p = safe(p)
		r.errf("@%s is a message request: they do not see that you read it\n", p)
		r.errf("  → answer with `parley accept @%s`, or `parley block @%s` (--report spam), or `parley delete @%s --chat`\n", p, p, p)
	}
	return nil
}

// where labels the messages of a group conversation in a list of
// several by the name that addresses it: "+Title", or the start of its
// ID when another of the groups has that title too.
func where(conv client.Conversation, groups []client.GroupInfo) string {
	if !conv.ID.IsGroup() {
		return ""
	}
	same := 0
	for _, g := range groups {
		if strings.EqualFold(g.Title, conv.Title) {
			same++
		}
	}
	if id, ok := conv.ID.Group(); ok && same > 1 {
		return "+" + id.String()[:8]
	}
	return "+" + conv.Title
}

// printMessage writes one message by rule 1: "time  sender: text", and
// "  (state)" after it if state is not "".
func printMessage(r *run, m client.Message, state, where string) {
	if state != "" {
		state = "  (" + state + ")"
	}
	if where != "" {
		where = safe(where) + " "
	}
	switch m.Kind {
	case client.KindText:
		text := safeBody(m.Text)
		if a := m.Attachment; a != nil {
			// The ID is what `parley get` takes.
			text = strings.TrimSpace(fmt.Sprintf("%s [file %s, %s, id %s]", text, safe(a.SafeName()), size(a.Size), m.ID))
		}
		r.outf("%s  %s@%s: %s%s%s\n", stamp(m.Time), where, safe(m.From), marks(m, text), reactions(m), state)
	case client.KindDeleted:
		r.outf("%s  %s@%s: (deleted)%s\n", stamp(m.Time), where, safe(m.From), state)
	case client.KindGroupChange:
		r.outf("%s  %s* %s\n", stamp(m.Time), where, safe(m.Text))
	default:
		r.outf("%s  %s! %s\n", stamp(m.Time), where, safe(m.Text))
	}
}

// marks adds to a message's text what the conversation features say of
// it: a reply's reference, forwarded, edited.
func marks(m client.Message, text string) string {
	if m.ReplyTo != nil {
		text = "↩ " + shortID(*m.ReplyTo) + " " + text
	}
	if m.Forwarded {
		text = "(forwarded) " + text
	}
	if m.Edited {
		text += " (edited)"
	}
	return text
}

// reactions is "  [👍 2 ❤️ 1]", or "" for a message without any.
func reactions(m client.Message) string {
	rc := m.ReactionCounts()
	if len(rc) == 0 {
		return ""
	}
	parts := make([]string, len(rc))
	for i, c := range rc {
		parts[i] = fmt.Sprintf("%s %d", safe(c.Emoji), c.Count)
	}
	return "  [" + strings.Join(parts, " ") + "]"
}
