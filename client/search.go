package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search of the local history (spec/client.md §11.9). Every text is
// indexed by its words: a word's token is HMAC-SHA256 under a key
// derived from the store's data key (so the store's files hold no word),
// and the index keeps token/message-key entries, so a query reads only
// the entries of its words. Matching is by whole words, ignoring case; a
// query of several words finds the messages that hold all of them.

const (
	// bucketSearch: token/message key → nothing; searchReady → the
	// index's version, once every stored text is in it.
	bucketSearch       = "search"
	searchReady        = "~"
	searchVersion      = "1"
	tokenSize          = 16 // bytes of the HMAC kept
	maxWordBytes       = 64 // longer runs of letters are not words a person types
	maxWordsPerMessage = 500
	// DefaultSearchLimit is how many results Search returns when
	// asked for 0.
	DefaultSearchLimit = 50
)

// ErrEmptyQuery means a search named no word.
var ErrEmptyQuery = errors.New("client: a search needs at least one word")

// words splits text into its distinct words, lower-cased: runs of
// letters, digits and combining marks, at most maxWordBytes long.
func words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r)
	}) {
		w = strings.ToLower(w)
		if len(w) > maxWordBytes || !utf8.ValidString(w) || slices.Contains(out, w) {
			continue
		}
		out = append(out, w)
		if len(out) == maxWordsPerMessage {
			break
		}
	}
	return out
}

// token is the index's name for word.
func (v *vault) token(word string) string {
	m := hmac.New(sha256.New, v.indexKey)
	m.Write([]byte(word))
	return hex.EncodeToString(m.Sum(nil)[:tokenSize])
}

// indexMessage adds r's words to the index (a text's; nothing else is
// searched).
func indexMessage(tx sealedTx, mk string, r *messageRecord) error {
	return indexWords(tx, mk, r, tx.tx.Put)
}

// unindexMessage removes r's words.
func unindexMessage(tx sealedTx, mk string, r *messageRecord) error {
	return indexWords(tx, mk, r, func(bucket, key string, _ []byte) error { return tx.tx.Delete(bucket, key) })
}

func indexWords(tx sealedTx, mk string, r *messageRecord, op func(bucket, key string, value []byte) error) error {
	if r.Kind != KindText {
		return nil
	}
	for _, w := range words(r.Text) {
		// The entries hold no value: there is nothing to seal.
		if err := op(bucketSearch, tx.v.token(w)+"/"+entrySuffix(r.Timestamp, mk), nil); err != nil {
			return err
		}
	}
	return nil
}

// entrySuffix follows a word's token in its entry for the message mk
// sent at ts: the time inverted, so a word's entries come newest first,
// then the message's key.
func entrySuffix(ts int64, mk string) string { return fmt.Sprintf("%016x/%s", ^uint64(ts), mk) }

// suffixKey is the message key of an entry's suffix.
func suffixKey(suffix string) string { return suffix[17:] }

// reindexMessage moves mk's entries from the words of old to those of r.
func reindexMessage(tx sealedTx, mk string, old, r *messageRecord) error {
	if err := unindexMessage(tx, mk, old); err != nil {
		return err
	}
	return indexMessage(tx, mk, r)
}

// Search finds the messages whose text holds every word of query, newest
// first, at most limit (DefaultSearchLimit if 0). Expired messages are
// not found.
func (c *Client) Search(ctx context.Context, query string, limit int) ([]Message, error) {
	ws := words(query)
	if len(ws) == 0 {
		return nil, ErrEmptyQuery
	}
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	if err := c.buildIndex(ctx); err != nil {
		return nil, err
	}
	var out []Message
	now := c.nowMillis()
	err := c.view(ctx, func(tx sealedTx) error {
		cs := make([]*cursor, len(ws))
		for i, w := range ws {
			cs[i] = &cursor{tx: tx, prefix: tx.v.token(w) + "/"}
		}
		// A leapfrog join of the words' entries, newest first: each
		// cursor in turn skips to the entry the others are at, within
		// the page it holds or by reading a short page that starts there;
		// a common word is read only around the entries of a rare one.
		for {
			at, done, err := leapfrog(cs)
			if err != nil || done {
				return err
			}
			var r messageRecord
			if err := tx.getJSON(bucketMessage, suffixKey(at), &r); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			} else if err == nil && !r.expired(now) && r.Kind == KindText {
				out = append(out, r.message())
				if len(out) == limit {
					return nil
				}
			}
			// (ErrNotFound: the index outlived the message; nothing to show.)
			if err := cs[0].next(); err != nil {
				return err
			}
		}
	})
	return out, err
}

// A cursor reads searchPage entries of a word at a time as it walks on,
// and seekPage where it lands after a skip: a skip usually lands among
// entries it will skip again.
const (
	searchPage = 256
	seekPage   = 16
)

// cursor walks a word's entries (their suffixes) in order.
type cursor struct {
	tx     sealedTx
	prefix string
	buf    []string // entries read ahead; buf[0] is the current one
	end    bool     // nothing after buf
	loaded bool
}

// cur is the current entry, or "" at the end.
func (c *cursor) cur() (string, error) {
	if !c.loaded {
		c.loaded = true
		if err := c.load("", searchPage); err != nil {
			return "", err
		}
	}
	if len(c.buf) == 0 {
		return "", nil
	}
	return c.buf[0], nil
}

// load reads n entries after the suffix after.
func (c *cursor) load(after string, n int) error {
	page, err := scanPage(c.tx, c.prefix, c.prefix+after, n)
	c.buf, c.end = page, len(page) < n
	return err
}

// next moves to the following entry.
func (c *cursor) next() error {
	if len(c.buf) == 0 {
		return nil
	}
	last := c.buf[0]
	c.buf = c.buf[1:]
	if len(c.buf) == 0 && !c.end {
		return c.load(last, searchPage)
	}
	return nil
}

// seek moves to the first entry at or after target.
func (c *cursor) seek(target string) error {
	if cur, err := c.cur(); err != nil || cur == "" || cur >= target {
		return err
	}
	if i, _ := slices.BinarySearch(c.buf, target); i < len(c.buf) {
		c.buf = c.buf[i:]
		return nil
	}
	if c.end {
		c.buf = nil
		return nil
	}
	return c.load(justBefore(target), seekPage)
}

// justBefore is a key that sorts after every suffix below s and before s
// itself (suffixes are of one length and end in a hex digit), so that a
// page after it starts at s, if there is such an entry.
func justBefore(s string) string {
	return s[:len(s)-1] + string(rune(s[len(s)-1]-1)) + "\xff"
}

// leapfrog moves the cursors to the next entry they all have, and
// returns it; done when one of them ran out.
func leapfrog(cs []*cursor) (at string, done bool, err error) {
	for {
		hi := ""
		for _, c := range cs {
			cur, err := c.cur()
			if err != nil || cur == "" {
				return "", true, err
			}
			hi = max(hi, cur)
		}
		same := true
		for _, c := range cs {
			if err := c.seek(hi); err != nil {
				return "", true, err
			}
			cur, _ := c.cur()
			if cur == "" {
				return "", true, nil
			}
			same = same && cur == hi
		}
		if same {
			return hi, false, nil
		}
	}
}

// scanPage reads the entries of the token prefix that sort after the key
// after, at most n: their suffixes.
func scanPage(tx sealedTx, prefix, after string, n int) ([]string, error) {
	var out []string
	add := func(k string, _ []byte) error {
		if k > after && len(out) < n {
			out = append(out, k[len(prefix):])
		}
		return nil
	}
	if pg, ok := tx.tx.(Pager); ok {
		return out, pg.Page(bucketSearch, prefix, after, n, add)
	}
	return out, tx.tx.Scan(bucketSearch, prefix, add)
}

// buildIndex indexes every stored text, once: for a store made before
// search, or whose index was left out (a restored backup).
func (c *Client) buildIndex(ctx context.Context) error {
	ready := false
	if err := c.view(ctx, func(tx sealedTx) error {
		v, err := tx.tx.Get(bucketSearch, searchReady)
		ready = err == nil && string(v) == searchVersion
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}); err != nil || ready {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	return c.update(ctx, func(tx sealedTx) error {
		old, err := tx.keys(bucketSearch, "")
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.tx.Delete(bucketSearch, k); err != nil {
				return err
			}
		}
		if err := tx.scan(bucketMessage, "", func(k string, v []byte) error {
			var r messageRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			return indexMessage(tx, k, &r)
		}); err != nil {
			return err
		}
		return markIndexReady(tx)
	})
}

// markIndexReady records that the index holds every stored text: in a
// new store, at once.
func markIndexReady(tx sealedTx) error {
	return tx.tx.Put(bucketSearch, searchReady, []byte(searchVersion))
}
