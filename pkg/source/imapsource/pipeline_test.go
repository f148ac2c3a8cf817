package imapsource_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/workers"
)

// orderStore stands for the bot's store: outcomes by Message-ID, with the
// number of times each was saved.
type orderStore struct {
	mu    sync.Mutex
	saves map[string]int
}

func (s *orderStore) save(id string) (created bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves[id]++
	return s.saves[id] == 1
}

func (s *orderStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves[id] > 0
}

// settlerFunc adapts a function to contracts.Settler.
type settlerFunc func(context.Context, contracts.Task, contracts.Outcome, error) error

func (f settlerFunc) Settle(ctx context.Context, t contracts.Task, o contracts.Outcome, cause error) error {
	return f(ctx, t, o, cause)
}

var errKilled = errors.New("process killed between store and settle")

// runPool is one process's life: a pool of 4 workers (settling off the
// workers, SettleAhead default) on an in-memory queue fed by one Poll of
// src. It returns when done reports true, stopping the pool with force and
// dropping the queue, as a killed process would.
func runPool(t *testing.T, src *imapsource.Source, store *orderStore, settler contracts.Settler, dups *int, done func() bool) {
	t.Helper()
	ctx := t.Context()
	q := memqueue.New(memqueue.Options{Capacity: 1000})
	defer q.Close()
	var mu sync.Mutex
	exec := &routine.Executor{
		Routine: contracts.RoutineFunc(func(ctx context.Context, task contracts.Task) error {
			if !store.save(task.Attr(imapsource.AttrMessageID)) {
				mu.Lock()
				*dups++ // found "already stored"
				mu.Unlock()
			}
			return nil
		}),
		Settlers: map[string]contracts.Settler{src.Name(): settler},
	}
	p, err := workers.NewPool(workers.PoolOptions{Name: "bot", Queue: q, Workers: 4,
		Executors: map[string]*routine.Executor{"": exec}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(context.Background(), true) }()
	if _, err := src.Poll(ctx, q); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("the pool did not get there within 30s")
		}
		time.Sleep(20 * time.Millisecond) // watching a server from outside: nothing to await
	}
}

// The real path with settlement off the workers, on Dovecot: a process
// killed after its routines stored their outcomes but before any \Seen
// leaves every message unseen; the next process gets them again, finds
// each "already stored", and only then sets \Seen. A watcher on its own
// connection checks throughout that no message is \Seen before its outcome
// is stored, and the settler checks it for every call.
func TestDovecotKillBetweenStoreAndSettle(t *testing.T) {
	const n = 150
	acc := dovecotAccount(t)
	acc.seed(t, "INBOX", "m", n) // UID i+1 is <m-i@test>
	store := &orderStore{saves: map[string]int{}}
	stored := func() int {
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.saves)
	}

	// First process: every routine stores; the process dies before any
	// settlement reaches the server.
	first := newSource(t, acc.config())
	first.QueueOutlivesProcess(false)
	var dups1 int
	runPool(t, first, store, settlerFunc(func(context.Context, contracts.Task, contracts.Outcome, error) error {
		return errKilled
	}), &dups1, func() bool { return stored() == n })
	_ = first.Close() // killed: no ReleaseMarks
	fl := acc.flags(t, "INBOX")
	if seen := countFlag(fl, `\Seen`); seen != 0 {
		t.Fatalf("%d messages \\Seen although no settlement reached the server", seen)
	}

	// A watcher: every \Seen message must have its outcome stored.
	watch := acc.client(t)
	if _, err := watch.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	var violations []string
	seenNow := func() int {
		d, err := watch.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		for _, uid := range d.AllUIDs() {
			if id := fmt.Sprintf("m-%d@test", uid-1); !store.has(id) {
				violations = append(violations, id)
			}
		}
		return len(d.AllUIDs())
	}

	// Second process: clears the orphaned marks, gets every message again.
	second := newSource(t, acc.config())
	second.QueueOutlivesProcess(false)
	var dups2 int
	var mu sync.Mutex
	var early []string
	runPool(t, second, store, settlerFunc(func(ctx context.Context, task contracts.Task, o contracts.Outcome, cause error) error {
		if id := task.Attr(imapsource.AttrMessageID); !store.has(id) {
			mu.Lock()
			early = append(early, id)
			mu.Unlock()
		}
		return second.Settle(ctx, task, o, cause)
	}), &dups2, func() bool { return seenNow() == n })

	if len(violations) > 0 || len(early) > 0 {
		t.Fatalf("\\Seen before stored: watcher %v, settler %v", violations, early)
	}
	if dups1 != 0 || dups2 != n {
		t.Fatalf("already stored: %d in the first process, %d in the second; want 0 and %d", dups1, dups2, n)
	}
	store.mu.Lock()
	for id, c := range store.saves {
		if c != 2 {
			t.Errorf("%s saved %d times, want twice (stored, then found stored)", id, c)
		}
	}
	store.mu.Unlock()
	fl = acc.flags(t, "INBOX")
	if m := countFlag(fl, queued); m != 0 {
		t.Fatalf("%d in-flight marks left", m)
	}
}
