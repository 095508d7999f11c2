package httpapi

import (
	"strconv"
	"testing"
	"time"
)

// TestViewCounterBounded: however many requesters and records come, the
// counter holds at most two generations of viewMemory pairs, and within a
// window one requester counts once per record and at most
// ViewsPerRequester times in all.
func TestViewCounterBounded(t *testing.T) {
	v := newViewCounter()
	now := time.Unix(1_700_000_000, 0)
	ids := make([][16]byte, 100)
	admitted := 0
	for req := range 3 * viewMemory / len(ids) {
		for i := range ids {
			ids[i] = [16]byte{byte(req), byte(req >> 8), byte(req >> 16), byte(i)}
		}
		admitted += len(v.admit(now, "ip 10.0.0."+strconv.Itoa(req), 1, ids))
		if len(v.cur.seen) > viewMemory || len(v.prev.seen) > viewMemory {
			t.Fatalf("after %d requesters: %d and %d pairs held", req+1, len(v.cur.seen), len(v.prev.seen))
		}
	}
	if admitted != 3*viewMemory/len(ids)*len(ids) {
		t.Errorf("%d of %d distinct views admitted", admitted, 3*viewMemory/len(ids)*len(ids))
	}

	v = newViewCounter()
	one := [][16]byte{{1}}
	if got := v.admit(now, "ip a", 1, append(one, one[0], one[0])); len(got) != 1 {
		t.Fatalf("one ID three times: %d views", len(got))
	}
	if got := v.admit(now.Add(ViewWindow/2), "ip a", 1, one); len(got) != 0 {
		t.Fatal("the same view again within the window counted")
	}
	if got := v.admit(now, "ip a", 2, one); len(got) != 1 {
		t.Fatal("the same record ID in another channel did not count")
	}
	n := 2
	for i := 0; n < ViewsPerRequester+10; i++ {
		ids := make([][16]byte, 100)
		for j := range ids {
			ids[j] = [16]byte{2, byte(i), byte(j)}
		}
		n += len(v.admit(now, "ip a", 1, ids))
		if i > ViewsPerRequester {
			break
		}
	}
	if n != ViewsPerRequester {
		t.Fatalf("one requester added %d views in a window, want %d", n, ViewsPerRequester)
	}
	// Two windows later everything is forgotten.
	if got := v.admit(now.Add(2*ViewWindow), "ip a", 1, one); len(got) != 0 {
		t.Fatal("a view counted again after one window: the previous generation is still kept")
	}
	if got := v.admit(now.Add(3*ViewWindow), "ip a", 1, one); len(got) != 1 {
		t.Fatal("a view did not count again two windows later")
	}
}
