package httpapi

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/internal/markup"
	"github.com/parley-chat/parley/server/store"
)

// The public page of a channel (spec/api.md §11.7): anyone, without an
// account, reads a channel's recent posts at /c/{handle}, with Open Graph
// tags for link previews, and follows it as an Atom feed at
// /c/{handle}/feed.atom. The server renders what it stored and verified;
// the page says that Parley apps verify the signatures themselves.

//go:embed templates/*.html
var templateFiles embed.FS

var pageTemplates = template.Must(template.ParseFS(templateFiles, "templates/*.html"))

const publicPosts = 30 // posts on the page and in the feed

type pageMedia struct {
	URL, Poster   string
	Video         bool
	Width, Height uint32
}

type pagePost struct {
	ID, Time, ISOTime string
	Edited, Pinned    bool
	Views             int64
	HTML              template.HTML
	Earlier           []template.HTML // the texts before each edit, oldest first
	Text              string
	Updated           time.Time
	Media             []pageMedia
}

type pageData struct {
	Handle, Title, About string
	URL, FeedURL         string
	Image, Avatar        string
	Absolute             bool // the URLs are absolute (Options.PublicURL is set)
	Followers            int64
	Posts                []pagePost
}

// baseURL is what the page's and the feed's URLs start with
// (spec/api.md §11.7): Options.PublicURL, or "" when it is not set, which
// makes them path-absolute references ("/c/news"), resolved by the reader
// against the URL it fetched. Nothing comes from the request: a Host
// header is the client's word, and a page built from it could be stored by
// a shared cache and served to others with links to the client's host.
func (h *Handler) baseURL() string {
	return strings.TrimRight(h.opts.PublicURL, "/")
}

// feedID is the Atom ID (RFC 4287 §4.2.6) of a channel's feed, or of one
// of its posts when post is not "": the page URL (with #post-ID) when the
// server knows its public URL; else, since an Atom ID must be an absolute
// IRI and the server does not know its own, a name-based urn:uuid (RFC
// 9562 §5.8, version 8 from SHA-256, as in its Appendix B.2) of the
// handle and the post, which stays the same whatever host a reader used.
func (h *Handler) feedID(pageURL, handle, post string) string {
	if h.baseURL() != "" {
		if post == "" {
			return pageURL
		}
		return pageURL + "#post-" + post
	}
	sum := sha256.Sum256([]byte(atomIDLabel + handle + "\x00" + post))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	x := hex.EncodeToString(u)
	return "urn:uuid:" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// atomIDLabel separates the name-based Atom IDs from any other use of the
// hash.
const atomIDLabel = "parley atom id\x00"

func blobURL(base string, sum [32]byte) string {
	return base + "/v1/blobs/" + hex.EncodeToString(sum[:])
}

// page gathers what the page and the feed show.
func (h *Handler) page(ctx context.Context, r *http.Request, c store.Channel) (*pageData, error) {
	base := h.baseURL()
	d := &pageData{Handle: c.Handle, Title: c.Title, About: c.About, Followers: c.Followers,
		URL: base + "/c/" + c.Handle, FeedURL: base + "/c/" + c.Handle + "/feed.atom", Absolute: base != ""}
	if c.Avatar != nil {
		if m, err := channel.ParseMedia(c.Avatar); err == nil {
			d.Avatar = blobURL(base, m.SHA256)
			d.Image = d.Avatar
		}
	}
	// Fold every record: an edit or a pin may be far older than the
	// newest posts. (A page of the newest records would miss them.)
	recs, err := h.store.ChannelRecords(ctx, c.ID, store.RecordQuery{})
	if err != nil {
		return nil, err
	}
	var seqd []channel.Sequenced
	views := map[uint64]int64{}
	for _, sr := range recs {
		rec, err := channel.Parse(sr.Data)
		if err != nil {
			continue // verified on the way in; never expected
		}
		if sr.TakedownReason != "" {
			// Its stub still acts (spec/protocol.md §10.7): a taken-down
			// delete still deletes, and a post shows nothing.
			if rec, err = channel.ParseStub(rec.StubEncoded()); err != nil {
				continue
			}
		}
		seqd = append(seqd, channel.Sequenced{Seq: sr.Seq, Record: rec})
		views[sr.Seq] = sr.Views
	}
	shown := 0
	for _, p := range channel.Fold(seqd) {
		if p.Removed {
			continue // taken down: nothing of it is public
		}
		if shown == publicPosts {
			break
		}
		shown++
		t := time.UnixMilli(p.Record.Time).UTC()
		updated := t
		if p.Edited != 0 {
			updated = time.UnixMilli(p.Edited).UTC()
		}
		pp := pagePost{ID: hex.EncodeToString(p.Record.ID[:]), Time: t.Format("2 Jan 2006 15:04 UTC"), ISOTime: t.Format(time.RFC3339),
			Edited: len(p.Edits) > 0, Pinned: p.Pinned, Views: views[p.Seq], HTML: markup.HTML(p.Text), Text: p.Text, Updated: updated}
		for _, e := range p.Edits {
			pp.Earlier = append(pp.Earlier, markup.HTML(e))
		}
		for _, mb := range p.Media {
			m, err := channel.ParseMedia(mb)
			if err != nil {
				continue
			}
			pm := pageMedia{URL: blobURL(base, m.SHA256), Video: m.IsVideo(), Width: m.Width, Height: m.Height}
			if m.Poster != nil {
				pm.Poster = blobURL(base, *m.Poster)
			} else if pm.Video {
				pm.Poster = h.madePoster(ctx, base, m.SHA256)
			}
			if d.Image == "" && m.IsImage() {
				d.Image = pm.URL
			}
			pp.Media = append(pp.Media, pm)
		}
		d.Posts = append(d.Posts, pp)
	}
	return d, nil
}

// publicPage is GET /c/{handle}.
func (h *Handler) publicPage(w http.ResponseWriter, r *http.Request) error {
	c, d, err := h.publicChannel(w, r)
	if c == nil && (errors.Is(err, errNotFound) || errors.Is(err, store.ErrNotFound)) {
		// A person typed or followed this address: a page, not the API's JSON.
		handle, herr := api.NormalizeUsername(r.PathValue("handle"))
		if herr != nil {
			handle = ""
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		return pageTemplates.ExecuteTemplate(w, "notfound.html", map[string]string{"Handle": handle})
	}
	if c == nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	return pageTemplates.ExecuteTemplate(w, "channel.html", d)
}

// publicChannel finds the channel of a public page and gathers what the
// page and the feed show; a suspended one gets the 451 page here (and c
// is nil).
func (h *Handler) publicChannel(w http.ResponseWriter, r *http.Request) (*store.Channel, *pageData, error) {
	handle, err := api.NormalizeUsername(r.PathValue("handle"))
	if err != nil {
		return nil, nil, errNotFound
	}
	c, err := h.store.ChannelByHandle(r.Context(), handle)
	if err != nil {
		return nil, nil, err
	}
	if c.Suspended() {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnavailableForLegalReasons)
		return nil, nil, pageTemplates.ExecuteTemplate(w, "suspended.html", map[string]string{"Handle": c.Handle, "Reason": c.SuspendReason})
	}
	d, err := h.page(r.Context(), r, c)
	if err != nil {
		return nil, nil, err
	}
	return &c, d, nil
}

// Atom (RFC 4287).
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Sub     string      `xml:"subtitle,omitempty"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Link      atomLink    `xml:"link"`
	Content   atomContent `xml:"content"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// feed is GET /c/{handle}/feed.atom.
func (h *Handler) feed(w http.ResponseWriter, r *http.Request) error {
	c, d, err := h.publicChannel(w, r)
	if c == nil {
		return err
	}
	f := atomFeed{ID: h.feedID(d.URL, d.Handle, ""), Title: d.Title, Sub: d.About, Updated: c.Created.UTC().Format(time.RFC3339),
		Links:  []atomLink{{Rel: "self", Type: "application/atom+xml", Href: d.FeedURL}, {Rel: "alternate", Type: "text/html", Href: d.URL}},
		Author: atomAuthor{Name: "@" + d.Handle}}
	for _, p := range d.Posts {
		title := markup.Plain(p.Text)
		if i := strings.IndexByte(title, '\n'); i >= 0 {
			title = title[:i]
		}
		if len([]rune(title)) > 80 {
			title = string([]rune(title)[:79]) + "…"
		}
		body := string(p.HTML)
		for _, m := range p.Media {
			if m.Video {
				body += `<p><video controls src="` + template.HTMLEscapeString(m.URL) + `"></video></p>`
			} else {
				body += `<p><img src="` + template.HTMLEscapeString(m.URL) + `" alt=""></p>`
			}
		}
		e := atomEntry{ID: h.feedID(d.URL, d.Handle, p.ID), Title: title, Published: p.ISOTime, Updated: p.Updated.Format(time.RFC3339),
			Link: atomLink{Rel: "alternate", Type: "text/html", Href: d.URL + "#post-" + p.ID}, Content: atomContent{Type: "html", Body: body}}
		if e.Updated > f.Updated {
			f.Updated = e.Updated
		}
		f.Entries = append(f.Entries, e)
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	if _, err := w.Write([]byte(xml.Header)); err != nil {
		return err
	}
	return xml.NewEncoder(w).Encode(f)
}
