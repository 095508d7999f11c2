package groupbench

import (
	"strings"
	"testing"
)

func TestRouteOf(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/messages":          "/v1/messages",
		"/v1/messages/bob":      "/v1/messages/{…}",
		"/v1/keys/bob/2":        "/v1/keys/{…}",
		"/v1/devices":           "/v1/devices",
		"/":                     "/",
		"/v1/messages/":         "/v1/messages/",
		"/v1/group-links/abc/x": "/v1/group-links/{…}",
	} {
		if got := routeOf(in); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnqueueSamples(t *testing.T) {
	text := `# HELP parley_store_seconds Latency of store operations.
parley_store_seconds_bucket{op="enqueue",le="0.0001"} 0
parley_store_seconds_sum{op="ack"} 9
parley_store_seconds_sum{op="enqueue"} 0.25
parley_store_seconds_count{op="ack"} 7
parley_store_seconds_count{op="enqueue"} 12
`
	n, sum, err := enqueueSamples(strings.NewReader(text))
	if err != nil || n != 12 || sum != 0.25 {
		t.Errorf("enqueueSamples = %g, %g, %v; want 12, 0.25", n, sum, err)
	}
	if _, _, err := enqueueSamples(strings.NewReader(`parley_store_seconds_count{op="enqueue"} x`)); err == nil {
		t.Error("a malformed value was accepted")
	}
}

func TestTag(t *testing.T) {
	for _, tag := range []string{"cold", "rotate-b1_m999"} {
		if got, ok := parseTag(text(tag, 100)); !ok || got != tag {
			t.Errorf("parseTag(text(%q)) = %q, %v", tag, got, ok)
		}
	}
	for _, bad := range []string{"", "cold", " xx", "cold xy"} {
		if _, ok := parseTag(bad); ok {
			t.Errorf("parseTag(%q) accepted", bad)
		}
	}
}

// FuzzEnqueueSamples: any /metrics text is read without a panic.
func FuzzEnqueueSamples(f *testing.F) {
	f.Add("parley_store_seconds_count{op=\"enqueue\"} 12\nparley_store_seconds_sum{op=\"enqueue\"} 0.25\n")
	f.Add("parley_store_seconds_count{op=\"enqueue\"} x\n")
	f.Add("parley_store_seconds_sum{")
	f.Fuzz(func(t *testing.T, text string) {
		enqueueSamples(strings.NewReader(text))
	})
}

// FuzzParseTag: a text parseTag accepts is the text of its tag.
func FuzzParseTag(f *testing.F) {
	f.Add("cold xxxx")
	f.Add("warm1 ")
	f.Add(" x")
	f.Fuzz(func(t *testing.T, s string) {
		tag, ok := parseTag(s)
		if ok && text(tag, len(s)) != s {
			t.Errorf("parseTag(%q) = %q, whose text is %q", s, tag, text(tag, len(s)))
		}
	})
}
