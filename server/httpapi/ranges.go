package httpapi

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// MaxRanges is how many ranges one request for a blob may name
// (spec/api.md §10.4). RFC 9110 §14.2 lets a server reject "a set of many
// small ranges": without a bound, 3,000 one-byte ranges made a multipart
// answer thirty times larger than the blob.
const MaxRanges = 16

// sanitizeRange rewrites a blob request's Range header (RFC 9110 §14.2)
// before http.ServeContent reads it, so that what ServeContent serves is
// bounded and every refusal is a proper 416:
//
//   - a unit other than bytes is ignored (§14.2: "MUST ignore a Range
//     header field that contains a range unit it does not understand"):
//     the header is removed and the whole blob is served;
//   - each range is resolved against size (§14.1.2); unsatisfiable ones (a
//     first byte at or past the end, a suffix of length 0) are dropped;
//   - a malformed header, one whose ranges are all unsatisfiable, one with
//     more than MaxRanges ranges, or one whose ranges overlap, is replaced
//     by a range that starts at size, so ServeContent answers 416 with
//     Content-Range: bytes */size (§15.5.17, which names "an excessive
//     number of small or overlapping ranges");
//   - the rest are written back as absolute ranges, in the order given.
//
// ServeContent still evaluates the preconditions first (If-None-Match and
// the like, §13.2.2) and drops the range when If-Range does not match. The
// rewrite happens whatever If-Range says: deciding here whether it matches
// would have to agree with ServeContent byte for byte (which takes
// `"etag"junk` as a match), and a disagreement would let an unchecked
// header through; rewritten, a range ServeContent drops is dropped all the
// same.
func sanitizeRange(r *http.Request, size int64) {
	hv := r.Header.Values("Range")
	if len(hv) == 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return
	}
	unit, set, ok := strings.Cut(strings.Join(hv, ","), "=")
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		r.Header.Del("Range")
		return
	}
	refuse := "bytes=" + strconv.FormatInt(size, 10) + "-"
	if !ok {
		r.Header.Set("Range", refuse)
		return
	}
	spans, ok := parseByteRanges(set, size)
	if !ok || len(spans) == 0 || overlapping(spans) {
		r.Header.Set("Range", refuse)
		return
	}
	var b strings.Builder
	b.WriteString("bytes=")
	for i, s := range spans {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(s.first, 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(s.last, 10))
	}
	r.Header.Set("Range", b.String())
}

// span is a satisfiable byte range, first and last inclusive.
type span struct{ first, last int64 }

// parseByteRanges parses a range-set (RFC 9110 §14.1.1) and resolves each
// range-spec against size (§14.1.2), leaving out the unsatisfiable ones. It
// stops with ok false at a malformed range-spec or at more ranges than
// MaxRanges plus one, so a long header costs no more than that to read.
// Empty list elements are allowed (§5.6.1).
func parseByteRanges(set string, size int64) (spans []span, ok bool) {
	n := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		if n++; n > MaxRanges {
			return nil, false // too many: refused like a malformed one
		}
		firstS, lastS, dash := strings.Cut(spec, "-")
		if !dash {
			return nil, false
		}
		if firstS == "" { // suffix-range: the last N bytes
			length, ok := parseDigits(lastS)
			if !ok {
				return nil, false
			}
			if length == 0 || size == 0 {
				continue // unsatisfiable
			}
			spans = append(spans, span{max(0, size-length), size - 1})
			continue
		}
		first, ok := parseDigits(firstS)
		if !ok {
			return nil, false
		}
		last := int64(math.MaxInt64)
		if lastS != "" {
			if last, ok = parseDigits(lastS); !ok || last < first {
				return nil, false
			}
		}
		if first >= size {
			continue // unsatisfiable
		}
		spans = append(spans, span{first, min(last, size-1)})
	}
	return spans, true
}

// parseDigits parses 1*DIGIT; a number too large for int64 is MaxInt64,
// which means "past any blob".
func parseDigits(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true
	}
	return n, true
}

// overlapping reports whether any two spans share a byte.
func overlapping(spans []span) bool {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if s[i].first <= s[i-1].last {
			return true
		}
	}
	return false
}
