// Package tui is parley's terminal UI (bubbletea v2): conversations with
// unread counts, a chat view with receipts and typing, an input line, the
// safety-number screen, and the channels with their feeds (channels.go).
// In a chat, select mode picks a message to reply to, react to, edit,
// delete or forward (select.go, actions.go); the menu, Ctrl+O, sets the
// chat's disappearing timer and this account's profile, blocks, and
// answers a message request (chatmenu.go, menu.go).
//
// The UI holds no state of its own that matters: every screen is drawn
// from what the client has stored, and is reloaded from the store on each
// client event, so events dropped by a full channel lose nothing. Every
// call into the client runs in a tea.Cmd, never in Update.
//
// Text from peers goes through internal/termtext before it is drawn:
// control characters and bidirectional controls are shown as marks, so a
// message cannot move the cursor, restyle the terminal or reorder text.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// Run shows the UI until the user quits or ctx ends. peer, if not empty,
// opens that conversation. events carries the client's events (the
// caller runs c.Run, which produces them).
func Run(ctx context.Context, c *client.Client, events <-chan client.Event, peer string, in io.Reader, out io.Writer) error {
	m := newModel(ctx, c, events, peer)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil // the user quit (or sent SIGINT)
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil // ctx ended: the caller is shutting down
	}
	return fmt.Errorf("tui: %w", err)
}

// screen is what the UI shows.
type screen int

const (
	screenList screen = iota
	screenChat
	screenSafety
	screenChannels
	screenFeed
)

// model is the UI's state. It is used through a pointer: Update changes
// it in place and returns it.
type model struct {
	ctx    context.Context
	c      *client.Client
	events <-chan client.Event
	me     string
	first  tea.Cmd // what Init starts with: the first screen's load

	width, height int
	screen        screen
	status        status
	seq           int // numbers loads, so that a stale answer is dropped

	list     listView
	chat     chatView
	safety   safetyView
	typing   peerTyping
	channels channelsView
	feed     feedView

	menu      *menu             // an open menu, which takes the keys
	prompt    *prompt           // an open prompt, which takes the keys
	myProfile client.Profile    // this account's, for the menu
	names     map[string]string // display names from profiles, by username ("": none)
}

func newModel(ctx context.Context, c *client.Client, events <-chan client.Event, peer string) *model {
	m := &model{ctx: ctx, c: c, events: events, me: c.Username(), typing: peerTyping{}, names: map[string]string{}}
	m.list = newListView()
	m.chat = newChatView()
	m.feed = newFeedView()
	m.channels = newChannelsView()
	m.first = tea.Batch(m.openList(), m.loadMyProfile())
	if peer != "" {
		m.first = tea.Batch(m.first, m.openChat(peer))
	}
	return m
}

func (m *model) Init() tea.Cmd {
	return tea.Batch(waitEvents(m.ctx, m.events), m.first)
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case tea.KeyPressMsg:
		switch msg.String() {
		case "ctrl+c":
			return m, m.quit()
		case "ctrl+z":
			return m, tea.Suspend
		}
		return m, m.key(msg)
	case eventsMsg:
		return m, m.onEvents(msg)
	case eventsClosedMsg:
		return m, nil
	case peerTypingExpiredMsg:
		m.typing.expire(msg)
		return m, nil
	}
	if cmd, ok := m.result(msg); ok {
		return m, cmd
	}
	return m, m.forward(msg)
}

// result handles the answer of a Cmd that called the client.
func (m *model) result(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case convsMsg:
		return m.list.apply(msg, m), true
	case messagesMsg:
		m.chat.apply(msg, m)
	case safetyMsg:
		m.safety.apply(msg, m)
	case sentMsg:
		return m.sent(msg), true
	case verifiedMsg:
		return m.verified(msg), true
	case markedMsg:
		m.setError(msg.err, msg.peer)
		if m.screen == screenList {
			return m.reload(), true
		}
	case typingIdleMsg:
		return m.typingIdle(msg), true
	case typingSentMsg:
		m.typingSent(msg)
	case channelsMsg:
		m.channels.apply(msg, m)
	case feedMsg:
		return m.feed.apply(msg, m), true
	case publishedMsg:
		return m.published(msg), true
	case actedMsg:
		return m.acted(msg), true
	case forwardTargetsMsg:
		return m.forwardTargets(msg), true
	case profileMsg:
		m.profileSet(msg)
	case namesMsg:
		m.list.applyNames(msg, m)
	case searchMsg:
		return m.searched(msg), true
	default:
		return nil, false
	}
	return nil, true
}

// key handles a key press on the current screen.
func (m *model) key(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case m.prompt != nil:
		return m.promptKey(k)
	case m.menu != nil:
		return m.menuKey(k)
	}
	switch m.screen {
	case screenChat:
		return m.chatKey(k)
	case screenSafety:
		return m.safetyKey(k)
	case screenChannels:
		return m.channelsKey(k)
	case screenFeed:
		return m.feedKey(k)
	}
	return m.listKey(k)
}

// forward passes other messages (pastes, cursor blinks) to the input
// that has the focus.
func (m *model) forward(msg tea.Msg) tea.Cmd {
	switch {
	case m.prompt != nil:
		return m.promptInput(msg)
	case m.screen == screenChat:
		return m.chatInput(msg)
	case m.screen == screenFeed:
		return m.feedInput(msg)
	case m.screen == screenList && m.list.adding:
		var cmd tea.Cmd
		m.list.input, cmd = m.list.input.Update(msg)
		return cmd
	}
	return nil
}

func (m *model) resize(w, h int) {
	m.width, m.height = max(w, 0), max(h, 0)
	m.chat.input.SetWidth(max(m.width-inputWidth(m.chat.input.Prompt)-1, 1))
	m.list.input.SetWidth(max(m.width-inputWidth(m.list.input.Prompt)-1, 1))
	m.feed.input.SetWidth(max(m.width-inputWidth(m.feed.input.Prompt)-1, 1))
}

// quit ends the UI, first telling the peer that the user stopped typing.
func (m *model) quit() tea.Cmd {
	return tea.Sequence(m.stopTyping(), tea.Quit)
}

func (m *model) View() tea.View {
	var s string
	if m.width > 0 && m.height > 0 {
		switch m.screen {
		case screenList:
			s = m.listScreen()
		case screenChat:
			s = m.chatScreen()
		case screenSafety:
			s = m.safetyScreen()
		case screenChannels:
			s = m.channelsScreen()
		case screenFeed:
			s = m.feedScreen()
		}
	}
	v := tea.NewView(s)
	v.AltScreen = true
	v.WindowTitle = "parley"
	return v
}

// reload reloads what the current screen shows.
func (m *model) reload() tea.Cmd {
	switch m.screen {
	case screenChat:
		return m.loadMessages()
	case screenSafety:
		return m.loadSafety()
	case screenChannels:
		return m.loadChannels()
	case screenFeed:
		return m.loadFeed()
	}
	return m.loadConvs()
}

func (m *model) nextSeq() int {
	m.seq++
	return m.seq
}

// eventsMsg is a batch of client events: the first one waited for, and
// those that had queued behind it.
type eventsMsg []client.Event

// eventsClosedMsg says the event channel was closed.
type eventsClosedMsg struct{}

// maxEventBatch bounds how many queued events one reload covers.
const maxEventBatch = 64

// waitEvents waits for the next client event. It is re-armed after each.
func waitEvents(ctx context.Context, events <-chan client.Event) tea.Cmd {
	return func() tea.Msg {
		var batch eventsMsg
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return eventsClosedMsg{}
			}
			batch = append(batch, e)
		}
		for len(batch) < maxEventBatch {
			select {
			case e, ok := <-events:
				if !ok {
					return batch // the next wait reports the close
				}
				batch = append(batch, e)
			default:
				return batch
			}
		}
		return batch
	}
}

// onEvents updates typing state, reloads the current screen, and marks
// the open conversation read when messages arrive in it.
func (m *model) onEvents(evs eventsMsg) tea.Cmd {
	cmds := []tea.Cmd{waitEvents(m.ctx, m.events)}
	stored, arrived := false, false
	for _, e := range evs {
		switch e := e.(type) {
		case *client.TypingEvent:
			cmds = append(cmds, m.typing.set(typingKey(e.Conversation, e.From), e.Started))
			continue
		case *client.MessageEvent:
			m.messageArrived(e.Message)
			arrived = arrived || m.inChat(string(e.Message.Conversation))
		case *client.DecryptionFailureEvent:
			arrived = arrived || m.inChat(e.Peer)
		case *client.UndeliveredEvent:
			arrived = arrived || m.inChat(string(e.Conversation))
		case *client.IdentityChangedEvent:
			m.identityChanged(e)
		case *client.ChannelStateEvent:
			m.channelState(e)
		case *client.ProfileChangedEvent:
			m.profileChanged(e.Profile)
		case *client.ChannelModerationEvent:
			if e.Restored {
				m.setInfo(fmt.Sprintf("post #%d of @%s was restored", e.Seq, clean(e.Channel)))
			} else {
				m.setWarn(fmt.Sprintf("post #%d of @%s was removed by the server's operator: %s", e.Seq, clean(e.Channel), clean(e.Reason)))
			}
		case *client.ChannelForgeryEvent:
			m.setErrorText(fmt.Sprintf("the server served a record of @%s that does not verify; it was not stored", clean(e.Channel)))
		case *client.ChannelForkEvent:
			m.setErrorText(fmt.Sprintf("@%s forked at position %d: two signed records; it takes no more until you resolve it (parley channel fork @%s)", clean(e.Channel), e.Position, clean(e.Channel)))
		case *client.ChannelGapEvent:
			m.setErrorText(fmt.Sprintf("the server withheld records of @%s; the feed stops there until it serves them", clean(e.Channel)))
		}
		stored = true
	}
	if stored {
		cmds = append(cmds, m.reload())
	}
	if arrived {
		cmds = append(cmds, m.markRead(m.chat.peer))
	}
	return tea.Batch(cmds...)
}

// messageArrived ends the sender's typing and, if another conversation
// is open, says where the message went.
func (m *model) messageArrived(msg client.Message) {
	if msg.Outgoing {
		return
	}
	m.typing.clear(typingKey(msg.Conversation, msg.From))
	if m.screen == screenChat && string(msg.Conversation) != m.chat.peer && m.status.kind != statusError {
		if msg.Conversation.IsGroup() {
			m.setInfo(fmt.Sprintf("new message from @%s in a group (Esc: conversations)", clean(msg.From)))
		} else {
			m.setInfo(fmt.Sprintf("new message from @%s (Esc: conversations)", clean(string(msg.Conversation))))
		}
	}
}

// profileChanged notes a new display name, or this account's profile.
func (m *model) profileChanged(p client.Profile) {
	m.names[p.Username] = p.Name
	if p.Username == m.me {
		m.myProfile = p
	}
}

// inChat reports whether the conversation with peer is open.
func (m *model) inChat(peer string) bool {
	return m.screen == screenChat && peer == m.chat.peer
}

func (m *model) identityChanged(e *client.IdentityChangedEvent) {
	if e.Peer != m.chat.peer || m.screen == screenList {
		return
	}
	if e.Held {
		m.setWarn(fmt.Sprintf("@%s's safety number changed; sending is paused until you verify it again (Ctrl+S)", clean(e.Peer)))
		return
	}
	m.setWarn(fmt.Sprintf("@%s's safety number changed; compare it with Ctrl+S", clean(e.Peer)))
}

// channelState says that the operator suspended or restored a channel.
func (m *model) channelState(e *client.ChannelStateEvent) {
	if e.Suspended {
		m.setWarn(fmt.Sprintf("@%s was suspended by the server's operator: %s", clean(e.Channel), clean(e.Reason)))
		return
	}
	m.setInfo(fmt.Sprintf("@%s was restored", clean(e.Channel)))
}

// markedMsg is the answer of MarkRead.
type markedMsg struct {
	peer string
	err  error
}

// markRead marks the conversation with peer read, which sends the peer
// read receipts and clears its unread count.
func (m *model) markRead(peer string) tea.Cmd {
	ctx, c := m.ctx, m.c
	return func() tea.Msg { return markedMsg{peer: peer, err: c.MarkRead(ctx, client.ConversationID(peer))} }
}
