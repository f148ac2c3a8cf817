package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/storetest"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "orders.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func req(o domain.Order, withReply bool) *saveReq {
	r := &saveReq{order: o, doc: []byte(`{"key":"` + string(o.Key) + `"}`), done: make(chan struct{})}
	if withReply {
		r.reply = storetest.Reply(o)
		r.to = `["buy@example.com"]`
	}
	return r
}

// A round writes all its orders in one transaction; a bad order makes the
// round fall back to one transaction per order, so it alone fails and
// leaves nothing behind, while the others are stored with their replies.
func TestSaveRoundIsolatesAFailingOrder(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.key = 'bad'
		BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	existing := storetest.Order("old", domain.StatusAccepted, 0)
	if created, err := s.Save(ctx, existing, nil); err != nil || !created {
		t.Fatalf("seed: %v %v", created, err)
	}
	batch := []*saveReq{
		req(storetest.Order("a", domain.StatusAccepted, 1), true),
		req(storetest.Order("bad", domain.StatusAccepted, 2), true),
		req(storetest.Order("old", domain.StatusAccepted, 3), true), // a redelivery
		req(storetest.Order("c", domain.StatusIgnored, 4), false),
	}
	s.saveRound(ctx, batch)
	want := map[string]bool{"a": true, "old": false, "c": true}
	for _, r := range batch {
		k := string(r.order.Key)
		if k == "bad" {
			if r.err == nil || r.created {
				t.Errorf("bad: created=%v err=%v, want an error", r.created, r.err)
			}
			continue
		}
		if r.err != nil || r.created != want[k] {
			t.Errorf("%s: created=%v err=%v, want created=%v", k, r.created, r.err, want[k])
		}
	}
	if _, err := s.Get(ctx, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed order was stored without its reply: %v", err)
	}
	for _, k := range []domain.MessageKey{"a", "c", "old"} {
		if _, err := s.Get(ctx, k); err != nil {
			t.Errorf("order %s: %v", k, err)
		}
	}
	if _, err := s.Reply(ctx, "a"); err != nil {
		t.Errorf("reply of a: %v", err)
	}
}

// Many concurrent Saves, some of the same key: every key is created
// exactly once and every Save returns.
func TestSaveConcurrentGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const keys, dup = 200, 3
	var mu sync.Mutex
	created := map[string]int{}
	var wg sync.WaitGroup
	for i := range keys * dup {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := storetest.Order(fmt.Sprintf("k%d", i%keys), domain.StatusAccepted, i)
			c, err := s.Save(ctx, o, storetest.Reply(o))
			if err != nil {
				t.Error(err)
				return
			}
			if c {
				mu.Lock()
				created[string(o.Key)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(created) != keys {
		t.Fatalf("%d keys created, want %d", len(created), keys)
	}
	for k, n := range created {
		if n != 1 {
			t.Errorf("%s created %d times", k, n)
		}
	}
	if n, err := s.Count(ctx, store.Filter{}); err != nil || n != keys {
		t.Fatalf("count %d, %v", n, err)
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.running || len(s.group.pending) != 0 {
		t.Fatalf("group left running=%v pending=%d", s.group.running, len(s.group.pending))
	}
}
