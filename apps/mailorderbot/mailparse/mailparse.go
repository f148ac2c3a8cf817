// Package mailparse turns one raw RFC 5322 e-mail into an order request: the
// customer, the order lines it asks for, and the problems found on the way.
// It decides nothing about prices or outcomes; see the handler for that.
//
// # What an order e-mail is
//
// Order lines are taken from the message text, one per line, in any of these
// forms (case-insensitive, optional list bullets such as "- " or "1. "):
//
//	ABC-123 x 2      2 x ABC-123      ABC-123 × 2      2 * ABC-123      2 pcs ABC-123
//
// A SKU is two to five letters, a dash and three to six digits; it is stored
// upper-case. A quantity is a positive integer. Lines that have the shape of
// an order line but a bad quantity or a malformed SKU become Problems.
//
// Text comes from the first text/plain part; when there is none, from the
// first text/html part converted to text. An HTML table with a SKU column and
// a quantity column is read too (when the text yields no lines), and so is
// every CSV attachment with a "sku,qty" header ("," or ";" separated).
// Quoted replies are skipped: lines starting with ">", everything after an
// "On … wrote:" line, and HTML blockquotes.
//
// An optional "Ship to:" block (up to the next blank line) and a "Note:" line
// are kept for the order.
//
// # Limits
//
// Every input is bounded (total size, MIME parts, nesting, decoded text size,
// lines examined), so a hostile or broken message costs bounded time and
// memory. Decoding trouble in one part (an unknown charset, truncated base64)
// is recorded in Warnings and the rest of the message is still read; only an
// unreadable header or an oversized message is an error.
package mailparse

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"
	// Registers every charset golang.org/x/text knows (windows-1251, koi8-r,
	// iso-8859-x, ...) with go-message's decoder.
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// Errors callers branch on. Both mean the message can never be parsed, so
// retrying it is pointless.
var (
	// ErrTooLarge: the message exceeds Options.MaxBytes.
	ErrTooLarge = errors.New("mailparse: message too large")
	// ErrMalformed: the message header cannot be read.
	ErrMalformed = errors.New("mailparse: malformed message")
)

// Line sources.
const (
	SourceText = "text"
	SourceHTML = "html"
	SourceCSV  = "csv"
)

// Options bound the work done for one message. Zero fields take defaults.
type Options struct {
	// MaxBytes is the largest message accepted; default 4 MiB.
	MaxBytes int64
	// MaxParts is how many MIME parts are examined; default 64.
	MaxParts int
	// MaxDepth is the deepest multipart nesting examined; default 8.
	MaxDepth int
	// MaxTextBytes bounds the decoded size of one part; default 1 MiB.
	MaxTextBytes int64
	// MaxTextLines bounds the lines examined per part; default 5000.
	MaxTextLines int
	// MaxQty is the largest quantity accepted; default 1,000,000.
	MaxQty int64
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 4 << 20
	}
	if o.MaxParts <= 0 {
		o.MaxParts = 64
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 8
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = 1 << 20
	}
	if o.MaxTextLines <= 0 {
		o.MaxTextLines = 5000
	}
	if o.MaxQty <= 0 {
		o.MaxQty = 1_000_000
	}
	return o
}

// Line is one requested order line.
type Line struct {
	// SKU is upper-case.
	SKU string
	Qty int64
	// Source is SourceText, SourceHTML or SourceCSV.
	Source string
	// Text is the line as written, for messages to the customer.
	Text string
}

// Request is what the e-mail asks for.
type Request struct {
	// MessageID is the Message-ID without angle brackets ("" if none).
	MessageID string
	Subject   string
	// Date is the Date header (zero when missing or unreadable).
	Date time.Time
	// From is the sender.
	From domain.Customer
	// ReplyTo lists Reply-To addresses, if the header is set.
	ReplyTo []string
	// Lines are the valid-looking order lines, in message order.
	Lines []Line
	// Problems describe lines shaped like order lines that are not valid
	// (bad quantity, malformed SKU). Each makes the order rejected.
	Problems []string
	// ShipTo and Note are the optional blocks.
	ShipTo []string
	Note   string
	// Warnings describe decoding trouble that did not stop parsing.
	Warnings []string
}

// Parse reads one message. It returns ErrTooLarge or ErrMalformed (wrapped)
// when the message cannot be used at all; every other kind of damage is
// reported in the Request.
func Parse(r io.Reader, opts Options) (*Request, error) {
	opts = opts.withDefaults()
	raw, err := io.ReadAll(io.LimitReader(r, opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("mailparse: read: %w", err)
	}
	if int64(len(raw)) > opts.MaxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, opts.MaxBytes)
	}
	return ParseBytes(raw, opts)
}

// ParseBytes is Parse for a message already in memory.
func ParseBytes(raw []byte, opts Options) (*Request, error) {
	opts = opts.withDefaults()
	if int64(len(raw)) > opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), opts.MaxBytes)
	}
	p := &parser{opts: opts, req: &Request{}}
	ent, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: 256 << 10})
	if ent == nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if err != nil {
		p.warn("message body: %v", err)
	}
	p.header(mail.Header{Header: ent.Header})
	if ent.Header.Fields().Len() == 0 {
		return nil, fmt.Errorf("%w: no header fields", ErrMalformed)
	}
	p.walk(ent)
	p.collect()
	return p.req, nil
}

type parser struct {
	opts  Options
	req   *Request
	plain *string
	html  *string
	csvs  []namedBody
	parts int
}

type namedBody struct {
	name string
	body []byte
}

func (p *parser) warn(format string, args ...any) {
	if len(p.req.Warnings) < 32 {
		p.req.Warnings = append(p.req.Warnings, fmt.Sprintf(format, args...))
	}
}

func (p *parser) problem(format string, args ...any) {
	if len(p.req.Problems) < 1000 {
		p.req.Problems = append(p.req.Problems, fmt.Sprintf(format, args...))
	}
}

func (p *parser) header(h mail.Header) {
	if id, err := h.MessageID(); err == nil && id != "" {
		p.req.MessageID = id
	} else if v := strings.TrimSpace(h.Get("Message-Id")); v != "" {
		// Non-conforming ids still identify the message.
		p.req.MessageID = strings.Trim(v, "<> \t")
	}
	if s, err := h.Subject(); err == nil {
		p.req.Subject = s
	} else {
		p.req.Subject = h.Get("Subject")
	}
	if d, err := h.Date(); err == nil {
		p.req.Date = d
	}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		p.req.From = domain.Customer{Name: from[0].Name, Address: from[0].Address}
	} else if v := h.Get("From"); v != "" {
		p.warn("From header %q: %v", truncate(v, 80), err)
	}
	if rt, err := h.AddressList("Reply-To"); err == nil {
		for _, a := range rt {
			p.req.ReplyTo = append(p.req.ReplyTo, a.Address)
		}
	} else {
		p.warn("Reply-To header: %v", err)
	}
}

var errStop = errors.New("stop")

func (p *parser) walk(ent *message.Entity) {
	err := ent.Walk(func(path []int, e *message.Entity, err error) error {
		p.parts++
		if p.parts > p.opts.MaxParts {
			p.warn("more than %d MIME parts; the rest was not read", p.opts.MaxParts)
			return errStop
		}
		if len(path) > p.opts.MaxDepth {
			p.warn("MIME nesting deeper than %d; the rest was not read", p.opts.MaxDepth)
			return errStop
		}
		if err != nil {
			p.warn("part %v: %v", path, err)
		}
		ct, params, cterr := e.Header.ContentType()
		if cterr != nil {
			ct = "text/plain"
		}
		if strings.HasPrefix(ct, "multipart/") {
			return nil
		}
		disp, dparams, _ := e.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		name = decodeWord(name)
		isCSV := ct == "text/csv" || ct == "text/comma-separated-values" || strings.HasSuffix(strings.ToLower(name), ".csv")
		attached := strings.EqualFold(disp, "attachment") || name != ""
		switch {
		case isCSV:
			if b, ok := p.read(e, path); ok {
				p.csvs = append(p.csvs, namedBody{name: name, body: b})
			}
		case attached:
			// Other attachments carry no order lines.
		case ct == "text/plain" && p.plain == nil:
			if b, ok := p.read(e, path); ok {
				s := string(b)
				p.plain = &s
			}
		case ct == "text/html" && p.html == nil:
			if b, ok := p.read(e, path); ok {
				s := string(b)
				p.html = &s
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		p.warn("MIME structure: %v", err)
	}
}

// read returns the decoded body of a part, up to MaxTextBytes. A part that
// fails to decode halfway keeps what was decoded.
func (p *parser) read(e *message.Entity, path []int) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(e.Body, p.opts.MaxTextBytes+1))
	if int64(len(b)) > p.opts.MaxTextBytes {
		p.warn("part %v: longer than %d bytes, cut", path, p.opts.MaxTextBytes)
		b = b[:p.opts.MaxTextBytes]
	}
	if err != nil {
		p.warn("part %v: decode: %v", path, err)
	}
	return b, len(b) > 0 || err == nil
}

func (p *parser) collect() {
	var text string
	switch {
	case p.plain != nil:
		text = *p.plain
	case p.html != nil:
		text = htmlToText(*p.html, p.opts.MaxTextLines)
	}
	p.text(text)
	if len(p.req.Lines) == 0 && p.html != nil {
		p.tables(*p.html)
	}
	for _, c := range p.csvs {
		p.csv(c)
	}
}

var (
	bulletRE = regexp.MustCompile(`^(?:[-*•–]\s+|\d{1,3}[.)]\s+)`)
	// A SKU-ish token is checked against the strict SKU rule afterwards, so
	// that "ABCDEF-12 x 2" is reported instead of silently dropped.
	skuFirstRE = regexp.MustCompile(`(?i)^([a-z]+-[0-9]+)\s*[x×*]\s*(\S+)(?:\s.*)?$`)
	qtyFirstRE = regexp.MustCompile(`(?i)^([-+]?[0-9]\S*?)\s*(?:[x×*]|pcs\.?|pc\.?)\s*([a-z]+-[0-9]+)(?:\s.*)?$`)
	skuRE      = regexp.MustCompile(`^[A-Za-z]{2,5}-[0-9]{3,6}$`)
	qtyRE      = regexp.MustCompile(`^[0-9]{1,18}$`)
	shipToRE   = regexp.MustCompile(`(?i)^ship\s*to\s*:\s*(.*)$`)
	noteRE     = regexp.MustCompile(`(?i)^note\s*:\s*(.*)$`)
	wroteRE    = regexp.MustCompile(`(?i)^on\s.*\bwrote:$`)
	// A quoted-reply separator line ends the new text.
	separatorRE = regexp.MustCompile(`(?i)^(?:-{2,}\s*original message\s*-{2,}|_{10,})$`)
)

func (p *parser) text(s string) {
	lines := strings.Split(s, "\n")
	if len(lines) > p.opts.MaxTextLines {
		p.warn("text longer than %d lines, cut", p.opts.MaxTextLines)
		lines = lines[:p.opts.MaxTextLines]
	}
	inShip := false
	prev := ""
	for _, l := range lines {
		l = strings.TrimSpace(strings.TrimRight(l, "\r"))
		if strings.HasPrefix(l, ">") {
			continue
		}
		// Gmail wraps long attribution lines: "On Mon, … Name <a@b>\nwrote:".
		if wroteRE.MatchString(l) || separatorRE.MatchString(l) ||
			(strings.HasSuffix(strings.ToLower(l), "wrote:") && strings.HasPrefix(strings.ToLower(prev), "on ")) {
			if len(p.req.ShipTo) > 0 && inShip && strings.HasPrefix(strings.ToLower(prev), "on ") {
				p.req.ShipTo = p.req.ShipTo[:len(p.req.ShipTo)-1]
			}
			break
		}
		prev = l
		if inShip {
			if l == "" {
				inShip = false
			} else if len(p.req.ShipTo) < 10 {
				p.req.ShipTo = append(p.req.ShipTo, l)
			}
			continue
		}
		if m := shipToRE.FindStringSubmatch(l); m != nil && p.req.ShipTo == nil {
			inShip = true
			p.req.ShipTo = []string{}
			if m[1] != "" {
				p.req.ShipTo = append(p.req.ShipTo, m[1])
			}
			continue
		}
		if m := noteRE.FindStringSubmatch(l); m != nil && p.req.Note == "" {
			p.req.Note = m[1]
			continue
		}
		p.orderLine(l)
	}
	if p.req.ShipTo != nil && len(p.req.ShipTo) == 0 {
		p.req.ShipTo = nil
	}
}

func (p *parser) orderLine(l string) {
	body := bulletRE.ReplaceAllString(l, "")
	var sku, qty string
	if m := skuFirstRE.FindStringSubmatch(body); m != nil {
		sku, qty = m[1], m[2]
	} else if m := qtyFirstRE.FindStringSubmatch(body); m != nil {
		qty, sku = m[1], m[2]
	} else {
		return
	}
	p.add(sku, qty, SourceText, l)
}

func (p *parser) add(sku, qty, source, text string) {
	text = truncate(text, 120)
	if !skuRE.MatchString(sku) {
		p.problem("%q: %q is not a valid SKU (2-5 letters, a dash, 3-6 digits)", text, truncate(sku, 40))
		return
	}
	q, ok := parseQty(qty, p.opts.MaxQty)
	if !ok {
		p.problem("%q: quantity %q is not a positive integer up to %d", text, truncate(qty, 40), p.opts.MaxQty)
		return
	}
	if len(p.req.Lines) >= 10000 {
		return
	}
	p.req.Lines = append(p.req.Lines, Line{SKU: strings.ToUpper(sku), Qty: q, Source: source, Text: text})
}

func parseQty(s string, maxQty int64) (int64, bool) {
	s = strings.TrimRight(s, ".,;")
	if !qtyRE.MatchString(s) {
		return 0, false
	}
	q, err := strconv.ParseInt(s, 10, 64)
	if err != nil || q < 1 || q > maxQty {
		return 0, false
	}
	return q, true
}

var (
	skuColRE = regexp.MustCompile(`(?i)^(?:sku|article|art\.?\s*no\.?|item|item\s*code|code|product\s*code)$`)
	qtyColRE = regexp.MustCompile(`(?i)^(?:qty|qty\.|quantity|amount|pcs|count|units)$`)
)

// columns finds the SKU and quantity columns in a header row.
func columns(cells []string) (skuCol, qtyCol int, ok bool) {
	skuCol, qtyCol = -1, -1
	for i, c := range cells {
		c = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		switch {
		case skuCol < 0 && skuColRE.MatchString(c):
			skuCol = i
		case qtyCol < 0 && qtyColRE.MatchString(c):
			qtyCol = i
		}
	}
	return skuCol, qtyCol, skuCol >= 0 && qtyCol >= 0
}

func (p *parser) tables(h string) {
	for _, t := range htmlTables(h, p.opts.MaxTextLines) {
		start := -1
		var skuCol, qtyCol int
		for i, row := range t {
			if s, q, ok := columns(row); ok {
				start, skuCol, qtyCol = i+1, s, q
				break
			}
		}
		if start < 0 {
			continue
		}
		for _, row := range t[start:] {
			if skuCol >= len(row) || qtyCol >= len(row) {
				continue
			}
			sku, qty := strings.TrimSpace(row[skuCol]), strings.TrimSpace(row[qtyCol])
			if !looksLikeSKU(sku) {
				continue // totals, notes and blank rows
			}
			p.add(sku, qty, SourceHTML, strings.Join(row, " | "))
		}
	}
}

var skuishRE = regexp.MustCompile(`^[A-Za-z]+-[0-9]+$`)

func looksLikeSKU(s string) bool { return skuishRE.MatchString(s) }

func (p *parser) csv(c namedBody) {
	label := c.name
	if label == "" {
		label = "CSV attachment"
	}
	body := bytes.TrimPrefix(c.body, []byte("\ufeff"))
	first, _, _ := bytes.Cut(body, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(body))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		p.warn("%s: %v", label, err)
		return
	}
	skuCol, qtyCol, ok := columns(header)
	if !ok {
		p.warn("%s: no sku and qty columns in header %q", label, truncate(strings.Join(header, ","), 80))
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
		if skuCol >= len(rec) || qtyCol >= len(rec) {
			if strings.TrimSpace(strings.Join(rec, "")) != "" {
				p.problem("%s row %q: missing sku or qty", label, truncate(strings.Join(rec, string(r.Comma)), 80))
			}
			continue
		}
		sku, qty := strings.TrimSpace(rec[skuCol]), strings.TrimSpace(rec[qtyCol])
		if sku == "" && qty == "" {
			continue
		}
		p.add(sku, qty, SourceCSV, strings.Join(rec, string(r.Comma)))
	}
	p.warn("%s: longer than %d rows, cut", label, p.opts.MaxTextLines)
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

func decodeWord(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
