package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTUIGroup drives a group chat in tmux: alice and bob in TUIs, carol
// with the CLI. alice makes +Family with the CLI and opens it in the TUI;
// bob picks it in his conversation list. Each TUI shows the group's
// header (title, member count, members), its change lines, the others'
// messages with their senders, and on alice's own message how many of
// the members read it. Changes made meanwhile with the CLI (a new title,
// a member removed) reach the open chats.
func TestTUIGroup(t *testing.T) {
	bin, dir, alice, bob := tuiUsers(t)
	carol := newCLIUser(t, bin, filepath.Join(dir, "carol"))
	carol.run("init", "--server", serverOf(t, alice), "--name", "carol")
	alice.run("group", "create", "Family", "@bob", "@carol")

	tmux := startTmux(t, dir)
	aliceTerm := tmux.open("alice", 100, 30, alice.env(), bin, "chat", "+Family")
	screen := aliceTerm.waitFor(`\* you created the group "Family" with bob and carol`)
	checkGroupHeader(t, screen, "alice")
	checkTitledLayout(t, screen, 100, 30, "+Family")

	bobTerm := tmux.open("bob", 80, 24, bob.env(), bin, "chat")
	bobTerm.waitFor(`(?m)^▸ \+Family\b`)
	bobTerm.keys("Enter")
	screen = bobTerm.waitFor(`\* alice created the group "Family" with you and carol`)
	checkGroupHeader(t, screen, "bob")
	bobTerm.keys("-l", "hello from bob's tui")
	bobTerm.keys("Enter")
	aliceTerm.waitFor(`\d\d:\d\d bob: hello from bob's tui\n`)
	bobTerm.waitFor(`bob: hello from bob's tui +✓`)
	bobTerm.keys("-l", "and a second")
	aliceTerm.waitFor(`bob is typing…`)
	bobTerm.keys("Enter")
	screen = aliceTerm.waitFor(`\d\d:\d\d bob: and a second\n`)
	if strings.Contains(screen, "typing") {
		t.Errorf("alice still sees bob typing after his message:\n%s", screen)
	}

	carol.run("send", "+Family", "carol from the cli")
	aliceTerm.waitFor(`\d\d:\d\d carol: carol from the cli\n`)
	bobTerm.waitFor(`\d\d:\d\d carol: carol from the cli\n`)

	// bob's TUI has the group open, so he reads alice's message at once;
	// carol reads it with her inbox.
	aliceTerm.keys("-l", "dinner at eight")
	aliceTerm.keys("Enter")
	bobTerm.waitFor(`\d\d:\d\d alice: dinner at eight\n`)
	aliceTerm.waitFor(`alice: dinner at eight +✓✓ read by 1 of 2\n`)
	if out := carol.run("inbox"); !strings.Contains(out, "+Family @alice: dinner at eight") {
		t.Fatalf("carol's inbox lacks alice's message:\n%s", out)
	}
	screen = aliceTerm.waitFor(`alice: dinner at eight +✓✓ read by all\n`)
	checkTitledLayout(t, screen, 100, 30, "+Family")

	// Changes made meanwhile reach the open chats: the header follows.
	carol.run("group", "rename", "+Family", "Family & friends")
	bobTerm.waitFor(`\* carol set the title to "Family & friends"`)
	bobTerm.waitFor(`(?m)^\+Family & friends +3 members$`)
	alice.run("group", "remove", "+Family & friends", "@carol")
	aliceTerm.waitFor(`\* you removed carol`)
	aliceTerm.waitFor(`(?m)^\+Family & friends +2 members\nmembers: alice★, bob$`)
	bobTerm.waitFor(`\* alice removed carol`)
	bobTerm.waitFor(`(?m)^\+Family & friends +2 members\nmembers: alice★, bob$`)

	bobTerm.keys("Escape")
	bobTerm.waitFor(`(?m)^▸ \+Family & friends +\d\d:\d\d$`)

	tmux.run("resize-window", "-t", "alice", "-x", "40", "-y", "16")
	screen = aliceTerm.waitFor(`(?m)^\+Family & friends +2 members\n.{0,40}\n─{40}\n`)
	checkTitledLayout(t, screen, 40, 16, "+Family & friends")

	for _, tt := range []*terminal{aliceTerm, bobTerm} {
		tt.keys("C-c")
		if status, stderr := tt.waitExit(); status != "0" {
			t.Fatalf("%s's parley chat exited with status %s:\n%s", tt.name, status, stderr)
		}
	}
}

// serverOf is the server URL a user's account is on, as whoami says.
func serverOf(t *testing.T, u *cliUser) string {
	t.Helper()
	out := u.run("whoami")
	m := regexp.MustCompile(`(?m) on (http://\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("whoami names no server:\n%s", out)
	}
	return m[1]
}

// checkGroupHeader checks the top of a group chat seen by who: the title
// and member count, the members (the admin starred), and a rule.
func checkGroupHeader(t *testing.T, screen, who string) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) < 3 {
		t.Fatalf("%s's screen is too short:\n%s", who, screen)
	}
	if !regexp.MustCompile(`^\+Family +3 members$`).MatchString(lines[0]) {
		t.Errorf("%s's first line is not the group's title and member count: %q", who, lines[0])
	}
	if lines[1] != "members: alice★, bob, carol" {
		t.Errorf("%s's second line is not the group's members: %q", who, lines[1])
	}
	if strings.Trim(lines[2], "─") != "" {
		t.Errorf("%s's third line is not a rule: %q", who, lines[2])
	}
}

// checkTitledLayout is checkLayout for a conversation titled title: as
// many lines as rows, none wider, the title on top and the input at the
// bottom.
func checkTitledLayout(t *testing.T, screen string, w, h int, title string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
	if len(lines) != h {
		t.Fatalf("the screen has %d lines, want %d:\n%s", len(lines), h, screen)
	}
	for i, l := range lines {
		if n := len([]rune(l)); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, n, w, l)
		}
	}
	if !strings.HasPrefix(lines[0], title) {
		t.Errorf("the first line is not the conversation's title %q: %q", title, lines[0])
	}
	if !strings.HasPrefix(lines[h-1], ">") {
		t.Errorf("the last line is not the input: %q\n%s", lines[h-1], screen)
	}
}
