// Package httpapi serves parleyd's client API (spec/api.md): the JSON HTTP
// endpoints, the per-device WebSocket, and the hub that wakes a device's
// connection when an envelope is queued for it.
//
// It sees only public keys, credential hashes and end-to-end encrypted
// envelopes. It never logs a key, credential or envelope content.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/groups"
	"github.com/parley-chat/parley/server/profiles"
	"github.com/parley-chat/parley/server/reports"
	"github.com/parley-chat/parley/server/store"
	"github.com/parley-chat/parley/server/tickets"
)

// Log keys.
const (
	logKeyRoute    = "route"
	logKeyError    = "err"
	logKeyStatus   = "status"
	logKeyDuration = "duration"
)

// Options configures the API.
type Options struct {
	Store      store.Store
	Logger     *slog.Logger // nil discards
	Metrics    *Metrics     // nil makes unregistered metrics
	MaxDevices int          // per account; 0 means 6
	MaxQueue   int          // envelopes per device queue; 0 means 50,000
	// MaxQueueBytes bounds the content bytes queued per device; 0 means
	// DefaultMaxQueueBytes. SenderQueue and SenderQueueBytes bound one
	// sender account's share of another account's device queue; 0 means
	// DefaultSenderQueue and DefaultSenderQueueBytes (spec/api.md §6.4).
	MaxQueueBytes    int64
	SenderQueue      int
	SenderQueueBytes int64
	// SendRate is the bytes per second an account may store in queues
	// (content plus SendOverhead per envelope), with a burst of SendBurst;
	// 0 means DefaultSendRate and DefaultSendBurst.
	SendRate      float64
	SendBurst     int
	QueueTTL      time.Duration
	InviteOnly    bool
	RegisterRate  float64 // registrations per second per IP; 0 means 1/minute
	RegisterBurst int
	BundleRate    float64       // bundle fetches per second per account; 0 means 2
	BundleBurst   int           // 0 means 300
	PingInterval  time.Duration // WebSocket keepalive; 0 means 30 s
	WriteTimeout  time.Duration // a slow WebSocket consumer is cut after this; 0 means 15 s
	Now           func() time.Time
	// AdminToken enables the operator's API (spec/api.md §12); empty
	// disables it.
	AdminToken string
	// PublicURL is the server's URL as users reach it, for links in
	// public pages and feeds; empty means the URL each request came to.
	PublicURL string
	// Blobs holds media (spec/api.md §10); nil answers media requests 503.
	Blobs        blob.Store
	MaxUpload    int64 // bytes per blob; 0 means DefaultMaxUpload
	StorageQuota int64 // bytes per account; 0 means DefaultStorageQuota
	// FFmpeg is the ffmpeg program that makes posters of videos posted
	// without one (posters.go); empty makes none.
	FFmpeg string
	// MaxGroupMembers bounds the accounts one send to many may name
	// besides the sender's own (spec/api.md §6.6); 0 means
	// api.DefaultMaxGroupMembers.
	MaxGroupMembers int
}

// Handler serves the API.
type Handler struct {
	opts    Options
	store   store.Store
	log     *slog.Logger
	metrics *Metrics
	hub     *Hub
	limiter *keyLimiter // per IP: registration, provisioning
	fetches *keyLimiter // per account: bundle fetches
	oneTime *keyLimiter // per (requester, target) account: fetches that take one-time prekeys
	sends   *keyLimiter // per account: bytes stored in queues
	mux     *http.ServeMux
	sockets sync.WaitGroup // open WebSocket handlers
	dir     *directory

	followers followerCache // channel followers, for fan-out
	operator  operatorKeys  // signs takedown notices
	views     *keyLimiter   // per IP: channel view requests
	// profileReads is per account: GET /v1/profile/{username} (profiles.go)
	profileReads *keyLimiter
	viewed       *viewCounter // which views count (views.go)

	media   media       // uploads and blobs (media.go)
	posters posterMaker // posters of videos (posters.go)

	groups   *groups.Service   // sends to many and group links (groups.go)
	profiles *profiles.Service // encrypted profiles (profiles.go)
	// reportq is the operator's queue of user reports (reports.go).
	reportq *reports.Service
	tickets *tickets.Book // WebSocket tickets (tickets.go)
}

// Drain closes every device WebSocket and waits for their handlers to
// finish, so the store can be closed after it.
func (h *Handler) Drain(ctx context.Context) error {
	h.hub.CloseAll()
	done := make(chan struct{})
	go func() { h.sockets.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns the API handler.
func New(o Options) *Handler {
	if o.MaxDevices == 0 {
		o.MaxDevices = 6
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 50_000
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if o.SenderQueue == 0 {
		o.SenderQueue = DefaultSenderQueue
	}
	if o.SenderQueueBytes == 0 {
		o.SenderQueueBytes = DefaultSenderQueueBytes
	}
	if o.SendRate == 0 {
		o.SendRate = DefaultSendRate
	}
	if o.SendBurst == 0 {
		o.SendBurst = DefaultSendBurst
	}
	if o.QueueTTL == 0 {
		o.QueueTTL = 30 * 24 * time.Hour
	}
	if o.RegisterRate == 0 {
		o.RegisterRate = 1.0 / 60
	}
	if o.RegisterBurst == 0 {
		o.RegisterBurst = 5
	}
	if o.BundleRate == 0 {
		o.BundleRate = 2
	}
	if o.BundleBurst == 0 {
		o.BundleBurst = 300
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	h := &Handler{
		opts:    o,
		store:   &timedStore{Store: o.Store, m: m},
		log:     log,
		metrics: m,
		hub:     NewHub(),
		limiter: newKeyLimiter(o.RegisterRate, o.RegisterBurst),
		fetches: newKeyLimiter(o.BundleRate, o.BundleBurst),
		oneTime: newOneTimeLimiter(),
		sends:   newKeyLimiter(o.SendRate, o.SendBurst),
		mux:     http.NewServeMux(),
	}
	h.dir = newDirectory(h.store, 100_000)
	h.followers.m = map[int64][]int64{}
	h.views = newKeyLimiter(20, 200)
	h.profileReads = newKeyLimiter(profileReadRate, profileReadBurst)
	h.viewed = newViewCounter()
	h.groups = h.newGroups()
	h.reportq = reports.New(h.store, h.opts.Now)
	h.tickets = tickets.New()
	h.profiles = h.newProfiles()
	h.routes()
	return h
}

// OnEnqueue receives the envelopes the store has just committed, in commit
// order, and pushes them to connected devices so that their sockets need
// not read them back from the store. Wire it to the store's commit hook
// (sqlite.Options.OnEnqueue); without it, sockets read their queue on
// every wake.
func (h *Handler) OnEnqueue(envs []store.Envelope) { h.hub.pushEnvelopes(envs) }

// Hub returns the registry of connected devices.
func (h *Handler) Hub() *Hub { return h.hub }

func (h *Handler) routes() {
	h.handle("POST /v1/accounts", h.register)
	h.handle("POST /v1/accounts/recover", h.recoverAccount)
	h.handle("GET /v1/devices", h.auth(h.listDevices))
	h.handle("POST /v1/devices/link-tokens", h.auth(h.createLinkToken))
	h.handle("POST /v1/devices", h.linkDevice)
	h.handle("DELETE /v1/devices/{id}", h.auth(h.removeDevice))
	h.handle("PUT /v1/keys", h.auth(h.uploadKeys))
	h.handle("GET /v1/keys/count", h.auth(h.keyCounts))
	h.handle("GET /v1/keys/{username}", h.auth(h.fetchBundles))
	h.handle("PUT /v1/messages/{username}", h.auth(h.sendHTTP))
	h.handle("PUT /v1/messages", h.auth(h.sendManyHTTP))
	h.handle("PUT /v1/group-links/{id}", h.auth(h.putGroupLink))
	h.handle("GET /v1/group-links/{id}", h.auth(h.getGroupLink))
	h.handle("DELETE /v1/group-links/{id}", h.auth(h.deleteGroupLink))
	h.handle("PUT /v1/profile", h.auth(h.putProfile))
	h.handle("GET /v1/profile/{username}", h.auth(h.getProfile))
	h.handle("POST /v1/provisioning", h.createProvisioning)
	h.handle("PUT /v1/provisioning/{id}", h.auth(h.putProvisioning))
	h.handle("GET /v1/provisioning/{id}", h.takeProvisioning)
	h.handle("POST /v1/ws-tickets", h.auth(h.createTicket))
	h.handle("GET /v1/ws", h.wsAuth(h.websocket))
	h.handle("POST /v1/uploads", h.auth(h.createUpload))
	h.handle("PATCH /v1/uploads/{id}", h.auth(h.patchUpload))
	h.handle("GET /v1/uploads/{id}", h.auth(h.getUpload)) // and HEAD
	h.handle("GET /v1/blobs/{sha256}", h.getBlob)         // and HEAD; no credentials
	h.handle("GET /v1/blobs/{sha256}/poster", h.getPoster)
	h.handle("GET /v1/server", h.serverInfo)
	h.handle("POST /v1/channels", h.auth(h.createChannel))
	h.handle("GET /v1/channels", h.searchChannels)
	h.handle("GET /v1/channels/{handle}", h.getChannel)
	h.handle("POST /v1/channels/{handle}/records", h.auth(h.postRecord))
	h.handle("GET /v1/channels/{handle}/records", h.listRecords)
	h.handle("PUT /v1/channels/{handle}/follow", h.auth(h.follow))
	h.handle("DELETE /v1/channels/{handle}/follow", h.auth(h.unfollow))
	h.handle("GET /v1/channels/{handle}/admins", h.auth(h.listAdmins))
	h.handle("PUT /v1/channels/{handle}/admins/{username}", h.auth(h.setAdmin(true)))
	h.handle("DELETE /v1/channels/{handle}/admins/{username}", h.auth(h.setAdmin(false)))
	h.handle("POST /v1/channels/{handle}/views", h.addViews)
	h.handle("GET /v1/following", h.auth(h.following))
	h.handle("POST /v1/reports", h.auth(h.report))
	h.handle("GET /c/{handle}", h.publicPage)
	h.handle("GET /c/{handle}/feed.atom", h.feed)
	h.handle("POST /v1/admin/channels/{handle}/suspend", h.adminAuth(h.moderate(store.ActionSuspend)))
	h.handle("POST /v1/admin/channels/{handle}/restore", h.adminAuth(h.moderate(store.ActionRestore)))
	h.handle("POST /v1/admin/channels/{handle}/records/{id}/takedown", h.adminAuth(h.moderate(store.ActionTakedown)))
	h.handle("POST /v1/admin/channels/{handle}/records/{id}/restore", h.adminAuth(h.moderate(store.ActionRestorePost)))
	h.handle("GET /v1/admin/reports", h.adminAuth(h.reports))
	h.handle("GET /v1/admin/audit", h.adminAuth(h.audit))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, errNotFound)
	})
}

// handle registers a route with error handling, panic recovery and
// request logging.
func (h *Handler) handle(pattern string, fn handlerFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				h.log.Error("panic in handler", slog.String(logKeyRoute, pattern), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				if !sw.wrote {
					h.writeError(sw, r, apiError(http.StatusInternalServerError, api.CodeInternal, "Internal error; it has been logged."))
				}
			}
			h.metrics.requests.WithLabelValues(pattern, statusClass(sw.status)).Inc()
			h.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String(logKeyRoute, pattern),
				slog.Int(logKeyStatus, sw.status), slog.Duration(logKeyDuration, time.Since(start)))
		}()
		if err := fn(sw, r); err != nil {
			h.writeError(sw, r, err)
		}
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and the WebSocket upgrade) reach
// the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func statusClass(s int) string {
	switch {
	case s < 300:
		return "2xx"
	case s < 400:
		return "3xx"
	case s < 500:
		return "4xx"
	}
	return "5xx"
}
