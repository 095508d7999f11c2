package groupbench

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver of the server's store, opened read-only
)

// Probe is what the server did with one group send, read from its
// /metrics and, with Config.DataDir, its SQLite store (read-only) just
// before and just after the PUT, before the members acknowledge it
// (which deletes the rows, and the body with its last reference).
type Probe struct {
	Tag string `json:"tag"`
	// EnqueueOps and EnqueueSeconds are the change over the PUT of
	// parley_store_seconds{op="enqueue"}: 1 op means the send alone. -1
	// if /metrics could not be read.
	EnqueueOps     float64 `json:"enqueue_ops"`
	EnqueueSeconds float64 `json:"enqueue_seconds"`
	// Store: bodies added by the send, their bytes, and the messages
	// rows that name them (one per recipient device, content empty).
	// Store is false if the data directory was not given or not read.
	Store           bool   `json:"store_read"`
	Bodies          int64  `json:"bodies"`
	BodyBytes       int64  `json:"body_bytes"`
	Rows            int64  `json:"rows"`
	RowContentBytes int64  `json:"row_content_bytes"`
	RowOtherBytes   int64  `json:"row_other_bytes"` // client_id, sender_name and 7 integers of 8 bytes each
	FileGrowth      int64  `json:"file_growth"`     // parley.db plus its WAL, pages written
	Err             string `json:"error,omitempty"`
}

// rowInts is how many integer columns a messages row holds (seq, the
// destination, the sender, type, created, expires, body_id), each
// counted at 8 bytes.
const rowInts = 8

// prober reads the server's metrics and store around a PUT.
type prober struct {
	server  string
	dataDir string
	hc      *http.Client
	timeout time.Duration

	db     *sql.DB
	before probeState
	errs   []string
	rep    Probe
}

type probeState struct {
	enqN, enqS float64
	maxBody    int64
	fileSize   int64
	metricsOK  bool
	storeOK    bool
}

// newProber opens the server's store read-only, if dataDir is set.
func newProber(server, dataDir string, timeout time.Duration) (*prober, error) {
	pr := &prober{server: server, dataDir: dataDir, hc: &http.Client{Timeout: timeout}, timeout: timeout}
	if dataDir == "" {
		return pr, nil
	}
	abs, err := filepath.Abs(filepath.Join(dataDir, "parley.db"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("groupbench: the server's store: %w (-server-data must be parleyd's -data directory)", err)
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "query_only(ON)")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if pr.db, err = sql.Open("sqlite", u.String()); err != nil {
		return nil, fmt.Errorf("groupbench: opening the server's store: %w", err)
	}
	pr.db.SetMaxOpenConns(1)
	return pr, nil
}

func (pr *prober) close() {
	if pr.db != nil {
		pr.db.Close()
	}
}

// around is a counter's aroundPut: it samples before and after.
func (pr *prober) around(after bool) {
	ctx, cancel := context.WithTimeout(context.Background(), pr.timeout)
	defer cancel()
	var s probeState
	var err error
	if pr.db != nil {
		s.maxBody, err = pr.maxBody(ctx)
		s.storeOK = err == nil
		pr.note(err)
		s.fileSize = pr.fileSize()
	}
	s.enqN, s.enqS, err = pr.enqueue(ctx)
	s.metricsOK = err == nil
	pr.note(err)
	if !after {
		pr.before = s
		return
	}
	b := pr.before
	pr.rep.EnqueueOps, pr.rep.EnqueueSeconds = -1, -1
	if b.metricsOK && s.metricsOK {
		pr.rep.EnqueueOps, pr.rep.EnqueueSeconds = s.enqN-b.enqN, s.enqS-b.enqS
	}
	if b.storeOK && s.storeOK {
		pr.note(pr.readStore(ctx, b.maxBody))
		pr.rep.FileGrowth = s.fileSize - b.fileSize
	}
}

func (pr *prober) note(err error) {
	if err != nil {
		pr.errs = append(pr.errs, err.Error())
	}
}

// result is what the probe found.
func (pr *prober) result(tag string) *Probe {
	r := pr.rep
	r.Tag = tag
	r.Err = strings.Join(pr.errs, "; ")
	return &r
}

// readStore counts the bodies after id since and the rows naming them.
func (pr *prober) readStore(ctx context.Context, since int64) error {
	err := pr.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(length(content)), 0) FROM bodies WHERE id > ?`, since).
		Scan(&pr.rep.Bodies, &pr.rep.BodyBytes)
	if err != nil {
		return fmt.Errorf("groupbench: reading the server's bodies: %w", err)
	}
	err = pr.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(length(content)), 0),
		COALESCE(sum(length(client_id) + length(sender_name)), 0) FROM messages WHERE body_id > ?`, since).
		Scan(&pr.rep.Rows, &pr.rep.RowContentBytes, &pr.rep.RowOtherBytes)
	if err != nil {
		return fmt.Errorf("groupbench: reading the server's messages: %w", err)
	}
	pr.rep.RowOtherBytes += rowInts * 8 * pr.rep.Rows
	pr.rep.Store = true
	return nil
}

func (pr *prober) maxBody(ctx context.Context) (int64, error) {
	var id int64
	if err := pr.db.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM bodies`).Scan(&id); err != nil {
		return 0, fmt.Errorf("groupbench: reading the server's bodies: %w", err)
	}
	return id, nil
}

func (pr *prober) fileSize() int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(filepath.Join(pr.dataDir, "parley.db"+suffix)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Metric the probe reads from parleyd's /metrics.
const (
	metricStore  = "parley_store_seconds"
	labelEnqueue = `op="enqueue"`
)

// enqueue reads the count and sum of the store's enqueue timings.
func (pr *prober) enqueue(ctx context.Context) (n, sum float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(pr.server, "/")+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := pr.hc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("groupbench: reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("groupbench: reading /metrics: %s", resp.Status)
	}
	return enqueueSamples(resp.Body)
}

// enqueueSamples finds parley_store_seconds_count and _sum for the
// enqueue op in a Prometheus text exposition; absent, they are 0.
func enqueueSamples(r io.Reader) (n, sum float64, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var into *float64
		switch {
		case strings.HasPrefix(line, metricStore+"_count{"):
			into = &n
		case strings.HasPrefix(line, metricStore+"_sum{"):
			into = &sum
		default:
			continue
		}
		_, rest, _ := strings.Cut(line, "{")
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || !strings.Contains(labels, labelEnqueue) {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("groupbench: /metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("groupbench: /metrics: %q: %w", line, err)
		}
		*into = v
	}
	return n, sum, sc.Err()
}
