package mailparse

import (
	"strings"
)

// Header words for the SKU and quantity columns of tables and CSV files, in
// the languages of the corpus, after headerKey. Options.SKUHeaders and
// QtyHeaders add more.
var (
	skuHeaders = words("sku", "article", "article no", "article number", "artno", "art no", "item", "item no", "item number",
		"item code", "item #", "code", "product code", "product no", "part number", "part no", "p/n", "pn", "artnr", "artikel",
		"artikelnr", "artikelnummer", "artikel nr", "bestellnummer", "référence", "reference", "ref", "réf", "code article",
		"código", "codigo", "referencia", "codice", "codice articolo", "artikelcode", "código do produto", "referência",
		"артикул", "код", "код товара", "品番", "商品コード", "型番", "品目コード")
	qtyHeaders = words("qty", "qty ordered", "quantity", "quantity ordered", "order qty", "amount", "pcs", "count", "units",
		"menge", "anzahl", "stück", "stückzahl", "bestellmenge", "quantité", "qté", "cantidad", "cant", "quantità", "qtà",
		"aantal", "quantidade", "qtd", "qtde", "количество", "колво", "кол", "数量", "個数", "注文数")
)

func words(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[headerKey(w)] = true
	}
	return m
}

// headerKey folds a header cell: normalised, lower-case, without the
// punctuation writers vary ("Art.-Nr.", "Quantity:", "Item No.").
func headerKey(s string) string {
	s = strings.ToLower(normalize(strings.TrimSpace(s)))
	s = strings.Map(func(r rune) rune {
		switch r {
		case '.', ':', '-', '_', '(', ')', '*':
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func (p *parser) isHeader(cell string, builtin map[string]bool, extra []string) bool {
	k := headerKey(cell)
	if k == "" {
		return false
	}
	if builtin[k] {
		return true
	}
	for _, e := range extra {
		if headerKey(e) == k {
			return true
		}
	}
	return false
}

// columns finds the SKU and quantity columns in a header row.
func (p *parser) columns(cells []string) (skuCol, qtyCol int, ok bool) {
	skuCol, qtyCol = -1, -1
	for i, c := range cells {
		switch {
		case skuCol < 0 && p.isHeader(c, skuHeaders, p.opts.SKUHeaders):
			skuCol = i
		case qtyCol < 0 && p.isHeader(c, qtyHeaders, p.opts.QtyHeaders):
			qtyCol = i
		}
	}
	return skuCol, qtyCol, skuCol >= 0 && qtyCol >= 0
}

func (p *parser) hasOrderTable(doc *htmlDoc) bool {
	for _, t := range doc.tables {
		for _, row := range t.rows {
			if _, _, ok := p.columns(row); ok && !t.quoted {
				return true
			}
		}
	}
	return false
}

// table reads rows: after a header row naming the SKU and quantity
// columns, every row with a SKU-shaped token is a candidate, read cell by
// cell. Rows with SKU-shaped tokens in a table without such a header are
// candidates nobody can read.
func (p *parser) table(rows [][]string, source string) {
	r := rulesFor(p.opts.SKU)
	skuCol, qtyCol, start := -1, -1, -1
	for i, row := range rows {
		if s, q, ok := p.columns(row); ok {
			skuCol, qtyCol, start = s, q, i+1
			break
		}
	}
	if start < 0 {
		for _, row := range rows {
			if l := strings.Join(row, " "); r.hasSKU(normalize(l)) {
				p.unparsed(strings.Join(row, " | "))
			}
		}
		return
	}
	for _, row := range rows[start:] {
		p.row(row, skuCol, qtyCol, source, " | ")
	}
}

func (p *parser) row(row []string, skuCol, qtyCol int, source, sep string) {
	r := rulesFor(p.opts.SKU)
	text := strings.Join(row, sep)
	if !r.hasSKU(normalize(strings.Join(row, " "))) {
		return // totals, notes and blank rows
	}
	cell := func(i int) string {
		if i < len(row) {
			return strings.TrimSpace(normalize(row[i]))
		}
		return ""
	}
	sku, qty := cell(skuCol), cell(qtyCol)
	if !r.exact.MatchString(sku) {
		p.unparsed(text)
		return
	}
	if qty == "" {
		p.unparsed(text)
		return
	}
	m := r.qtyCell.FindStringSubmatch(qty)
	if m == nil {
		p.problem(sku, text, "quantity "+quote(qty)+" is not a whole number")
		return
	}
	p.add(sku, m[1], source, text)
}
