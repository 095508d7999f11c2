package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
)

// messageLimit is how many of a conversation's newest messages the chat
// view loads.
const messageLimit = 500

// chatView is the conversation with one peer.
type chatView struct {
	peer    string // the conversation: a username, or "+" and a group ID
	group   *client.GroupInfo
	msgs    []client.Message
	contact client.Contact
	known   bool // the peer is a contact (keys were exchanged)
	applied int  // seq of the load shown
	pending []string
	input   textinput.Model
	scroll  int // lines scrolled back from the newest
	typing  ownTyping

	sel     selection           // select mode: a message picked to act on
	compose compose             // what Enter sends: a message, a reply or an edit
	timer   time.Duration       // the chat's disappearing timer
	conv    client.Conversation // its summary: a message request, blocked
}

func newChatView() chatView {
	in := textinput.New()
	in.Prompt = "> "
	return chatView{input: in}
}

// reset empties the view for a conversation with peer.
func (v *chatView) reset(peer string) {
	v.peer, v.msgs, v.contact, v.known, v.pending, v.scroll, v.group = peer, nil, client.Contact{}, false, nil, 0, nil
	v.sel, v.compose, v.timer, v.conv = selection{}, compose{}, 0, client.Conversation{}
	v.input.Reset()
	v.input.Placeholder = "Message @" + peer
	if client.ConversationID(peer).IsGroup() {
		v.input.Placeholder = "Message the group"
	}
	v.typing = ownTyping{gen: v.typing.gen + 1}
}

// openChat shows the conversation with peer (a username, with or
// without @), or says why it cannot.
func (m *model) openChat(peer string) tea.Cmd {
	p, err := api.NormalizeUsername(peer)
	if _, ok := client.ConversationID(peer).Group(); ok {
		p, err = peer, nil
	}
	if err != nil {
		m.setErrorText(fmt.Sprintf("%q is not a username: use 3-32 letters, digits or _, starting with a letter", clean(peer)))
		return nil
	}
	if p == m.me {
		m.setError(client.ErrSelf, p)
		return nil
	}
	stop := m.stopTyping()
	m.clearStatus()
	m.menu, m.prompt = nil, nil
	m.screen = screenChat
	if p != m.chat.peer {
		m.chat.reset(p)
	}
	return tea.Batch(stop, m.loadMessages(), m.markRead(p), m.chat.input.Focus())
}

// messagesMsg is the answer of Messages, with the peer's contact record.
type messagesMsg struct {
	seq     int
	peer    string
	msgs    []client.Message
	contact client.Contact
	known   bool
	group   *client.GroupInfo
	timer   time.Duration
	conv    client.Conversation
	err     error
}

func (m *model) loadMessages() tea.Cmd {
	seq, ctx, c, peer := m.nextSeq(), m.ctx, m.c, m.chat.peer
	return func() tea.Msg {
		r := messagesMsg{seq: seq, peer: peer}
		conv := client.ConversationID(peer)
		r.msgs, r.err = c.Messages(ctx, conv, messageLimit)
		if r.err == nil && conv.IsGroup() {
			g, err := c.Group(ctx, conv)
			r.group, r.err = &g, err
		} else if r.err == nil {
			r.contact, r.known, r.err = findContact(ctx, c, peer)
		}
		if r.err == nil {
			r.timer, r.conv, r.err = chatState(ctx, c, conv)
		}
		return r
	}
}

// findContact returns peer's contact record, if there is one.
func findContact(ctx context.Context, c *client.Client, peer string) (client.Contact, bool, error) {
	cs, err := c.Contacts(ctx)
	for _, ct := range cs {
		if ct.Username == peer {
			return ct, true, err
		}
	}
	return client.Contact{}, false, err
}

func (v *chatView) apply(msg messagesMsg, m *model) {
	if msg.peer != v.peer || msg.seq < v.applied {
		return
	}
	v.applied = msg.seq
	if msg.err != nil {
		m.setError(msg.err, msg.peer)
		return
	}
	v.msgs, v.contact, v.known, v.group = msg.msgs, msg.contact, msg.known, msg.group
	v.timer, v.conv = msg.timer, msg.conv
	v.sel.follow(v.msgs)
}

func (m *model) chatKey(k tea.KeyPressMsg) tea.Cmd {
	if m.chat.sel.on {
		return m.selectKey(k)
	}
	page := max(m.height-6, 1)
	switch k.String() {
	case "esc":
		if m.chat.compose.kind != composeMessage {
			m.cancelCompose()
			return nil
		}
		return tea.Batch(m.stopTyping(), m.openList())
	case "up":
		if m.chat.input.Value() == "" {
			return m.startSelect()
		}
	case "ctrl+o":
		return m.openChatMenu()
	case "tab":
		return m.openChannels() // it stops typing too
	case "ctrl+s":
		if m.chat.group != nil {
			m.setInfo("safety numbers are per contact: open a chat with a member (Esc, then the member) and press Ctrl+S")
			return nil
		}
		return m.openSafety(m.chat.peer)
	case "enter":
		return m.submit()
	case "pgup":
		m.chat.scroll += page
		return nil
	case "pgdown":
		m.chat.scroll = max(m.chat.scroll-page, 0)
		return nil
	}
	return m.chatInput(k)
}

// chatInput passes msg to the input line, and notes an edit as typing.
func (m *model) chatInput(msg tea.Msg) tea.Cmd {
	before := m.chat.input.Value()
	var cmd tea.Cmd
	m.chat.input, cmd = m.chat.input.Update(msg)
	after := m.chat.input.Value()
	if after == before {
		return cmd
	}
	return tea.Batch(cmd, m.keystroke(after == ""))
}

// sentMsg is the answer of Send.
type sentMsg struct {
	peer, text string
	err        error
}

// send sends the input line's text. The message shows as pending until
// the store has it; a stop of typing follows the message.
func (m *model) send() tea.Cmd {
	text := m.chat.input.Value()
	if strings.TrimSpace(text) == "" {
		return nil
	}
	re := m.chat.compose.replyTo()
	m.chat.compose = compose{}
	m.chat.input.Reset()
	m.chat.pending = append(m.chat.pending, text)
	m.chat.scroll = 0
	t := &m.chat.typing
	wasTyping := !t.sentAt.IsZero()
	t.sentAt = time.Time{}
	t.gen++
	ctx, c, peer := m.ctx, m.c, m.chat.peer
	return func() tea.Msg {
		var err error
		if re != nil {
			_, err = c.Reply(ctx, client.ConversationID(peer), *re, text)
		} else {
			_, err = c.Send(ctx, client.ConversationID(peer), text)
		}
		if wasTyping {
			tctx, cancel := context.WithTimeout(ctx, typingTimeout)
			_ = c.SendTyping(tctx, client.ConversationID(peer), false) // best effort, as every typing notification
			cancel()
		}
		return sentMsg{peer: peer, text: text, err: err}
	}
}

func (m *model) sent(msg sentMsg) tea.Cmd {
	if msg.peer != m.chat.peer {
		m.setError(msg.err, msg.peer)
		return nil
	}
	m.chat.pending = dropPending(m.chat.pending, msg.text)
	if msg.err != nil {
		m.setError(msg.err, msg.peer)
	} else if m.status.kind == statusError {
		m.clearStatus()
	}
	if m.screen == screenChat {
		return m.loadMessages()
	}
	return nil
}

func (m *model) chatScreen() string {
	v := &m.chat
	top := []string{header(m.width, styleTitle.Render("@"+clean(v.peer)), m.trustNote()), rule(m.width)}
	if g := v.group; g != nil {
		top = []string{header(m.width, styleTitle.Render("+"+clean(g.Title)), styleFaint.Render(fmt.Sprintf("%d members", len(g.Members)))),
			styleFaint.Render(cut(clean(memberLine(*g)), m.width)), rule(m.width)}
	}
	var typing string
	if who := m.typing.who(v.peer); len(who) == 1 && v.group != nil {
		typing = styleFaint.Render(clean(who[0]) + " is typing…")
	} else if len(who) > 1 && v.group != nil {
		typing = styleFaint.Render(clean(strings.Join(who, ", ")) + " are typing…")
	} else if len(who) > 0 {
		typing = styleFaint.Render(clean(v.peer) + " is typing…")
	}
	bottom := append([]string{typing}, m.overlayLines()...)
	bottom = append(bottom, m.statusLines(m.chatHint())...)
	bottom = append(bottom, m.composeLines()...)
	bottom = append(bottom, m.inputLine(v.input.View()))
	body, from, to := m.chatLines(time.Now())
	if v.sel.on {
		v.scroll = showLines(m.height-len(top)-len(bottom), len(body), from, to, v.scroll)
	}
	return layoutScrolled(m.width, m.height, top, body, bottom, &v.scroll)
}

// trustNote says on the chat's first line whether the peer is verified.
func (m *model) trustNote() string {
	ct := m.chat.contact
	switch {
	case m.chat.conv.Blocked:
		return styleError.Render("blocked · Ctrl+O")
	case !m.chat.known:
		return styleFaint.Render("new contact")
	case ct.Held:
		return styleError.Render("⚠ safety number changed · Ctrl+S")
	case ct.Verified:
		return styleGood.Render("✓ verified")
	}
	return styleFaint.Render("not verified · Ctrl+S")
}

// chatLines draws the conversation, wrapped to the width, oldest first,
// and says which lines [from, to) the selected message takes.
func (m *model) chatLines(now time.Time) (lines []string, from, to int) {
	v := &m.chat
	if len(v.msgs) == 0 && len(v.pending) == 0 {
		if v.group != nil {
			return []string{styleFaint.Render("No messages in +" + clean(v.group.Title) + " yet. Say hello below.")}, 0, 0
		}
		return []string{styleFaint.Render("No messages with @" + clean(v.peer) + " yet. Say hello below.")}, 0, 0
	}
	sending := map[string]int{}
	byID := make(map[client.MessageID]*client.Message, len(v.msgs))
	for i := range v.msgs {
		byID[v.msgs[i].ID] = &v.msgs[i]
	}
	for i, msg := range v.msgs {
		if msg.Outgoing && msg.Status == client.StatusSending {
			sending[msg.Text]++
		}
		picked := v.sel.on && i == v.sel.idx
		if picked {
			from = len(lines)
		}
		lines = append(lines, messageLines(msg, byID, now, m.width, picked)...)
		if picked {
			to = len(lines)
		}
	}
	for _, text := range v.pending {
		if sending[text] > 0 { // stored already, and drawn above
			sending[text]--
			continue
		}
		pending := client.Message{Outgoing: true, From: m.me, Kind: client.KindText, Text: text, Time: now, Status: client.StatusSending}
		lines = append(lines, wrap(formatMessage(pending, now), m.width)...)
	}
	return lines, from, to
}

// formatMessage is one message: time, sender, text and, for ours, how
// far it got. Notes the client added show as "! ...".
func formatMessage(msg client.Message, now time.Time) string {
	when := styleFaint.Render(stamp(msg.Time, now))
	switch msg.Kind {
	case client.KindText, client.KindDeleted:
	case client.KindTimerChanged:
		return when + " " + styleNote.Render("⏱ "+clean(msg.Text))
	case client.KindDecryptionFailed, client.KindGroupRefused:
		return when + " " + styleError.Render("! "+clean(msg.Text))
	case client.KindGroupChange:
		return when + " " + styleNote.Render("* "+clean(msg.Text))
	default:
		return when + " " + styleNote.Render("! "+clean(msg.Text))
	}
	who := stylePeer.Render(clean(msg.From))
	if msg.Outgoing {
		who = styleMe.Render(clean(msg.From))
	}
	if msg.Timer > 0 {
		when += " " + styleNote.Render("⏱")
	}
	if msg.Kind == client.KindDeleted {
		return when + " " + who + ": " + styleFaint.Render("This message was deleted")
	}
	line := when + " " + who + ": " + forwardedMark(msg) + cleanBody(msg.Text) + editedMark(msg)
	if a := msg.Attachment; a != nil {
		// The ID is what `parley get` takes.
		line += styleNote.Render(fmt.Sprintf(" [file %s, %d byte%s; parley get %s]", clean(a.Name), a.Size, plural(a.Size), msg.ID))
	}
	if msg.Outgoing && msg.Recipients > 0 {
		line += "  " + groupReceipt(msg)
	} else if msg.Outgoing {
		line += "  " + receipt(msg.Status)
	}
	return line + reactionsMark(msg)
}

// groupReceipt is an outgoing group message's mark: how many of its
// recipients read or got it.
func groupReceipt(msg client.Message) string {
	n := msg.Recipients
	switch read, got := msg.ReadBy(), msg.DeliveredTo(); {
	case msg.Status == client.StatusSending || msg.Status == client.StatusFailed:
		return receipt(msg.Status)
	case read == n:
		return styleRead.Render("✓✓ read by all")
	case read > 0:
		return styleRead.Render(fmt.Sprintf("✓✓ read by %d of %d", read, n))
	case got > 0:
		return styleFaint.Render(fmt.Sprintf("✓✓ delivered to %d of %d", got, n))
	}
	return receipt(msg.Status)
}

// memberLine lists a group's members, admins marked with ★.
func memberLine(g client.GroupInfo) string {
	var names []string
	for _, mb := range g.Members {
		s := mb.Username
		if mb.Admin {
			s += "★"
		}
		names = append(names, s)
	}
	return "members: " + strings.Join(names, ", ")
}

// receipt is an outgoing message's mark.
func receipt(s client.MessageStatus) string {
	switch s {
	case client.StatusSending:
		return styleFaint.Render("sending…")
	case client.StatusSent:
		return styleFaint.Render("✓ sent")
	case client.StatusDelivered:
		return styleFaint.Render("✓✓ delivered")
	case client.StatusRead:
		return styleRead.Render("✓✓ read")
	case client.StatusFailed:
		return styleError.Render("✗ failed")
	case client.StatusUndelivered:
		return styleError.Render("✗ could not be delivered")
	}
	return ""
}

// dropPending removes the first pending line equal to text: the client
// has answered for it.
func dropPending(pending []string, text string) []string {
	if i := slices.Index(pending, text); i >= 0 {
		return slices.Delete(pending, i, i+1)
	}
	return pending
}
