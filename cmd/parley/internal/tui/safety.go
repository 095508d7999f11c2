package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/client"
)

// The safety number shows as groups of digits, a few groups a row.
const (
	safetyGroup     = 5
	safetyGroupsRow = 4
)

// safetyView is the safety number shared with the open chat's peer.
type safetyView struct {
	peer    string
	digits  string
	contact client.Contact
	loaded  bool // digits and contact are the peer's
	applied int
}

// openSafety shows the safety number shared with peer.
func (m *model) openSafety(peer string) tea.Cmd {
	m.clearStatus()
	m.screen = screenSafety
	if m.safety.peer != peer {
		m.safety = safetyView{peer: peer, applied: m.safety.applied}
	}
	return m.loadSafety()
}

// safetyMsg is the answer of SafetyNumber, with the contact record.
type safetyMsg struct {
	seq     int
	peer    string
	digits  string
	contact client.Contact
	err     error
}

func (m *model) loadSafety() tea.Cmd {
	seq, ctx, c, peer := m.nextSeq(), m.ctx, m.c, m.safety.peer
	return func() tea.Msg {
		r := safetyMsg{seq: seq, peer: peer}
		r.digits, _, r.err = c.SafetyNumber(ctx, peer)
		if r.err == nil {
			r.contact, _, r.err = findContact(ctx, c, peer)
		}
		return r
	}
}

func (v *safetyView) apply(msg safetyMsg, m *model) {
	if msg.peer != v.peer || msg.seq < v.applied {
		return
	}
	v.applied = msg.seq
	if msg.err != nil {
		v.loaded = false
		m.setError(msg.err, msg.peer)
		return
	}
	v.digits, v.contact, v.loaded = msg.digits, msg.contact, true
}

func (m *model) safetyKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc", "q":
		m.clearStatus()
		m.screen = screenChat
		return m.loadMessages()
	case "v":
		if m.safety.loaded {
			return m.setVerified(true)
		}
	case "u":
		if m.safety.loaded {
			return m.setVerified(false)
		}
	}
	return nil
}

// verifiedMsg is the answer of Verify or Unverify.
type verifiedMsg struct {
	peer     string
	verified bool
	err      error
}

func (m *model) setVerified(verified bool) tea.Cmd {
	ctx, c, peer := m.ctx, m.c, m.safety.peer
	return func() tea.Msg {
		var err error
		if verified {
			err = c.Verify(ctx, peer, nil)
		} else {
			err = c.Unverify(ctx, peer)
		}
		return verifiedMsg{peer: peer, verified: verified, err: err}
	}
}

func (m *model) verified(msg verifiedMsg) tea.Cmd {
	switch {
	case msg.err != nil:
		m.setError(msg.err, msg.peer)
	case msg.verified:
		m.setInfo("✓ @" + clean(msg.peer) + " is verified. You will be warned if their safety number changes.")
	default:
		m.setInfo("@" + clean(msg.peer) + " is no longer marked verified.")
	}
	return m.reload()
}

func (m *model) safetyScreen() string {
	v := &m.safety
	at := "@" + clean(v.peer)
	top := []string{header(m.width, styleTitle.Render("Safety number with "+at), ""), rule(m.width)}
	bottom := m.statusLines("v mark verified · u unverify · Esc back")
	var body []string
	if v.loaded {
		body = append(body, "")
		for _, row := range safetyRows(v.digits) {
			body = append(body, "    "+styleTitle.Render(row))
		}
		body = append(body, "", m.trustLine())
		text := "Compare these numbers with the ones " + at + " sees, in person or over a call you trust. " +
			"If they match, press v. If " + at + "'s number ever changes, Parley will stop sending to them until you verify again."
		body = append(body, "")
		body = append(body, wrap(text, m.width)...)
	}
	// Show the body from the top: pad it to fill, or cut its tail.
	room := max(m.height-len(top)-len(bottom), 0)
	for len(body) < room {
		body = append(body, "")
	}
	body = body[:room]
	return layout(m.width, m.height, top, body, bottom)
}

func (m *model) trustLine() string {
	ct := m.safety.contact
	switch {
	case ct.Held:
		return styleError.Render("⚠ Changed since you verified it: compare again")
	case ct.Verified:
		return styleGood.Render("✓ Verified")
	}
	return styleNote.Render("Not verified")
}

// safetyRows splits digits into groups of safetyGroup, safetyGroupsRow
// groups a row: 60 digits make 3 rows of 4 groups of 5.
func safetyRows(digits string) []string {
	var groups []string
	for len(digits) > 0 {
		n := min(safetyGroup, len(digits))
		groups = append(groups, digits[:n])
		digits = digits[n:]
	}
	var rows []string
	for len(groups) > 0 {
		n := min(safetyGroupsRow, len(groups))
		rows = append(rows, strings.Join(groups[:n], " "))
		groups = groups[n:]
	}
	return rows
}
