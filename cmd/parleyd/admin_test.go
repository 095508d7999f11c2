package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestAdminCommand suspends and restores a channel with `parleyd admin`
// and reads the audit log back.
func TestAdminCommand(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	req, _, err := parleytest.Registration("owner", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := transport.New(srv.URL, nil)
	creds, err := c.Register(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	r := &channel.Record{Channel: pub, Position: 1, Time: time.Now().UnixMilli(), Kind: channel.KindProfile, Title: "News"}
	rand.Read(r.ID[:])
	profile, _ := r.Sign(key)
	if _, err := c.As(creds).CreateChannel(ctx, api.CreateChannelRequest{Handle: "news", Profile: profile}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARLEY_ADMIN_TOKEN": "tok", "PARLEY_SERVER": srv.URL}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := admin([]string{"-as", "olga", "suspend", "@news", "court", "order"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Channel(ctx, "news"); err == nil || !strings.Contains(err.Error(), "court order") {
		t.Fatalf("after suspend: %v", err)
	}
	if err := admin([]string{"-as", "olga", "restore", "news", "appeal"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if err := admin([]string{"audit"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "olga  restore  @news  -  appeal") || !strings.Contains(lines[1], "suspend  @news  -  court order") {
		t.Fatalf("audit output:\n%s", out.String())
	}
	if err := admin([]string{"takedown", "news", "xyz", "r"}, getenv, &out); err == nil || !strings.Contains(err.Error(), "not a record ID") {
		t.Fatalf("bad record ID: %v", err)
	}
	env["PARLEY_ADMIN_TOKEN"] = "wrong"
	if err := admin([]string{"suspend", "news", "x"}, getenv, &out); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("wrong token: %v", err)
	}
}
