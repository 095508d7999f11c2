package channel

import (
	"slices"
)

// Post is a post as readers see it after folding its edits, deletion and
// pins (spec/protocol.md §10.6): the latest text and media, with the
// earlier texts.
type Post struct {
	Record *Record // the original post
	Seq    uint64  // the server's Seq of the original post
	Text   string
	Media  [][]byte
	Edits  []string // earlier texts, oldest first
	Edited int64    // time of the latest edit, unix ms; 0 if none
	Pinned bool
	// Removed means the operator took the current version down (the post,
	// or its latest edit): Text and Media are empty, and readers show a
	// placeholder (spec/protocol.md §10.7).
	Removed bool
}

// Sequenced is a verified record with the Seq the server gave it.
type Sequenced struct {
	Seq    uint64
	Record *Record
}

// Fold applies verified records in their signed position order (the
// server's Seq plays no part) and returns the posts that are not deleted,
// newest first. A deletion is a tombstone: nothing later brings the post
// back or changes it, and a record repeating a position already folded is
// ignored. Edits, deletions and pins of posts not among the records are
// ignored. A stub (a record taken down) acts as its record does, without
// the content: a stub post is a Removed post, a stub edit marks the post
// edited with the new version Removed, a stub delete deletes.
func Fold(records []Sequenced) []*Post {
	recs := slices.Clone(records)
	slices.SortStableFunc(recs, func(a, b Sequenced) int {
		switch {
		case a.Record.Position < b.Record.Position:
			return -1
		case a.Record.Position > b.Record.Position:
			return 1
		}
		return 0
	})
	var (
		order   []*Post
		byID    = map[[IDSize]byte]*Post{}
		deleted = map[[IDSize]byte]bool{}
		last    uint64
	)
	for _, s := range recs {
		r := s.Record
		if r.Position <= last {
			continue // one record per position
		}
		last = r.Position
		switch r.Kind {
		case KindPost:
			if deleted[r.ID] || byID[r.ID] != nil {
				continue
			}
			p := &Post{Record: r, Seq: s.Seq, Text: r.Text, Media: r.Media, Removed: r.Stub}
			byID[r.ID] = p
			order = append(order, p)
		case KindEdit:
			if p := byID[*r.Target]; p != nil {
				p.Edits = append(p.Edits, p.Text)
				p.Text, p.Media, p.Edited, p.Removed = r.Text, r.Media, r.Time, r.Stub
			}
		case KindDelete:
			deleted[*r.Target] = true
			delete(byID, *r.Target)
		case KindPin, KindUnpin:
			if p := byID[*r.Target]; p != nil {
				p.Pinned = r.Kind == KindPin
			}
		}
	}
	out := make([]*Post, 0, len(byID))
	for i := len(order) - 1; i >= 0; i-- {
		if byID[order[i].Record.ID] == order[i] {
			out = append(out, order[i])
		}
	}
	return out
}
