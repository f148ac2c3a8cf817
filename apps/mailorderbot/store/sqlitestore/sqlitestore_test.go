package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/apps/mailorderbot/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.OrderStore {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "sub", "orders.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen shows the data is on disk and a second process (here: a second
// Store on the same file) sees it and cannot create the same order again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	a, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o := storetest.Order("shared@example.com", domain.StatusAccepted, 1)
	if ok, err := a.Save(ctx, o, nil); !ok || err != nil {
		t.Fatalf("Save via a = %v, %v", ok, err)
	}
	if ok, err := b.Save(ctx, o, nil); ok || err != nil {
		t.Fatalf("Save via b = %v, %v; want false", ok, err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSave(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "orders.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	i := 0
	for b.Loop() {
		o := storetest.Order(fmt.Sprintf("bench-%d", i), domain.StatusAccepted, i)
		i++
		if _, err := s.Save(ctx, o, storetest.Reply(o)); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "orders")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := sqlitestore.Open(ctx, filepath.Join(dir, "orders.db"), sqlitestore.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	o := domain.Order{Key: "1@example.com", Status: domain.StatusIgnored}
	created, _ := s.Save(ctx, o, nil)
	again, _ := s.Save(ctx, o, nil)
	fmt.Println(created, again)
	// Output: true false
}

func BenchmarkSaveParallel(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "orders.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(4) // 8 goroutines on 2 cores, like the default 8 workers
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			o := storetest.Order(fmt.Sprintf("bench-%d", i), domain.StatusAccepted, i)
			if _, err := s.Save(ctx, o, storetest.Reply(o)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
