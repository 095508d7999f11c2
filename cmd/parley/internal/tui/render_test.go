package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/client"
)

func TestLayout(t *testing.T) {
	long := strings.Repeat("x", 50)
	tests := []struct {
		name              string
		w, h              int
		top, body, bottom []string
		want              []string
	}{
		{"fills the height", 10, 5, []string{"top"}, []string{"a"}, []string{"> "},
			[]string{"top", "a", "", "", "> "}},
		{"shows the body's last lines", 10, 4, []string{"top"}, []string{"a", "b", "c"}, []string{"> "},
			[]string{"top", "b", "c", "> "}},
		{"cuts wide lines", 4, 2, nil, []string{long}, []string{"> in"},
			[]string{"xxxx", "> in"}},
		{"keeps the input when nothing else fits", 10, 1, []string{"top"}, []string{"a"}, []string{"status", "> "},
			[]string{"> "}},
		{"zero height", 10, 0, []string{"top"}, []string{"a"}, []string{"> "}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Split(layout(tt.w, tt.h, tt.top, tt.body, tt.bottom), "\n")
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWrapFitsWidth(t *testing.T) {
	msg := client.Message{Kind: client.KindText, Outgoing: true, From: "alice", Status: client.StatusRead,
		Text: "a long message with a verylongwordthatmustbebrokenbecauseitdoesnotfit in it"}
	for _, w := range []int{1, 5, 20, 80} {
		for _, l := range wrap(formatMessage(msg, msg.Time), w) {
			if lipgloss.Width(l) > w {
				t.Errorf("width %d: line %q is %d wide", w, l, lipgloss.Width(l))
			}
		}
	}
}

func TestCleanStripsTerminalControls(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"\x1b[2J\x1b]0;title\x07hi", "<U+001B>[2J<U+001B>]0;title<U+0007>hi"},
		{"a\tb\nc\rd", "a b<U+000A>c<U+000D>d"},
		{"\u009b31mred", "<U+009B>31mred"},
		{"abc\u202edcba", "abc<U+202E>dcba"},
		{"ünïcödé ✓", "ünïcödé ✓"},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSafetyRows(t *testing.T) {
	digits := strings.Repeat("0123456789", 6)
	want := []string{"01234 56789 01234 56789", "01234 56789 01234 56789", "01234 56789 01234 56789"}
	if got := safetyRows(digits); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := safetyRows(""); len(got) != 0 {
		t.Errorf("empty digits: got %q", got)
	}
	if got := safetyRows("1234567"); fmt.Sprint(got) != "[12345 67]" {
		t.Errorf("short digits: got %q", got)
	}
}

func TestPeerTyping(t *testing.T) {
	p := peerTyping{}
	p.set("bob", true)
	p.set("bob", true) // a fresh start: the first one's expiry must not end it
	p.expire(peerTypingExpiredMsg{peer: "bob", n: 1})
	if !p.on("bob") {
		t.Fatal("an old start's expiry ended a newer one")
	}
	p.expire(peerTypingExpiredMsg{peer: "bob", n: 2})
	if p.on("bob") {
		t.Fatal("typing did not expire")
	}
	p.set("bob", true)
	p.set("bob", false)
	if p.on("bob") {
		t.Fatal("a stop did not end typing")
	}
}

func TestDescribe(t *testing.T) {
	if got := describe(nil, "bob"); got != "" {
		t.Errorf("no error described as %q", got)
	}
	for _, err := range []error{client.ErrIdentityNotVerified, client.ErrNoSuchUser, client.ErrUnknownContact} {
		if got := describe(err, "bob"); !strings.Contains(got, "@bob") {
			t.Errorf("%v: %q does not name the peer", err, got)
		}
	}
	if got := describe(client.ErrIdentityNotVerified, "bob"); !strings.Contains(got, "Ctrl+S") {
		t.Errorf("the advice for a changed safety number does not say what to press: %q", got)
	}
}

// TestFormatPost: a post shows its number, marks, plain text, media and
// views; a taken-down one only the operator's reason, with control
// characters shown as marks like any text from the server.
func TestFormatPost(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	p := client.Post{Seq: 7, Time: now, Text: "**big** news", Pinned: true, Edits: []string{"old"},
		Media: [][]byte{{1}}, Views: 1}
	got := lipgloss.NewStyle().Render(formatPost(p, now))
	for _, want := range []string{"#7", "[pinned]", "big news", "(edited)", "[1 media]", "1 view"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "**") || strings.Contains(got, "1 views") {
		t.Errorf("%q shows markup or a wrong plural", got)
	}
	got = formatPost(client.Post{Seq: 9, Removed: "court\x1b[2Jorder"}, now)
	if !strings.Contains(got, "#9") || !strings.Contains(got, "removed by the server's operator: court<U+001B>[2Jorder") || strings.Contains(got, "\x1b[2J") {
		t.Errorf("removed post: %q", got)
	}
}

// TestChannelsScreenPlurals: the channel list counts "1 post", not
// "1 posts", and a file in a chat "1 byte".
func TestChannelsScreenPlurals(t *testing.T) {
	m := &model{width: 80, height: 10, channels: newChannelsView()}
	m.channels.chans.set([]client.ChannelSummary{{Handle: "one", Follows: true, Posts: 1}, {Handle: "two", Follows: true, Posts: 2}})
	got := m.channelsScreen()
	if !strings.Contains(got, "following · 1 post") || strings.Contains(got, "1 posts") || !strings.Contains(got, "2 posts") {
		t.Errorf("channel list:\n%s", got)
	}
	now := time.Now()
	line := formatMessage(client.Message{Kind: client.KindText, From: "bob", Time: now, Attachment: &client.Attachment{Name: "a", Size: 1}}, now)
	if !strings.Contains(line, "1 byte;") {
		t.Errorf("file line: %q", line)
	}
}
