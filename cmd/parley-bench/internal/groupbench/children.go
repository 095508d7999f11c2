package groupbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/procset"
)

// child is one member process, as the coordinator sees it.
type child struct {
	index   int
	names   []string
	ready   bool
	changes int           // the last "changes K"
	oks     int           // "ok" lines not yet waited for
	sent    []SendStat    // "sent" lines not yet taken
	rep     *memberReport // its "result", once read
}

// children are the member processes.
type children struct {
	set    *procset.Set
	list   []*child
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
	cs := &children{all: map[string]int{}, rcpts: map[string]bool{}, member: map[string]*child{}}
	first := make([][]byte, len(parts))
	for i, part := range parts {
		c := &child{index: i, names: part}
		cs.list = append(cs.list, c)
		for _, n := range part {
			cs.member[n] = c
		}
		s := setup
		s.Names = part
		first[i], _ = json.Marshal(s)
	}
	var err error
	cs.set, err = procset.Start(ctx, "member process", newCmd, first, stderr)
	if err != nil {
		return cs, fmt.Errorf("groupbench: %w", err)
	}
	return cs, nil
}

// errChildExited means a member process ended before it was told to.
var errChildExited = errors.New("groupbench: a member process exited early (see its error above)")

// handle applies one line.
func (cs *children) handle(l procset.Line) error {
	c := cs.list[l.Proc]
	bad := func() error {
		return fmt.Errorf("groupbench: member process %d: bad line %q", l.Proc, l.Word+" "+l.Arg)
	}
	switch l.Word {
	case "":
		if l.Err != nil {
			return fmt.Errorf("groupbench: reading member process %d: %w", l.Proc, l.Err)
		}
		if c.rep == nil {
			return errChildExited
		}
	case lineReady:
		c.ready = true
	case lineChanges:
		k, err := strconv.Atoi(l.Arg)
		if err != nil {
			return bad()
		}
		c.changes = k
	case lineAll:
		cs.all[l.Arg]++
	case lineReceipts:
		cs.rcpts[l.Arg] = true
	case lineOK:
		c.oks++
	case lineSent:
		var st SendStat
		if err := json.Unmarshal([]byte(l.Arg), &st); err != nil {
			return bad()
		}
		c.sent = append(c.sent, st)
	case lineResult:
		var r memberReport
		if err := json.Unmarshal([]byte(l.Arg), &r); err != nil {
			return fmt.Errorf("groupbench: member process %d's result: %w", l.Proc, err)
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
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	return cs.set.Wait(ctx, deadline, cs.wake, cs.handle, done)
}

// tell writes a command to every child (c nil) or to c, and waits for
// the "ok" of those that answer with one.
func (cs *children) tell(ctx context.Context, c *child, cmd string, ok bool) error {
	to := cs.list
	if c != nil {
		to = []*child{c}
	}
	for _, c := range to {
		if err := cs.set.Tell(c.index, cmd); err != nil {
			return fmt.Errorf("groupbench: %w", err)
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
	if err := cs.set.Finish(ctx, cs.handle); err != nil {
		return nil, fmt.Errorf("groupbench: %w", err)
	}
	reps := make([]*memberReport, len(cs.list))
	for i, c := range cs.list {
		reps[i] = c.rep
	}
	return reps, nil
}

// kill ends every child still running and waits for them; safe after
// finish.
func (cs *children) kill() {
	if cs.set != nil {
		cs.set.Kill()
	}
}
