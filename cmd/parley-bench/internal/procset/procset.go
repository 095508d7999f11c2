// Package procset runs parley-bench's helper processes: the follower
// processes of fanout mode and the member processes of group mode. It
// starts them, sends each its first line, turns their stdout into one
// stream of lines ("word arg") for the coordinator, and ends them. What the
// lines mean is the caller's.
package procset

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Line is a line from a process's stdout, or the end of it (Word "").
type Line struct {
	Proc      int // the process's index
	Word, Arg string
	Err       error // with Word "": why the stdout ended, if not at EOF
}

// Set is a group of helper processes.
type Set struct {
	what  string // "member process", in errors
	procs []*proc
	lines chan Line
	wg    sync.WaitGroup // the stdout readers
}

type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited bool // its stdout ended
}

// Start starts one process per first line, each made by newCmd with its
// stderr going to stderr, and writes it that line. what names a process
// in errors ("member process"). On error the Set holds the processes
// started so far, for Kill.
func Start(ctx context.Context, what string, newCmd func(context.Context) *exec.Cmd, first [][]byte, stderr io.Writer) (*Set, error) {
	s := &Set{what: what, lines: make(chan Line, 64)}
	for i, line := range first {
		cmd := newCmd(ctx)
		cmd.Stderr = stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return s, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return s, err
		}
		if err := cmd.Start(); err != nil {
			return s, fmt.Errorf("starting %s %d: %w", what, i, err)
		}
		s.procs = append(s.procs, &proc{cmd: cmd, stdin: stdin})
		s.wg.Go(func() { s.read(i, stdout) })
		if _, err := stdin.Write(append(line, '\n')); err != nil {
			return s, fmt.Errorf("sending %s %d its setup: %w", what, i, err)
		}
	}
	return s, nil
}

// read turns a process's stdout into lines.
func (s *Set) read(i int, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<30) // a result line holds every arrival time
	for sc.Scan() {
		word, arg, _ := strings.Cut(sc.Text(), " ")
		s.lines <- Line{Proc: i, Word: word, Arg: arg}
	}
	s.lines <- Line{Proc: i, Err: sc.Err()}
}

// Len is the number of processes.
func (s *Set) Len() int { return len(s.procs) }

// Tell writes a line to process i.
func (s *Set) Tell(i int, line string) error {
	if _, err := io.WriteString(s.procs[i].stdin, line+"\n"); err != nil {
		return fmt.Errorf("telling %s %d %q: %w", s.what, i, line, err)
	}
	return nil
}

// Wait passes lines to handle until done reports true, the deadline passes
// (zero: none), handle fails or ctx ends; a value on wake (nil: never)
// only makes it look at done again. It reports whether done.
func (s *Set) Wait(ctx context.Context, deadline time.Time, wake <-chan struct{}, handle func(Line) error, done func() bool) (bool, error) {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	for !done() {
		select {
		case l := <-s.lines:
			if l.Word == "" {
				s.procs[l.Proc].exited = true
			}
			if err := handle(l); err != nil {
				return false, err
			}
		case <-wake:
		case <-expired:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return true, nil
}

// Finish closes every process's stdin, which ends its run, passes lines
// to handle until every stdout has ended, and waits for the processes.
func (s *Set) Finish(ctx context.Context, handle func(Line) error) error {
	for _, p := range s.procs {
		p.stdin.Close()
	}
	if _, err := s.Wait(ctx, time.Time{}, nil, handle, func() bool {
		for _, p := range s.procs {
			if !p.exited {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	for i, p := range s.procs {
		if err := p.cmd.Wait(); err != nil {
			return fmt.Errorf("%s %d: %w", s.what, i, err)
		}
	}
	return nil
}

// Kill ends every process still running and waits for them. It is safe
// after Finish.
func (s *Set) Kill() {
	for _, p := range s.procs {
		if p.cmd.ProcessState == nil {
			p.stdin.Close()
			p.cmd.Process.Kill()
		}
	}
	go func() { // let the readers finish
		for range s.lines {
		}
	}()
	s.wg.Wait()
	close(s.lines)
	for _, p := range s.procs {
		if p.cmd.ProcessState == nil {
			p.cmd.Wait()
		}
	}
}
