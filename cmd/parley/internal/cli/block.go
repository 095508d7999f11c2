package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
)

type blockCmd struct {
	User   string `arg:"" optional:"" help:"The account to block, e.g. @mallory; without it, the blocked accounts are listed."`
	Report string `placeholder:"CATEGORY" help:"Also report the account to the server's operator, and delete the chat: one of spam, abuse, violence, sexual, illegal, copyright, other."`
	Note   string `help:"With --report: a note for the operator (at most 1,024 bytes)."`
}

// Run blocks an account (the account is not told), or lists the blocked
// ones, one per line.
func (c *blockCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.User == "" {
		if c.Report != "" || c.Note != "" {
			return fail("name the account: parley block @mallory --report spam", "--report needs an account")
		}
		bs, err := cl.BlockedAccounts(r.ctx)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			r.errf("you have blocked no one\n")
		}
		for _, b := range bs {
			r.outf("@%s\n", safe(b))
		}
		return nil
	}
	user := username(c.User)
	if user == cl.Username() {
		return fail("name another account", "you cannot block yourself")
	}
	if c.Report == "" {
		if c.Note != "" {
			return fail("add --report CATEGORY to send a note to the operator", "--note goes with --report")
		}
		if err := cl.Block(r.ctx, user); err != nil {
			return blockError(err)
		}
		r.errf("blocked @%s: nothing they send reaches you now, and they are not told\n", safe(user))
		return nil
	}
	if !slices.Contains(api.ReportCategories, c.Report) {
		return fail("pick one of "+strings.Join(api.ReportCategories, ", "), "%q is not a report category", safe(c.Report))
	}
	if err := cl.ReportAndBlock(r.ctx, user, c.Report, c.Note); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
			return fail("check the name", "there is no account @%s on this server", safe(user))
		}
		return blockError(err)
	}
	r.errf("reported @%s to the operator (%s), blocked them and deleted the chat\n", safe(user), c.Report)
	return nil
}

type unblockCmd struct {
	User string `arg:"" help:"The account to unblock, e.g. @bob."`
}

func (c *unblockCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	user := username(c.User)
	if b, err := cl.IsBlocked(r.ctx, user); err != nil {
		return err
	} else if !b {
		return fail("see whom you blocked with `parley block`", "@%s is not blocked", safe(user))
	}
	if err := cl.Unblock(r.ctx, user); err != nil {
		return blockError(err)
	}
	r.errf("unblocked @%s: what they sent while blocked is gone; new messages arrive\n", safe(user))
	return nil
}

func blockError(err error) error {
	if errors.Is(err, client.ErrBlockNotSynced) {
		return fail("run the command again to tell your other devices", "done on this device, but your other devices were not told: %v", errors.Unwrap(err))
	}
	return err
}

type requestsCmd struct{}

// Run lists the message requests: chats started by accounts you never
// wrote to nor accepted.
func (c *requestsCmd) Run(r *run) error {
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Sync(r.ctx); err != nil {
		return err
	}
	cs, err := cl.Conversations(r.ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, cv := range cs {
		if !cv.Request || cv.Blocked {
			continue
		}
		n++
		r.outf("@%s  %d unread  %s\n", safe(cv.Title), cv.Unread, stamp(cv.Last))
	}
	if n == 0 {
		r.errf("no message requests\n")
	} else {
		r.errf("read one with `parley history @name`; answer with `parley accept @name`, `parley block @name` or `parley delete @name --chat`\n")
	}
	return nil
}

type acceptCmd struct {
	User string `arg:"" help:"Whose message request to accept, e.g. @carol."`
}

func (c *acceptCmd) Run(r *run) error {
	cl, conv, err := r.chat(c.User)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Accept(r.ctx, conv); errors.Is(err, client.ErrNotRequest) {
		return fail("a group is not a message request: read it with `parley history`, or leave it with `parley group leave`", "%s is not a message request", safe(c.User))
	} else if err != nil {
		return err
	}
	r.errf("accepted @%s: they now get your read receipts and typing\n", safe(conv.Peer()))
	return nil
}

type searchCmd struct {
	Words []string `arg:"" help:"The words to find (whole words, any case; every word must be in the message)."`
	N     int      `short:"n" default:"20" help:"How many of the newest matches to show."`
}

// Run searches this device's history, newest match first.
func (c *searchCmd) Run(r *run) error {
	if c.N < 1 {
		return fail("give -n a number of messages, 1 or more", "-n %d shows nothing", c.N)
	}
	cl, err := r.open(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	ms, err := cl.Search(r.ctx, strings.Join(c.Words, " "), c.N)
	if errors.Is(err, client.ErrEmptyQuery) {
		return fail("give a word to find: parley search lunch", "the search holds no word")
	}
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		r.errf("no message on this device holds %s\n", safe(strings.Join(c.Words, " ")))
		return nil
	}
	convs, err := cl.Conversations(r.ctx)
	if err != nil {
		return err
	}
	groups, err := cl.Groups(r.ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		label := "@" + string(m.Conversation)
		if i := slices.IndexFunc(convs, func(cv client.Conversation) bool { return cv.ID == m.Conversation }); i >= 0 && m.Conversation.IsGroup() {
			label = where(convs[i], groups)
		}
		printMessage(r, m, "", fmt.Sprintf("%s (%s)", shortID(m.ID), label))
	}
	return nil
}
