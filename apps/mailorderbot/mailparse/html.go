package mailparse

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// quoteMarker is the line the HTML renderer emits where a client's quote
// container starts (Gmail's gmail_quote, Thunderbird's moz-cite-prefix and
// moz-forward-container, Outlook on the web's divRplyFwdMsg). The quote
// layer treats it like a separator line.
const quoteMarker = "\x00quote"

// htmlDoc is what one pass over an HTML body yields: its visible text, one
// block per line, and its tables cell by cell.
type htmlDoc struct {
	lines []string
	// tableRow[i] reports that lines[i] is a table row (cells separated by
	// tabs); rows are read by the table layer, not as text lines.
	tableRow []bool
	tables   []*htmlTable
	// over reports that the document exceeded the token bound.
	over bool
}

// htmlTable is one table; nested tables stand alone, and a cell holding a
// nested table does not contain its text.
type htmlTable struct {
	// line is the index in htmlDoc.lines where the table starts.
	line   int
	rows   [][]string
	quoted bool
}

type tableState struct {
	t    *htmlTable
	row  []string
	cell *strings.Builder
	inTR bool
}

type htmlRenderer struct {
	doc        htmlDoc
	cur        strings.Builder
	skip       int
	quoteDepth int
	pre        int
	tables     []*tableState
	maxLines   int
}

// renderHTML tokenizes s once (no DOM is built: a tree of a 1 MiB mail costs
// far more than the mail) and returns its text and tables.
func renderHTML(s string, maxTokens, maxLines int) *htmlDoc {
	r := &htmlRenderer{maxLines: maxLines}
	z := html.NewTokenizer(strings.NewReader(s))
	z.SetMaxBuf(1 << 20)
	for n := 0; ; n++ {
		if n >= maxTokens {
			r.doc.over = true
			break
		}
		if len(r.doc.lines) > maxLines {
			break
		}
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.TextToken:
			if r.skip == 0 {
				r.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			var class, id, typ string
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "class":
					class = string(v)
				case "id":
					id = string(v)
				case "type":
					typ = string(v)
				}
			}
			r.start(a, class, id, typ, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			r.end(atom.Lookup(name))
		}
	}
	r.flush()
	for len(r.tables) > 0 {
		r.endTable()
	}
	return &r.doc
}

func skippedElement(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Noscript, atom.Object:
		return true
	}
	return false
}

func blockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Pre, atom.Hr, atom.Section, atom.Article, atom.Blockquote, atom.Dd, atom.Dt, atom.Dl,
		atom.Header, atom.Footer, atom.Center, atom.Address:
		return true
	}
	return false
}

func quoteContainer(class, id string) bool {
	return strings.Contains(class, "gmail_quote") || strings.Contains(class, "moz-cite-prefix") ||
		strings.Contains(class, "moz-forward-container") || strings.Contains(class, "yahoo_quoted") ||
		id == "divRplyFwdMsg" || id == "mail-editor-reference-message-container" ||
		strings.Contains(class, "OutlookMessageHeader") || id == "OLK_SRC_BODY_SECTION"
}

func (r *htmlRenderer) start(a atom.Atom, class, id, typ string, selfClosing bool) {
	if skippedElement(a) {
		if !selfClosing {
			r.skip++
		}
		return
	}
	if r.skip > 0 {
		return
	}
	if ts := r.top(); ts != nil && ts.cell != nil && a != atom.Table && a != atom.Tr && a != atom.Td && a != atom.Th {
		if a == atom.Br || blockElement(a) {
			ts.cell.WriteByte(' ')
		}
		return
	}
	if quoteContainer(class, id) {
		r.flush()
		r.doc.lines = append(r.doc.lines, quoteMarker)
		r.doc.tableRow = append(r.doc.tableRow, false)
	}
	switch a {
	case atom.Br:
		r.flushBlank()
	case atom.Table:
		r.flush()
		t := &htmlTable{line: len(r.doc.lines), quoted: r.quoteDepth > 0}
		r.doc.tables = append(r.doc.tables, t)
		r.tables = append(r.tables, &tableState{t: t})
	case atom.Tr:
		if ts := r.top(); ts != nil {
			r.endRow(ts)
			ts.inTR = true
		}
	case atom.Td, atom.Th:
		if ts := r.top(); ts != nil {
			r.endCell(ts)
			ts.cell = &strings.Builder{}
		}
	case atom.Blockquote:
		r.flush()
		r.quoteDepth++
	case atom.Pre:
		r.flush()
		r.pre++
	default:
		if blockElement(a) {
			r.flush()
		}
	}
}

func (r *htmlRenderer) end(a atom.Atom) {
	if skippedElement(a) {
		if r.skip > 0 {
			r.skip--
		}
		return
	}
	if r.skip > 0 {
		return
	}
	switch a {
	case atom.Table:
		if len(r.tables) > 0 {
			r.endTable()
		}
	case atom.Tr:
		if ts := r.top(); ts != nil {
			r.endRow(ts)
		}
	case atom.Td, atom.Th:
		if ts := r.top(); ts != nil {
			r.endCell(ts)
		}
	case atom.Blockquote:
		r.flush()
		if r.quoteDepth > 0 {
			r.quoteDepth--
		}
	case atom.Pre:
		r.flush()
		if r.pre > 0 {
			r.pre--
		}
	case atom.P:
		if r.top() == nil {
			r.flush()
			r.flushBlank()
		}
	default:
		if blockElement(a) && r.top() == nil {
			r.flush()
		}
	}
}

func (r *htmlRenderer) top() *tableState {
	if len(r.tables) == 0 {
		return nil
	}
	return r.tables[len(r.tables)-1]
}

func (r *htmlRenderer) endCell(ts *tableState) {
	if ts.cell == nil {
		return
	}
	ts.row = append(ts.row, strings.Join(strings.Fields(ts.cell.String()), " "))
	ts.cell = nil
}

func (r *htmlRenderer) endRow(ts *tableState) {
	r.endCell(ts)
	if ts.inTR || len(ts.row) > 0 {
		if len(ts.row) > 0 && len(ts.t.rows) < r.maxLines {
			ts.t.rows = append(ts.t.rows, ts.row)
			r.doc.lines = append(r.doc.lines, r.prefix()+strings.Join(ts.row, "\t"))
			r.doc.tableRow = append(r.doc.tableRow, true)
		}
		ts.row = nil
	}
	ts.inTR = false
}

func (r *htmlRenderer) endTable() {
	ts := r.top()
	r.endRow(ts)
	r.tables = r.tables[:len(r.tables)-1]
}

func (r *htmlRenderer) text(t string) {
	if ts := r.top(); ts != nil {
		if ts.cell == nil {
			return // text between cells is not shown by browsers either
		}
		ts.cell.WriteString(t)
		ts.cell.WriteByte(' ')
		return
	}
	if r.pre > 0 {
		for i, part := range strings.Split(t, "\n") {
			if i > 0 {
				r.flushBlank()
			}
			r.cur.WriteString(part)
		}
		return
	}
	f := strings.Fields(t)
	if len(f) == 0 {
		if r.cur.Len() > 0 && t != "" {
			r.cur.WriteByte(' ')
		}
		return
	}
	if r.cur.Len() > 0 && isSpace(t[0]) && !strings.HasSuffix(r.cur.String(), " ") {
		r.cur.WriteByte(' ')
	}
	r.cur.WriteString(strings.Join(f, " "))
	if isSpace(t[len(t)-1]) {
		r.cur.WriteByte(' ')
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func (r *htmlRenderer) prefix() string {
	if r.quoteDepth == 0 {
		return ""
	}
	return strings.Repeat("> ", r.quoteDepth)
}

// flush ends the current line if it has text.
func (r *htmlRenderer) flush() {
	if s := strings.TrimSpace(r.cur.String()); s != "" {
		r.doc.lines = append(r.doc.lines, r.prefix()+s)
		r.doc.tableRow = append(r.doc.tableRow, false)
	}
	r.cur.Reset()
}

// flushBlank ends the current line, or adds a blank line when it is empty
// (a <br> on its own, the end of a paragraph): blank lines end blocks.
func (r *htmlRenderer) flushBlank() {
	if strings.TrimSpace(r.cur.String()) != "" {
		r.flush()
		return
	}
	r.cur.Reset()
	if n := len(r.doc.lines); n == 0 || strings.TrimSpace(strings.TrimLeft(r.doc.lines[n-1], "> ")) != "" {
		r.doc.lines = append(r.doc.lines, strings.TrimSpace(r.prefix()))
		r.doc.tableRow = append(r.doc.tableRow, false)
	}
}
