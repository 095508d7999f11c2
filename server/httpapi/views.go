package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
)

// View counting limits (spec/api.md §11.5).
const (
	// ViewWindow is how long a requester's view of a record is remembered:
	// within it, the same requester adds at most one view to a record.
	ViewWindow = time.Hour
	// ViewsPerRequester is how many views one requester may add within a
	// window, over all records and channels.
	ViewsPerRequester = 1000
	// viewMemory is how many (requester, record) pairs a generation holds;
	// two generations are kept, so memory stays under 2 × viewMemory
	// entries (a few tens of MiB at most) whatever requesters send.
	viewMemory = 1 << 18
)

// viewCounter decides which views count: one per requester and record per
// window, at most ViewsPerRequester per requester per window. A requester
// is an account, or for a request without credentials the client IP, an
// IPv6 address cut to its /64 (one host usually has a whole /64), so
// people behind one NAT who are signed in count apart. It keeps no IPs or record IDs, only 64-bit keyed hashes of
// them, with a key made at start and never stored, so its memory says
// nothing readable about who viewed what.
//
// It remembers two generations. A new one starts when the current one is
// ViewWindow old or holds viewMemory pairs; the one before is forgotten.
// So a view is remembered for at least ViewWindow unless the table filled
// faster, which takes viewMemory / ViewsPerRequester (262) requesters
// within a window.
type viewCounter struct {
	key [32]byte // for the keyed hashes; immutable after newViewCounter

	mu      sync.Mutex // guards cur, prev, started
	cur     viewGen
	prev    viewGen
	started time.Time
}

// viewGen is one generation: the (requester, record) pairs seen and how
// many views each requester added.
type viewGen struct {
	seen  map[uint64]struct{}
	added map[uint64]int
}

func newViewGen() viewGen {
	return viewGen{seen: map[uint64]struct{}{}, added: map[uint64]int{}}
}

func newViewCounter() *viewCounter {
	v := &viewCounter{cur: newViewGen(), prev: newViewGen()}
	rand.Read(v.key[:])
	return v
}

// admit returns the ids whose views count for this requester, each at most
// once, in the order given, and remembers them.
func (v *viewCounter) admit(now time.Time, requester string, channelID int64, ids [][16]byte) [][16]byte {
	who := v.hash([]byte(requester))
	var buf [8 + 8 + 16]byte
	binary.BigEndian.PutUint64(buf[:8], who)
	binary.BigEndian.PutUint64(buf[8:16], uint64(channelID))

	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.started) >= ViewWindow {
		v.prev, v.cur, v.started = v.cur, newViewGen(), now
	}
	var out [][16]byte
	for _, id := range ids {
		if len(v.cur.seen) >= viewMemory {
			v.prev, v.cur, v.started = v.cur, newViewGen(), now
		}
		if v.cur.added[who]+v.prev.added[who] >= ViewsPerRequester {
			break
		}
		copy(buf[16:], id[:])
		k := v.hash(buf[:])
		if _, ok := v.cur.seen[k]; ok {
			continue
		}
		if _, ok := v.prev.seen[k]; ok {
			continue
		}
		v.cur.seen[k] = struct{}{}
		v.cur.added[who]++
		out = append(out, id)
	}
	return out
}

// hash is a 64-bit keyed hash (the first 8 bytes of SHA-256 over the key
// and b); only equality matters, and 2^-64 collisions are harmless here.
func (v *viewCounter) hash(b []byte) uint64 {
	h := sha256.New()
	h.Write(v.key[:])
	h.Write(b)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// viewRequester names the requester of r for view counting: the account,
// if the request carries valid device credentials (the endpoint needs
// none, but Parley clients send theirs), else its IPv4 address or its IPv6
// address cut to the /64. Credentials that do not authenticate count as
// none.
func (h *Handler) viewRequester(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		if p, err := h.authenticate(r.Context(), r); err == nil {
			return "account " + strconv.FormatInt(p.account.ID, 10)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "ip " + host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip " + p.String()
	}
	return "ip " + ip.String()
}

// addViews is POST /v1/channels/{handle}/views: anonymous, per-IP
// rate-limited counts; nothing records who viewed what. An ID counts once
// per request and, by viewCounter, once per requester and window.
func (h *Handler) addViews(w http.ResponseWriter, r *http.Request) error {
	now := h.opts.Now()
	if !h.views.allowIP(r, now) {
		return apiError(http.StatusTooManyRequests, api.CodeRateLimited, "Too many requests; slow down.")
	}
	c, err := h.channelNamed(r, false)
	if err != nil {
		return err
	}
	var req api.ViewsRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.IDs) > api.MaxChannelPage {
		return badRequest("At most %d IDs per request.", api.MaxChannelPage)
	}
	ids := make([][16]byte, 0, len(req.IDs))
	for _, b := range req.IDs {
		if len(b) != 16 {
			return badRequest("A record ID is 16 bytes.")
		}
		ids = append(ids, [16]byte(b))
	}
	ids = h.viewed.admit(now, h.viewRequester(r), c.ID, ids)
	if len(ids) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err := h.store.AddViews(r.Context(), c.ID, ids); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
