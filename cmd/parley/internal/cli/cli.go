// Package cli implements the parley command: one subcommand per file,
// parsed with kong. It drives the SDK (client/) and, for `parley chat`,
// the terminal UI (../tui).
//
// Output rules, for every command:
//
//  1. Results go to stdout as plain text, one item per line, in a stable
//     order, so they can be piped: a message is "time  sender: text", a
//     list entry starts with its name or ID.
//  2. Progress, prompts and notes go to stderr; nothing on stderr is
//     needed to use the result.
//  3. A command that succeeds with nothing to report prints nothing, or
//     one short confirmation line on stderr.
//  4. An error is two lines on stderr: "parley: " and what went wrong,
//     then "  → " and what to do next. The exit status is 1; a usage
//     error is 2.
//  5. Secrets are printed only when the user must copy them (the recovery
//     key, once, at init), never in errors or logs.
//  6. Text that anyone but the user chose (messages, usernames, channel
//     handles, titles and descriptions, file names and types, device
//     names, operators' reasons, the server's error messages) is printed
//     through safe or safeBody (internal/termtext): no control character
//     reaches the terminal, and bidirectional controls show as <U+XXXX>.
//
// State lives in one SQLite file, $PARLEY_HOME/parley.db (default: the
// user's config directory), sealed with the passphrase. The passphrase
// comes from $PARLEY_PASSPHRASE (for bots and scripts) or is asked at the
// terminal without echo.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/internal/termtext"
)

// Env is the process environment a command runs in.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Globals are the flags every command takes.
type Globals struct {
	Home string `help:"Directory of this device's store (default: $PARLEY_HOME, or parley in the user config directory)." type:"path"`
}

type commandLine struct {
	Globals

	Init     initCmd     `cmd:"" help:"Create an account on a server, with keys made on this device."`
	Recover  recoverCmd  `cmd:"" help:"Re-register your username on a new device with your recovery key."`
	Send     sendCmd     `cmd:"" help:"Send an end-to-end encrypted message."`
	Get      getCmd      `cmd:"" help:"Download and decrypt a file from a message."`
	Inbox    inboxCmd    `cmd:"" help:"Fetch new messages and show unread ones."`
	History  historyCmd  `cmd:"" help:"Show the newest messages with a contact, read or not, as this device holds them."`
	Chat     chatCmd     `cmd:"" help:"Open the terminal UI (on a conversation, if given)."`
	Verify   verifyCmd   `cmd:"" help:"Show or confirm the safety number with a contact."`
	Devices  devicesCmd  `cmd:"" help:"List, link, approve or remove this account's devices."`
	Contacts contactsCmd `cmd:"" help:"List contacts and their verification state."`
	Whoami   whoamiCmd   `cmd:"" help:"Show this device's account, device and server."`
	Channel  channelCmd  `cmd:"" help:"Create, post to, follow and read public channels."`
	Group    groupCmd    `cmd:"" help:"Create and manage private groups (named +Title)."`
	Edit     editCmd     `cmd:"" help:"Edit a message you sent (within 24 hours)."`
	Delete   deleteCmd   `cmd:"" help:"Delete a message for everyone (yours, within 24 hours), for you, or a whole chat."`
	React    reactCmd    `cmd:"" help:"React to a message with an emoji, or withdraw your reaction."`
	Reply    replyCmd    `cmd:"" help:"Reply to a message, quoting it."`
	Forward  forwardCmd  `cmd:"" help:"Forward a message to another chat."`
	Timer    timerCmd    `cmd:"" help:"Show or set a chat's disappearing-message timer."`
	Search   searchCmd   `cmd:"" help:"Search this device's history for words."`
	Block    blockCmd    `cmd:"" help:"Block an account (and optionally report it), or list the blocked ones."`
	Unblock  unblockCmd  `cmd:"" help:"Unblock an account."`
	Requests requestsCmd `cmd:"" help:"List message requests: chats started by accounts you never wrote to."`
	Accept   acceptCmd   `cmd:"" help:"Accept a message request."`
	Backup   backupCmd   `cmd:"" help:"Back this device up to an encrypted file, or restore it from one."`
	Profile  profileCmd  `cmd:"" help:"Set or show display names, about lines and pictures."`
}

// run is the state a command gets.
type run struct {
	ctx context.Context
	env Env
	g   *Globals
}

// Main runs the parley command with args and returns the exit status.
func Main(ctx context.Context, args []string, env Env) int {
	var cl commandLine
	exit := -1
	parser, err := kong.New(&cl,
		kong.Name("parley"),
		kong.Description("Parley: end-to-end encrypted messaging from the terminal."),
		kong.Writers(env.Stdout, env.Stderr),
		kong.Exit(func(code int) { exit = code; panic(exitPanic{}) }),
	)
	if err != nil {
		fmt.Fprintln(env.Stderr, "parley:", err)
		return 2
	}
	kctx, code, done := parse(parser, args)
	if done {
		if exit >= 0 {
			return exit
		}
		return code
	}
	r := &run{ctx: ctx, env: env, g: &cl.Globals}
	if err := kctx.Run(r); err != nil {
		report(env.Stderr, err)
		return 1
	}
	return 0
}

type exitPanic struct{}

// parse parses args; done is true when kong already answered (help, or a
// usage error) and code is the exit status then.
func parse(p *kong.Kong, args []string) (kctx *kong.Context, code int, done bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitPanic); !ok {
				panic(r)
			}
			kctx, code, done = nil, 0, true
		}
	}()
	kctx, err := p.Parse(args)
	if err != nil {
		fmt.Fprintf(p.Stderr, "parley: %s\n  → run `parley --help` for the commands and their flags\n", err)
		return nil, 2, true
	}
	return kctx, 0, false
}

// userError is an error with advice on what to do next.
type userError struct {
	what, next string
}

func (e *userError) Error() string { return e.what }

func fail(next, format string, args ...any) error {
	return &userError{what: fmt.Sprintf(format, args...), next: next}
}

// report writes err by rule 4, turning known errors into advice.
func report(w io.Writer, err error) {
	what, next := err.Error(), ""
	var ue *userError
	var ae *api.Error
	var ce *client.ChannelError
	var urlErr *url.Error
	switch {
	case errors.As(err, &ue):
		what, next = ue.what, ue.next
	case errors.Is(err, client.ErrWrongPassphrase):
		what, next = "wrong passphrase", "try again, or set PARLEY_PASSPHRASE to the passphrase you chose at `parley init`"
	case errors.Is(err, client.ErrNoAccount):
		what, next = "no account on this device", "create one with `parley init --server URL --name NAME`, or link this device with `parley devices link --server URL`"
	case errors.Is(err, client.ErrExists):
		what, next = "this device already has an account", "use another --home directory for a second account"
	case errors.Is(err, client.ErrIdentityNotVerified): // commands that know the contact say so (sendError)
		what, next = "the safety number with this contact changed since you verified it; nothing was sent", "compare the new number with `parley verify` and the contact's name, then confirm it with --confirm"
	case errors.Is(err, client.ErrVerificationNotSynced):
		what, next = "the mark is set on this device, but your other devices could not be told", "run the same command again when the server is reachable"
	case errors.Is(err, client.ErrBackupKey):
		what, next = "the backup key does not open this backup", "check the 30 digits shown when the backup was made; each backup has its own key"
	case errors.Is(err, client.ErrBackupKeyFormat):
		what, next = "a backup key is 30 digits", "type the key as shown when the backup was made (spaces are fine)"
	case errors.Is(err, client.ErrBackupCorrupt):
		what, next = "the backup is damaged, cut short or altered; nothing was restored", "restore from another copy of the backup file"
	case errors.Is(err, client.ErrNotBackup):
		what, next = "this file is not a Parley backup", "give the file `parley backup create` wrote"
	case errors.Is(err, client.ErrBackupVersion):
		what, next = "the backup was made by a newer version of Parley", "restore it with that version or a later one"
	case errors.Is(err, client.ErrNoSuchUser):
		what, next = "no such user on this server", "check the spelling of the username"
	case errors.Is(err, client.ErrForgedRecord):
		what, next = err.Error(), "the server (or someone between you and it) altered the channel; do not trust what it serves for it"
	case errors.Is(err, client.ErrChannelFork):
		what, next = err.Error(), "ask the channel's owner which is theirs; `parley channel fork` with the channel's handle shows both records, and with `--resolve` takes the server's chain again"
	case errors.Is(err, client.ErrChannelSuspended):
		what, next = err.Error(), "the server's operator suspended this channel; nothing can be done from here"
	case errors.As(err, &ce) && errors.Is(err, client.ErrNotFollowing):
		what, next = fmt.Sprintf("you do not follow @%s", ce.Channel), fmt.Sprintf("follow it first: parley channel follow @%s", ce.Channel)
	case errors.As(err, &ce) && errors.Is(err, client.ErrNotAdmin):
		what, next = fmt.Sprintf("@%s is not an admin of @%s", ce.User, ce.Channel), fmt.Sprintf("see who is with `parley channel admin @%s`", ce.Channel)
	case errors.Is(err, client.ErrUnknownContact):
		what, next = "you have not exchanged messages with this user yet", "send them a message first"
	case errors.As(err, &ae):
		what = fmt.Sprintf("the server refused: %s (%s)", lowerFirst(strings.TrimSuffix(ae.Message, ".")), ae.Code)
		switch ae.Code {
		case api.CodeUsernameTaken:
			next = "choose another --name"
		case api.CodeUnauthorized:
			next = "this device may have been removed; link it again with `parley devices link`"
		case api.CodeRateLimited:
			next = "wait a minute and try again"
		case api.CodeForbidden:
			next = "this account may not do that; for a channel, ask its owner to make you an admin"
		case api.CodeQuotaExceeded:
			next = "delete channel posts whose media you no longer need (`parley channel delete`), or ask the server's operator for a larger quota"
		default:
			next = "try again; if it keeps failing, ask the server's operator"
		}
	case errors.As(err, &urlErr):
		what, next = unreachable(urlErr), "check that the server is running and reachable, and the --server URL"
	default:
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) || strings.Contains(what, "connection refused") {
			next = "check that the server is running and reachable, and the --server URL"
		} else {
			next = "try again; if it keeps failing, report it with the command you ran"
		}
	}
	fmt.Fprintf(w, "parley: %s\n", safe(what))
	if next != "" {
		fmt.Fprintf(w, "  → %s\n", safe(next))
	}
}

// unreachable words a request that never got an answer: the server's
// URL and the network's reason, not Go's `Post "URL": dial tcp ...`.
func unreachable(ue *url.Error) string {
	base := "the server"
	if u, err := url.Parse(ue.URL); err == nil && u.Host != "" {
		base += " at " + u.Scheme + "://" + u.Host
	}
	cause := ue.Err
	var oe *net.OpError
	if errors.As(cause, &oe) && oe.Err != nil {
		cause = oe.Err
	}
	return fmt.Sprintf("cannot reach %s: %v", base, cause)
}

// lowerFirst lowercases a sentence's first letter, so that the server's
// "Missing ..." reads as part of parley's line; an acronym ("URL ...")
// stays as it is.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	if r2, _ := utf8.DecodeRuneInString(s[n:]); unicode.IsUpper(r2) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// home is the device's state directory.
func (r *run) home() (string, error) {
	if r.g.Home != "" {
		return r.g.Home, nil
	}
	if h := r.env.Getenv("PARLEY_HOME"); h != "" {
		return h, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fail("set PARLEY_HOME or pass --home", "cannot find a config directory: %v", err)
	}
	return filepath.Join(dir, "parley"), nil
}

func (r *run) storePath() (string, error) {
	h, err := r.home()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(h, 0o700); err != nil {
		return "", fail("pass a writable --home", "cannot create %s: %v", h, err)
	}
	return filepath.Join(h, "parley.db"), nil
}

// passphrase reads $PARLEY_PASSPHRASE, or asks at the terminal (twice
// when confirm is set).
func (r *run) passphrase(confirm bool) ([]byte, error) {
	if p := r.env.Getenv("PARLEY_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	f, ok := r.env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fail("set PARLEY_PASSPHRASE, or run parley in a terminal", "no passphrase: PARLEY_PASSPHRASE is not set and stdin is not a terminal")
	}
	fmt.Fprint(r.env.Stderr, "Passphrase: ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(r.env.Stderr)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, fail("choose a passphrase that protects this device's keys", "the passphrase is empty")
	}
	if confirm {
		fmt.Fprint(r.env.Stderr, "Again: ")
		q, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(r.env.Stderr)
		if err != nil {
			return nil, err
		}
		if string(p) != string(q) {
			return nil, fail("run the command again", "the passphrases differ")
		}
	}
	return p, nil
}

// newConfig opens the store for a new account (it must hold none).
func (r *run) newConfig(events func(client.Event)) (client.Config, error) {
	path, err := r.storePath()
	if err != nil {
		return client.Config{}, err
	}
	if _, err := os.Stat(path); err == nil {
		return client.Config{}, client.ErrExists
	}
	pass, err := r.passphrase(true)
	if err != nil {
		return client.Config{}, err
	}
	st, err := sqlitestore.Open(r.ctx, path)
	if err != nil {
		return client.Config{}, err
	}
	dir, err := r.attachmentDir()
	if err != nil {
		st.Close()
		return client.Config{}, err
	}
	return client.Config{Store: st, Passphrase: pass, Events: events, AttachmentDir: dir}, nil
}

// attachmentDir holds the attachments a restored backup brought.
func (r *run) attachmentDir() (string, error) {
	h, err := r.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, "attachments"), nil
}

// open opens this device's account.
func (r *run) open(events func(client.Event)) (*client.Client, error) {
	path, err := r.storePath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, client.ErrNoAccount
	}
	pass, err := r.passphrase(false)
	if err != nil {
		return nil, err
	}
	st, err := sqlitestore.Open(r.ctx, path)
	if err != nil {
		return nil, err
	}
	dir, err := r.attachmentDir()
	if err != nil {
		st.Close()
		return nil, err
	}
	c, err := client.Open(r.ctx, client.Config{Store: st, Passphrase: pass, Events: events, AttachmentDir: dir})
	if err != nil {
		st.Close()
		return nil, err
	}
	return c, nil
}

func (r *run) outf(format string, args ...any) { fmt.Fprintf(r.env.Stdout, format, args...) }
func (r *run) errf(format string, args ...any) { fmt.Fprintf(r.env.Stderr, format, args...) }

// safe makes one line of text a remote party chose safe to print (rule 6).
func safe(s string) string { return termtext.Line(s) }

// safeBody is safe for a message or a post, which may span lines: each
// later line is indented under the first, so none passes for a line of
// parley's own output.
func safeBody(s string) string { return termtext.Block(s, "    ") }

// username strips one leading @.
func username(s string) string { return strings.TrimPrefix(s, "@") }
