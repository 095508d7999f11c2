package channel

// Post is a post as readers see it after folding its edits, deletion and
// pins (spec/protocol.md §10.2): the latest text and media, with the
// earlier texts.
type Post struct {
	Record *Record // the original post
	Seq    uint64  // the server's Seq of the original post
	Text   string
	Media  [][]byte
	Edits  []string // earlier texts, oldest first
	Edited int64    // time of the latest edit, unix ms; 0 if none
	Pinned bool
}

// Sequenced is a verified record with the Seq the server gave it.
type Sequenced struct {
	Seq    uint64
	Record *Record
}

// Fold applies records, in ascending Seq order, and returns the posts
// that are not deleted, newest first. Edits, deletions and pins of posts
// not among the records are ignored.
func Fold(records []Sequenced) []*Post {
	var (
		order []*Post
		byID  = map[[IDSize]byte]*Post{}
	)
	for _, s := range records {
		r := s.Record
		switch r.Kind {
		case KindPost:
			p := &Post{Record: r, Seq: s.Seq, Text: r.Text, Media: r.Media}
			byID[r.ID] = p
			order = append(order, p)
		case KindEdit:
			if p := byID[*r.Target]; p != nil {
				p.Edits = append(p.Edits, p.Text)
				p.Text, p.Media, p.Edited = r.Text, r.Media, r.Time
			}
		case KindDelete:
			if p := byID[*r.Target]; p != nil {
				delete(byID, *r.Target)
			}
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
