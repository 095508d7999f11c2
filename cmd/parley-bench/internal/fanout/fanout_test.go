package fanout

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
)

func TestSummarise(t *testing.T) {
	const ms = int64(time.Millisecond)
	posts := []post{{Seq: 10, At: 1000 * ms}, {Seq: 11, At: 2000 * ms}}
	reps := []*report{
		{Sockets: 2, Received: map[uint64][]int64{10: {1010 * ms, 1030 * ms}, 11: {2005 * ms, 2020 * ms}}, Duplicates: 1},
		// The second process's second socket missed post 11, and got a
		// record of no post of this run.
		{Sockets: 2, Received: map[uint64][]int64{10: {1020 * ms, 1040 * ms}, 11: {2010 * ms}, 99: {2500 * ms}}, Lost: 1, Other: 2},
	}
	s := summarise(posts, reps)
	if s.Sockets != 4 || s.Expected != 8 || s.Received != 7 || s.Duplicates != 1 || s.Unexpected != 3 ||
		s.LostSockets != 1 || s.Incomplete != 1 {
		t.Errorf("counts: %+v", s)
	}
	if !slices.Equal(s.TimeToLast, []float64{40, 20}) || s.TimeToLastP50 != 20 || s.TimeToLastP99 != 40 || s.TimeToLastMax != 40 {
		t.Errorf("time to last: %v, p50 %g, p99 %g, max %g", s.TimeToLast, s.TimeToLastP50, s.TimeToLastP99, s.TimeToLastMax)
	}
	if s.FanOutSeconds != 0.06 || s.DeliveriesPerSecond != 7/0.06 {
		t.Errorf("fan-out %gs, %g deliveries/s: want 0.06s, %g", s.FanOutSeconds, s.DeliveriesPerSecond, 7/0.06)
	}
	if s.Delivery.Count() != 7 || s.Delivery.Max() != 40*time.Millisecond {
		t.Errorf("delivery latencies: %d, max %s", s.Delivery.Count(), s.Delivery.Max())
	}
}

func TestNearestRank(t *testing.T) {
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(i + 1)
	}
	for _, c := range []struct {
		v    []float64
		q    float64
		want float64
	}{{nil, 0.5, 0}, {[]float64{7}, 0.99, 7}, {twenty, 0.5, 10}, {twenty, 0.99, 20}, {twenty, 0.9, 18}} {
		if got := nearestRank(c.v, c.q); got != c.want {
			t.Errorf("nearestRank(%v, %g) = %g, want %g", c.v, c.q, got, c.want)
		}
	}
}

func TestCounters(t *testing.T) {
	text := `# HELP parley_channel_frames_total Channel records offered live to followers' sockets, by outcome.
# TYPE parley_channel_frames_total counter
parley_channel_frames_total{outcome="dropped"} 12
parley_channel_frames_total{outcome="written"} 2.9985e+06
parley_channel_frames_totally{outcome="dropped"} 5
parley_ephemeral_total{outcome="dropped"} 7
`
	w, d, err := counters(text)
	if err != nil || w != 2998500 || d != 12 {
		t.Errorf("counters = %g, %g, %v; want 2998500, 12", w, d, err)
	}
	if w, d, err := counters("# nothing yet\n"); err != nil || w != 0 || d != 0 {
		t.Errorf("no samples: %g, %g, %v", w, d, err)
	}
	if _, _, err := counters(`parley_channel_frames_total{outcome="dropped"} x` + "\n"); err == nil {
		t.Error("a malformed value was accepted")
	}
	if _, _, err := counters(`parley_channel_frames_total{outcome="dropped"}` + "\n"); err == nil {
		t.Error("a line without a value was accepted")
	}
}

func TestSplit(t *testing.T) {
	creds := make([]api.Credentials, 10)
	var sizes []int
	for _, p := range split(creds, 3) {
		sizes = append(sizes, len(p))
	}
	if !slices.Equal(sizes, []int{3, 3, 4}) {
		t.Errorf("10 accounts in 3 processes: %v", sizes)
	}
}

func TestAccountsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts")
	if got, err := loadAccounts(path); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	a := []api.Credentials{{Username: "a", DeviceID: 1, Secret: "s1"}, {Username: "b", DeviceID: 1, Secret: "s2"}}
	if err := saveAccounts(path, a[:1]); err != nil {
		t.Fatal(err)
	}
	if err := saveAccounts(path, a[1:]); err != nil {
		t.Fatal(err)
	}
	if got, err := loadAccounts(path); err != nil || !slices.Equal(got, a) {
		t.Fatalf("loaded %v, %v; want %v", got, err, a)
	}
}
