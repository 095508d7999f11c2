package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parley-chat/parley/client/transport"
)

const adminUsage = `usage: parleyd admin [-server URL] [-as NAME] COMMAND
  suspend HANDLE REASON...             suspend a channel (451 everywhere, followers told)
  restore HANDLE REASON...             lift a suspension
  takedown HANDLE RECORD-ID REASON...  hide one record (its ID in hex)
  restore-post HANDLE RECORD-ID REASON...
  reports                              list users' reports, newest first
  audit                                list the moderation log, newest first
The server must run with -admin-token; the same token goes in PARLEY_ADMIN_TOKEN here.`

// admin is the operator's command line for the API of spec/api.md §12.
func admin(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("parleyd admin", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), adminUsage) }
	server := fs.String("server", orDefault(getenv("PARLEY_SERVER"), "http://127.0.0.1:8080"), "the server's URL (PARLEY_SERVER)")
	as := fs.String("as", orDefault(getenv("USER"), "operator"), "your name, for the audit log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := getenv("PARLEY_ADMIN_TOKEN")
	if token == "" {
		return errors.New("set PARLEY_ADMIN_TOKEN to the server's -admin-token")
	}
	a := transport.New(*server, nil).Admin(token, *as)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New(adminUsage)
	}
	need := func(n int) error {
		if len(rest) < n+1 {
			return fmt.Errorf("%s needs more arguments\n%s", rest[0], adminUsage)
		}
		return nil
	}
	reason := func(from int) string { return strings.Join(rest[from:], " ") }
	record := func() ([]byte, error) {
		id, err := hex.DecodeString(rest[2])
		if err != nil || len(id) != 16 {
			return nil, fmt.Errorf("%q is not a record ID (32 hex digits)", rest[2])
		}
		return id, nil
	}
	switch rest[0] {
	case "suspend", "restore":
		if err := need(2); err != nil {
			return err
		}
		if rest[0] == "suspend" {
			return a.Suspend(ctx, strings.TrimPrefix(rest[1], "@"), reason(2))
		}
		return a.Restore(ctx, strings.TrimPrefix(rest[1], "@"), reason(2))
	case "takedown", "restore-post":
		if err := need(3); err != nil {
			return err
		}
		id, err := record()
		if err != nil {
			return err
		}
		if rest[0] == "takedown" {
			return a.TakeDown(ctx, strings.TrimPrefix(rest[1], "@"), id, reason(3))
		}
		return a.RestoreRecord(ctx, strings.TrimPrefix(rest[1], "@"), id, reason(3))
	case "reports":
		rs, err := a.Reports(ctx)
		for _, r := range rs {
			fmt.Fprintf(out, "%d  %s  @%s  %s  %s  %s\n", r.ID, time.UnixMilli(r.Created).UTC().Format(time.RFC3339), r.Channel, orDefault(r.RecordID, "-"), r.Category, r.Note)
		}
		return err
	case "audit":
		es, err := a.Audit(ctx)
		for _, e := range es {
			fmt.Fprintf(out, "%d  %s  %s  %s  @%s  %s  %s\n", e.ID, time.UnixMilli(e.Time).UTC().Format(time.RFC3339), e.Admin, e.Action, e.Channel, orDefault(e.RecordID, "-"), e.Reason)
		}
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", rest[0], adminUsage)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
