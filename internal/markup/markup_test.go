package markup

import (
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

func TestHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"**bold** and _italic_", "<strong>bold</strong> and <em>italic</em>"},
		{"see [the site](https://example.org/a?b=1&c=2)", `see <a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener ugc">the site</a>`},
		{"go to https://example.org.", `go to <a href="https://example.org" rel="nofollow noopener ugc">https://example.org</a>.`},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{`[x](javascript:alert(1))`, "[x](javascript:alert(1))"},
		{`[<b>](https://e.org/"onmouseover=x)`, `<a href="https://e.org/&#34;onmouseover=x" rel="nofollow noopener ugc">&lt;b&gt;</a>`},
		{"snake_case_name stays", "snake_case_name stays"},
		{"two\nlines", "two<br>lines"},
	} {
		if got := string(HTML(c.in)); got != c.want {
			t.Errorf("HTML(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestPlain(t *testing.T) {
	if got := Plain("**Big** news: [read](https://e.org) _now_"); got != "Big news: read now" {
		t.Fatalf("Plain = %q", got)
	}
}

// FuzzHTML: whatever the text, the output has no tag but the ones the
// markup makes, and no javascript: link. Seeded with every case of
// TestHTML and a few that mix the markup.
func FuzzHTML(f *testing.F) {
	f.Add("**b** _i_ [l](https://x.org) https://y.org <i>")
	for _, s := range []string{"plain", "**bold** and _italic_", "see [the site](https://example.org/a?b=1&c=2)",
		"go to https://example.org.", "<script>alert(1)</script>", `[x](javascript:alert(1))`,
		`[<b>](https://e.org/"onmouseover=x)`, "snake_case_name stays", "two\nlines",
		"**_[nested](https://e.org)_**", "[a](https://e.org)[b](http://f.org) **", "_**x_**", "[](https://e.org) [x]() https://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(HTML(s))
		rest := out
		for {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			rest = rest[i:]
			ok := false
			for _, tag := range []string{"<strong>", "</strong>", "<em>", "</em>", "<br>", "</a>", `<a href="http`} {
				if strings.HasPrefix(rest, tag) {
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("unexpected markup in %q -> %q", s, out)
			}
			rest = rest[1:]
		}
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
