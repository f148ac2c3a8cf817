package mailparse

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped reports elements whose text is never part of the new message:
// scripts, styles and quoted replies.
func skipped(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Blockquote, atom.Template:
		return true
	}
	for _, a := range n.Attr {
		if a.Key == "class" && (strings.Contains(a.Val, "gmail_quote") || strings.Contains(a.Val, "moz-cite-prefix")) {
			return true
		}
	}
	return false
}

func block(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Br, atom.Tr, atom.Li, atom.Ul, atom.Ol, atom.Table,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Pre, atom.Hr, atom.Section, atom.Article:
		return true
	}
	return false
}

// htmlToText renders the visible text of an HTML body, one block per line.
// Table cells are separated by tabs, so rows do not read as order lines;
// tables are parsed separately.
func htmlToText(s string, maxLines int) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return ""
	}
	var b strings.Builder
	lines := 0
	// nl ends the current line unless it is already ended, so nested blocks
	// do not produce blank lines; blank lines matter (they end a Ship to
	// block) and come only from paragraphs and repeated <br>.
	nl := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
			lines++
		}
	}
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		if lines > maxLines || depth > 200 || skipped(n) {
			return
		}
		switch n.Type {
		case html.TextNode:
			if t := strings.Join(strings.Fields(n.Data), " "); t != "" {
				if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") && !strings.HasSuffix(b.String(), "\t") &&
					strings.IndexFunc(n.Data[:1], unicode.IsSpace) == 0 {
					b.WriteByte(' ')
				}
				b.WriteString(t)
				if strings.IndexFunc(n.Data[len(n.Data)-1:], unicode.IsSpace) == 0 {
					b.WriteByte(' ')
				}
			}
		case html.ElementNode:
			switch {
			case n.DataAtom == atom.Br:
				b.WriteByte('\n')
				lines++
			case block(n.DataAtom):
				nl()
			case n.DataAtom == atom.Td || n.DataAtom == atom.Th:
				b.WriteByte('\t')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, depth+1)
		}
		if n.Type == html.ElementNode && block(n.DataAtom) && n.DataAtom != atom.Br {
			nl()
			if n.DataAtom == atom.P {
				b.WriteByte('\n')
				lines++
			}
		}
	}
	walk(doc, 0)
	return b.String()
}

// htmlTables returns the cell texts of every table outside quoted replies,
// at most maxRows rows in all.
func htmlTables(s string, maxRows int) [][][]string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return nil
	}
	var tables [][][]string
	rows := 0
	var find func(n *html.Node, depth int)
	find = func(n *html.Node, depth int) {
		if depth > 200 || skipped(n) || rows > maxRows {
			return
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Table {
			var t [][]string
			var rowsOf func(n *html.Node, depth int)
			rowsOf = func(n *html.Node, depth int) {
				if depth > 200 || rows > maxRows {
					return
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type != html.ElementNode {
						continue
					}
					switch c.DataAtom {
					case atom.Table:
						find(c, depth+1) // nested tables stand alone
					case atom.Tr:
						var row []string
						for td := c.FirstChild; td != nil; td = td.NextSibling {
							if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
								row = append(row, strings.TrimSpace(nodeText(td, 0)))
							}
						}
						t = append(t, row)
						rows++
					default:
						rowsOf(c, depth+1)
					}
				}
			}
			rowsOf(n, depth)
			tables = append(tables, t)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c, depth+1)
		}
	}
	find(doc, 0)
	return tables
}

func nodeText(n *html.Node, depth int) string {
	if depth > 50 || skipped(n) {
		return ""
	}
	if n.Type == html.TextNode {
		return strings.Join(strings.Fields(n.Data), " ")
	}
	var parts []string
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if t := nodeText(c, depth+1); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " ")
}
