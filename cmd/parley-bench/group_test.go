package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/groupbench"
	"github.com/parley-chat/parley/parleytest"
)

// TestGroupMode runs group mode end to end against parleyd in its own
// process: a group of 6 accounts, 5 of them in one member process (a
// built parley-bench: the test binary cannot stand in for it), 2 sample
// senders, and the group made by a create and two adds.
// Every message must reach every member, every receipt come back, the
// warm send be one request, the probed send store one body, and the
// removal reach every remaining member.
func TestGroupMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd and parley-bench")
	}
	dir := t.TempDir()
	parleyd := parleytest.BuildBinary(t, "../parleyd", "parleyd")
	bench := parleytest.BuildBinary(t, ".", "parley-bench")
	addr := parleytest.FreeAddr(t)
	data := filepath.Join(dir, "data")
	srv := exec.Command(parleyd, "-data", data, "-listen", addr, "-register-rate", "1000000", "-max-group-members", "10")
	srvLog := &bytes.Buffer{}
	srv.Stderr = srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		if t.Failed() {
			t.Logf("parleyd:\n%s", srvLog)
		}
	})
	if !parleytest.WaitReady("http://" + addr) {
		t.Fatal("parleyd did not become ready")
	}
	stores := filepath.Join(dir, "tmp")
	if err := os.Mkdir(stores, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", stores) // where the clients' stores go, the member process's too
	jsonPath := filepath.Join(dir, "report.json")
	args := []string{"-server", "http://" + addr, "-server-pid", strconv.Itoa(srv.Process.Pid),
		"-server-data", data, "-member-binary", bench, "-members", "6", "-procs", "1", "-senders", "2", "-record-members", "2",
		"-messages", "2", "-size", "100", "-drain", "30s", "-timeout", "60s", "-json", jsonPath, "group"}
	var out, errs bytes.Buffer
	if err := run(context.Background(), args, &out, &errs); err != nil {
		t.Fatalf("parley-bench: %v\n%s%s", err, out.String(), errs.String())
	}
	t.Log(out.String())
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep GroupReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	g := rep.Group
	if g == nil {
		t.Fatalf("no group report in %s", b)
	}
	checkGroupReport(t, g)
	if left, err := os.ReadDir(stores); err != nil || len(left) != 0 {
		t.Errorf("the clients' stores were not removed: %v %v", left, err)
	}
	if t.Failed() {
		t.Log(errs.String())
	}
}

func checkGroupReport(t *testing.T, g *groupbench.Result) {
	t.Helper()
	if g.Members != 6 || g.Procs != 1 || len(g.Incomplete) != 0 {
		t.Errorf("%d members in %d processes, incomplete steps %v; want 6 in 1, none", g.Members, g.Procs, g.Incomplete)
	}
	if c := g.Create; c.Err != "" || c.Reached.Count != 5 || c.Reached.Of != 5 || c.Requests.ByRoute["GET /v1/keys/{…}"] != 0 {
		t.Errorf("group creation %+v: want it applied by all 5 members, over the sessions the members began", c)
	}
	if g.CreateRecords != 3 {
		t.Errorf("the group was made by %d records, want 3 (a create and two adds of 2 members at most)", g.CreateRecords)
	}
	if g.SessionsSeconds <= 0 {
		t.Errorf("sessions took %gs", g.SessionsSeconds)
	}
	sends := []groupbench.SendResult{g.Cold}
	sends = append(sends, g.Warm...)
	if g.ProbeSend != nil {
		sends = append(sends, *g.ProbeSend)
	}
	sends = append(sends, g.FirstSends...)
	sends = append(sends, g.Rotations...)
	if len(g.Warm) != 2 || g.ProbeSend == nil || len(g.FirstSends) != 2 || len(g.Rotations) != 3 {
		t.Fatalf("%d warm sends, probed %v, %d first sends, %d rotations; want 2, yes, 2, 3",
			len(g.Warm), g.ProbeSend != nil, len(g.FirstSends), len(g.Rotations))
	}
	for _, s := range sends {
		want := 5
		if isRotation(g, s) {
			want = 4 // after the removal
		}
		switch {
		case s.Err != "" || s.Duration <= 0 || s.Requests.Count < 1 || s.Requests.PutBytes <= 0 || s.Requests.PutRTT <= 0:
			t.Errorf("send %s: %+v: want no error, a duration, a PUT", s.Tag, s.SendStat)
		case s.Recipients != want || s.Stored.Count != want || s.Stored.Of != want || !s.Receipts:
			t.Errorf("send %s: %d recipients, stored by %d of %d, all receipts %v; want %d, all", s.Tag,
				s.Recipients, s.Stored.Count, s.Stored.Of, s.Receipts, want)
		case s.Requests.ByRoute["GET /v1/keys/{…}"] != 0:
			t.Errorf("send %s fetched bundles: %v", s.Tag, s.Requests.ByRoute)
		case s.Stored.P50 <= 0 || s.Stored.P50 > s.Stored.P99 || s.Stored.P99 > s.Stored.Max:
			t.Errorf("send %s: arrivals %+v out of order", s.Tag, s.Stored)
		}
	}
	for _, w := range g.Warm {
		if w.Requests.Count != 1 || w.Requests.ByRoute["PUT /v1/messages"] != 1 || w.CPU <= 0 {
			t.Errorf("warm send %s: requests %+v, CPU %s; want the one PUT, some CPU", w.Tag, w.Requests, w.CPU)
		}
	}
	if g.Cold.Requests.Count <= 1 {
		t.Errorf("cold send: %d requests; want the sender key's 1:1 sends too", g.Cold.Requests.Count)
	}
	if p := g.Probe; p == nil || !p.Store || p.Bodies != 1 || p.BodyBytes <= 0 || p.Rows < 1 || p.Rows > 5 ||
		p.RowContentBytes != 0 || p.EnqueueOps < 1 || p.EnqueueSeconds <= 0 || p.Err != "" {
		t.Errorf("probe %+v: want one body, up to 5 rows with no content of their own, an enqueue", p)
	}
	if g.Removed == "" || g.Remove.Err != "" || g.Remove.Reached.Count != 4 || g.Remove.Reached.Of != 4 {
		t.Errorf("removal of %q: %+v; want it applied by the 4 remaining members", g.Removed, g.Remove)
	}
	if e := g.Rotation; e.Measured != 3 || e.Remaining != 5 || e.MeanSeconds <= 0 || e.MaxSeconds < e.MeanSeconds ||
		e.SumSeconds != e.MeanSeconds*5 || e.Envelopes != 20 {
		t.Errorf("rotation estimate %+v", e)
	}
	if g.Duplicates != 0 || g.Unexpected != 0 || g.DecryptionFailures != 0 || g.RunErrors != 0 || len(g.Warnings) != 0 {
		t.Errorf("counts %+v: want nothing amiss", g.Counts)
	}
}

// isRotation reports whether s is one of the sends after the removal.
func isRotation(g *groupbench.Result, s groupbench.SendResult) bool {
	for _, r := range g.Rotations {
		if r.Tag == s.Tag {
			return true
		}
	}
	return false
}
