package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/markup"
)

// The channels screens: the channels this device follows or publishes to,
// and one channel's feed. A feed is fetched with client.Feed when it opens
// (new records verified, view counts and takedowns read) and redrawn from
// the store on every client event, so a live post shows at once without a
// request to the server. A device that holds the channel's
// key gets an input line that publishes.

// feedLimit is how many of a channel's newest posts the feed view loads.
const feedLimit = 200

// channelsView is the list of channels.
type channelsView struct {
	chans   picker[client.ChannelSummary]
	applied int // seq of the load shown
}

func newChannelsView() channelsView {
	return channelsView{chans: picker[client.ChannelSummary]{key: func(c client.ChannelSummary) string { return c.Handle }}}
}

// feedView is one channel's posts.
type feedView struct {
	handle    string
	publisher bool
	posts     []client.Post    // newest first, as Feed returns them
	views     map[uint64]int64 // by Seq, from the last fetch
	applied   int
	input     textinput.Model
	scroll    int      // lines scrolled back from the newest
	pending   []string // posts being published
}

func newFeedView() feedView {
	in := textinput.New()
	in.Prompt = "> "
	return feedView{input: in}
}

// channelsMsg is the answer of Channels.
type channelsMsg struct {
	seq   int
	chans []client.ChannelSummary
	err   error
}

// feedMsg is the answer of Feed (fetched) or StoredPosts.
type feedMsg struct {
	seq     int
	handle  string
	posts   []client.Post
	fetched bool
	err     error
}

// publishedMsg is the answer of Publish.
type publishedMsg struct {
	handle, text string
	err          error
}

// openChannels shows the channel list.
func (m *model) openChannels() tea.Cmd {
	stop := m.stopTyping()
	m.clearStatus()
	m.screen = screenChannels
	m.feed.input.Blur()
	return tea.Batch(stop, m.loadChannels())
}

func (m *model) loadChannels() tea.Cmd {
	seq, ctx, c := m.nextSeq(), m.ctx, m.c
	return func() tea.Msg {
		chans, err := c.Channels(ctx)
		return channelsMsg{seq: seq, chans: chans, err: err}
	}
}

func (v *channelsView) apply(msg channelsMsg, m *model) {
	if msg.seq < v.applied {
		return
	}
	v.applied = msg.seq
	if msg.err != nil {
		m.setError(msg.err, "")
		return
	}
	v.chans.set(msg.chans)
}

func (m *model) channelsKey(k tea.KeyPressMsg) tea.Cmd {
	v := &m.channels.chans
	switch k.String() {
	case "q":
		return m.quit()
	case "esc", "tab":
		return m.openList()
	case "up", "k":
		v.selectRow(v.sel - 1)
	case "down", "j":
		v.selectRow(v.sel + 1)
	case "enter":
		if c, ok := v.selected(); ok {
			return m.openFeed(c)
		}
	}
	return nil
}

func (m *model) channelsScreen() string {
	title := styleTitle.Render("parley") + styleFaint.Render(" · @"+clean(m.me))
	top := []string{header(m.width, title, styleFaint.Render("channels")), rule(m.width)}
	bottom := m.statusLines("↑/↓ select · Enter open · Tab conversations · q quit")
	v := &m.channels.chans
	if len(v.items) == 0 {
		body := []string{"", styleFaint.Render("  No channels yet. Follow one with: parley channel follow @handle")}
		return layout(m.width, m.height, top, body, bottom)
	}
	var body []string
	now := time.Now()
	from, to := v.window(m.height - len(top) - len(bottom))
	for i := from; i < to; i++ {
		c := v.items[i]
		name := "  #" + clean(c.Handle)
		if i == v.sel {
			name = styleSelected.Render("▸ #" + clean(c.Handle))
		}
		var roles []string
		if c.Publisher {
			roles = append(roles, "you publish")
		}
		if c.Follows {
			roles = append(roles, "following")
		}
		note := strings.Join(roles, ", ") + fmt.Sprintf(" · %d post%s", c.Posts, plural(int64(c.Posts)))
		if !c.Last.IsZero() {
			note += " · " + stamp(c.Last, now)
		}
		body = append(body, header(m.width, name, styleFaint.Render(note)))
	}
	return layout(m.width, m.height, top, body, bottom)
}

// openFeed shows a channel's posts.
func (m *model) openFeed(c client.ChannelSummary) tea.Cmd {
	m.clearStatus()
	m.screen = screenFeed
	v := &m.feed
	if c.Handle != v.handle {
		v.handle, v.posts, v.views, v.pending, v.scroll, v.applied = c.Handle, nil, nil, nil, 0, 0
		v.input.Reset()
		v.input.Placeholder = "Post to #" + c.Handle
	}
	v.publisher = c.Publisher
	if !v.publisher {
		v.input.Blur()
		return m.fetchFeed()
	}
	return tea.Batch(m.fetchFeed(), v.input.Focus())
}

// fetchFeed catches up with the server (Feed): on opening the feed and
// after posting.
func (m *model) fetchFeed() tea.Cmd {
	seq, ctx, c, handle := m.nextSeq(), m.ctx, m.c, m.feed.handle
	return func() tea.Msg {
		posts, err := c.Feed(ctx, handle, feedLimit)
		return feedMsg{seq: seq, handle: handle, posts: posts, fetched: true, err: err}
	}
}

// loadFeed redraws the feed from what the device has stored, on client
// events: live posts and moderation are stored as they arrive, so this
// asks the server nothing.
func (m *model) loadFeed() tea.Cmd {
	seq, ctx, c, handle := m.nextSeq(), m.ctx, m.c, m.feed.handle
	return func() tea.Msg {
		posts, err := c.StoredPosts(ctx, handle, feedLimit)
		return feedMsg{seq: seq, handle: handle, posts: posts, err: err}
	}
}

func (v *feedView) apply(msg feedMsg, m *model) {
	if msg.handle != v.handle || msg.seq < v.applied {
		return
	}
	v.applied = msg.seq
	if msg.err != nil {
		m.setError(msg.err, "")
		return
	}
	// View counts come only with a fetch; a redraw from the store keeps
	// the last ones.
	if msg.fetched {
		v.views = make(map[uint64]int64, len(msg.posts))
		for _, p := range msg.posts {
			v.views[p.Seq] = p.Views
		}
	} else {
		for i := range msg.posts {
			msg.posts[i].Views = v.views[msg.posts[i].Seq]
		}
	}
	v.posts = msg.posts
}

func (m *model) feedKey(k tea.KeyPressMsg) tea.Cmd {
	v := &m.feed
	page := max(m.height-6, 1)
	switch k.String() {
	case "esc":
		return m.openChannels()
	case "pgup":
		v.scroll += page
		return nil
	case "pgdown":
		v.scroll = max(v.scroll-page, 0)
		return nil
	case "enter":
		if v.publisher {
			return m.publish()
		}
		return nil
	}
	return m.feedInput(k)
}

// feedInput passes msg to the input line of a publisher.
func (m *model) feedInput(msg tea.Msg) tea.Cmd {
	if !m.feed.publisher {
		return nil
	}
	var cmd tea.Cmd
	m.feed.input, cmd = m.feed.input.Update(msg)
	return cmd
}

// publish signs and posts the input line's text; it shows as pending
// until the server has it.
func (m *model) publish() tea.Cmd {
	v := &m.feed
	text := v.input.Value()
	if strings.TrimSpace(text) == "" {
		return nil
	}
	v.input.Reset()
	v.pending = append(v.pending, text)
	v.scroll = 0
	ctx, c, handle := m.ctx, m.c, v.handle
	return func() tea.Msg {
		_, err := c.Publish(ctx, handle, text)
		return publishedMsg{handle: handle, text: text, err: err}
	}
}

func (m *model) published(msg publishedMsg) tea.Cmd {
	v := &m.feed
	if msg.handle == v.handle {
		v.pending = dropPending(v.pending, msg.text)
	}
	if msg.err != nil {
		m.setError(msg.err, "")
		return nil
	}
	if m.screen == screenFeed && msg.handle == v.handle {
		return m.fetchFeed()
	}
	return nil
}

func (m *model) feedScreen() string {
	v := &m.feed
	note := styleFaint.Render("read only")
	hint := "Esc back · PgUp/PgDn scroll"
	if v.publisher {
		note = styleGood.Render("you publish")
		hint = "Enter post · " + hint
	}
	top := []string{header(m.width, styleTitle.Render("#"+clean(v.handle)), note), rule(m.width)}
	bottom := m.statusLines(hint)
	if v.publisher {
		bottom = append(bottom, v.input.View())
	}
	body := m.feedLines(time.Now())
	return layoutScrolled(m.width, m.height, top, body, bottom, &v.scroll)
}

// feedLines draws the posts, oldest first, wrapped to the width.
func (m *model) feedLines(now time.Time) []string {
	v := &m.feed
	if len(v.posts) == 0 && len(v.pending) == 0 {
		return []string{styleFaint.Render("No posts in #" + clean(v.handle) + " yet.")}
	}
	var lines []string
	for i := len(v.posts) - 1; i >= 0; i-- {
		lines = append(lines, wrap(formatPost(v.posts[i], now), m.width)...)
	}
	for _, text := range v.pending {
		line := styleFaint.Render(stamp(now, now)) + " " + cleanBody(markup.Plain(text)) + "  " + styleFaint.Render("posting…")
		lines = append(lines, wrap(line, m.width)...)
	}
	return lines
}

// formatPost is one post: time, number, marks and text (markup shown as
// plain text), how many media items it carries and its views.
func formatPost(p client.Post, now time.Time) string {
	if p.Withheld {
		return styleFaint.Render(fmt.Sprintf("#%d", p.Seq)) + " " +
			styleNote.Render("[withheld: the server did not serve the records from here on]")
	}
	if p.Removed != "" {
		return styleFaint.Render(fmt.Sprintf("#%d", p.Seq)) + " " +
			styleNote.Render("[removed by the server's operator: "+clean(p.Removed)+"]")
	}
	line := styleFaint.Render(stamp(p.Time, now)+fmt.Sprintf(" #%d", p.Seq)) + " "
	if p.Pinned {
		line += styleNote.Render("[pinned] ")
	}
	line += cleanBody(markup.Plain(p.Text))
	if len(p.Edits) > 0 {
		line += styleFaint.Render(" (edited)")
	}
	if len(p.Media) > 0 {
		line += styleNote.Render(fmt.Sprintf(" [%d media]", len(p.Media)))
	}
	if p.Views > 0 {
		line += styleFaint.Render(fmt.Sprintf(" · %d view%s", p.Views, plural(p.Views)))
	}
	return line
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
