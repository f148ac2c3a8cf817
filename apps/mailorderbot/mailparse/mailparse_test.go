package mailparse_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/mailparse"
)

type want struct {
	err       error
	id        string
	subject   string
	from      domain.Customer
	replyTo   []string
	lines     string // "SKU:qty:source ..." in order
	problems  int
	shipTo    []string
	note      string
	warnings  bool
	problemIn string // substring of some problem
}

var corpus = map[string]want{
	"plain_all_forms.eml": {
		id: "plain-1@example.com", subject: "Order",
		from:    domain.Customer{Name: "Alice Buyer", Address: "alice@example.com"},
		replyTo: []string{"buy@corp.example"},
		lines:   "ABC-123:2:text TEA-001:3:text MUG-110:1:text PEN-2001:2:text BOX-450:5:text ABC-124:1:text NOTE-777:10:text INK-2002:4:text",
		shipTo:  []string{"Alice Buyer", "1 Main Street", "Springfield"}, note: "leave at the back door",
	},
	"no_order_lines.eml": {id: "noorder@example.com", subject: "Opening hours?", from: alice},
	"bad_quantity.eml": {
		id: "badqty@example.com", subject: "Order", from: alice,
		lines: "NOTE-777:3:text", problems: 5, problemIn: `quantity “two”`,
	},
	"bad_sku.eml": {
		id: "badsku@example.com", subject: "Order", from: alice,
		lines: "ZZZ-999:1:text", problems: 2, problemIn: `“ABCDEF-123” is not a valid SKU`,
	},
	"quoted_reply.eml":         {id: "quoted@example.com", subject: "Re: Your order", from: alice, lines: "TEA-002:1:text"},
	"quoted_reply_wrapped.eml": {id: "quoted2@example.com", subject: "Re: order", from: alice, lines: "MUG-110:2:text"},
	"quoted_outlook.eml":       {id: "quoted3@example.com", subject: "RE: order", from: alice, lines: "BOX-450:2:text"},
	"html_table_only.eml": {
		id: "html1@example.com", subject: "Order (HTML)", from: alice,
		lines: "ABC-123:2:html TEA-001:4:html", note: "gift wrap please",
	},
	"alternative_table.eml": {
		id: "alt1@example.com", subject: "Order", from: alice,
		lines: "MUG-110:3:html", problems: 1, problemIn: `quantity “zero”`,
	},
	"html_text_lines.eml": {
		id: "html2@example.com", subject: "Order", from: alice,
		lines: "ABC-123:2:text TEA-002:3:text", shipTo: []string{"Bob Smith", "2 Elm Road"},
	},
	"csv_attachment_semicolon.eml": {
		id: "csv1@example.com", subject: "Order attached", from: alice,
		lines: "ABC-123:2:csv TEA-001:1:csv", problems: 1, problemIn: `quantity “x”`,
	},
	"csv_attachment_comma.eml": {
		id: "csv2@example.com", subject: "Order attached", from: alice,
		lines: "BOX-450:1:text XYZ-9000:3:csv INK-2002:1:csv",
	},
	"windows1251_base64.eml": {
		id: "cp1251@example.ru", subject: "Заказ",
		from:  domain.Customer{Name: "Иван Петров", Address: "ivan@example.ru"},
		lines: "ABC-123:2:text TEA-001:3:text MUG-110:2:text", shipTo: []string{"Иван Петров", "ул. Ленина, 1"},
		note: "позвоните перед доставкой",
	},
	"koi8r_qp.eml": {
		id: "koi8@example.ru", subject: "Заказ чая",
		from:  domain.Customer{Name: "Ольга", Address: "olga@example.ru"},
		lines: "TEA-001:4:text TEA-002:1:text", note: "спасибо",
	},
	"latin1_qp.eml": {
		id: "latin1@example.de", subject: "Bestellung für Büro",
		from:  domain.Customer{Name: "Jürgen Müller", Address: "juergen@example.de"},
		lines: "PEN-2001:2:text", shipTo: []string{"Jürgen Müller", "Königstraße 5"},
	},
	"no_message_id.eml":         {subject: "order", from: domain.Customer{Address: "carol@example.org"}, lines: "XYZ-9000:1:text"},
	"unknown_charset.eml":       {id: "unkcs@example.com", subject: "Order", from: alice, lines: "ABC-123:1:text", warnings: true},
	"truncated_base64.eml":      {id: "trunc@example.com", subject: "Order", from: alice, lines: "ABC-123:2:text", warnings: true},
	"broken_multipart.eml":      {id: "brokenmime@example.com", subject: "Order", from: alice, lines: "MUG-110:1:text", warnings: true},
	"multipart_no_boundary.eml": {id: "noboundary@example.com", subject: "Order", from: alice, lines: "ABC-123:1:text", warnings: true},
	"garbage.eml":               {err: mailparse.ErrMalformed},
	"empty.eml":                 {err: mailparse.ErrEmpty},
}

var alice = domain.Customer{Name: "Alice Buyer", Address: "alice@example.com"}

func linesString(ls []mailparse.Line) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s:%d:%s", l.SKU, l.Qty, l.Source))
	}
	return strings.Join(parts, " ")
}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(corpus) {
		t.Errorf("%d fixtures on disk, %d in the table: every fixture needs an expectation", len(files), len(corpus))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := corpus[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req, err := mailparse.Parse(bytes.NewReader(raw), mailparse.Options{})
			if w.err != nil {
				if !errors.Is(err, w.err) {
					t.Fatalf("err = %v, want %v", err, w.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if req.MessageID != w.id || req.Subject != w.subject || req.From != w.from {
				t.Errorf("header = id %q subject %q from %+v; want %q %q %+v", req.MessageID, req.Subject, req.From, w.id, w.subject, w.from)
			}
			if !slices.Equal(req.ReplyTo, w.replyTo) {
				t.Errorf("ReplyTo = %q, want %q", req.ReplyTo, w.replyTo)
			}
			if got := linesString(req.Lines); got != w.lines {
				t.Errorf("lines = %q\n want %q", got, w.lines)
			}
			if len(req.Problems) != w.problems {
				t.Errorf("problems = %q, want %d", req.Problems, w.problems)
			}
			var reasons []string
			for _, p := range req.Problems {
				reasons = append(reasons, p.Reason)
			}
			if w.problemIn != "" && !strings.Contains(strings.Join(reasons, "\n"), w.problemIn) {
				t.Errorf("problems %q do not mention %q", req.Problems, w.problemIn)
			}
			if !slices.Equal(req.ShipTo, w.shipTo) || req.Note != w.note {
				t.Errorf("ship to %q note %q; want %q %q", req.ShipTo, req.Note, w.shipTo, w.note)
			}
			if (len(req.Warnings) > 0) != w.warnings {
				t.Errorf("warnings = %q, want some: %v", req.Warnings, w.warnings)
			}
		})
	}
}

func TestDateParsed(t *testing.T) {
	raw, _ := os.ReadFile("testdata/plain_all_forms.eml")
	req, err := mailparse.ParseBytes(raw, mailparse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC); !req.Date.Equal(want) {
		t.Fatalf("Date = %v, want %v", req.Date, want)
	}
}

func TestLimits(t *testing.T) {
	raw, _ := os.ReadFile("testdata/plain_all_forms.eml")
	if _, err := mailparse.Parse(bytes.NewReader(raw), mailparse.Options{MaxBytes: 100}); !errors.Is(err, mailparse.ErrTooLarge) {
		t.Fatalf("MaxBytes 100: err = %v, want ErrTooLarge", err)
	}
	var b strings.Builder
	b.WriteString("From: a@b.example\nSubject: many\n\n")
	for i := range 100 {
		fmt.Fprintf(&b, "ABC-%03d x 1\n", i+100)
	}
	req, err := mailparse.ParseBytes([]byte(b.String()), mailparse.Options{MaxTextLines: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Lines) > 10 || len(req.Warnings) == 0 {
		t.Fatalf("MaxTextLines 10: %d lines, warnings %q", len(req.Lines), req.Warnings)
	}
	req, err = mailparse.ParseBytes([]byte("From: a@b.example\n\nABC-123 x 5000\n"), mailparse.Options{MaxQty: 1000})
	if err != nil || len(req.Lines) != 0 || len(req.Problems) != 1 {
		t.Fatalf("MaxQty: %+v %v", req, err)
	}
}

func TestDeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\n")
	for i := range 40 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\nABC-123 x 1\n")
	req, err := mailparse.ParseBytes([]byte(b.String()), mailparse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Lines) != 0 || len(req.Warnings) == 0 {
		t.Fatalf("nesting beyond MaxDepth must stop with a warning: %+v", req)
	}
}

func ExampleParse() {
	msg := "From: Alice <alice@example.com>\r\n" +
		"Message-ID: <1@example.com>\r\n" +
		"Subject: Order\r\n" +
		"\r\n" +
		"ABC-123 x 2\r\n" +
		"3 pcs tea-001\r\n" +
		"Note: ring twice\r\n"
	req, err := mailparse.Parse(strings.NewReader(msg), mailparse.Options{})
	if err != nil {
		panic(err)
	}
	for _, l := range req.Lines {
		fmt.Println(l.SKU, l.Qty)
	}
	fmt.Println(req.From.Address, req.Note)
	// Output:
	// ABC-123 2
	// TEA-001 3
	// alice@example.com ring twice
}
