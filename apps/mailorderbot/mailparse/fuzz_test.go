package mailparse_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/mailparse"
)

// FuzzParse checks that no input panics and that each message is parsed in
// bounded time. The seed corpus is every fixture in testdata.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	more, _ := filepath.Glob("testdata/corpus/*.eml")
	files = append(files, more...)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	opts := mailparse.Options{MaxBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, raw []byte) {
		start := time.Now()
		req, _ := mailparse.ParseBytes(raw, opts)
		// A generous bound: a message must never take long, whatever it is.
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("parse took %v for %d bytes", d, len(raw))
		}
		if req == nil {
			return
		}
		for _, l := range req.Lines {
			if l.Qty < 1 || len(l.SKU) < 6 || len(l.SKU) > 12 {
				t.Fatalf("invalid line passed: %+v", l)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile("testdata/csv_attachment_comma.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mailparse.ParseBytes(raw, mailparse.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// bigHTML is a 1 MiB HTML order mail the way Outlook writes one: layout
// tables, styled paragraphs, an order table, a long quoted history.
func bigHTML() []byte {
	var b strings.Builder
	b.WriteString("From: Alice <alice@example.com>\r\nTo: orders@shop.example\r\nSubject: Order\r\n" +
		"Message-ID: <big@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n")
	b.WriteString(`<html><head><style>p.MsoNormal{margin:0}</style></head><body><div class=WordSection1>`)
	b.WriteString(`<table border=1><tr><td>SKU</td><td>Qty</td></tr><tr><td>ABC-123</td><td>2</td></tr></table>`)
	for i := 0; b.Len() < 1<<20-200; i++ {
		fmt.Fprintf(&b, `<table width="100%%"><tr><td style="padding:0"><p class=MsoNormal><span style='font-size:11pt'>Line %d of the quoted history, nothing to order here.</span></p></td></tr></table>`+"\r\n", i)
	}
	b.WriteString(`</div></body></html>`)
	return []byte(b.String())
}

// BenchmarkParse1MiBHTML: the bound is 50 ms and 32 MB allocated per
// message (see the package doc); TestBoundedCost enforces it loosely.
func BenchmarkParse1MiBHTML(b *testing.B) {
	raw := bigHTML()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mailparse.ParseBytes(raw, mailparse.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBoundedCost(t *testing.T) {
	raw := bigHTML()
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, err := mailparse.ParseBytes(raw, mailparse.Options{})
			if err != nil || len(req.Lines) != 1 {
				b.Fatalf("%v %+v", err, req)
			}
		}
	})
	if mb := res.AllocedBytesPerOp(); mb > 32<<20 {
		t.Errorf("1 MiB HTML mail allocates %d bytes per parse, bound 32 MiB", mb)
	}
	// Time depends on the machine (and -race); only a gross regression
	// fails here, the benchmark reports the real figure.
	if d := time.Duration(res.NsPerOp()); d > 2*time.Second {
		t.Errorf("1 MiB HTML mail takes %v", d)
	}
	over, _ := mailparse.ParseBytes(raw, mailparse.Options{MaxHTMLTokens: 1000})
	if over == nil || over.Unreadable == "" {
		t.Errorf("over the token bound: %+v, want Unreadable", over)
	}
}
