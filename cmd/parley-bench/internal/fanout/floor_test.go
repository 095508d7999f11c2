package fanout

import (
	"io"
	"net"
	"os"
	"testing"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/procstat"
)

// BenchmarkLoopbackFloor is the least a fan-out can cost on this machine:
// a message the size of a 1 KiB post's Channel frame written to each of
// 1,000 loopback TCP connections by that connection's own goroutine, and
// read on the far side by another, as parleyd's sockets and the followers
// do, with no WebSocket, no contexts and nothing else. One op is one
// message; cpu-µs/msg is the CPU of both sides together (Linux only).
func BenchmarkLoopbackFloor(b *testing.B) {
	const conns, size = 1000, 1182
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	kick := make([]chan struct{}, conns)
	got := make(chan struct{}, conns)
	msg := make([]byte, size)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		defer s.Close()
		kick[i] = make(chan struct{}, 1)
		go func() { // the server's writer
			for range kick[i] {
				if _, err := s.Write(msg); err != nil {
					return
				}
			}
		}()
		go func() { // the follower's reader
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				got <- struct{}{}
			}
		}()
	}
	defer func() {
		for _, k := range kick {
			close(k)
		}
	}()
	cpu0, cpuErr := procstat.CPU(os.Getpid())
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(conns, b.N-sent)
		for i := range n {
			kick[i] <- struct{}{}
		}
		for range n {
			<-got
		}
		sent += n
	}
	b.StopTimer()
	if cpu1, err := procstat.CPU(os.Getpid()); err == nil && cpuErr == nil {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	}
}
