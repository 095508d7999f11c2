package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestClientMode runs client mode for two seconds with two pairs sending
// both ways through the SDK, against a real in-process server, and checks
// from the JSON report that every message sent was decrypted and stored
// by its recipient exactly once and answered with a delivery receipt.
func TestClientMode(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	dir := t.TempDir()
	stores := filepath.Join(dir, "tmp")
	if err := os.Mkdir(stores, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", stores) // where the clients' stores go
	jsonPath := filepath.Join(dir, "report.json")
	var out, errs bytes.Buffer
	args := []string{"-server", srv.URL, "-pairs", "2", "-duplex", "-size", "100", "-duration", "2s",
		"-drain", "10s", "-timeout", "60s", "-json", jsonPath, "client"}
	if err := run(context.Background(), args, &out, &errs); err != nil {
		t.Fatalf("parley-bench: %v\n%s%s", err, out.String(), errs.String())
	}
	t.Log(out.String())
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	c := rep.Client
	if c == nil || c.Result == nil {
		t.Fatalf("no client report in %s", b)
	}
	if c.Streams != 4 || c.First.Sent != 4 || c.First.Delivered != 4 || c.First.Lost != 0 {
		t.Errorf("%d streams, first messages %+v: want 4 streams whose first messages all arrived", c.Streams, c.First)
	}
	s := c.Steady
	if s.Sent == 0 || s.Delivered != s.Sent || s.Failed != 0 || s.Duplicates != 0 || s.Lost != 0 || c.Throughput == 0 {
		t.Errorf("steady messages %+v, throughput %g: want some, every one stored exactly once", s, c.Throughput)
	}
	if c.DecryptionFailures != 0 || c.Unexpected != 0 || len(c.Errors) != 0 || len(c.Warnings) != 0 {
		t.Errorf("%d decryption failures, %d unexpected messages, errors %v, SDK warnings %v",
			c.DecryptionFailures, c.Unexpected, c.Errors, c.Warnings)
	}
	if c.SendLatency.Count != s.Sent || c.EndToEndLatency.Count != s.Delivered || c.FirstEndToEndLatency.Count != 4 {
		t.Errorf("latency samples: send %d, end-to-end %d, first %d", c.SendLatency.Count, c.EndToEndLatency.Count, c.FirstEndToEndLatency.Count)
	}
	if want := s.Delivered + c.First.Delivered; c.Receipts != want {
		t.Errorf("senders saw delivery receipts for %d messages, want %d", c.Receipts, want)
	}
	if left, err := os.ReadDir(stores); err != nil || len(left) != 0 {
		t.Errorf("the clients' stores were not removed: %v %v", left, err)
	}
	if t.Failed() {
		t.Log(errs.String())
	}
}
