// Package server is parleyd as a library: New builds a server from a
// Config, Serve runs it on a listener, Shutdown stops it gracefully. The
// command in cmd/parleyd only turns flags into a Config; tests and other
// programs embed the server the same way.
//
// The server moves end-to-end encrypted envelopes between devices. It
// stores public keys, credential hashes and ciphertext, and never sees a
// plaintext or a private key.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/httpapi"
	"github.com/parley-chat/parley/server/store"
	"github.com/parley-chat/parley/server/store/sqlite"
)

// Config configures a server. The zero value, with DataDir set, is a
// working single-node server.
type Config struct {
	// DataDir holds the SQLite database. Ignored when Store is set.
	DataDir string
	// Store, if set, is used instead of opening SQLite in DataDir; the
	// caller keeps ownership and closes it after Shutdown.
	Store store.Store
	// PublicURL is the URL clients use, for logs and links.
	PublicURL string
	// TLS, if set, makes Serve speak HTTPS.
	TLS *tls.Config
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger

	MaxDevices int // devices per account (default 6)
	MaxQueue   int // envelopes queued per device (default 50,000)
	// MaxQueueBytes, SenderQueue, SenderQueueBytes, SendRate and SendBurst
	// are the per-device byte bound, one sender's share of a device queue
	// and the per-account send rate in bytes per second with its burst
	// (spec/api.md §6.4, §2.3); 0 takes httpapi's defaults.
	MaxQueueBytes    int64
	SenderQueue      int
	SenderQueueBytes int64
	SendRate         float64
	SendBurst        int
	QueueTTL         time.Duration // how long an envelope waits (default 30 days)
	InviteOnly       bool          // registration needs an invite code
	RegisterRate     float64       // registrations per second per IP (default 1/min)
	PingInterval     time.Duration // WebSocket keepalive (default 30 s)
	WriteTimeout     time.Duration // a WebSocket write may block this long before the consumer is cut (default 15 s)
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (default 10 s), against slowloris.
	ReadHeaderTimeout time.Duration
	// AdminToken enables the operator's API (spec/api.md §12) for
	// requests that bear it; empty disables the API.
	AdminToken string
	// Blobs, if set, holds media instead of local files in DataDir/blobs;
	// the caller keeps ownership. With neither, media requests get 503.
	Blobs        blob.Store
	MaxUpload    int64 // bytes per uploaded blob (default 2 GiB)
	StorageQuota int64 // bytes of media per account (default 10 GiB)
	// FFmpeg makes posters of videos posted without one (spec/api.md
	// §10.6): "" looks ffmpeg up on PATH at startup, FFmpegOff turns
	// posters off, and anything else is the program's path. Without
	// ffmpeg the server makes none and works as before.
	FFmpeg string
	// MaxGroupMembers bounds the accounts one send to many may name
	// besides the sender's own (spec/api.md §6.6); 0 means 1000.
	MaxGroupMembers int
}

// Server is a running parleyd.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     store.Store
	ownsStore bool
	api       *httpapi.Handler
	pushTo    atomic.Pointer[httpapi.Handler] // the store's commit hook target
	http      *http.Server
	registry  *prometheus.Registry

	mu          sync.Mutex // guards ready
	ready       bool
	stopOnce    sync.Once
	stopJanitor chan struct{}
	janitorDone chan struct{}
}

// New opens the store and builds the server; it does not listen yet.
func New(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, store: cfg.Store, registry: prometheus.NewRegistry(),
		stopJanitor: make(chan struct{}), janitorDone: make(chan struct{})}
	blobs, err := openBlobs(cfg)
	if err != nil {
		return nil, err
	}
	ffmpeg, err := findFFmpeg(cfg.FFmpeg, log)
	if err != nil {
		return nil, err
	}
	if s.store == nil {
		if cfg.DataDir == "" {
			return nil, errors.New("server: Config needs DataDir or Store")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: data dir: %w", err)
		}
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "parley.db"), sqlite.Options{Logger: log,
			OnEnqueue: func(envs []store.Envelope) {
				if h := s.pushTo.Load(); h != nil {
					h.OnEnqueue(envs)
				}
			}})
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.store, s.ownsStore = st, true
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_queued_envelopes", Help: "Envelopes queued for all devices, read from the store at scrape time.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := s.store.QueuedTotal(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		}))
	s.api = httpapi.New(httpapi.Options{
		Store: s.store, Logger: log, Metrics: httpapi.NewMetrics(s.registry),
		MaxDevices: cfg.MaxDevices, MaxQueue: cfg.MaxQueue, QueueTTL: cfg.QueueTTL,
		MaxQueueBytes: cfg.MaxQueueBytes, SenderQueue: cfg.SenderQueue, SenderQueueBytes: cfg.SenderQueueBytes, SendRate: cfg.SendRate, SendBurst: cfg.SendBurst,
		InviteOnly: cfg.InviteOnly, RegisterRate: cfg.RegisterRate, PingInterval: cfg.PingInterval, WriteTimeout: cfg.WriteTimeout,
		AdminToken: cfg.AdminToken, PublicURL: cfg.PublicURL, FFmpeg: ffmpeg,
		Blobs: blobs, MaxUpload: cfg.MaxUpload, StorageQuota: cfg.StorageQuota,
		MaxGroupMembers: cfg.MaxGroupMembers,
	})
	s.pushTo.Store(s.api)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.Handle("/", s.api)
	// Timeouts against slow clients (slowloris): headers must arrive in
	// 10 s and a request body in 60 s. WriteTimeout stays 0 because the
	// WebSocket is long-lived; the API sets its own write deadlines.
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	s.http = &http.Server{
		Handler:           limitBodies(mux, 8<<20),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		TLSConfig:         cfg.TLS,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.http.RegisterOnShutdown(s.api.StopUploads)
	go s.janitor()
	return s, nil
}

// Handler returns the server's HTTP handler (for tests that use httptest).
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Serve answers requests on ln until Shutdown; it returns nil after a
// graceful shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.http.BaseContext = func(net.Listener) context.Context { return ctx }
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	url := s.cfg.PublicURL
	if url == "" {
		scheme := "http"
		if s.cfg.TLS != nil {
			scheme = "https"
		}
		url = scheme + "://" + ln.Addr().String()
	}
	s.log.Info("parleyd serving", slog.String("url", url))
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if !ready {
		http.Error(w, "shutting down\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Shutdown stops accepting connections, closes device WebSockets, waits
// for requests in flight (until ctx ends), stops background work and
// closes the store if the server opened it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.ready = false
	s.mu.Unlock()
	s.api.Hub().CloseAll()
	err := s.http.Shutdown(ctx)
	// Hijacked WebSockets are not tracked by http.Server: close them and
	// wait for their handlers, including any that connected meanwhile.
	if derr := s.api.Drain(ctx); derr != nil && err == nil {
		err = derr
	}
	s.stopOnce.Do(func() { close(s.stopJanitor) })
	<-s.janitorDone
	s.api.StopPosters()
	if s.ownsStore {
		if cerr := s.store.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// janitor deletes expired envelopes, mailboxes, tokens and media every minute.
func (s *Server) janitor() {
	defer close(s.janitorDone)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stopJanitor:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			n, err := s.store.DeleteExpired(ctx, now)
			cancel()
			if err != nil {
				s.log.Warn("deleting expired data", slog.String("err", err.Error()))
			} else if n > 0 {
				s.log.Info("deleted expired envelopes", slog.Int("count", n))
			}
			s.sweepMedia(now)
		}
	}
}
