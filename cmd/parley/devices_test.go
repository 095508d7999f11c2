package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// parley runs the parley command (installed on PATH by testscript.Main)
// as the user whose state is in home, and returns its stdout.
func parley(t *testing.T, env []string, home string, args ...string) string {
	t.Helper()
	cmd := exec.Command("parley", args...)
	cmd.Env = append(os.Environ(), append(env, "PARLEY_HOME="+home)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestLinkAndRemoveDevice links a second device with `parley devices link`
// and `parley devices approve`, chats with it, and removes it.
func TestLinkAndRemoveDevice(t *testing.T) {
	url, stop, err := startServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	env := []string{"PARLEY_SERVER=" + url, "PARLEY_PASSPHRASE=pw"}
	dir := t.TempDir()
	alice, laptop, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "laptop"), filepath.Join(dir, "bob")
	parley(t, env, alice, "init", "--name", "alice")
	parley(t, env, bob, "init", "--name", "bob")
	parley(t, env, bob, "send", "@alice", "before the laptop")
	parley(t, env, alice, "inbox")

	// The new device shows a code and waits; the phone approves it.
	link := exec.Command("parley", "devices", "link", "--device", "laptop")
	link.Env = append(os.Environ(), append(env, "PARLEY_HOME="+laptop)...)
	stdout, err := link.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var linkErr strings.Builder
	link.Stderr = &linkErr
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "link code: PL1-") {
		link.Process.Kill()
		t.Fatalf("link printed %q, stderr %s", lines.Text(), linkErr.String())
	}
	code := strings.TrimPrefix(lines.Text(), "link code: ")
	parley(t, env, alice, "devices", "approve", code)
	if !lines.Scan() || lines.Text() != "linked: @alice device 2" {
		t.Fatalf("link printed %q, stderr %s", lines.Text(), linkErr.String())
	}
	if err := link.Wait(); err != nil {
		t.Fatalf("link: %v\n%s", err, linkErr.String())
	}

	if got := parley(t, env, alice, "devices", "list"); !strings.Contains(got, "2  laptop") || !strings.Contains(got, "1  cli") {
		t.Fatalf("devices list:\n%s", got)
	}
	// The laptop got the contact list: Bob is known with the same number.
	if got := parley(t, env, laptop, "contacts"); got != "@bob  unverified\n" {
		t.Fatalf("laptop contacts: %q", got)
	}
	if a, l := parley(t, env, alice, "verify", "@bob"), parley(t, env, laptop, "verify", "@bob"); a != l {
		t.Fatalf("safety numbers differ:\n%s\n%s", a, l)
	}
	parley(t, env, bob, "send", "@alice", "after the laptop")
	if got := parley(t, env, laptop, "inbox"); !strings.Contains(got, "@bob: after the laptop") || strings.Contains(got, "before the laptop") {
		t.Fatalf("laptop inbox:\n%s", got)
	}
	// A message from the laptop reaches Bob, and the phone sees it too.
	parley(t, env, laptop, "send", "@bob", "typed on the laptop")
	if got := parley(t, env, bob, "inbox"); !strings.Contains(got, "@alice: typed on the laptop") {
		t.Fatalf("bob inbox:\n%s", got)
	}
	parley(t, env, alice, "inbox")

	// Removing the laptop cuts it off.
	parley(t, env, alice, "devices", "remove", "2")
	parley(t, env, bob, "send", "@alice", "after the removal")
	cmd := exec.Command("parley", "inbox")
	cmd.Env = append(os.Environ(), append(env, "PARLEY_HOME="+laptop)...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unauthorized") || strings.Contains(string(out), "after the removal") {
		t.Fatalf("removed laptop's inbox: %v\n%s", err, out)
	}
	if got := parley(t, env, alice, "inbox"); !strings.Contains(got, "@bob: after the removal") {
		t.Fatalf("alice inbox:\n%s", got)
	}
}
