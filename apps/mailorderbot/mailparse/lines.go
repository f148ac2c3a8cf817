package mailparse

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The line layer: candidate lines are found broadly (a token matching the
// SKU pattern on token boundaries), then parsed strictly.

const (
	unitWords = `(?:pcs?\.?|pieces?|stück|stk\.?|st\.?|pièces?|unidades?|uds?\.?|pezzi|pz\.?|stuks?|unidade|шт\.?|штук[аи]?|個|点|本|枚|セット)`
	qtyWords  = `(?:qty\.?|quantity|menge|anzahl|qté|quantité|cantidad|quantità|aantal|quantidade|количество|кол-во|数量)`
)

// lineRules are the compiled rules for one SKU pattern.
type lineRules struct {
	token    *regexp.Regexp // a SKU-shaped token anywhere
	dash     bool           // every SKU has a dash (a cheap pre-check)
	exact    *regexp.Regexp // a cell that is one SKU
	qtyFirst *regexp.Regexp // [Qty] 2 [x|unit] SKU rest
	skuFirst *regexp.Regexp // SKU [x|:|-|=] 2 [x|unit] rest
	paren    *regexp.Regexp // SKU (2 [unit]) rest
	badAfter *regexp.Regexp // SKU x|*|: junk
	badFirst *regexp.Regexp // junk x|* SKU
	qtyCell  *regexp.Regexp // a table cell: 2 [unit]
}

var rulesCache sync.Map // pattern string -> *lineRules

func rulesFor(sku *regexp.Regexp) *lineRules {
	key := sku.String()
	if r, ok := rulesCache.Load(key); ok {
		return r.(*lineRules)
	}
	s := `(` + key + `)`
	r := &lineRules{
		token:    regexp.MustCompile(`(?i)(?:^|[^\pL\pN_-])` + s + `(?:$|[^\pL\pN_-])`),
		exact:    regexp.MustCompile(`(?i)^` + s + `$`),
		qtyFirst: regexp.MustCompile(`(?i)^(?:` + qtyWords + `\s*:?\s*)?(\d+)\s*(?:x|\*|` + unitWords + `)?\s*` + s + `\b(.*)$`),
		skuFirst: regexp.MustCompile(`(?i)^` + s + `\s*(?:x|\*|:|-|=)?\s*(\d+)(?:\s*(?:x\b|` + unitWords + `))?(.*)$`),
		paren:    regexp.MustCompile(`(?i)^` + s + `\s*\(\s*(\d+)\s*` + unitWords + `?\s*\)(.*)$`),
		badAfter: regexp.MustCompile(`(?i)^` + s + `\s*(?:x|\*|:)\s*(\S+)`),
		badFirst: regexp.MustCompile(`(?i)^(\S+?)\s*(?:x|\*)\s*` + s + `\b`),
		qtyCell:  regexp.MustCompile(`(?i)^(\d+)\s*` + unitWords + `?$`),
		dash:     key == DefaultSKUPattern,
	}
	rulesCache.Store(key, r)
	return r
}

var (
	bulletRE       = regexp.MustCompile(`^(?:[-*•·▪◦–]\s+|\d{1,3}[.)]\s+|\(\d{1,3}\)\s+)`)
	shipToRE       = regexp.MustCompile(`(?i)^(?:ship\s*to|shipping address|deliver to|delivery address|lieferadresse|lieferanschrift|liefern an|adresse de livraison|livrer à|dirección de envío|enviar a|indirizzo di spedizione|spedire a|afleveradres|leveradres|endereço de entrega|адрес доставки|お届け先|配送先)\s*:\s*(.*)$`)
	noteRE         = regexp.MustCompile(`(?i)^(?:note|notes|bemerkung|hinweis|remarque|nota|opmerking|observação|примечание|備考)\s*:\s*(.*)$`)
	orderSubjectRE = regexp.MustCompile(`(?i)(?:\border|\bbestell|\bcommande|\bpedido|\bordine|\bencomenda|\bauftrag|\bpurchase\b|\bp\.?o\.?\s*#?\d|заказ|注文|発注)`)
	decimalRestRE  = regexp.MustCompile(`^[.,]\d`)
	// Order-shaped lines whose SKU-ish token does not match the SKU
	// pattern ("ABCDEF-123 x 1"): problems, which reject only an order
	// attempt ("24 x RJ-45 ports" in a question is ignored).
	looseAfterRE = regexp.MustCompile(`(?i)^([a-z]+-[0-9]+)\s*(?:x|\*)\s*\d+\b`)
	looseFirstRE = regexp.MustCompile(`(?i)^\d+\s*(?:x|\*)\s*([a-z]+-[0-9]+)\b`)
)

// hasSKU reports whether l holds a SKU-shaped token.
func (r *lineRules) hasSKU(l string) bool {
	if r.dash && !strings.ContainsRune(l, '-') {
		return false
	}
	return r.token.MatchString(l)
}

// lineResult is how one candidate line was read.
type lineResult int

const (
	lineNone     lineResult = iota // no SKU-shaped token
	lineOK                         // an order line
	lineProblem                    // an order form with a bad quantity
	lineUnparsed                   // a candidate in no order form
)

// orderLine reads one normalised, non-quoted line.
func (p *parser) orderLine(l, source string) lineResult {
	r := rulesFor(p.opts.SKU)
	body := strings.TrimSpace(bulletRE.ReplaceAllString(l, ""))
	body = strings.TrimRight(body, " .,;!")
	if !r.hasSKU(l) {
		m := looseAfterRE.FindStringSubmatch(body)
		if m == nil {
			m = looseFirstRE.FindStringSubmatch(body)
		}
		if m == nil {
			return lineNone
		}
		p.problem("", l, quote(m[1])+" is not a valid SKU")
		return lineProblem
	}
	var sku, qty, rest string
	if m := r.skuFirst.FindStringSubmatch(body); m != nil {
		sku, qty, rest = m[1], m[2], m[3]
	} else if m := r.paren.FindStringSubmatch(body); m != nil {
		sku, qty, rest = m[1], m[2], m[3]
	} else if m := r.qtyFirst.FindStringSubmatch(body); m != nil {
		qty, sku, rest = m[1], m[2], m[3]
	} else if m := r.badAfter.FindStringSubmatch(body); m != nil {
		p.problem(m[1], l, "quantity "+quote(m[2])+" is not a whole number")
		return lineProblem
	} else if m := r.badFirst.FindStringSubmatch(body); m != nil {
		p.problem(m[2], l, "quantity "+quote(m[1])+" is not a whole number")
		return lineProblem
	} else {
		p.unparsed(l)
		return lineUnparsed
	}
	if rest != "" && !isSpace(rest[0]) && !strings.ContainsRune(".,;:!?()-/", rune(rest[0])) {
		p.unparsed(l)
		return lineUnparsed
	}
	if decimalRestRE.MatchString(rest) {
		p.problem(sku, l, "quantity "+quote(qty+rest[:2])+"… is not a whole number")
		return lineProblem
	}
	if r.hasSKU(rest) {
		// Two SKUs on one line: which quantity goes with which is a guess.
		p.unparsed(l)
		return lineUnparsed
	}
	return p.add(sku, qty, source, l)
}

func (p *parser) add(sku, qty, source, text string) lineResult {
	q, err := strconv.ParseInt(qty, 10, 64)
	if err != nil || q < 1 || q > p.opts.MaxQty {
		p.problem(sku, text, "quantity "+quote(qty)+" must be from 1 to "+strconv.FormatInt(p.opts.MaxQty, 10))
		return lineProblem
	}
	if len(p.req.Lines) < 10000 {
		p.req.Lines = append(p.req.Lines, Line{SKU: strings.ToUpper(sku), Qty: q, Source: source, Text: truncate(clean(text), 120)})
	}
	return lineOK
}

func (p *parser) problem(sku, text, reason string) {
	if len(p.req.Problems) < 1000 {
		p.req.Problems = append(p.req.Problems, Problem{SKU: strings.ToUpper(sku), Text: truncate(clean(text), 120),
			Reason: quote(text) + ": " + reason})
	}
}

func (p *parser) unparsed(l string) {
	if len(p.req.Unparsed) < 1000 {
		p.req.Unparsed = append(p.req.Unparsed, truncate(clean(l), 120))
	}
}

// textLines reads lines[from:to] for order lines, Ship to and Note. Table
// rows (rendered from HTML) are left to the table layer.
func (p *parser) textLines(lines []string, tableRow []bool, from, to int, source string, fwd bool) {
	r := rulesFor(p.opts.SKU)
	inShip := false
	for i := from; i < to && i < len(lines); i++ {
		l := lines[i]
		if fwd {
			l = unquote(l)
		}
		l = strings.TrimSpace(l)
		if l == quoteMarker {
			continue
		}
		if strings.HasPrefix(l, ">") {
			if r.hasSKU(l) {
				p.req.QuotedCandidates++
			}
			continue
		}
		if tableRow != nil && tableRow[i] {
			continue
		}
		if inShip {
			if l == "" {
				inShip = false
				continue
			}
			// Ship to ends at the first order line.
			if r.hasSKU(l) {
				saved := len(p.req.Unparsed)
				savedP := len(p.req.Problems)
				if res := p.orderLine(l, source); res == lineOK || res == lineProblem {
					inShip = false
					continue
				}
				p.req.Unparsed = p.req.Unparsed[:saved]
				p.req.Problems = p.req.Problems[:savedP]
			}
			if len(p.req.ShipTo) < 10 {
				p.req.ShipTo = append(p.req.ShipTo, clean(l))
			}
			continue
		}
		if m := shipToRE.FindStringSubmatch(l); m != nil && p.req.ShipTo == nil {
			inShip = true
			p.req.ShipTo = []string{}
			if m[1] != "" {
				p.req.ShipTo = append(p.req.ShipTo, clean(m[1]))
			}
			continue
		}
		if m := noteRE.FindStringSubmatch(l); m != nil && p.req.Note == "" {
			p.req.Note = clean(m[1])
			continue
		}
		p.orderLine(l, source)
	}
	if p.req.ShipTo != nil && len(p.req.ShipTo) == 0 {
		p.req.ShipTo = nil
	}
}

// collect reads the chosen body: text, quoted and forwarded parts, tables
// and CSV attachments.
func (p *parser) collect() {
	var (
		lines    []string
		tableRow []bool
		doc      *htmlDoc
		source   = SourceText // rows of HTML tables are SourceHTML
	)
	if p.html != nil {
		doc = renderHTML(*p.html, p.opts.MaxHTMLTokens, p.opts.MaxTextLines)
		if doc.over {
			p.req.Unreadable = "HTML body over the parsing bound"
			return
		}
	}
	// The plain-text alternative is preferred, except when the HTML holds
	// an order table: clients flatten tables badly in their text version.
	useHTML := doc != nil && (p.plain == nil || p.hasOrderTable(doc))
	if useHTML {
		lines, tableRow = doc.lines, doc.tableRow
	} else if p.plain != nil {
		lines = strings.Split(*p.plain, "\n")
	}
	if len(lines) > p.opts.MaxTextLines {
		p.warn("text longer than %d lines, cut", p.opts.MaxTextLines)
		lines = lines[:p.opts.MaxTextLines]
		if tableRow != nil {
			tableRow = tableRow[:len(lines)]
		}
	}
	for i, l := range lines {
		lines[i] = normalize(strings.TrimRight(l, "\r"))
	}
	q := splitQuote(lines, normalize(p.req.Subject))
	p.textLines(lines, tableRow, 0, q.end, source, false)
	r := rulesFor(p.opts.SKU)
	if q.forward {
		p.req.Forward = &Forward{From: q.fwdFrom}
		fl := make([]string, 0, len(lines)-q.fwdStart)
		for _, l := range lines[q.fwdStart:] {
			fl = append(fl, unquote(l))
		}
		var ftr []bool
		if tableRow != nil {
			ftr = tableRow[q.fwdStart:]
		}
		// A forwarded message may quote an earlier one in turn.
		inner := splitQuote(fl, "")
		p.textLines(fl, ftr, 0, inner.end, source, false)
		for _, l := range fl[inner.end:] {
			if r.hasSKU(l) {
				p.req.QuotedCandidates++
			}
		}
	} else {
		for _, l := range lines[q.end:] {
			if r.hasSKU(l) {
				p.req.QuotedCandidates++
			}
		}
	}
	if useHTML {
		for _, t := range doc.tables {
			inNew := t.line < q.end
			inFwd := q.forward && t.line >= q.fwdStart
			if t.quoted && !inFwd || !inNew && !inFwd {
				continue
			}
			p.table(t.rows, SourceHTML)
		}
	}
	for _, c := range p.csvs {
		p.csv(c)
	}
}
