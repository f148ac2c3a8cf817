package syncio_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/plba/plba/internal/syncio"
)

func TestConcurrentWrites(t *testing.T) {
	var b syncio.Buffer
	var plain bytes.Buffer
	w := syncio.NewWriter(&plain)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_, _ = w.Write([]byte("y"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if b.String() != strings.Repeat("x", 800) || plain.String() != strings.Repeat("y", 800) {
		t.Fatalf("lost writes: %d, %d", len(b.String()), plain.Len())
	}
}
