package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/clientpath"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/latency"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/procstat"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/traffic"
)

// Report is the outcome of a run, printed as a table and optionally
// written as JSON.
type Report struct {
	Mode            string         `json:"mode"`
	Server          string         `json:"server"`
	Devices         int            `json:"devices"`
	Prefix          string         `json:"username_prefix"`
	RegisterSeconds float64        `json:"register_seconds"`
	ConnectSeconds  float64        `json:"connect_seconds"`
	Params          *Params        `json:"params,omitempty"`
	Traffic         *TrafficReport `json:"traffic,omitempty"`
	Idle            *IdleReport    `json:"idle,omitempty"`
	Client          *ClientReport  `json:"client,omitempty"`
	Fanout          *FanoutReport  `json:"fanout,omitempty"`
	RSS             *RSSReport     `json:"server_rss,omitempty"`
}

// Params are the traffic settings.
type Params struct {
	Size            int     `json:"size"`
	Rate            float64 `json:"rate"`
	Window          int     `json:"window"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Reconnect       bool    `json:"reconnect"`
}

// TrafficReport is traffic.Result with its latencies summarised.
type TrafficReport struct {
	*traffic.Result
	SendAckLatency  Latency `json:"send_ack"`
	EndToEndLatency Latency `json:"end_to_end"`
}

// ClientReport is clientpath.Result with its latencies summarised.
type ClientReport struct {
	*clientpath.Result
	SendLatency          Latency `json:"send"`
	EndToEndLatency      Latency `json:"end_to_end"`
	FirstSendLatency     Latency `json:"first_send"`
	FirstEndToEndLatency Latency `json:"first_end_to_end"`
}

// Latency summarises a histogram, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// IdleReport is what idle mode saw.
type IdleReport struct {
	HeldSeconds float64 `json:"held_seconds"`
	Dropped     int     `json:"dropped"` // sockets the server closed while held
}

// RSSReport is parleyd's resident memory, in bytes, at each stage.
type RSSReport struct {
	PID           int   `json:"pid"`
	Before        int64 `json:"before"`
	AfterRegister int64 `json:"after_register"`
	AfterConnect  int64 `json:"after_connect"`
	End           int64 `json:"end"`
	// PerConn is (AfterConnect - Before) / devices; PerConnSocketOnly
	// leaves out registration: (AfterConnect - AfterRegister) / devices.
	PerConn           float64 `json:"per_connection"`
	PerConnSocketOnly float64 `json:"per_connection_socket_only"`
}

func newTrafficReport(r *traffic.Result) *TrafficReport {
	return &TrafficReport{Result: r, SendAckLatency: summarise(r.SendAck), EndToEndLatency: summarise(r.EndToEnd)}
}

func newClientReport(r *clientpath.Result) *ClientReport {
	return &ClientReport{Result: r, SendLatency: summarise(r.Send), EndToEndLatency: summarise(r.EndToEnd),
		FirstSendLatency: summarise(r.FirstSend), FirstEndToEndLatency: summarise(r.FirstEndToEnd)}
}

func summarise(h *latency.Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{Count: h.Count(), Mean: ms(h.Mean()), P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// rssProbe samples the server's RSS; with no pid it does nothing.
type rssProbe struct {
	rep    RSSReport
	warn   io.Writer
	warned bool
}

func newRSSProbe(pid int, warn io.Writer) *rssProbe {
	return &rssProbe{rep: RSSReport{PID: pid}, warn: warn}
}

// sample stores the RSS in *into.
func (p *rssProbe) sample(into *int64) error {
	if p.rep.PID == 0 {
		return nil
	}
	n, err := procstat.RSS(p.rep.PID)
	if err != nil {
		return err
	}
	*into = n
	return nil
}

// note is sample for the later stages: a failure leaves *into at 0 and is
// reported once on stderr.
func (p *rssProbe) note(into *int64) {
	if err := p.sample(into); err != nil && !p.warned {
		fmt.Fprintf(p.warn, "parley-bench: warning: %v\n", err)
		p.warned = true
	}
}

func (p *rssProbe) report(devices int) *RSSReport {
	if p.rep.PID == 0 {
		return nil
	}
	r := p.rep
	if r.AfterConnect > 0 && devices > 0 {
		r.PerConn = float64(r.AfterConnect-r.Before) / float64(devices)
		r.PerConnSocketOnly = float64(r.AfterConnect-r.AfterRegister) / float64(devices)
	}
	return &r
}

// write prints the table to w and, if path is set, the JSON to path.
func (r *Report) write(w io.Writer, path string) error {
	r.writeText(w)
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}

func (r *Report) writeText(w io.Writer) {
	if r.Client != nil {
		fmt.Fprintf(w, "parley-bench %s: %d accounts (%s*) on %s; setup: create %.1fs, connect and sync %.1fs\n",
			r.Mode, r.Devices, r.Prefix, r.Server, r.RegisterSeconds, r.ConnectSeconds)
	} else {
		fmt.Fprintf(w, "parley-bench %s: %d devices (%s*) on %s; setup: register %.1fs, connect %.1fs\n",
			r.Mode, r.Devices, r.Prefix, r.Server, r.RegisterSeconds, r.ConnectSeconds)
	}
	if p := r.Params; p != nil {
		rate := "unlimited"
		if p.Rate > 0 {
			rate = fmt.Sprintf("%g/s", p.Rate)
		}
		fmt.Fprintf(w, "envelopes of %d B, rate %s, window %d, warm-up %gs, measured %gs, reconnect %v\n",
			p.Size, rate, p.Window, p.WarmupSeconds, p.DurationSeconds, p.Reconnect)
	}
	if t := r.Traffic; t != nil {
		fmt.Fprintf(w, "%-16s%10s%14s%12s%8s\n", "", "sent", "acknowledged", "delivered", "lost")
		for _, c := range []struct {
			name string
			c    traffic.Counts
		}{{"measured window", t.Window}, {"whole run", t.Total}} {
			fmt.Fprintf(w, "%-16s%10d%14d%12d%8d\n", c.name, c.c.Sent, c.c.Acked, c.c.Delivered, c.c.Lost)
		}
		if p := r.Params; p != nil && p.DurationSeconds > 0 {
			fmt.Fprintf(w, "send rate %.0f/s; ", float64(t.Window.Sent)/p.DurationSeconds)
		}
		fmt.Fprintf(w, "throughput %.0f envelopes/s delivered (%d pairs)\n", t.Throughput, t.Pairs)
		fmt.Fprintf(w, "%-16s%10s%10s%10s%10s%10s%10s\n", "latency (ms)", "count", "mean", "p50", "p99", "p99.9", "max")
		for _, l := range []struct {
			name string
			l    Latency
		}{{"send-ack", t.SendAckLatency}, {"end-to-end", t.EndToEndLatency}} {
			fmt.Fprintf(w, "%-16s%10d%10.3f%10.3f%10.3f%10.3f%10.3f\n", l.name, l.l.Count, l.l.Mean, l.l.P50, l.l.P99, l.l.P999, l.l.Max)
		}
		fmt.Fprintf(w, "duplicates: %d SendResults marked duplicate, %d repeated deliveries; reconnects: %d\n",
			t.DuplicateAcks, t.DuplicateDeliv, t.Reconnects)
		fmt.Fprint(w, "errors:")
		if len(t.Errors) == 0 {
			fmt.Fprint(w, " none")
		}
		for _, code := range slices.Sorted(maps.Keys(t.Errors)) {
			fmt.Fprintf(w, " %s=%d", code, t.Errors[code])
		}
		fmt.Fprintln(w)
	}
	if c := r.Client; c != nil {
		c.writeText(w)
	}
	if f := r.Fanout; f != nil {
		f.writeText(w)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(w, "held %d connections for %gs; %d dropped by the server\n", r.Devices, i.HeldSeconds, i.Dropped)
	}
	if m := r.RSS; m != nil && (r.Client != nil || r.Fanout != nil) {
		fmt.Fprintf(w, "server RSS (pid %d): before %s, end %s\n", m.PID, mib(m.Before), mib(m.End))
	} else if m != nil {
		fmt.Fprintf(w, "server RSS (pid %d): before %s, after register %s, after connect %s, end %s\n",
			m.PID, mib(m.Before), mib(m.AfterRegister), mib(m.AfterConnect), mib(m.End))
		fmt.Fprintf(w, "server RSS per connection: %.1f KiB (sockets only, registration left out: %.1f KiB)\n",
			m.PerConn/1024, m.PerConnSocketOnly/1024)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (c *ClientReport) writeText(w io.Writer) {
	dir := "one way"
	if c.Streams > c.Pairs {
		dir = "both ways"
	}
	fmt.Fprintf(w, "%d pairs sending %s (%d streams), texts of %d B, one message outstanding per stream; first messages %.1fs, measured %.1fs\n",
		c.Pairs, dir, c.Streams, c.Size, c.FirstSeconds, c.WindowSeconds)
	fmt.Fprintf(w, "%-16s%10s%10s%12s%12s%8s\n", "messages", "sent", "failed", "delivered", "duplicates", "lost")
	for _, m := range []struct {
		name string
		c    clientpath.Counts
	}{{"first (PQXDH)", c.First}, {"steady", c.Steady}} {
		fmt.Fprintf(w, "%-16s%10d%10d%12d%12d%8d\n", m.name, m.c.Sent, m.c.Failed, m.c.Delivered, m.c.Duplicates, m.c.Lost)
	}
	fmt.Fprintf(w, "throughput %.0f messages/s decrypted and stored by their recipients; each also sent a delivery receipt (%d seen by senders)\n",
		c.Throughput, c.Receipts)
	fmt.Fprintf(w, "%-16s%10s%10s%10s%10s%10s%10s\n", "latency (ms)", "count", "mean", "p50", "p99", "p99.9", "max")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"send", c.SendLatency}, {"end-to-end", c.EndToEndLatency}, {"first send", c.FirstSendLatency}, {"first e2e", c.FirstEndToEndLatency}} {
		fmt.Fprintf(w, "%-16s%10d%10.3f%10.3f%10.3f%10.3f%10.3f\n", l.name, l.l.Count, l.l.Mean, l.l.P50, l.l.P99, l.l.P999, l.l.Max)
	}
	fmt.Fprintf(w, "CPU in the measured window: parley-bench (the clients) %.2f cores", c.BenchCPU)
	if c.ServerCPU > 0 {
		fmt.Fprintf(w, ", parleyd %.2f cores", c.ServerCPU)
	}
	fmt.Fprintf(w, "\ndecryption failures: %d; unexpected messages: %d\n", c.DecryptionFailures, c.Unexpected)
	writeCounts(w, "errors", c.Errors)
	writeCounts(w, "SDK warnings", c.Warnings)
}

func writeCounts[K ~string](w io.Writer, what string, m map[K]uint64) {
	fmt.Fprintf(w, "%s:", what)
	if len(m) == 0 {
		fmt.Fprint(w, " none")
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.ContainsAny(string(k), " =") {
			fmt.Fprintf(w, " %q=%d", k, m[k])
		} else {
			fmt.Fprintf(w, " %s=%d", k, m[k])
		}
	}
	fmt.Fprintln(w)
}
