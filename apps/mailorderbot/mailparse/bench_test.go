package mailparse_test

import (
	"github.com/plba/plba/apps/mailorderbot/mailparse"
	"strings"
	"testing"
)

// shape is a 1 MiB HTML mail of one kind: a single order table of
// thousands of rows, plain paragraphs, or deeply nested inline markup.
func shape(kind string) []byte {
	var b strings.Builder
	b.WriteString("From: Alice <alice@example.com>\r\nSubject: Order\r\nMessage-ID: <big@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
	switch kind {
	case "table":
		b.WriteString("<table><tr><th>SKU</th><th>Qty</th><th>Description</th></tr>")
		for b.Len() < 1<<20-100 {
			b.WriteString("<tr><td>ABC-123</td><td>1</td><td>Blue widget, the usual</td></tr>\r\n")
		}
		b.WriteString("</table>")
	case "paragraphs":
		for b.Len() < 1<<20-100 {
			b.WriteString("<p class=MsoNormal><span style='font-size:11pt;font-family:Calibri'>Some quoted history text that goes on and on.</span></p>\r\n")
		}
	case "nested":
		for i := 0; b.Len() < 1<<20-100; i++ {
			b.WriteString("<div><span><b>x</b>")
			if i%50 == 49 {
				b.WriteString(strings.Repeat("</span></div>", 50))
			}
		}
	}
	b.WriteString("</body></html>")
	return []byte(b.String())
}

// BenchmarkParse1MiBShapes complements BenchmarkParse1MiBHTML with the
// shapes that stress other paths (table rows, text lines, nesting).
func BenchmarkParse1MiBShapes(b *testing.B) {
	for _, k := range []string{"table", "paragraphs", "nested"} {
		raw := shape(k)
		b.Run(k, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mailparse.ParseBytes(raw, mailparse.Options{})
			}
		})
	}
}
