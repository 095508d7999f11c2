package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/group"
)

// Groups are named on the command line with a leading "+": "+Family" is
// the group titled Family (ignoring case; it must be the only one), and
// "+3fa9c2" is the group whose ID starts with those hex digits (at least
// 4), for when titles repeat. `parley group list` shows both.

type groupCmd struct {
	Create  groupCreateCmd  `cmd:"" help:"Create a group with you as its admin: parley group create Family @bob @carol."`
	List    groupListCmd    `cmd:"" help:"List your groups: ID, title, members."`
	Info    groupInfoCmd    `cmd:"" help:"Show a group's members, admins, settings and link."`
	Add     groupAddCmd     `cmd:"" help:"Add members (admins only)."`
	Remove  groupRemoveCmd  `cmd:"" help:"Remove a member (admins only). They read nothing sent after."`
	Leave   groupLeaveCmd   `cmd:"" help:"Leave a group."`
	Promote groupPromoteCmd `cmd:"" help:"Make a member an admin (admins only)."`
	Demote  groupDemoteCmd  `cmd:"" help:"Make an admin a plain member (admins who outrank them only)."`
	Rename  groupRenameCmd  `cmd:"" help:"Set a group's title (and, with --about, its description)."`
	Set     groupSetCmd     `cmd:"" help:"Set who may send and who may edit the title (admins only)."`
	Avatar  groupAvatarCmd  `cmd:"" help:"Set the group's picture, end-to-end encrypted, or save it with --get."`
	Invite  groupInviteCmd  `cmd:"" help:"Make an invite link (admins only), or revoke it with --revoke."`
	Join    groupJoinCmd    `cmd:"" help:"Join a group with an invite link."`
}

// target is the conversation a command names: "+group" or "@user".
func (r *run) target(cl *client.Client, name string) (client.ConversationID, error) {
	if !strings.HasPrefix(name, "+") {
		return client.Direct(username(name)), nil
	}
	conv, err := cl.FindGroup(r.ctx, name)
	switch {
	case errors.Is(err, client.ErrNoSuchGroup):
		return "", fail("see your groups with `parley group list`", "no group %s on this device", safe(name))
	case errors.Is(err, client.ErrAmbiguousGroup):
		return "", fail(r.ambiguityAdvice(cl, name), "several groups are called %s", safe(name))
	}
	return conv, err
}

// ambiguityAdvice names the groups a name matches by their ID prefixes,
// as `parley group list` shows them.
func (r *run) ambiguityAdvice(cl *client.Client, name string) string {
	const generic = "name it by the start of its ID, as `parley group list` shows it (+3fa9…)"
	gs, err := cl.Groups(r.ctx)
	if err != nil {
		return generic
	}
	var ids []string
	for _, g := range gs {
		if strings.EqualFold(g.Title, strings.TrimSpace(strings.TrimPrefix(name, "+"))) {
			ids = append(ids, "+"+g.ID.String()[:8])
		}
	}
	if len(ids) < 2 {
		return generic
	}
	return "name it by the start of its ID: " + strings.Join(ids, " or ")
}

// group opens the account, fetches what is queued (so the group's state
// is current) and resolves a group name.
func (r *run) group(name string, w *identityWatch) (*client.Client, client.ConversationID, error) {
	if !strings.HasPrefix(name, "+") {
		return nil, "", fail("name the group with a leading +, e.g. +Family", "%s is not a group name", safe(name))
	}
	cl, err := r.open(w.note)
	if err != nil {
		return nil, "", err
	}
	if err := cl.Sync(r.ctx); err != nil {
		cl.Close()
		return nil, "", err
	}
	conv, err := r.target(cl, name)
	if err != nil {
		cl.Close()
		return nil, "", err
	}
	return cl, conv, nil
}

// groupError turns the client's group errors into advice.
func groupError(err error, conv string) error {
	var de *client.GroupDeliveryError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return fail("they get it with the group's next change; run the command again later to send it now",
			"the change is made, but did not reach %s yet", safe(strings.Join(de.Users, ", ")))
	case errors.Is(err, client.ErrNotGroupMember):
		return fail("ask an admin to add you again", "you are not a member of %s", safe(conv))
	case errors.Is(err, client.ErrGroupNotAllowed):
		return fail(fmt.Sprintf("see the admins with `parley group info %s`", conv), "%s does not allow it: %s", safe(conv), notAllowedReason(err))
	case errors.Is(err, client.ErrBadLink):
		return fail("copy the whole link, with the part after #", "%s", strings.TrimPrefix(err.Error(), "client: "))
	case errors.Is(err, client.ErrLinkRevoked):
		return fail("ask an admin for a new link", "this invite link was revoked or does not exist")
	}
	return err
}

// notAllowedReason is the rule a refused change broke, without the
// packages' prefixes ("client: the group does not allow it: group:
// change not allowed: ").
func notAllowedReason(err error) string {
	s := err.Error()
	for _, prefix := range []string{client.ErrGroupNotAllowed.Error() + ": ", group.ErrNotAllowed.Error() + ": "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// needAdmin refuses, before anything is signed, a change only admins
// may make (doing says what, e.g. "add members"), when this account is
// not an admin of conv; name is the group as the user typed it. It
// returns the group as it is.
func (r *run) needAdmin(cl *client.Client, conv client.ConversationID, name, doing string) (client.GroupInfo, error) {
	g, err := cl.Group(r.ctx, conv)
	if err != nil {
		return g, err
	}
	switch {
	case !g.Member:
		return g, groupError(client.ErrNotGroupMember, name)
	case !g.Admin:
		return g, fail(fmt.Sprintf("ask an admin; see them with `parley group info %s`", name), "only admins of %s may %s, and you are not one", safe(name), doing)
	}
	return g, nil
}

// isMember reports whether user (with or without @) is a member of g.
func isMember(g client.GroupInfo, user string) bool {
	u := strings.ToLower(username(user))
	return slices.ContainsFunc(g.Members, func(m client.GroupMember) bool { return m.Username == u })
}

type groupCreateCmd struct {
	Title   string   `arg:"" help:"The group's title."`
	Members []string `arg:"" optional:"" help:"The first members, e.g. @bob @carol."`
}

func (c *groupCreateCmd) Run(r *run) error {
	if strings.TrimSpace(c.Title) == "" {
		return fail("give the group a title: parley group create Family @bob", "the title is empty")
	}
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := cl.CreateGroup(r.ctx, c.Title, c.Members...)
	w.report(r)
	if err != nil && g.Title == "" {
		return err
	}
	r.outf("+%s  %s\n", g.ID.String()[:8], safe(g.Title))
	r.errf("created +%s with %d members; send with `parley send +%s \"hello\"`\n", safe(g.Title), len(g.Members), safe(g.Title))
	return groupError(err, "+"+g.Title)
}

type groupListCmd struct{}

func (c *groupListCmd) Run(r *run) error {
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Sync(r.ctx); err != nil {
		return err
	}
	w.report(r)
	gs, err := cl.Groups(r.ctx)
	if err != nil {
		return err
	}
	if len(gs) == 0 {
		r.errf("no groups yet; create one with `parley group create TITLE @member...`\n")
	}
	for _, g := range gs {
		note := ""
		if !g.Member {
			note = "  (you are not a member)"
		}
		r.outf("+%s  %s  %d members%s\n", g.ID.String()[:8], safe(g.Title), len(g.Members), note)
	}
	return nil
}

type groupInfoCmd struct {
	Group string `arg:"" help:"The group, e.g. +Family."`
}

func (c *groupInfoCmd) Run(r *run) error {
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := cl.Group(r.ctx, conv)
	if err != nil {
		return err
	}
	r.outf("title: %s\n", safe(g.Title))
	if g.Description != "" {
		r.outf("about: %s\n", safe(g.Description))
	}
	if a := g.Avatar; a != nil {
		r.outf("picture: %s, %s (parley group avatar %s --get PATH)\n", safe(a.SafeName()), size(a.Size), c.Group)
	}
	r.outf("id: %s\n", g.ID)
	r.outf("version: %d\n", g.Version)
	send, edit := "everyone", "everyone"
	if g.Settings.SendAdminsOnly {
		send = "admins"
	}
	if g.Settings.InfoAdminsOnly {
		edit = "admins"
	}
	r.outf("who sends: %s\nwho edits the title: %s\n", send, edit)
	switch {
	case !g.Link:
		r.outf("invite link: none\n")
	case g.JoinDirect:
		r.outf("invite link: active, joins directly\n")
	default:
		r.outf("invite link: active, an admin approves\n")
	}
	for _, m := range g.Members {
		role := "member"
		if m.Admin {
			role = "admin"
		}
		r.outf("@%s  %s\n", safe(m.Username), role)
	}
	if !g.Member {
		r.errf("you are no longer a member of this group\n")
	}
	return nil
}

type groupAddCmd struct {
	Group   string   `arg:"" help:"The group, e.g. +Family."`
	Members []string `arg:"" help:"Who to add, e.g. @dave."`
}

func (c *groupAddCmd) Run(r *run) error {
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := r.needAdmin(cl, conv, c.Group, "add members")
	if err != nil {
		return err
	}
	for _, m := range c.Members {
		if isMember(g, m) {
			return fail(fmt.Sprintf("see the members with `parley group info %s`", c.Group), "@%s is a member of %s already", safe(username(m)), safe(c.Group))
		}
	}
	err = cl.AddMembers(r.ctx, conv, c.Members...)
	w.report(r)
	if err := groupError(err, c.Group); err != nil {
		return err
	}
	r.errf("added %s to %s\n", safe(strings.Join(c.Members, " ")), safe(c.Group))
	return nil
}

// groupMemberCmd is a command on one member of a group.
type groupMemberCmd struct {
	Group  string `arg:"" help:"The group, e.g. +Family."`
	Member string `arg:"" help:"The member, e.g. @bob."`
}

func (c *groupMemberCmd) do(r *run, doing string, act func(*client.Client, client.ConversationID, string) error, done string) error {
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := r.needAdmin(cl, conv, c.Group, doing)
	if err != nil {
		return err
	}
	if !isMember(g, c.Member) {
		return fail(fmt.Sprintf("see the members with `parley group info %s`", c.Group), "@%s is not a member of %s", safe(username(c.Member)), safe(c.Group))
	}
	err = act(cl, conv, username(c.Member))
	w.report(r)
	if err := groupError(err, c.Group); err != nil {
		return err
	}
	r.errf(done+"\n", safe(username(c.Member)), safe(c.Group))
	return nil
}

type groupRemoveCmd struct{ groupMemberCmd }

func (c *groupRemoveCmd) Run(r *run) error {
	return c.do(r, "remove members", func(cl *client.Client, conv client.ConversationID, u string) error {
		return cl.RemoveMember(r.ctx, conv, u)
	}, "removed @%s from %s")
}

type groupPromoteCmd struct{ groupMemberCmd }

func (c *groupPromoteCmd) Run(r *run) error {
	return c.do(r, "make admins", func(cl *client.Client, conv client.ConversationID, u string) error {
		return cl.Promote(r.ctx, conv, u)
	}, "@%s is now an admin of %s")
}

type groupDemoteCmd struct{ groupMemberCmd }

func (c *groupDemoteCmd) Run(r *run) error {
	return c.do(r, "demote admins", func(cl *client.Client, conv client.ConversationID, u string) error {
		return cl.Demote(r.ctx, conv, u)
	}, "@%s is no longer an admin of %s")
}

type groupLeaveCmd struct {
	Group string `arg:"" help:"The group, e.g. +Family."`
}

func (c *groupLeaveCmd) Run(r *run) error {
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := groupError(cl.LeaveGroup(r.ctx, conv), c.Group); err != nil {
		return err
	}
	r.errf("you left %s\n", safe(c.Group))
	return nil
}

type groupRenameCmd struct {
	Group string `arg:"" help:"The group, e.g. +Family."`
	Title string `arg:"" help:"The new title."`
	About string `help:"The new description (default: keep it)." placeholder:"TEXT"`
}

func (c *groupRenameCmd) Run(r *run) error {
	if strings.TrimSpace(c.Title) == "" {
		return fail(fmt.Sprintf("give the new title: parley group rename %s \"New title\"", c.Group), "the title is empty")
	}
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	if g, err := cl.Group(r.ctx, conv); err == nil && g.Settings.InfoAdminsOnly {
		if _, err := r.needAdmin(cl, conv, c.Group, "change the title"); err != nil {
			return err
		}
	}
	if c.About != "" {
		err = cl.SetGroupInfo(r.ctx, conv, c.Title, c.About)
	} else {
		err = cl.RenameGroup(r.ctx, conv, c.Title)
	}
	if err := groupError(err, c.Group); err != nil {
		return err
	}
	r.errf("%s is now +%s\n", safe(c.Group), safe(strings.TrimSpace(c.Title)))
	return nil
}

type groupSetCmd struct {
	Group     string `arg:"" help:"The group, e.g. +Family."`
	Send      string `enum:"everyone,admins," default:"" help:"Who may send messages: everyone or admins."`
	EditTitle string `enum:"everyone,admins," default:"" name:"edit-title" help:"Who may change the title: everyone or admins."`
}

func (c *groupSetCmd) Run(r *run) error {
	if c.Send == "" && c.EditTitle == "" {
		return fail("give --send or --edit-title (everyone or admins)", "nothing to set")
	}
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := r.needAdmin(cl, conv, c.Group, "change the settings")
	if err != nil {
		return err
	}
	set := g.Settings
	if c.Send != "" {
		set.SendAdminsOnly = c.Send == "admins"
	}
	if c.EditTitle != "" {
		set.InfoAdminsOnly = c.EditTitle == "admins"
	}
	if err := groupError(cl.SetGroupSettings(r.ctx, conv, set), c.Group); err != nil {
		return err
	}
	r.errf("settings of %s changed\n", safe(c.Group))
	return nil
}

type groupInviteCmd struct {
	Group   string `arg:"" help:"The group, e.g. +Family."`
	Approve bool   `help:"An admin approves each join (default: the link joins directly)."`
	Revoke  bool   `help:"Revoke the group's link: it joins no one any more."`
}

func (c *groupInviteCmd) Run(r *run) error {
	var w identityWatch
	cl, conv, err := r.group(c.Group, &w)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := r.needAdmin(cl, conv, c.Group, "make or revoke invite links"); err != nil {
		return err
	}
	if c.Revoke {
		if err := groupError(cl.RevokeGroupInvite(r.ctx, conv), c.Group); err != nil {
			return err
		}
		r.errf("the invite link of %s is revoked\n", safe(c.Group))
		return nil
	}
	link, err := cl.GroupInvite(r.ctx, conv, !c.Approve)
	if err := groupError(err, c.Group); err != nil {
		return err
	}
	r.outf("%s\n", link)
	r.errf("share the link with people you want in the group: anyone holding it can read the group's title and members\n")
	return nil
}

type groupJoinCmd struct {
	Link string `arg:"" help:"The invite link."`
}

func (c *groupJoinCmd) Run(r *run) error {
	if !strings.Contains(c.Link, "/g#") {
		return fail("copy the whole link, as the admin's `parley group invite` printed it", "%s is not an invite link", safe(c.Link))
	}
	var w identityWatch
	cl, err := r.open(w.note)
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := cl.JoinGroup(r.ctx, c.Link)
	w.report(r)
	if errors.Is(err, client.ErrJoinRequested) {
		r.errf("asked the admins of +%s to let you in; you get its messages once one of them adds you\n", safe(g.Title))
		return nil
	}
	if err := groupError(err, "+"+g.Title); err != nil {
		return err
	}
	r.outf("+%s  %s\n", g.ID.String()[:8], safe(g.Title))
	r.errf("joined +%s (%d members)\n", safe(g.Title), len(g.Members))
	return nil
}
