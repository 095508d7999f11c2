// Package markup renders the small text markup of channel posts
// (spec/client.md §9.2) to HTML: **bold**, _italic_, [label](https://…)
// links and bare http(s) URLs. Everything else is text, escaped; line
// breaks become <br>. Only http and https links are made; nothing else
// from the text reaches the HTML unescaped.
package markup

import (
	"html"
	"html/template"
	"regexp"
	"strings"
)

var (
	linkRE   = regexp.MustCompile(`\[([^\[\]\n]{1,200})\]\((https?://[^\s()<>]+)\)|https?://[^\s<>]+`)
	boldRE   = regexp.MustCompile(`\*\*([^*\n]+)\*\*`)
	italicRE = regexp.MustCompile(`(^|[\s(])_([^_\n]+)_([\s).,;:!?]|$)`)
)

// HTML renders text.
func HTML(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range linkRE.FindAllStringSubmatchIndex(text, -1) {
		b.WriteString(inline(text[last:m[0]]))
		var label, url string
		if m[2] >= 0 {
			label, url = text[m[2]:m[3]], text[m[4]:m[5]]
		} else {
			url = strings.TrimRight(text[m[0]:m[1]], ".,;:!?'\"")
			m[1] = m[0] + len(url)
			label = url
		}
		b.WriteString(`<a href="` + html.EscapeString(url) + `" rel="nofollow noopener ugc">` + inline(label) + `</a>`)
		last = m[1]
	}
	b.WriteString(inline(text[last:]))
	return template.HTML(b.String()) // every piece was escaped above
}

// inline escapes s and applies bold, italics and line breaks.
func inline(s string) string {
	s = html.EscapeString(s)
	s = boldRE.ReplaceAllString(s, "<strong>$1</strong>")
	s = italicRE.ReplaceAllString(s, "$1<em>$2</em>$3")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// Plain strips the markup, for places that show text only (feed titles,
// link previews).
func Plain(text string) string {
	text = linkRE.ReplaceAllStringFunc(text, func(m string) string {
		if sub := linkRE.FindStringSubmatch(m); sub[1] != "" {
			return sub[1]
		}
		return m
	})
	text = boldRE.ReplaceAllString(text, "$1")
	return italicRE.ReplaceAllString(text, "$1$2$3")
}
