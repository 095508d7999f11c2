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

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/termtext"
)

const adminUsage = `usage: parleyd admin [-server URL] [-as NAME] COMMAND
  suspend HANDLE REASON...             suspend a channel (451 everywhere, followers told)
  restore HANDLE REASON...             lift a suspension
  takedown HANDLE RECORD-ID REASON...  hide one record (its ID in hex)
  restore-post HANDLE RECORD-ID REASON...
  reports                              list users' reports, newest first
  audit                                list the moderation log, newest first
The server must run with -admin-token; the same token goes in PARLEY_ADMIN_TOKEN here.`

// adminError is a failed admin command: what went wrong, then what to
// do next, on two lines as the parley command prints its errors.
type adminError struct{ what, next string }

func (e *adminError) Error() string { return e.what + "\n  → " + e.next }

// usageError says what is missing and shows the command's own usage line.
func usageError(what string) error {
	return &adminError{what: what, next: "run `parleyd admin -h` for the commands and their arguments"}
}

// admin is the operator's command line for the API of spec/api.md §12.
func admin(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("parleyd admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // its errors are returned, and printed once
	server := fs.String("server", orDefault(getenv("PARLEY_SERVER"), "http://127.0.0.1:8080"), "the server's URL (PARLEY_SERVER)")
	as := fs.String("as", orDefault(getenv("USER"), "operator"), "your name, for the audit log")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(out, adminUsage)
		return nil
	} else if err != nil {
		return usageError(err.Error())
	}
	token := getenv("PARLEY_ADMIN_TOKEN")
	if token == "" {
		return &adminError{what: "PARLEY_ADMIN_TOKEN is not set", next: "set it to the token the server was started with (-admin-token)"}
	}
	a := transport.New(*server, nil).Admin(token, *as)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rest := fs.Args()
	if len(rest) == 0 {
		return usageError("no command given")
	}
	need := func(n int, what string) error {
		if len(rest) < n+1 {
			return usageError(fmt.Sprintf("%s needs %s", rest[0], what))
		}
		return nil
	}
	handle := func() string { return strings.TrimPrefix(rest[1], "@") }
	reason := func(from int) string { return strings.Join(rest[from:], " ") }
	record := func() ([]byte, error) {
		id, err := hex.DecodeString(rest[2])
		if err != nil || len(id) != 16 {
			return nil, &adminError{what: fmt.Sprintf("%q is not a record ID", rest[2]), next: "give the record's ID as 32 hex digits"}
		}
		return id, nil
	}
	fail := func(err error, thing string) error { return serverError(err, *server, thing) }
	switch rest[0] {
	case "suspend", "restore":
		if err := need(2, "a channel's handle and a reason"); err != nil {
			return err
		}
		act := a.Restore
		if rest[0] == "suspend" {
			act = a.Suspend
		}
		return fail(act(ctx, handle(), reason(2)), "channel @"+handle())
	case "takedown", "restore-post":
		if err := need(3, "a channel's handle, a record ID and a reason"); err != nil {
			return err
		}
		id, err := record()
		if err != nil {
			return err
		}
		act := a.RestoreRecord
		if rest[0] == "takedown" {
			act = a.TakeDown
		}
		return fail(act(ctx, handle(), id, reason(3)), "record "+rest[2]+" in @"+handle())
	case "reports":
		rs, err := a.Reports(ctx)
		for _, r := range rs {
			fmt.Fprintf(out, "%d  %s  @%s  %s  %s  %s\n", r.ID, time.UnixMilli(r.Created).UTC().Format(time.RFC3339),
				termtext.Line(r.Channel), termtext.Line(orDefault(r.RecordID, "-")), termtext.Line(r.Category), termtext.Line(r.Note))
		}
		return fail(err, "")
	case "audit":
		es, err := a.Audit(ctx)
		for _, e := range es {
			fmt.Fprintf(out, "%d  %s  %s  %s  @%s  %s  %s\n", e.ID, time.UnixMilli(e.Time).UTC().Format(time.RFC3339),
				termtext.Line(e.Admin), termtext.Line(e.Action), termtext.Line(e.Channel), termtext.Line(orDefault(e.RecordID, "-")), termtext.Line(e.Reason))
		}
		return fail(err, "")
	}
	return usageError(fmt.Sprintf("there is no command %q", rest[0]))
}

// serverError turns a failed call into what went wrong and what to do:
// the server's answer once, with its code, or that it cannot be reached.
// thing names what the command acted on, for a not_found answer.
func serverError(err error, server, thing string) error {
	var ae *api.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		msg := strings.TrimSuffix(ae.Message, ".")
		if msg != "" {
			msg = strings.ToLower(msg[:1]) + msg[1:]
		}
		e := &adminError{what: termtext.Line(fmt.Sprintf("the server refused: %s (%s)", msg, ae.Code)),
			next: "try again; if it keeps failing, look at the server's log"}
		switch ae.Code {
		case api.CodeUnauthorized:
			e.next = "set PARLEY_ADMIN_TOKEN to the token the server was started with (-admin-token)"
		case api.CodeNotFound:
			if thing != "" {
				e.what = fmt.Sprintf("the server has no %s (%s)", thing, ae.Code)
			}
			e.next = "check the handle (and the record ID) against the channel's page or the reports"
		}
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return &adminError{what: "the server at " + server + " did not answer in time", next: "try again; if it keeps failing, look at the server's log"}
	}
	return &adminError{what: "cannot reach the server at " + server, next: "check that parleyd runs there, or pass -server URL (PARLEY_SERVER)"}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
