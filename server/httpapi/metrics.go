package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/server/store"
)

// Metrics are the API's Prometheus collectors (spec/api.md §9).
type Metrics struct {
	connections  prometheus.Gauge
	envelopesIn  prometheus.Counter
	envelopesOut prometheus.Counter
	queueDepth   prometheus.Histogram // at connect
	storeLatency *prometheus.HistogramVec
	requests     *prometheus.CounterVec
	ephemeral    *prometheus.CounterVec // by outcome: ephemeralWritten, ephemeralDropped
	// channelFrames counts channel fan-out offers by outcome: taken by a
	// socket's buffer ("written") or dropped because it was full.
	channelFrames *prometheus.CounterVec
	media         mediaMetrics // uploads and blobs (media.go)
}

// Outcomes of an ephemeral Deliver frame for a connected device.
const (
	ephemeralWritten = "written"
	ephemeralDropped = "dropped"
)

// NewMetrics makes the collectors and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_websocket_connections", Help: "Open authenticated device WebSockets."}),
		envelopesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_envelopes_in_total", Help: "Envelopes stored for delivery."}),
		envelopesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_envelopes_out_total", Help: "Envelopes written to device WebSockets."}),
		queueDepth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_queue_depth_at_connect", Help: "Envelopes queued for a device when it connects.",
			Buckets: []float64{0, 1, 10, 100, 1000, 10000, 100000}}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parley_store_seconds", Help: "Latency of store operations.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}, []string{"op"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total", Help: "HTTP requests by route and status class."}, []string{"route", "status"}),
		ephemeral: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_ephemeral_total", Help: "Ephemeral Deliver frames for connected devices, written or dropped."}, []string{"outcome"}),
		channelFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_channel_frames_total", Help: "Channel records offered live to followers' sockets, by outcome."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.envelopesIn, m.envelopesOut, m.queueDepth, m.storeLatency, m.requests, m.ephemeral, m.channelFrames)
	}
	m.media = newMediaMetrics(reg)
	return m
}

// timedStore records the latency of the store's hot operations.
type timedStore struct {
	store.Store
	m *Metrics
}

func (s *timedStore) observe(op string, start time.Time) {
	s.m.storeLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *timedStore) Enqueue(ctx context.Context, envs []store.Envelope, lim store.QueueLimits) ([]bool, error) {
	defer s.observe("enqueue", time.Now())
	return s.Store.Enqueue(ctx, envs, lim)
}

func (s *timedStore) EnqueueShared(ctx context.Context, content []byte, envs []store.Envelope, lim store.QueueLimits) ([]bool, error) {
	defer s.observe("enqueue", time.Now())
	return s.Store.EnqueueShared(ctx, content, envs, lim)
}

func (s *timedStore) Pending(ctx context.Context, acct int64, dev uint32, after uint64, limit int, now time.Time) ([]store.Envelope, error) {
	defer s.observe("pending", time.Now())
	return s.Store.Pending(ctx, acct, dev, after, limit, now)
}

func (s *timedStore) Ack(ctx context.Context, acct int64, dev uint32, seqs []uint64) error {
	defer s.observe("ack", time.Now())
	return s.Store.Ack(ctx, acct, dev, seqs)
}

func (s *timedStore) TakeBundle(ctx context.Context, acct int64, dev uint32) (store.Bundle, error) {
	defer s.observe("take_bundle", time.Now())
	return s.Store.TakeBundle(ctx, acct, dev)
}

func (s *timedStore) BaseBundle(ctx context.Context, acct int64, dev uint32) (store.Bundle, error) {
	defer s.observe("base_bundle", time.Now())
	return s.Store.BaseBundle(ctx, acct, dev)
}

func (s *timedStore) DeviceByName(ctx context.Context, name string, dev uint32) (store.Account, store.Device, error) {
	defer s.observe("device_by_name", time.Now())
	return s.Store.DeviceByName(ctx, name, dev)
}
