package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/procset"
)

// child is one follower process, as the coordinator sees it.
type child struct {
	sockets int     // its accounts
	ready   bool    // said "ready"
	rep     *report // its "result", once read
}

// children are the follower processes and what their lines said.
type children struct {
	set  *procset.Set
	list []*child
	// all counts, for each Seq, the children each of whose sockets has it.
	all map[uint64]int
}

// spawn starts one follower process per slice of creds and sends each
// its accounts. Their stderr goes to stderr.
func spawn(ctx context.Context, newCmd func(context.Context) *exec.Cmd, parts [][]api.Credentials, stderr io.Writer) (*children, error) {
	cs := &children{all: map[uint64]int{}}
	first := make([][]byte, len(parts))
	for i, part := range parts {
		first[i], _ = json.Marshal(part)
		cs.list = append(cs.list, &child{sockets: len(part)})
	}
	var err error
	cs.set, err = procset.Start(ctx, "follower process", newCmd, first, stderr)
	if err != nil {
		return cs, fmt.Errorf("fanout: %w", err)
	}
	return cs, nil
}

// errChildExited means a follower process ended before it was told to.
var errChildExited = errors.New("fanout: a follower process exited early (see its error above)")

// handle applies one line.
func (cs *children) handle(e procset.Line) error {
	c := cs.list[e.Proc]
	switch e.Word {
	case "":
		if e.Err != nil {
			return fmt.Errorf("fanout: reading follower process %d: %w", e.Proc, e.Err)
		}
		if c.rep == nil {
			return errChildExited
		}
	case lineReady:
		c.ready = true
	case lineAll:
		seq, err := strconv.ParseUint(e.Arg, 10, 64)
		if err != nil {
			return fmt.Errorf("fanout: follower process %d: bad line %q", e.Proc, e.Word+" "+e.Arg)
		}
		cs.all[seq]++
	case lineResult:
		var r report
		if err := json.Unmarshal([]byte(e.Arg), &r); err != nil {
			return fmt.Errorf("fanout: follower process %d's result: %w", e.Proc, err)
		}
		c.rep = &r
	default:
		return fmt.Errorf("fanout: follower process %d: unexpected line %q", e.Proc, e.Word)
	}
	return nil
}

// wait handles lines until done reports true, the deadline passes
// (zero: none), a child fails or ctx ends. It reports whether done.
func (cs *children) wait(ctx context.Context, deadline time.Time, done func() bool) (bool, error) {
	return cs.set.Wait(ctx, deadline, nil, cs.handle, done)
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
	if err := cs.set.Finish(ctx, cs.handle); err != nil {
		return nil, fmt.Errorf("fanout: %w", err)
	}
	reps := make([]*report, len(cs.list))
	for i, c := range cs.list {
		reps[i] = c.rep
	}
	return reps, nil
}

// kill ends every child that is still running and waits for them. It is
// safe after finish.
func (cs *children) kill() {
	if cs.set != nil {
		cs.set.Kill()
	}
}
