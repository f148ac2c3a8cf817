package mailparse_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/mailparse"
)

// FuzzParse checks that no input panics and that each message is parsed in
// bounded time. The seed corpus is every fixture in testdata.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
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
		req, err := mailparse.ParseBytes(raw, opts)
		// A generous bound: a message must never take long, whatever it is.
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("parse took %v for %d bytes", d, len(raw))
		}
		if err != nil {
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
