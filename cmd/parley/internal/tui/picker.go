package tui

// picker is a list of rows with a selection that follows its row's key
// across reloads, and a scroll position that keeps the selection shown.
// The conversation list and the channel list use it.
type picker[T any] struct {
	items  []T
	key    func(T) string
	sel    int    // index of the selected row
	selKey string // its key
	top    int    // first row shown
}

// set replaces the rows, keeping the selected key selected if it is still
// there (else the first row).
func (p *picker[T]) set(items []T) {
	p.items = items
	i := 0
	for j, it := range items {
		if p.key(it) == p.selKey {
			i = j
		}
	}
	p.selectRow(i)
}

// selectRow selects row i, clamped to the rows there are.
func (p *picker[T]) selectRow(i int) {
	if len(p.items) == 0 {
		p.sel, p.selKey = 0, ""
		return
	}
	p.sel = min(max(i, 0), len(p.items)-1)
	p.selKey = p.key(p.items[p.sel])
}

// selected returns the selected row, if there is one.
func (p *picker[T]) selected() (T, bool) {
	if len(p.items) == 0 {
		var zero T
		return zero, false
	}
	return p.items[p.sel], true
}

// window scrolls so that the selection shows in rows lines and returns
// the range of rows to draw.
func (p *picker[T]) window(rows int) (from, to int) {
	rows = max(rows, 1)
	if p.sel < p.top {
		p.top = p.sel
	}
	if p.sel >= p.top+rows {
		p.top = p.sel - rows + 1
	}
	p.top = min(p.top, max(len(p.items)-rows, 0))
	return p.top, min(p.top+rows, len(p.items))
}
