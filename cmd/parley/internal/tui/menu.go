package tui

import (
	"fmt"
	"strconv"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// A menu is a short list of choices drawn above the status line: the
// chat menu (Ctrl+O), the reactions, how to delete, where to forward,
// the timers, search results. A prompt asks for one line of text (a
// display name, an emoji, a search) in place of the input line. While
// either is open it takes every key.

// maxMenuRows bounds how many of a menu's items show at once.
const maxMenuRows = 9

// menuItem is one choice. Its label is drawn as it is: text from others
// in it must be cleaned by whoever makes the item.
type menuItem struct {
	label string
	act   func() tea.Cmd
}

// menu is a titled list of choices.
type menu struct {
	title string
	items []menuItem
	sel   int
	top   int // first item shown
}

// openMenu shows a menu; an empty one says so instead.
func (m *model) openMenu(title string, items []menuItem) tea.Cmd {
	if len(items) == 0 {
		m.setInfo(title + ": nothing to choose")
		return nil
	}
	m.prompt = nil
	m.menu = &menu{title: title, items: items}
	return nil
}

// menuKey handles a key while a menu is open: arrows move, Enter or the
// item's digit chooses, Esc closes.
func (m *model) menuKey(k tea.KeyPressMsg) tea.Cmd {
	mn := m.menu
	switch s := k.String(); s {
	case "esc":
		m.menu = nil
		return nil
	case "up", "k":
		mn.sel = max(mn.sel-1, 0)
	case "down", "j":
		mn.sel = min(mn.sel+1, len(mn.items)-1)
	case "enter":
		return m.choose(mn.sel)
	default:
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(mn.items) && n <= 9 {
			return m.choose(n - 1)
		}
	}
	return nil
}

// choose closes the menu and runs its item i (which may open another).
func (m *model) choose(i int) tea.Cmd {
	it := m.menu.items[i]
	m.menu = nil
	m.clearStatus()
	return it.act()
}

// menuLines draws the open menu, if there is one.
func (m *model) menuLines() []string {
	mn := m.menu
	if mn == nil {
		return nil
	}
	if mn.sel < mn.top {
		mn.top = mn.sel
	}
	if mn.sel >= mn.top+maxMenuRows {
		mn.top = mn.sel - maxMenuRows + 1
	}
	lines := []string{styleTitle.Render(mn.title)}
	for i := mn.top; i < min(mn.top+maxMenuRows, len(mn.items)); i++ {
		num := "  "
		if i < 9 {
			num = fmt.Sprintf("%d ", i+1)
		}
		row := "  " + num + mn.items[i].label
		if i == mn.sel {
			row = styleSelected.Render("▸ " + num + mn.items[i].label)
		}
		lines = append(lines, cut(row, m.width))
	}
	return lines
}

// prompt is one line of text asked for.
type prompt struct {
	input  textinput.Model
	submit func(string) tea.Cmd
}

// openPrompt asks for a line, prefilled with value; Enter passes it to
// submit.
func (m *model) openPrompt(label, value string, limit int, submit func(string) tea.Cmd) tea.Cmd {
	in := textinput.New()
	in.Prompt = label
	in.CharLimit = limit
	in.SetWidth(max(m.width-inputWidth(label)-1, 1))
	in.SetValue(value)
	in.CursorEnd()
	m.menu = nil
	m.prompt = &prompt{input: in, submit: submit}
	return m.prompt.input.Focus()
}

// promptKey handles a key while a prompt is open.
func (m *model) promptKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		m.prompt = nil
		return nil
	case "enter":
		p := m.prompt
		m.prompt = nil
		return p.submit(p.input.Value())
	}
	return m.promptInput(k)
}

// promptInput passes msg (a key, a paste, a blink) to the prompt.
func (m *model) promptInput(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	m.prompt.input, cmd = m.prompt.input.Update(msg)
	return cmd
}

// overlayLines is what a screen shows of an open menu.
func (m *model) overlayLines() []string { return m.menuLines() }

// overlayHint is the footer while a menu or a prompt is open.
func (m *model) overlayHint() (string, bool) {
	switch {
	case m.prompt != nil:
		return "Enter done · Esc cancel", true
	case m.menu != nil:
		return "↑/↓ choose · Enter or 1-9 pick · Esc cancel", true
	}
	return "", false
}

// inputLine is the screen's input line, or the prompt in its place.
func (m *model) inputLine(line string) string {
	if m.prompt != nil {
		return m.prompt.input.View()
	}
	return line
}
