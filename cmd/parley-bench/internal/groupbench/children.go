package groupbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// child is one member process, as the coordinator sees it.
type child struct {
	index   int
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	names   []string
	ready   bool
	changes int           // the last "changes K"
	oks     int           // "ok" lines not yet waited for
	sent    []SendStat    // "sent" lines not yet taken
	rep     *memberReport // its "result", once read
	exited  bool          // its stdout ended
}

// line is a line from a child's stdout, or its end (word "").
type line struct {
	child     int
	word, arg string
	err       error // with word "": why the stdout ended, if not at EOF
}

// children are the member processes.
type children struct {
	list   []*child
	lines  chan line
	wg     sync.WaitGroup // the stdout readers
	all    map[string]int // by tag: children that said "all"
	rcpts  map[string]bool
	member map[string]*child // by username
	// wake, if set, is the coordinator's own event signal: a wait
	// looks again when it fires, as for a line.
	wake <-chan struct{}
}

// spawn starts one member process per part of names and sends each its
// setup. Their stderr goes to stderr.
func spawn(ctx context.Context, newCmd func(context.Context) *exec.Cmd, parts [][]string, setup memberSetup, stderr io.Writer) (*children, error) {
	cs := &children{lines: make(chan line, 64), all: map[string]int{}, rcpts: map[string]bool{}, member: map[string]*child{}}
	for i, part := range parts {
		cmd := newCmd(ctx)
		cmd.Stderr = stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return cs, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return cs, err
		}
		if err := cmd.Start(); err != nil {
			return cs, fmt.Errorf("groupbench: starting member process %d: %w", i, err)
		}
		c := &child{index: i, cmd: cmd, stdin: stdin, names: part}
		cs.list = append(cs.list, c)
		for _, n := range part {
			cs.member[n] = c
		}
		cs.wg.Go(func() { cs.read(c.index, stdout) })
		s := setup
		s.Names = part
		b, _ := json.Marshal(s)
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			return cs, fmt.Errorf("groupbench: sending member process %d its setup: %w", i, err)
		}
	}
	return cs, nil
}

// read turns a child's stdout into lines.
func (cs *children) read(i int, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<30) // the result holds every arrival time
	for sc.Scan() {
		word, arg, _ := strings.Cut(sc.Text(), " ")
		cs.lines <- line{child: i, word: word, arg: arg}
	}
	cs.lines <- line{child: i, err: sc.Err()}
}

// errChildExited means a member process ended before it was told to.
var errChildExited = errors.New("groupbench: a member process exited early (see its error above)")

// handle applies one line.
func (cs *children) handle(l line) error {
	c := cs.list[l.child]
	bad := func() error {
		return fmt.Errorf("groupbench: member process %d: bad line %q", l.child, l.word+" "+l.arg)
	}
	switch l.word {
	case "":
		c.exited = true
		if l.err != nil {
			return fmt.Errorf("groupbench: reading member process %d: %w", l.child, l.err)
		}
		if c.rep == nil {
			return errChildExited
		}
	case lineReady:
		c.ready = true
	case lineChanges:
		k, err := strconv.Atoi(l.arg)
		if err != nil {
			return bad()
		}
		c.changes = k
	case lineAll:
		cs.all[l.arg]++
	case lineReceipts:
		cs.rcpts[l.arg] = true
	case lineOK:
		c.oks++
	case lineSent:
		var st SendStat
		if err := json.Unmarshal([]byte(l.arg), &st); err != nil {
			return bad()
		}
		c.sent = append(c.sent, st)
	case lineResult:
		var r memberReport
		if err := json.Unmarshal([]byte(l.arg), &r); err != nil {
			return fmt.Errorf("groupbench: member process %d's result: %w", l.child, err)
		}
		c.rep = &r
	default:
		return bad()
	}
	return nil
}

// wait handles lines until done reports true, timeout passes (0: no
// limit), a child fails or ctx ends. It reports whether done.
func (cs *children) wait(ctx context.Context, timeout time.Duration, done func() bool) (bool, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for !done() {
		select {
		case l := <-cs.lines:
			if err := cs.handle(l); err != nil {
				return false, err
			}
		case <-cs.wake:
		case <-expired:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return true, nil
}

// tell writes a command to every child (c nil) or to c, and waits for
// the "ok" of those that answer with one.
func (cs *children) tell(ctx context.Context, c *child, cmd string, ok bool) error {
	to := cs.list
	if c != nil {
		to = []*child{c}
	}
	for _, c := range to {
		if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
			return fmt.Errorf("groupbench: telling member process %d %q: %w", c.index, cmd, err)
		}
	}
	if !ok {
		return nil
	}
	_, err := cs.wait(ctx, 0, func() bool {
		for _, c := range to {
			if c.oks == 0 {
				return false
			}
		}
		return true
	})
	for _, c := range to {
		c.oks = max(0, c.oks-1)
	}
	return err
}

func (cs *children) allReady() bool {
	for _, c := range cs.list {
		if !c.ready {
			return false
		}
	}
	return true
}

// changesAtLeast reports whether every child's members have seen k changes.
func (cs *children) changesAtLeast(k int) func() bool {
	return func() bool {
		for _, c := range cs.list {
			if c.changes < k {
				return false
			}
		}
		return true
	}
}

// finish closes every child's stdin, which ends its run, and collects
// the reports.
func (cs *children) finish(ctx context.Context) ([]*memberReport, error) {
	for _, c := range cs.list {
		c.stdin.Close()
	}
	if _, err := cs.wait(ctx, 0, func() bool {
		for _, c := range cs.list {
			if !c.exited {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	reps := make([]*memberReport, len(cs.list))
	for i, c := range cs.list {
		if err := c.cmd.Wait(); err != nil {
			return nil, fmt.Errorf("groupbench: member process %d: %w", i, err)
		}
		reps[i] = c.rep
	}
	return reps, nil
}

// kill ends every child still running and waits for them; safe after
// finish.
func (cs *children) kill() {
	for _, c := range cs.list {
		if c.cmd.ProcessState == nil {
			c.stdin.Close()
			c.cmd.Process.Kill()
		}
	}
	go func() { // let the readers finish
		for range cs.lines {
		}
	}()
	cs.wg.Wait()
	close(cs.lines)
	for _, c := range cs.list {
		if c.cmd.ProcessState == nil {
			c.cmd.Wait()
		}
	}
}
