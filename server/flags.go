package server

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"golang.org/x/crypto/acme/autocert"
)

// Flags is what cmd/parleyd reads from its command line and environment.
type Flags struct {
	Listen string
	Config Config
}

// ErrHelp is what ParseFlags returns for -h or -help: the caller prints
// Usage and exits with success.
var ErrHelp = flag.ErrHelp

// usageHead is the top of `parleyd -h`: the commands, then the flags.
const usageHead = `Usage: parleyd [flags]                    run the server
       parleyd invite [-data DIR]        print a single-use invite code
       parleyd admin [-server URL] ...   moderate channels (parleyd admin -h)

Each flag can also be set by the PARLEY_* variable named beside it.
`

// Usage writes parleyd's usage: its commands and flags, with the defaults
// getenv gives them.
func Usage(w io.Writer, getenv func(string) string) {
	fs, _, err := newFlagSet(getenv)
	if err != nil {
		fs = flag.NewFlagSet("parleyd", flag.ContinueOnError)
	}
	fmt.Fprint(w, usageHead)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// ParseFlags reads parleyd's flags from args, each defaulting to its
// PARLEY_* environment variable, then to the zero-config defaults:
// 127.0.0.1:8080 and ./parley-data. It prints nothing: -h is ErrHelp, and
// a bad flag an error that says to run parleyd -h.
func ParseFlags(args []string, getenv func(string) string) (*Flags, error) {
	fs, pf, err := newFlagSet(getenv)
	if err != nil {
		return nil, err
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil, ErrHelp
	} else if err != nil {
		return nil, fmt.Errorf("%w\n  → run `parleyd -h` for the flags", err)
	}
	return pf.finish()
}

// parsed is what newFlagSet's flags fill in, for finish.
type parsed struct {
	f                              Flags
	cert, key, acmeHost, acmeCache string
}

func newFlagSet(getenv func(string) string) (*flag.FlagSet, *parsed, error) {
	fs := flag.NewFlagSet("parleyd", flag.ContinueOnError)
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	pf := &parsed{}
	f, cert, key, acmeHost, acmeCache := &pf.f, &pf.cert, &pf.key, &pf.acmeHost, &pf.acmeCache
	fs.StringVar(&f.Listen, "listen", env("PARLEY_LISTEN", "127.0.0.1:8080"), "address to listen on (PARLEY_LISTEN)")
	fs.StringVar(&f.Config.DataDir, "data", env("PARLEY_DATA", "parley-data"), "data directory (PARLEY_DATA)")
	fs.StringVar(&f.Config.PublicURL, "public-url", env("PARLEY_PUBLIC_URL", ""), "the URL clients and browsers reach the server at, for the links in channel pages and feeds (PARLEY_PUBLIC_URL)")
	fs.StringVar(cert, "tls-cert", env("PARLEY_TLS_CERT", ""), "TLS certificate file (PARLEY_TLS_CERT)")
	fs.StringVar(key, "tls-key", env("PARLEY_TLS_KEY", ""), "TLS key file (PARLEY_TLS_KEY)")
	fs.StringVar(acmeHost, "acme-host", env("PARLEY_ACME_HOST", ""), "get a certificate by ACME for this host name (PARLEY_ACME_HOST)")
	fs.StringVar(acmeCache, "acme-cache", env("PARLEY_ACME_CACHE", ""), "ACME certificate cache (default DATA/acme) (PARLEY_ACME_CACHE)")
	rate, err := strconv.ParseFloat(env("PARLEY_REGISTER_RATE", "0"), 64)
	if err != nil {
		return nil, nil, fmt.Errorf("PARLEY_REGISTER_RATE: %w", err)
	}
	fs.Float64Var(&f.Config.RegisterRate, "register-rate", rate, "registrations and provisioning mailboxes per second per IP; 0 means 1/min (PARLEY_REGISTER_RATE)")
	members, err := strconv.Atoi(env("PARLEY_MAX_GROUP_MEMBERS", "1000"))
	if err != nil || members < 1 {
		return nil, nil, fmt.Errorf("PARLEY_MAX_GROUP_MEMBERS: want a positive integer, got %q", getenv("PARLEY_MAX_GROUP_MEMBERS"))
	}
	f.Config.MaxGroupMembers = members
	fs.Var(&positiveInt{&f.Config.MaxGroupMembers}, "max-group-members", "most accounts one send to many may name besides the sender's own (PARLEY_MAX_GROUP_MEMBERS)")
	fs.StringVar(&f.Config.AdminToken, "admin-token", env("PARLEY_ADMIN_TOKEN", ""), "enable the operator's API for this bearer token (PARLEY_ADMIN_TOKEN); see parleyd admin")
	fs.BoolVar(&f.Config.InviteOnly, "invite-only", env("PARLEY_INVITE_ONLY", "") == "1", "registration needs an invite code (PARLEY_INVITE_ONLY=1)")
	fs.StringVar(&f.Config.FFmpeg, "ffmpeg", env("PARLEY_FFMPEG", ""), "ffmpeg program that makes posters of videos posted without one; empty looks it up on PATH, off makes none (PARLEY_FFMPEG)")
	for _, sz := range []struct {
		name, envName, def, usage string
		p                         *int64
	}{
		{"max-upload", "PARLEY_MAX_UPLOAD", "2GiB", "largest media upload", &f.Config.MaxUpload},
		{"storage-quota", "PARLEY_STORAGE_QUOTA", "10GiB", "media stored per account", &f.Config.StorageQuota},
	} {
		n, err := parseSize(env(sz.envName, sz.def))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sz.envName, err)
		}
		*sz.p = n
		fs.Var(sizeFlag{sz.p}, sz.name, sz.usage+", a `size` in bytes or with a suffix KiB, MiB, GiB or TiB ("+sz.envName+")")
	}
	return fs, pf, nil
}

// finish checks the parsed flags together and builds the TLS set-up.
func (pf *parsed) finish() (*Flags, error) {
	f, cert, key, acmeHost, acmeCache := pf.f, pf.cert, pf.key, pf.acmeHost, pf.acmeCache
	switch {
	case acmeHost != "" && (cert != "" || key != ""):
		return nil, errors.New("use either -acme-host or -tls-cert/-tls-key, not both")
	case acmeHost != "":
		if acmeCache == "" {
			acmeCache = f.Config.DataDir + "/acme"
		}
		m := &autocert.Manager{Prompt: autocert.AcceptTOS, HostPolicy: autocert.HostWhitelist(acmeHost), Cache: autocert.DirCache(acmeCache)}
		f.Config.TLS = m.TLSConfig()
		if f.Config.PublicURL == "" {
			f.Config.PublicURL = "https://" + acmeHost
		}
	case cert != "" || key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("loading TLS certificate: %w", err)
		}
		f.Config.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	if f.Config.PublicURL != "" && !strings.HasPrefix(f.Config.PublicURL, "http") {
		return nil, errors.New("-public-url must start with http:// or https://")
	}
	return &f, nil
}

// positiveInt is a flag of an integer of at least 1.
type positiveInt struct{ p *int }

func (f *positiveInt) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f *positiveInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("%q: want a positive integer", s)
	}
	*f.p = n
	return nil
}

// sizeFlag is a flag of a size in bytes (see parseSize).
type sizeFlag struct{ p *int64 }

// String is the size as parseSize reads it, in the largest unit that
// divides it: 2GiB, not 2147483648.
func (f sizeFlag) String() string {
	if f.p == nil {
		return ""
	}
	n := *f.p
	units := []string{"TiB", "GiB", "MiB", "KiB"}
	for i, unit := range units {
		if m := int64(1) << (10 * (len(units) - i)); n >= m && n%m == 0 {
			return strconv.FormatInt(n/m, 10) + unit
		}
	}
	return strconv.FormatInt(n, 10)
}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err == nil {
		*f.p = n
	}
	return err
}

// parseSize reads a positive size in bytes: an integer, optionally
// followed by KiB, MiB, GiB or TiB.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if rest, ok := strings.CutSuffix(s, unit); ok {
			num, mult = rest, 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a positive integer, optionally with KiB, MiB, GiB or TiB", s)
	}
	return n * mult, nil
}
