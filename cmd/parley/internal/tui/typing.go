package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// Typing notifications, both ways. Ours go out at most once per
// typingResend while the user types, and a stop after typingIdle without
// keystrokes, after a send, or on leaving the conversation. A peer's
// "typing…" shows until they stop, their message arrives, or
// peerTypingTTL passes without a fresh start (a stop can be lost).
const (
	typingResend  = 5 * time.Second
	typingIdle    = 5 * time.Second
	peerTypingTTL = 6 * time.Second
	typingTimeout = 3 * time.Second // for the stop sent while quitting
)

// peerTyping maps each peer who is typing to the number of their latest
// start, so that an older start's expiry leaves a newer one alone.
type peerTyping map[string]int

// peerTypingExpiredMsg ends a start unless a newer one came.
type peerTypingExpiredMsg struct {
	peer string
	n    int
}

// set records a start or stop from peer; a start expires by itself.
func (p peerTyping) set(peer string, started bool) tea.Cmd {
	if !started {
		delete(p, peer)
		return nil
	}
	n := p[peer] + 1
	if n <= 0 {
		n = 1
	}
	p[peer] = n
	return tea.Tick(peerTypingTTL, func(time.Time) tea.Msg { return peerTypingExpiredMsg{peer: peer, n: n} })
}

func (p peerTyping) expire(msg peerTypingExpiredMsg) {
	if p[msg.peer] == msg.n {
		delete(p, msg.peer)
	}
}

func (p peerTyping) clear(peer string) { delete(p, peer) }

func (p peerTyping) on(peer string) bool { return len(p.who(peer)) > 0 }

// typingKey names who types where: in a group, one member of it.
func typingKey(conv client.ConversationID, from string) string {
	if conv.IsGroup() {
		return string(conv) + "/" + from
	}
	return from
}

// who lists, sorted, who is typing in the conversation conv.
func (p peerTyping) who(conv string) []string {
	var out []string
	for k := range p {
		if k == conv {
			out = append(out, k)
		} else if rest, ok := strings.CutPrefix(k, conv+"/"); ok && strings.HasPrefix(conv, "+") {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out
}

// ownTyping is what we told the open conversation's peer.
type ownTyping struct {
	sentAt  time.Time // last start sent; zero when the peer thinks we stopped
	lastKey time.Time
	gen     int // numbers typing spells, so an old idle check is ignored
}

// typingIdleMsg checks, after a pause, whether the user stopped typing.
type typingIdleMsg struct {
	peer string
	gen  int
}

// typingSentMsg is the answer of SendTyping.
type typingSentMsg struct {
	peer string
	err  error
}

// keystroke notes that the user edited the input; empty says whether it
// is now empty. It returns the notification to send, if one is due.
func (m *model) keystroke(empty bool) tea.Cmd {
	t, now := &m.chat.typing, time.Now()
	if empty {
		return m.stopTyping()
	}
	t.lastKey = now
	if !t.sentAt.IsZero() && now.Sub(t.sentAt) < typingResend {
		return nil
	}
	cmds := []tea.Cmd{m.sendTyping(true)}
	if t.sentAt.IsZero() {
		t.gen++
		cmds = append(cmds, idleCheck(m.chat.peer, t.gen, typingIdle))
	}
	t.sentAt = now
	return tea.Batch(cmds...)
}

// typingIdle sends a stop if the user has not typed for typingIdle, and
// otherwise checks again when that time will have passed.
func (m *model) typingIdle(msg typingIdleMsg) tea.Cmd {
	t := &m.chat.typing
	if msg.peer != m.chat.peer || msg.gen != t.gen || t.sentAt.IsZero() {
		return nil
	}
	if idle := time.Since(t.lastKey); idle < typingIdle {
		return idleCheck(msg.peer, msg.gen, typingIdle-idle)
	}
	return m.stopTyping()
}

// typingSent reports only that the peer does not exist: it is news to
// the user before they send. Other failures are not worth their
// attention (typing is best effort), and a send reports real trouble.
func (m *model) typingSent(msg typingSentMsg) {
	if errors.Is(msg.err, client.ErrNoSuchUser) && m.inChat(msg.peer) {
		m.setError(msg.err, msg.peer)
	}
}

func idleCheck(peer string, gen int, after time.Duration) tea.Cmd {
	return tea.Tick(after, func(time.Time) tea.Msg { return typingIdleMsg{peer: peer, gen: gen} })
}

// stopTyping tells the peer we stopped, if they think we are typing.
func (m *model) stopTyping() tea.Cmd {
	t := &m.chat.typing
	if t.sentAt.IsZero() {
		return nil
	}
	t.sentAt = time.Time{}
	t.gen++
	return m.sendTyping(false)
}

// sendTyping sends a start or stop to the open conversation's peer. A
// stop gets its own deadline, so that quitting cannot hang on it.
func (m *model) sendTyping(started bool) tea.Cmd {
	ctx, c, peer := m.ctx, m.c, m.chat.peer
	return func() tea.Msg {
		if !started {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, typingTimeout)
			defer cancel()
		}
		return typingSentMsg{peer: peer, err: c.SendTyping(ctx, client.ConversationID(peer), started)}
	}
}
