package parley

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/parley-chat/parley/parleytest"
)

// TestReadmeCommands runs every command of README.md's indented command
// blocks, in order, as one testscript, so the README cannot drift from
// what the programs do: a command that fails fails the test. The blocks
// are parsed out of README.md when the test runs (readmeScript); nothing
// is copied.
//
// The commands run as written, with the binaries built from this tree,
// in the script's temporary directory ($WORK), against a real parleyd.
// Only these are substituted:
//
//   - the server's URL: http://127.0.0.1:8080 becomes the URL of the
//     parleyd this test started on 127.0.0.1:0;
//   - directories: a path under /tmp/ moves under $WORK.
//
// Three commands cannot run as they stand, and get this treatment:
//
//   - `go run ./cmd/parleyd` runs until stopped: the test starts the
//     parleyd binary built from ./cmd/parleyd in $WORK (so ./parley-data is
//     there) with PARLEY_LISTEN=127.0.0.1:0, reads the URL it logs, waits
//     for /readyz, and the command is replaced by a check that it serves;
//     it is stopped with SIGTERM when the script ends;
//   - `go test ... ./...` would run this test again: it is replaced by a
//     check that .ci/run, which CI runs, runs exactly that command;
//   - `parley chat @bob`, the full-screen UI, needs a terminal: it is
//     replaced by `parley history @bob`, which shows the same
//     conversation without one (the UI has its own tmux test in
//     cmd/parley).
//
// `go install ./cmd/parley` runs for real, from the repository, into
// $WORK/bin, which comes first in $PATH, so every later `parley` is the
// installed one. photo.jpg is a small JPEG the test writes; after the
// last command the saved image must exist.
func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs the README against them")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, n, err := readmeScript(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d commands in README.md's blocks", n)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "readme.txtar"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	parleyd := parleytest.BuildBinary(t, "./cmd/parleyd", "parleyd")
	goEnv := goEnvironment(t)
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"serving": func(ts *testscript.TestScript, neg bool, args []string) {
				if !parleytest.WaitReady(ts.Getenv("README_SERVER")) {
					ts.Fatalf("parleyd does not serve at %s", ts.Getenv("README_SERVER"))
				}
			},
			"ci-runs": func(ts *testscript.TestScript, neg bool, args []string) {
				ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
				ts.Check(err)
				if !bytes.Contains(ci, []byte("\n"+strings.Join(args, " ")+"\n")) {
					ts.Fatalf(".ci/run does not run %q, which README.md says tests everything", strings.Join(args, " "))
				}
			},
		},
		Setup: func(env *testscript.Env) error {
			url, err := startParleyd(env, parleyd)
			if err != nil {
				return err
			}
			env.Setenv("README_SERVER", url)
			env.Setenv("REPO", root)
			for k, v := range goEnv {
				env.Setenv(k, v)
			}
			env.Setenv("PATH", filepath.Join(env.WorkDir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("GOBIN", filepath.Join(env.WorkDir, "bin"))
			return writeJPEG(filepath.Join(env.WorkDir, "photo.jpg"))
		},
	})
}

// readmeScript turns README.md's indented command blocks into a
// testscript, by the rules of TestReadmeCommands. It returns the script
// and how many README commands it holds. A command it has no rule for is
// an error, so a new kind of command in the README needs a rule here.
func readmeScript(readme string) (string, int, error) {
	var (
		out strings.Builder
		n   int
	)
	out.WriteString("# Generated from README.md by TestReadmeCommands.\n")
	for _, line := range commandLines(readme) {
		words, err := shellWords(line)
		if err != nil {
			return "", 0, fmt.Errorf("README.md: %q: %w", line, err)
		}
		fmt.Fprintf(&out, "\n# README: %s\n", line)
		n++
		var env []string
		for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
			env, words = append(env, words[0]), words[1:]
		}
		switch {
		case len(words) == 0:
			return "", 0, fmt.Errorf("README.md: %q: no command", line)
		case words[0] == "export":
			env, words = append(env, words[1:]...), nil
		}
		for _, e := range env {
			fmt.Fprintf(&out, "env %s\n", quote(substitute(e)))
		}
		if words == nil {
			continue
		}
		cmd := strings.Join(words, " ")
		switch {
		case cmd == "go run ./cmd/parleyd":
			out.WriteString("serving\n")
		case strings.HasPrefix(cmd, "go test "):
			fmt.Fprintf(&out, "ci-runs %s\n", cmd)
		case strings.HasPrefix(cmd, "go install "):
			fmt.Fprintf(&out, "cd $REPO\nexec %s\ncd $WORK\n", quoteAll(words))
		case len(words) >= 2 && words[0] == "parley" && words[1] == "chat":
			fmt.Fprintf(&out, "exec parley history %s\n", quoteAll(words[2:]))
		case words[0] == "parley":
			fmt.Fprintf(&out, "exec %s\n", quoteAll(words))
			if len(words) >= 4 && words[1] == "channel" && words[2] == "get" {
				fmt.Fprintf(&out, "stdout '^%s-%s-1\\.jpg$'\nexists %s-%s-1.jpg\n",
					strings.TrimPrefix(words[3], "@"), words[4], strings.TrimPrefix(words[3], "@"), words[4])
			}
		default:
			return "", 0, fmt.Errorf("README.md: no rule in TestReadmeCommands for %q", line)
		}
	}
	return out.String(), n, nil
}

// commandLines returns the lines of README.md's indented code blocks (a
// run of lines indented by four spaces after a blank line), without the
// indent, comments and blank lines.
func commandLines(readme string) []string {
	var (
		lines   []string
		inBlock bool
		prev    = ""
	)
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "    ") && (inBlock || strings.TrimSpace(prev) == ""):
			inBlock = true
			if c := strings.TrimSpace(l); c != "" && !strings.HasPrefix(c, "#") {
				lines = append(lines, c)
			}
		case strings.TrimSpace(l) == "":
		default:
			inBlock = false
		}
		prev = l
	}
	return lines
}

// shellWords splits a command line as a POSIX shell would for the forms
// the README uses: words separated by spaces, "double" quotes (with \"
// and \\ escapes) and 'single' quotes.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		have  bool
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t':
			if have {
				words, have = append(words, cur.String()), false
				cur.Reset()
			}
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i, have = i+1+j, true
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				} else if s[i] == '$' || s[i] == '`' {
					return nil, fmt.Errorf("shell expansion in quotes has no rule")
				}
				cur.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, fmt.Errorf("unterminated \"")
			}
			have = true
		case '$', '`', '|', '&', ';', '<', '>', '(', ')', '*', '?', '\\', '#':
			return nil, fmt.Errorf("shell syntax %q has no rule", c)
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		words = append(words, cur.String())
	}
	return words, nil
}

// substitute applies the two substitutions: the server's URL, and /tmp/
// paths moved under $WORK.
func substitute(w string) string {
	w = strings.ReplaceAll(w, "http://127.0.0.1:8080", "$README_SERVER")
	if i := strings.Index(w, "/tmp/"); i >= 0 {
		w = w[:i] + "$WORK/" + w[i+len("/tmp/"):]
	}
	return w
}

// quote is w as one testscript word: as it is if it holds only
// characters testscript takes literally (and the $VARs substitute puts
// in, which it must expand), else single-quoted, with ” for a quote
// (single quotes also stop expansion: such a word holds no $VAR).
func quote(w string) string {
	if regexp.MustCompile(`^[A-Za-z0-9_@./:=,+$-]+$`).MatchString(w) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", "''") + "'"
}

func quoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = quote(substitute(w))
	}
	return strings.Join(q, " ")
}

// startParleyd runs the parleyd binary in the script's directory on
// 127.0.0.1:0, reads the URL it logs, and waits until it is ready. The
// script's end stops it with SIGTERM.
func startParleyd(env *testscript.Env, bin string) (string, error) {
	cmd := exec.Command(bin)
	cmd.Dir = env.WorkDir
	cmd.Env = append(os.Environ(), "PARLEY_LISTEN=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := regexp.MustCompile(`url=(http://\S+)`).FindStringSubmatch(sc.Text()); m != nil && !sent {
				urls <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, stderr)
		if !sent {
			close(urls)
		}
	}()
	env.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	var url string
	select {
	case u, ok := <-urls:
		if !ok {
			return "", fmt.Errorf("parleyd exited without logging its URL")
		}
		url = u
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("parleyd logged no URL in 30 s")
	}
	if !parleytest.WaitReady(url) {
		return "", fmt.Errorf("parleyd at %s never became ready", url)
	}
	return url, nil
}

// goEnvironment is what the go command needs inside a script, whose
// environment testscript clears: the build and module caches, and no
// network (everything the tree needs was fetched to build this test).
func goEnvironment(t *testing.T) map[string]string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 3 {
		t.Fatalf("go env: %q", out)
	}
	return map[string]string{"GOCACHE": v[0], "GOMODCACHE": v[1], "GOPATH": v[2], "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
}

// writeJPEG writes a small real JPEG (a colour gradient).
func writeJPEG(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// TestReadmeScriptRules: the parser finds only indented blocks after a
// blank line, and a command with no rule, or shell syntax it does not
// know, is an error rather than skipped.
func TestReadmeScriptRules(t *testing.T) {
	readme := "Intro\n    not a block: it continues a paragraph\n\n    PARLEY_HOME=/tmp/a parley init --name a\n    # a comment\n\n    parley send @a \"it's\"\n\nText.\n"
	got := commandLines(readme)
	if len(got) != 2 || got[0] != "PARLEY_HOME=/tmp/a parley init --name a" || got[1] != `parley send @a "it's"` {
		t.Fatalf("command lines: %q", got)
	}
	script, n, err := readmeScript(readme)
	if err != nil || n != 2 || !strings.Contains(script, "env PARLEY_HOME=$WORK/a\nexec parley init --name a\n") ||
		!strings.Contains(script, "exec parley send @a 'it''s'\n") {
		t.Fatalf("script (%d, %v):\n%s", n, err, script)
	}
	for _, bad := range []string{"rm -rf build", "parley send @a $(cat x)", "parley inbox | head", "PARLEY_HOME=/tmp/a"} {
		if _, _, err := readmeScript("\n    " + bad + "\n"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
