package groupbench

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Requests are the HTTP requests one call made (Client.Send, say), told
// apart from the client's other requests by the context the call was
// given (withCount): the SDK builds every request with the caller's ctx.
type Requests struct {
	Count     int            `json:"count"`
	BodyBytes int64          `json:"body_bytes"` // request bodies, all requests
	ByRoute   map[string]int `json:"by_route"`   // "PUT /v1/messages": 1
	// PutBytes and PutRTT are those of the last PUT /v1/messages: its
	// request body, and the time from writing the request to its
	// response's headers (the server's time to take the send, as the
	// sender sees it).
	PutBytes int64         `json:"put_body_bytes"`
	PutRTT   time.Duration `json:"put_rtt_ns"`
}

// counter collects the Requests of one call; safe for concurrent use.
type counter struct {
	mu  sync.Mutex // guards req
	req Requests
	// aroundPut, if set, runs before and after the PUT /v1/messages:
	// the probe of the server's store (probe.go). Its time is not in
	// PutRTT.
	aroundPut func(after bool)
}

type counterKey struct{}

// withCount returns ctx with c attached: requests made with it count in c.
func withCount(ctx context.Context, c *counter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// snapshot returns what c has counted.
func (c *counter) snapshot() Requests {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.req
	r.ByRoute = make(map[string]int, len(c.req.ByRoute))
	for k, v := range c.req.ByRoute {
		r.ByRoute[k] = v
	}
	return r
}

// countingTransport is an http.RoundTripper that counts, for the counter
// in each request's context, the request and its body's bytes.
type countingTransport struct {
	next http.RoundTripper
}

// routePut is the route of a send to many (spec/api.md §6.6).
const routePut = "PUT /v1/messages"

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(counterKey{}).(*counter)
	if c == nil {
		return t.next.RoundTrip(req)
	}
	route := req.Method + " " + routeOf(req.URL.Path)
	body := &countingBody{ReadCloser: req.Body}
	if req.Body != nil && req.Body != http.NoBody {
		req = req.Clone(req.Context())
		req.Body = body
	}
	put := route == routePut
	if put && c.aroundPut != nil {
		c.aroundPut(false)
	}
	t0 := time.Now()
	resp, err := t.next.RoundTrip(req)
	rtt := time.Since(t0)
	if put && c.aroundPut != nil {
		c.aroundPut(true)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.req.ByRoute == nil {
		c.req.ByRoute = map[string]int{}
	}
	c.req.Count++
	c.req.ByRoute[route]++
	n := body.n.Load()
	c.req.BodyBytes += n
	if put {
		c.req.PutBytes, c.req.PutRTT = n, rtt
	}
	return resp, err
}

// routeOf is a request's path with what follows its second segment
// (a username, an ID) replaced, so that routes add up:
// "/v1/messages/bob" is "/v1/messages/{…}", "/v1/messages" itself.
func routeOf(path string) string {
	n := 0
	for i, c := range path {
		if c == '/' {
			if n++; n == 3 && i+1 < len(path) {
				return path[:i] + "/{…}"
			}
		}
	}
	return path
}

// countingBody counts the bytes read from a request body. The transport
// reads it on its own goroutine, so the count is atomic.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
