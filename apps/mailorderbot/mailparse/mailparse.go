// Package mailparse turns one raw RFC 5322 e-mail into an order request: the
// customer, the order lines it asks for, every line that looks like an order
// line but could not be read, and what kind of mail it is (reply, forward,
// automatic). It decides nothing about prices or outcomes; see the handler.
//
// # Pipeline
//
// Each file does one job:
//
//   - mime.go: read the message the way mail clients do (lenient header and
//     parameter repair, BOM, bare LF, nested multiparts, size bounds).
//   - charset.go: body charsets, including UTF-7 and an HTML <meta charset>.
//   - normalize.go: NFKC and the dash / space / multiplication-sign fixes.
//   - html.go: one pass over the HTML that yields its text and its tables.
//   - quote.go: where the new text ends (quoted replies, forwards) in the
//     languages of the corpus.
//   - lines.go: candidate lines (any SKU-shaped token) and the strict forms.
//   - table.go, csv.go and xlsx.go: HTML tables, CSV and XLSX attachments
//     by header words.
//   - auto.go: automatic mail (auto-replies, bounces, lists).
//
// # Order lines
//
// Candidate lines are found broadly: any line with a token that matches the
// SKU pattern (default two to five letters, a dash, three to six digits). A
// candidate line is then parsed strictly in one of these forms
// (case-insensitive, optional bullets, an optional unit word such as pcs,
// Stück, pièces, unidades, pezzi, stuks, шт or 個):
//
//	ABC-123 x 2    2 x ABC-123    2 ABC-123    ABC-123: 2    ABC-123 - 2 pcs
//	ABC-123 (2)    Qty 2 ABC-123  2x ABC-123   ABC-123 2
//
// A line in an order form with an unusable quantity is a Problem; a
// candidate line in no form at all is Unparsed. The handler accepts an order
// only when there is neither.
//
// # Limits
//
// Every input is bounded (total size, MIME parts, nesting, decoded text,
// lines examined, HTML tokens), so a hostile or broken message costs bounded
// time and memory. A message over a bound is returned with Unreadable set.
package mailparse

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// Errors callers branch on. With both, Parse still returns a Request with
// whatever the header yielded (Message-ID, From) and Unreadable set.
var (
	// ErrTooLarge: the message exceeds Options.MaxBytes.
	ErrTooLarge = errors.New("mailparse: message too large")
	// ErrMalformed: the message has no readable header.
	ErrMalformed = errors.New("mailparse: malformed message")
	// ErrEmpty: the payload is empty; nothing was delivered.
	ErrEmpty = errors.New("mailparse: empty message")
)

// Line sources.
const (
	SourceText = "text"
	SourceHTML = "html"
	SourceCSV  = "csv"
	SourceXLSX = "xlsx"
)

// DefaultSKUPattern is the catalog's SKU shape.
const DefaultSKUPattern = `[A-Za-z]{2,5}-[0-9]{3,6}`

// Options bound the work done for one message. Zero fields take defaults.
type Options struct {
	// MaxBytes is the largest message read; default 4 MiB.
	MaxBytes int64
	// MaxParts is how many MIME parts are examined; default 64.
	MaxParts int
	// MaxDepth is the deepest multipart nesting examined; default 8.
	MaxDepth int
	// MaxTextBytes bounds the decoded size of one part; default 1 MiB.
	MaxTextBytes int64
	// MaxTextLines bounds the lines examined per part; default 5000.
	MaxTextLines int
	// MaxHTMLTokens bounds the HTML tokens read per message; default
	// 200,000. A message over it is Unreadable (review), not half-read.
	MaxHTMLTokens int
	// MaxQty is the largest quantity accepted; default 1,000,000.
	MaxQty int64
	// SKU matches one SKU (unanchored; it is anchored on token
	// boundaries); nil means DefaultSKUPattern.
	SKU *regexp.Regexp
	// SKUHeaders and QtyHeaders are extra header words (lower-case) that
	// name the SKU and quantity columns of tables and CSV files, on top of
	// the built-in ones.
	SKUHeaders, QtyHeaders []string
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
	if o.MaxHTMLTokens <= 0 {
		o.MaxHTMLTokens = 200_000
	}
	if o.MaxQty <= 0 {
		o.MaxQty = 1_000_000
	}
	if o.SKU == nil {
		o.SKU = defaultSKU
	}
	return o
}

var defaultSKU = regexp.MustCompile(DefaultSKUPattern)

// Line is one requested order line.
type Line struct {
	// SKU is upper-case.
	SKU string
	Qty int64
	// Source is SourceText, SourceHTML, SourceCSV or SourceXLSX.
	Source string
	// Text is the line as written (normalised), for messages to people.
	Text string
}

// Problem is a line in an order form whose quantity or SKU is unusable.
type Problem struct {
	// SKU is the SKU-shaped token of the line, upper-case ("" if none).
	SKU string
	// Text is the line; Reason says what is wrong, quoting the line.
	Text, Reason string
}

// Attachment is an attachment that may hold order lines but is not read
// (PDF, documents, images that are not inline, spreadsheets that are not
// XLSX or hold no order table).
type Attachment struct {
	Name, ContentType string
}

// Forward describes a forwarded message found in the text.
type Forward struct {
	// From is the forwarded message's sender ("" when the header block
	// had none that parses).
	From domain.Customer
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
	// Lines are the order lines read with confidence, in message order.
	Lines []Line
	// Problems are lines in an order form with an unusable quantity.
	Problems []Problem
	// Unparsed are candidate lines (with a SKU-shaped token) in no order
	// form.
	Unparsed []string
	// QuotedCandidates counts candidate lines seen only in quoted text.
	QuotedCandidates int
	// Attachments are attachments that may hold an order but are not read.
	Attachments []Attachment
	// Forward is set when the message forwards another one; Lines then
	// include the forwarded text's lines.
	Forward *Forward
	// OrderSubject reports an order-like subject (order, Bestellung,
	// commande, pedido, заказ, 注文, ...).
	OrderSubject bool
	// Automatic is why the message is automatic mail ("" if it is not):
	// it must never be answered.
	Automatic string
	// Unreadable is why the message cannot be read with confidence (over a
	// bound, no readable header); "" when it was read.
	Unreadable string
	// ShipTo and Note are the optional blocks.
	ShipTo []string
	Note   string
	// Warnings describe damage that did not stop parsing.
	Warnings []string
}

// Parse reads one message; see ParseBytes.
func Parse(r io.Reader, opts Options) (*Request, error) {
	opts = opts.withDefaults()
	raw, err := io.ReadAll(io.LimitReader(r, opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("mailparse: read: %w", err)
	}
	return ParseBytes(raw, opts)
}

// ParseBytes reads a message already in memory. It returns ErrEmpty for an
// empty payload (and no Request). For an oversized message (ErrTooLarge) or
// one without a readable header (ErrMalformed) it returns both the error and
// a Request holding what could be read, with Unreadable set. Every other
// kind of damage is reported in the Request.
func ParseBytes(raw []byte, opts Options) (*Request, error) {
	opts = opts.withDefaults()
	p := &parser{opts: opts, req: &Request{}}
	return p.parse(raw)
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
		p.req.Warnings = append(p.req.Warnings, clean(fmt.Sprintf(format, args...)))
	}
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
