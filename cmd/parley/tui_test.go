package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestTUI drives `parley chat` in a real terminal: alice's TUI runs in a
// detached tmux session against a real server, while bob uses the CLI and
// then a TUI of his own. It checks that messages arrive both ways, that
// receipts and typing reach the screen, that the screen redraws on a
// resize, the safety-number screen, a conversation with an unknown user,
// and that Ctrl+C quits cleanly.
func TestTUI(t *testing.T) {
	bin, dir, alice, bob := tuiUsers(t)
	bob.run("send", "@alice", "hi alice")

	tmux := startTmux(t, dir)
	term := tmux.open("alice", 100, 30, alice.env(), bin, "chat", "@bob")
	term.waitFor(`bob: hi alice`)

	term.keys("-l", "hello from the tui")
	term.keys("Enter")
	// Sent means the server has it; only then can bob's inbox fetch it.
	term.waitFor(`alice: hello from the tui +✓ sent`)
	if out := bob.run("inbox"); !strings.Contains(out, "@alice: hello from the tui") {
		t.Fatalf("bob's inbox lacks alice's message:\n%s", out)
	}
	// bob's inbox acknowledged and read it; the receipts reach alice.
	term.waitFor(`alice: hello from the tui +✓✓ read`)

	long := "reply from bob, long enough to be wrapped on a narrow screen, ending in WRAPEND"
	bob.run("send", "@alice", long)
	term.waitFor(`bob: reply from bob`)

	tmux.run("resize-window", "-t", "alice", "-x", "60", "-y", "20")
	checkLayout(t, term.waitFor(`WRAPEND`), 60, 20)

	// bob opens his own TUI: alice sees him type, and his message is
	// read at once, since her conversation with him is open.
	bobTerm := tmux.open("bob", 80, 24, bob.env(), bin, "chat", "@alice")
	bobTerm.waitFor(`alice: hello from the tui`)
	bobTerm.keys("-l", "typing in a tui")
	term.waitFor(`bob is typing…`)
	bobTerm.keys("Enter")
	term.waitFor(`bob: typing in a tui`)
	bobTerm.waitFor(`bob: typing in a tui +✓✓ read`)
	if screen := term.waitFor(`bob: typing in a tui`); strings.Contains(screen, "is typing") {
		t.Errorf("alice still sees bob typing after his message:\n%s", screen)
	}

	checkSafetyNumber(t, term, bobTerm)

	// A conversation with a user the server does not know.
	term.keys("Escape")
	term.waitFor(`conversations`)
	term.keys("n")
	term.waitFor(`New conversation with @`)
	term.keys("-l", "nosuchuser")
	term.keys("Enter")
	term.waitFor(`@nosuchuser`)
	term.keys("-l", "anyone there?")
	term.keys("Enter")
	term.waitFor(`no user @nosuchuser`)

	for _, tt := range []*terminal{term, bobTerm} {
		tt.keys("C-c")
		if status, stderr := tt.waitExit(); status != "0" {
			t.Fatalf("%s's parley chat exited with status %s:\n%s", tt.name, status, stderr)
		}
	}
}

// checkSafetyNumber has alice open the safety number with bob, compare it
// with the one bob's screen shows, verify bob, and go back to the chat.
func checkSafetyNumber(t *testing.T, alice, bob *terminal) {
	t.Helper()
	digits := regexp.MustCompile(`(?m)^ +((?:\d{5} ){3}\d{5})$`)
	alice.keys("C-s")
	aliceScreen := alice.waitFor(`Not verified`)
	bob.keys("C-s")
	bobScreen := bob.waitFor(`Not verified`)
	a, b := digits.FindAllStringSubmatch(aliceScreen, -1), digits.FindAllStringSubmatch(bobScreen, -1)
	if len(a) != 3 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("the safety numbers differ or are not 3 rows of 4 groups of 5 digits:\n%s\n%s", aliceScreen, bobScreen)
	}
	alice.keys("v")
	alice.waitFor(`✓ Verified`)
	alice.keys("Escape")
	alice.waitFor(`(?m)^@bob +✓ verified$`)
	bob.keys("Escape")
	bob.waitFor(`Enter send`)
}

// checkLayout checks a captured screen of w×h: as many lines as rows,
// none wider, the conversation's title on top and the input at the bottom.
func checkLayout(t *testing.T, screen string, w, h int) {
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
	if !strings.HasPrefix(lines[0], "@bob") {
		t.Errorf("the first line is not the conversation's title: %q", lines[0])
	}
	if !strings.HasPrefix(lines[h-1], ">") {
		t.Errorf("the last line is not the input: %q\n%s", lines[h-1], screen)
	}
}

// cliUser runs the parley binary as one account.
type cliUser struct {
	t    *testing.T
	bin  string
	home string
}

func newCLIUser(t *testing.T, bin, home string) *cliUser {
	return &cliUser{t: t, bin: bin, home: home}
}

func (u *cliUser) env() []string {
	return []string{"PARLEY_HOME=" + u.home, "PARLEY_PASSPHRASE=pw"}
}

// run runs parley with args and returns its stdout; it fails the test if
// parley fails.
func (u *cliUser) run(args ...string) string {
	u.t.Helper()
	cmd := exec.Command(u.bin, args...)
	cmd.Env = append(os.Environ(), u.env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		u.t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// tmuxServer is a private tmux server (its own socket), killed when the
// test ends.
type tmuxServer struct {
	t      *testing.T
	socket string
	dir    string
	conf   string
}

// deadline bounds every wait for a screen: a guard against a hang, not a
// measure of speed.
const deadline = 20 * time.Second

func startTmux(t *testing.T, dir string) *tmuxServer {
	t.Helper()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g status off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &tmuxServer{t: t, socket: fmt.Sprintf("parley-tui-test-%d-%d", os.Getpid(), time.Now().UnixNano()), dir: dir, conf: conf}
	t.Cleanup(s.kill)
	return s
}

// kill ends the server and removes its socket, which tmux leaves behind.
func (s *tmuxServer) kill() {
	path, err := exec.Command("tmux", "-L", s.socket, "display-message", "-p", "#{socket_path}").Output()
	exec.Command("tmux", "-L", s.socket, "kill-server").Run()
	if p := strings.TrimSpace(string(path)); err == nil && p != "" {
		os.Remove(p)
	}
}

// run runs a tmux command on the server and returns its output.
func (s *tmuxServer) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket, "-f", s.conf}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// open runs argv in a new w×h session named name, with env added to its
// environment. A shell runs argv with its stderr in a file and then
// writes its exit status to another: output written just before a pane's
// command exits can be lost, and tmux may report a pane dead before it
// has the status (tmux/tmux#4841).
func (s *tmuxServer) open(name string, w, h int, env []string, argv ...string) *terminal {
	s.t.Helper()
	term := &terminal{s: s, name: name, stderr: filepath.Join(s.dir, name+".stderr"), status: filepath.Join(s.dir, name+".status")}
	args := []string{"new-session", "-d", "-s", name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h),
		"-e", "TUI_STDERR=" + term.stderr, "-e", "TUI_STATUS=" + term.status}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	args = append(args, "sh", "-c", `"$0" "$@" 2>"$TUI_STDERR"; echo $? >"$TUI_STATUS.new" && mv "$TUI_STATUS.new" "$TUI_STATUS"`)
	s.run(append(args, argv...)...)
	return term
}

// terminal is one tmux session, whose one pane runs a command.
type terminal struct {
	s              *tmuxServer
	name           string
	stderr, status string // files for the command's stderr and exit status
}

func (term *terminal) keys(keys ...string) {
	term.s.t.Helper()
	term.s.run(append([]string{"send-keys", "-t", term.name}, keys...)...)
}

func (term *terminal) capture() string {
	term.s.t.Helper()
	return term.s.run("capture-pane", "-p", "-t", term.name)
}

// waitFor polls the screen until it matches the regular expression re,
// and returns that screen.
func (term *terminal) waitFor(re string) string {
	term.s.t.Helper()
	rx := regexp.MustCompile(re)
	var screen string
	for end := time.Now().Add(deadline); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if screen = term.capture(); rx.MatchString(screen) {
			return screen
		}
	}
	errs, _ := os.ReadFile(term.stderr)
	term.s.t.Fatalf("%s's screen never showed %q:\n%s\nstderr:\n%s", term.name, re, screen, errs)
	return ""
}

// waitExit waits until the pane's command has exited and returns its
// exit status and stderr.
func (term *terminal) waitExit() (status, stderr string) {
	term.s.t.Helper()
	for end := time.Now().Add(deadline); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(term.status); err == nil {
			errs, _ := os.ReadFile(term.stderr)
			return strings.TrimSpace(string(b)), string(errs)
		}
	}
	term.s.t.Fatalf("%s's command did not exit:\n%s", term.name, term.capture())
	return "", ""
}

// TestTUIChannels drives the channels screens in tmux: bob, a follower,
// opens a channel's feed and sees a post published meanwhile arrive live;
// alice, the publisher, posts from her feed's input line, and bob sees
// that too. A follower's feed has no input line.
func TestTUIChannels(t *testing.T) {
	bin, dir, alice, bob := tuiUsers(t)
	alice.run("channel", "create", "@news", "--title", "News")
	alice.run("channel", "post", "@news", "**first** post")
	bob.run("channel", "follow", "@news")

	tmux := startTmux(t, dir)
	bobTerm := tmux.open("bob", 90, 24, bob.env(), bin, "chat")
	bobTerm.waitFor(`Tab channels`)
	bobTerm.keys("Tab")
	bobTerm.waitFor(`▸ @news +following · 0 posts`)
	bobTerm.keys("Enter")
	screen := bobTerm.waitFor(`#2 first post`) // #1 is the profile; markup shows as plain text
	if !strings.Contains(screen, "read only") || strings.Contains(screen, "> ") {
		t.Fatalf("a follower's feed should be read only, with no input:\n%s", screen)
	}
	alice.run("channel", "post", "@news", "second, while bob watches")
	bobTerm.waitFor(`#3 second, while bob watches`)

	aliceTerm := tmux.open("alice", 90, 24, alice.env(), bin, "chat")
	aliceTerm.waitFor(`Tab channels`)
	aliceTerm.keys("Tab")
	aliceTerm.waitFor(`▸ @news +you publish · \d+ posts`)
	aliceTerm.keys("Enter")
	aliceTerm.waitFor(`Enter post`)
	aliceTerm.keys("-l", "third, from the tui")
	aliceTerm.keys("Enter")
	aliceTerm.waitFor(`#4 third, from the tui`)
	bobTerm.waitFor(`#4 third, from the tui`)

	bobTerm.keys("Escape")
	bobTerm.waitFor(`@news +following · 3 posts`)
	// From a chat, Tab goes straight to the channels too.
	bobTerm.keys("Tab")
	bobTerm.waitFor(`conversations`)
	bobTerm.keys("n")
	bobTerm.keys("-l", "alice")
	bobTerm.keys("Enter")
	bobTerm.waitFor(`Enter send`)
	bobTerm.keys("Tab")
	bobTerm.waitFor(`▸ @news`)
	bobTerm.keys("Tab")
	bobTerm.waitFor(`conversations`)
	for _, tt := range []*terminal{aliceTerm, bobTerm} {
		tt.keys("C-c")
		if status, stderr := tt.waitExit(); status != "0" {
			t.Fatalf("%s's parley chat exited with status %s:\n%s", tt.name, status, stderr)
		}
	}
}

// tuiUsers starts a server and makes alice and bob with the parley
// binary, each with a store in dir; it skips the test without tmux.
func tuiUsers(t *testing.T) (bin, dir string, alice, bob *cliUser) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	srv := parleytest.Start(t, server.Config{})
	bin = parleytest.BuildBinary(t, ".", "parley")
	dir = t.TempDir()
	alice = newCLIUser(t, bin, filepath.Join(dir, "alice"))
	bob = newCLIUser(t, bin, filepath.Join(dir, "bob"))
	alice.run("init", "--server", srv.URL, "--name", "alice")
	bob.run("init", "--server", srv.URL, "--name", "bob")
	return bin, dir, alice, bob
}

// TestTUIChannelAdmin: an admin (whose identity key the owner certified)
// posts from the feed's input line as the CLI lets them, and a post made
// with the CLI on the same device while the TUI is open does not make
// the TUI take the next live post for a record the server withheld.
func TestTUIChannelAdmin(t *testing.T) {
	bin, dir, alice, bob := tuiUsers(t)
	alice.run("channel", "create", "@news", "--title", "News")
	alice.run("channel", "post", "@news", "first post")
	alice.run("channel", "admin", "@news", "@bob")
	bob.run("channel", "follow", "@news")

	tmux := startTmux(t, dir)
	bobTerm := tmux.open("bob", 90, 24, bob.env(), bin, "chat")
	bobTerm.waitFor(`Tab channels`)
	bobTerm.keys("Tab")
	// Until bob's device has caught up with the chain, it cannot know.
	bobTerm.waitFor(`▸ @news +following`)
	bobTerm.keys("Enter")
	bobTerm.waitFor(`#2 first post`)
	bobTerm.waitFor(`@news +admin\n`)
	bobTerm.waitFor(`Enter post`)
	bobTerm.keys("-l", "from the admin's tui")
	bobTerm.keys("Enter")
	bobTerm.waitFor(`#\d+ from the admin's tui`)
	bobTerm.keys("Escape")
	bobTerm.waitFor(`▸ @news +admin, following · 2 posts`)
	bobTerm.keys("Enter")
	bobTerm.waitFor(`Enter post`)

	// bob posts with the CLI on the same store while his TUI is open;
	// then alice posts, and bob's TUI shows both, with no alarm.
	bob.run("channel", "post", "@news", "from bob's cli")
	bobTerm.waitFor(`#\d+ from bob's cli`)
	alice.run("channel", "post", "@news", "from alice after that")
	screen := bobTerm.waitFor(`#\d+ from alice after that`)
	if strings.Contains(screen, "withheld") {
		t.Fatalf("bob's TUI took a live post for a withheld record:\n%s", screen)
	}
	bobTerm.keys("C-c")
	if status, stderr := bobTerm.waitExit(); status != "0" {
		t.Fatalf("bob's parley chat exited with status %s:\n%s", status, stderr)
	}
}
