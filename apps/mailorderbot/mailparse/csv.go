package mailparse

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"regexp"
	"strings"
)

var sepLineRE = regexp.MustCompile(`^sep=(.)\s*$`)

// csv reads a CSV attachment: "," ";" or tab separated (sniffed from the
// header, or given by Excel's "sep=;" first line), with a header row that
// names the SKU and quantity columns.
func (p *parser) csv(c namedBody) {
	label := clean(c.name)
	if label == "" {
		label = "CSV attachment"
	}
	body := bytes.TrimPrefix(c.body, utf8BOM)
	first, rest, _ := bytes.Cut(body, []byte("\n"))
	comma := rune(0)
	if m := sepLineRE.FindSubmatch(bytes.TrimRight(first, "\r")); m != nil {
		comma = rune(m[1][0])
		body = rest
		first, _, _ = bytes.Cut(body, []byte("\n"))
	}
	if comma == 0 {
		comma = ','
		if n := bytes.Count(first, []byte(";")); n > bytes.Count(first, []byte(",")) {
			comma = ';'
		}
		if n := bytes.Count(first, []byte("\t")); n > bytes.Count(first, []byte(string(comma))) {
			comma = '\t'
		}
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = comma
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	header, err := r.Read()
	if err != nil {
		p.warn("%s: %v", label, err)
		return
	}
	skuCol, qtyCol, ok := p.columns(header)
	if !ok {
		p.warn("%s: no SKU and quantity columns in header %s", label, quote(strings.Join(header, string(comma))))
		// Its rows may still hold order lines nobody can read.
		for n := 0; n < p.opts.MaxTextLines; n++ {
			rec, err := r.Read()
			if err != nil {
				break
			}
			if rulesFor(p.opts.SKU).hasSKU(normalize(strings.Join(rec, " "))) {
				p.unparsed(label + ": " + strings.Join(rec, string(comma)))
			}
		}
		return
	}
	for n := 0; n < p.opts.MaxTextLines; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p.warn("%s: %v", label, err)
			return
		}
		p.row(rec, skuCol, qtyCol, SourceCSV, string(comma))
	}
	p.warn("%s: longer than %d rows, cut", label, p.opts.MaxTextLines)
}
