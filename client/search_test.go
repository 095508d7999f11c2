package client_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// messageTexts lists the texts of ms, in order.
func messageTexts(ms []client.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func (d *device) search(q string) []string {
	d.t.Helper()
	ms, err := d.Search(context.Background(), q, 0)
	if err != nil {
		d.t.Fatalf("search %q: %v", q, err)
	}
	return messageTexts(ms)
}

// TestSearch: whole words, any case, every word of the query, newest
// first, in 1:1 chats and groups; an edit moves what is found, a deleted
// or expired message is not found; the store's files hold no word of
// the index.
func TestSearch(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	var clk skewClock
	alice := registerClocked(t, srv, "alice", &clk)
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	bob.send("alice", "hello")
	carol.send("alice", "hello")
	syncAll(t, alice)

	bob.send("alice", "Shall we meet on Friday?")
	time.Sleep(2 * time.Millisecond)
	carol.send("alice", "The meeting moved to Friday")
	time.Sleep(2 * time.Millisecond)
	late := bob.send("alice", "FRIDAY works, see you at the café")
	g, err := carol.CreateGroup(ctx, "Book club", "@alice")
	if err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, alice, carol)
	if _, err := carol.Send(ctx, g.Conversation, "next book: the café on friday"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, alice, carol)

	if got := alice.search("friday"); len(got) != 4 || got[0] != "next book: the café on friday" || got[1] != late.Text {
		t.Fatalf("friday: %q, want all four, newest first", got)
	}
	if got := alice.search("meet"); !slices.Equal(got, []string{"Shall we meet on Friday?"}) {
		t.Fatalf("meet: %q, want the whole word only", got)
	}
	if got := alice.search("Café friday"); len(got) != 2 {
		t.Fatalf("café friday: %q, want the two with both words", got)
	}
	if got := alice.search("friday nothing"); len(got) != 0 {
		t.Fatalf("a word no message holds: %q", got)
	}
	if _, err := alice.Search(ctx, " ?! ", 0); !errors.Is(err, client.ErrEmptyQuery) {
		t.Fatalf("a query of no word: %v", err)
	}
	if ms, _ := alice.Search(ctx, "friday", 1); len(ms) != 1 || ms[0].Conversation != g.Conversation {
		t.Fatalf("limit 1: %+v", ms)
	}

	// Bob edits: the old word is no longer found, the new one is.
	if _, err := bob.Edit(ctx, client.Direct("alice"), late.ID, "Saturday works, see you at the café"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice)
	if got := alice.search("saturday"); len(got) != 1 {
		t.Fatalf("saturday after the edit: %q", got)
	}
	if got := alice.search("friday"); len(got) != 3 || slices.Contains(got, late.Text) {
		t.Fatalf("friday after the edit: %q", got)
	}
	// Deleted for everyone: not found.
	if err := bob.DeleteForEveryone(ctx, client.Direct("alice"), late.ID); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice)
	if got := alice.search("saturday"); len(got) != 0 {
		t.Fatalf("a deleted message is found: %q", got)
	}
	// Expired: not found.
	if err := alice.SetTimer(ctx, client.Direct("carol"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol)
	carol.send("alice", "the password is swordfish")
	syncAll(t, alice)
	if got := alice.search("swordfish"); len(got) != 1 {
		t.Fatalf("swordfish: %q", got)
	}
	if err := alice.MarkRead(ctx, client.Direct("carol")); err != nil {
		t.Fatal(err)
	}
	clk.advance(31 * time.Second)
	if got := alice.search("swordfish"); len(got) != 0 {
		t.Fatalf("an expired message is found: %q", got)
	}
	if _, err := alice.EraseExpired(ctx); err != nil {
		t.Fatal(err)
	}

	// The index's keys name no word.
	for _, k := range rawKeys(t, alice.path, "search") {
		for _, w := range []string{"friday", "meet", "café", "swordfish"} {
			if strings.Contains(k, w) {
				t.Fatalf("index key %q holds the word %q", k, w)
			}
		}
	}
}

// TestSearchIndexIsRebuilt: a store whose index is missing (made before
// search, or restored without it) is indexed on the first search.
func TestSearchIndexIsRebuilt(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	bob.send("alice", "an older message about tulips")
	syncAll(t, alice)
	alice.Close()
	db, err := sql.Open("sqlite", "file:"+alice.path)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := db.Exec(`DELETE FROM kv WHERE bucket = 'search'`); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n < 2 {
		t.Fatalf("removed %d index rows, want the marker and the words", n)
	}
	db.Close()
	st, err := sqlitestore.Open(ctx, alice.path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Open(ctx, client.Config{Store: st, Passphrase: passphrase})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms, err := c.Search(ctx, "tulips", 0)
	if err != nil || len(ms) != 1 {
		t.Fatalf("search after the index was lost: %+v, %v", ms, err)
	}
}

// TestSearchMatchesBruteForce: over 3,000 messages (many pages of every
// word's entries) the index finds, for one- and two-word queries of
// common and rare words, exactly the newest messages a scan of every
// text finds.
func TestSearchMatchesBruteForce(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	zipf := rand.NewZipf(rand.New(rand.NewPCG(9, 10)), 1.2, 1, 199)
	all := make([]string, 3000)
	for i := range all {
		ws := make([]string, 8)
		for j := range ws {
			ws[j] = fmt.Sprintf("w%d", zipf.Uint64())
		}
		all[i] = strings.Join(ws, " ")
	}
	if err := alice.StoreReceivedForTest(ctx, "bob", all[:1500], time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := alice.StoreReceivedForTest(ctx, "carol", all[1500:], time.Now().Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	newestFirst := slices.Clone(all)
	slices.Reverse(newestFirst)
	for _, q := range []string{"w0", "w1", "w150", "w0 w1", "w0 w199", "w3 w77", "w5 w5", "w0 w1 w2", "w198 w199"} {
		var want []string
		for _, text := range newestFirst {
			ws := strings.Fields(text)
			if !slices.ContainsFunc(strings.Fields(q), func(w string) bool { return !slices.Contains(ws, w) }) {
				want = append(want, text)
			}
		}
		got, err := alice.Search(ctx, q, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) > 100 {
			want = want[:100]
		}
		if !slices.Equal(messageTexts(got), want) {
			t.Fatalf("%q: %d results, brute force %d (first %q vs %q)", q, len(got), len(want), first(messageTexts(got)), first(want))
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// rawKeys lists the keys of bucket in the SQLite file at path.
func rawKeys(t *testing.T, path, bucket string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key FROM kv WHERE bucket = ?`, bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// BenchmarkSearch: queries over 100,000 stored messages of 12 words from
// a vocabulary of 5,000 with Zipf frequencies (s = 1.1: a few words are
// in most messages, most words in few), in a real SQLite store on disk.
// Each query is one or two words drawn from a stored message (so common
// words are asked for as often as they occur). Reported: the p50 and p99
// query times, and the time of a query for the commonest word alone.
func BenchmarkSearch(b *testing.B) {
	const messages = 100_000
	ctx := context.Background()
	srv := parleytest.Start(b, server.Config{})
	st, err := sqlitestore.Open(ctx, b.TempDir()+"/search.db")
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := client.Create(ctx, client.Config{Store: st, Passphrase: passphrase}, client.CreateOptions{Server: srv.URL, Username: "alice", DeviceName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, 4999)
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("%c%c%cword%d", 'a'+r.IntN(26), 'a'+r.IntN(26), 'a'+r.IntN(26), i)
	}
	all := make([]string, messages)
	for i := range all {
		ws := make([]string, 12)
		for j := range ws {
			ws[j] = vocab[zipf.Uint64()]
		}
		all[i] = strings.Join(ws, " ")
	}
	began := time.Now()
	for i, peer := range []string{"bob", "carol", "dave", "erin"} {
		if err := c.StoreReceivedForTest(ctx, peer, all[i*messages/4:(i+1)*messages/4], time.Now().Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored and indexed %d messages in %v", messages, time.Since(began))
	query := func() string {
		ws := strings.Fields(all[r.IntN(messages)])
		q := ws[r.IntN(len(ws))]
		if r.IntN(2) == 0 {
			q += " " + ws[r.IntN(len(ws))]
		}
		return q
	}
	if _, err := c.Search(ctx, vocab[0], 0); err != nil { // and the index is ready
		b.Fatal(err)
	}
	freq := map[string]int{}
	for _, text := range all {
		for _, w := range uniqueWords(text) {
			freq[w]++
		}
	}
	type slow struct {
		q    string
		d    time.Duration
		hits int
	}
	var slowest []slow
	b.ResetTimer()
	var times []time.Duration
	for b.Loop() {
		q := query()
		t0 := time.Now()
		ms, err := c.Search(ctx, q, 0)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		times = append(times, d)
		slowest = append(slowest, slow{q, d, len(ms)})
	}
	b.StopTimer()
	slices.SortFunc(slowest, func(a, b slow) int { return int(b.d - a.d) })
	for _, s := range slowest[:min(5, len(slowest))] {
		var fs []string
		for _, w := range strings.Fields(s.q) {
			fs = append(fs, fmt.Sprintf("%d", freq[w]))
		}
		b.Logf("slow: %v for %d results; messages holding each word: %s", s.d.Round(time.Millisecond), s.hits, strings.Join(fs, ", "))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	t0 := time.Now()
	ms, err := c.Search(ctx, vocab[0], 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "commonest-ms")
	b.Logf("the commonest word: %d results shown (of its matches); %d queries timed", len(ms), len(times))
	// A restored store has no index: its first search builds it.
	if err := c.DropSearchIndexForTest(ctx); err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	if _, err := c.Search(ctx, vocab[1], 0); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "rebuild-s")
}

// uniqueWords lists the distinct words of a benchmark text.
func uniqueWords(text string) []string {
	ws := strings.Fields(text)
	slices.Sort(ws)
	return slices.Compact(ws)
}
