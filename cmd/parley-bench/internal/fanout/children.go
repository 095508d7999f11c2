package fanout

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

	"github.com/parley-chat/parley/api"
)

// child is one follower process.
type child struct {
	index   int
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	sockets int     // its accounts
	ready   bool    // said "ready"
	rep     *report // its "result", once read
	exited  bool    // its stdout ended
}

// event is a line from a child's stdout, or the end of it (word "").
type event struct {
	child     int
	word, arg string
	err       error // with word "": why the stdout ended, if not at EOF
}

// children are the follower processes and the events they send.
type children struct {
	list   []*child
	events chan event
	wg     sync.WaitGroup // the stdout readers
	// all counts, for each Seq, the children each of whose sockets has it.
	all map[uint64]int
}

// spawn starts one follower process per slice of creds and sends each
// its accounts. Their stderr goes to stderr.
func spawn(ctx context.Context, newCmd func(context.Context) *exec.Cmd, parts [][]api.Credentials, stderr io.Writer) (*children, error) {
	cs := &children{events: make(chan event, 64), all: map[uint64]int{}}
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
			return cs, fmt.Errorf("fanout: starting follower process %d: %w", i, err)
		}
		c := &child{index: i, cmd: cmd, stdin: stdin, sockets: len(part)}
		cs.list = append(cs.list, c)
		cs.wg.Go(func() { cs.readLines(c.index, stdout) })
		b, _ := json.Marshal(part)
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			return cs, fmt.Errorf("fanout: sending follower process %d its accounts: %w", i, err)
		}
	}
	return cs, nil
}

// readLines turns a child's stdout into events.
func (cs *children) readLines(i int, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<30) // the result line holds every receive time
	for sc.Scan() {
		word, arg, _ := strings.Cut(sc.Text(), " ")
		cs.events <- event{child: i, word: word, arg: arg}
	}
	cs.events <- event{child: i, err: sc.Err()}
}

// errChildExited means a follower process ended before it was told to.
var errChildExited = errors.New("fanout: a follower process exited early (see its error above)")

// handle applies one event.
func (cs *children) handle(e event) error {
	c := cs.list[e.child]
	switch e.word {
	case "":
		c.exited = true
		if e.err != nil {
			return fmt.Errorf("fanout: reading follower process %d: %w", e.child, e.err)
		}
		if c.rep == nil {
			return errChildExited
		}
	case lineReady:
		c.ready = true
	case lineAll:
		seq, err := strconv.ParseUint(e.arg, 10, 64)
		if err != nil {
			return fmt.Errorf("fanout: follower process %d: bad line %q", e.child, e.word+" "+e.arg)
		}
		cs.all[seq]++
	case lineResult:
		var r report
		if err := json.Unmarshal([]byte(e.arg), &r); err != nil {
			return fmt.Errorf("fanout: follower process %d's result: %w", e.child, err)
		}
		c.rep = &r
	default:
		return fmt.Errorf("fanout: follower process %d: unexpected line %q", e.child, e.word)
	}
	return nil
}

// wait handles events until done reports true, the deadline passes
// (zero: none), a child fails or ctx ends. It reports whether done.
func (cs *children) wait(ctx context.Context, deadline time.Time, done func() bool) (bool, error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for !done() {
		select {
		case e := <-cs.events:
			if err := cs.handle(e); err != nil {
				return false, err
			}
		case <-timeout:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return true, nil
}

// allReady reports whether every child has its sockets open.
func (cs *children) allReady() bool {
	for _, c := range cs.list {
		if !c.ready {
			return false
		}
	}
	return true
}

// finish closes every child's stdin, which ends its run, and collects the
// reports.
func (cs *children) finish(ctx context.Context) ([]*report, error) {
	for _, c := range cs.list {
		c.stdin.Close()
	}
	_, err := cs.wait(ctx, time.Time{}, func() bool {
		for _, c := range cs.list {
			if !c.exited {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	reps := make([]*report, len(cs.list))
	for i, c := range cs.list {
		if err := c.cmd.Wait(); err != nil {
			return nil, fmt.Errorf("fanout: follower process %d: %w", i, err)
		}
		reps[i] = c.rep
	}
	return reps, nil
}

// kill ends every child that is still running and waits for them. It is
// safe after finish.
func (cs *children) kill() {
	for _, c := range cs.list {
		if c.cmd.ProcessState == nil {
			c.stdin.Close()
			c.cmd.Process.Kill()
		}
	}
	go func() { // let the readers finish
		for range cs.events {
		}
	}()
	cs.wg.Wait()
	close(cs.events)
	for _, c := range cs.list {
		if c.cmd.ProcessState == nil {
			c.cmd.Wait()
		}
	}
}
