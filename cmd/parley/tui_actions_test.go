package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestTUIActions drives the conversation features of the TUI in tmux:
// alice picks bob's message in select mode and replies to it, reacts to
// it from the reaction menu, is told she cannot edit it, edits her own
// reply, and sets the chat's timer from the menu (Ctrl+O). bob, with the
// CLI, sees each of these in his history; his own edit reaches alice's
// open chat live, quote and all.
func TestTUIActions(t *testing.T) {
	bin, dir, alice, bob := tuiUsers(t)
	bob.run("send", "@alice", "lunch at noon?")
	lunch := lastID(t, bob, "lunch at noon?")

	tmux := startTmux(t, dir)
	term := tmux.open("alice", 100, 30, alice.env(), bin, "chat", "@bob")
	term.waitFor(`bob: lunch at noon\?`)

	// Up on the empty input picks the newest message; Enter replies to it.
	term.keys("Up")
	term.waitFor(`(?m)^▸ \d\d:\d\d bob: lunch at noon\?`)
	term.waitFor(`Enter/R reply · r react · e edit`)
	term.keys("Enter")
	term.waitFor(`↩ replying to bob: lunch at noon\? · Esc cancels`)
	term.keys("-l", "yes, see you there")
	term.keys("Enter")
	term.waitFor(`(?m)^↩ bob: lunch at noon\?\n\d\d:\d\d alice: yes, see you there +✓`)
	if out := bob.run("history", "@alice", "--ids"); !strings.Contains(out, "@alice: ↩ "+lunch+" yes, see you there") {
		t.Fatalf("bob's history does not show alice's reply to %s:\n%s", lunch, out)
	}

	// Up twice picks bob's message again (the reply is the newest); r
	// opens the reactions, and 1 is 👍.
	term.keys("Up")
	term.waitFor(`(?m)^▸ \d\d:\d\d alice: yes, see you there`)
	term.keys("Up")
	term.waitFor(`(?m)^▸ \d\d:\d\d bob: lunch at noon\?`)
	term.keys("r")
	term.waitFor(`React to bob's message`)
	term.keys("1")
	term.waitFor(`bob: lunch at noon\?  \[👍 1\]`)
	if out := bob.run("history", "@alice"); !strings.Contains(out, "@bob: lunch at noon?  [👍 1]") {
		t.Fatalf("bob's history does not show alice's reaction:\n%s", out)
	}

	// bob's message is not hers to edit: one line says why. (Acting on
	// a message left select mode: Up picks the newest again.)
	term.keys("Up")
	term.waitFor(`(?m)^▸ \d\d:\d\d alice: yes, see you there`)
	term.keys("Up")
	term.waitFor(`(?m)^▸ \d\d:\d\d bob: lunch at noon\?`)
	term.keys("e")
	term.waitFor(`only your own messages can be edited; this one is @bob's`)

	// Her own reply: e fills the input with its text.
	term.keys("Down")
	term.waitFor(`(?m)^▸ \d\d:\d\d alice: yes, see you there`)
	term.keys("e")
	term.waitFor(`(?m)^> yes, see you there`)
	term.keys("C-u")
	term.keys("-l", "yes, at half past twelve")
	term.keys("Enter")
	term.waitFor(`alice: yes, at half past twelve \(edited\)`)
	if out := bob.run("history", "@alice"); !strings.Contains(out, "@alice: ↩ "+lunch+" yes, at half past twelve (edited)") {
		t.Fatalf("bob's history does not show alice's edit:\n%s", out)
	}

	// bob edits his message: alice's open chat shows it, and the quote.
	bob.run("edit", "@alice", "last", "lunch at one?")
	term.waitFor(`(?m)^↩ bob: lunch at one\?\n`)
	term.waitFor(`bob: lunch at one\? \(edited\)  \[👍 1\]`)

	// The menu sets the timer: 1 is the timer item, 4 is 1h.
	term.keys("C-o")
	term.waitFor(`disappearing messages: off…`)
	term.keys("1")
	term.waitFor(`Disappearing messages in this chat`)
	term.keys("4")
	term.waitFor(`⏱ You set disappearing messages to 1h\.`)
	term.waitFor(`new messages disappear 1h after they are read`)
	if out := bob.run("history", "@alice"); !strings.Contains(out, "! alice set disappearing messages to 1h.") {
		t.Fatalf("bob's history does not show the timer alice set:\n%s", out)
	}

	term.keys("C-c")
	if status, stderr := term.waitExit(); status != "0" {
		t.Fatalf("alice's parley chat exited with status %s:\n%s", status, stderr)
	}
}

// lastID is the ID prefix of the message with text in u's history with
// alice, as `parley history --ids` shows it.
func lastID(t *testing.T, u *cliUser, text string) string {
	t.Helper()
	out := u.run("history", "@alice", "--ids")
	m := regexp.MustCompile(`(?m)  ([0-9a-f]{8}) @\w+: ` + regexp.QuoteMeta(text)).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no message %q in the history:\n%s", text, out)
	}
	return m[1]
}

// TestTUIMenu drives the menu (Ctrl+O) and a delete in tmux: alice's
// list marks bob's chat as a message request with his display name beside
// his username; she accepts it and sets her display name from the menu
// (bob's CLI shows it), deletes a message of hers for everyone (bob's
// history shows it deleted), and blocks bob from the chat's menu.
func TestTUIMenu(t *testing.T) {
	bin, dir, alice, bob := tuiUsers(t)
	bob.run("profile", "set", "--name", "Bob B")
	bob.run("send", "@alice", "hi, we have not met")

	tmux := startTmux(t, dir)
	term := tmux.open("alice", 100, 30, alice.env(), bin, "chat")
	term.waitFor(`(?m)^▸ @bob \(Bob B\) +message request`)
	term.keys("C-o")
	term.waitFor(`1 accept the message request of @bob`)
	term.keys("1")
	term.waitFor(`accepted: @bob can now see`)
	if screen := term.waitFor(`(?m)^▸ @bob \(Bob B\) `); strings.Contains(screen, "message request") {
		t.Fatalf("the chat is still a message request:\n%s", screen)
	}

	term.keys("C-o")
	term.waitFor(`my display name: \(none\)…`)
	term.keys("2") // block @bob, then the display name
	term.waitFor(`(?m)^Display name:`)
	term.keys("-l", "Alice A")
	term.keys("Enter")
	term.waitFor(`your display name is set`)
	if out := bob.run("profile", "show", "@alice"); !strings.Contains(out, "name: Alice A") {
		t.Fatalf("bob does not see alice's display name:\n%s", out)
	}

	term.keys("Enter")
	term.waitFor(`Enter send`)
	term.keys("-l", "oops, wrong chat")
	term.keys("Enter")
	term.waitFor(`alice: oops, wrong chat +✓`)
	term.keys("Up")
	term.waitFor(`(?m)^▸ \d\d:\d\d alice: oops, wrong chat`)
	term.keys("d")
	term.waitFor(`1 delete for everyone`)
	term.keys("1")
	term.waitFor(`alice: This message was deleted`)
	term.waitFor(`deleted for everyone`)
	if out := bob.run("history", "@alice"); !strings.Contains(out, "@alice: (deleted)") || strings.Contains(out, "oops") {
		t.Fatalf("bob's history still shows alice's message:\n%s", out)
	}

	term.keys("C-o")
	term.waitFor(`2 block @bob`)
	term.keys("2")
	term.waitFor(`blocked @bob: nothing they send reaches you`)
	term.waitFor(`(?m)^@bob +blocked · Ctrl\+O$`)

	term.keys("C-c")
	if status, stderr := term.waitExit(); status != "0" {
		t.Fatalf("alice's parley chat exited with status %s:\n%s", status, stderr)
	}
}
