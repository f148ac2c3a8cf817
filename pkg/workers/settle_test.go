package workers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/workers"
)

// ledger records the order of events per task: stored by the routine,
// settled with the source, acked on the queue.
type ledger struct {
	mu         sync.Mutex
	stored     map[string]bool
	settled    map[string]bool
	acked      map[string]bool
	violations []string
	runs       int
	settling   int // settlements in progress now
	maxSettle  int
	changed    chan struct{} // signalled on every change
}

func newLedger() *ledger {
	return &ledger{stored: map[string]bool{}, settled: map[string]bool{}, acked: map[string]bool{},
		changed: make(chan struct{}, 1)}
}

func (l *ledger) signal() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// wait blocks until cond holds (under l.mu) or the test's time is up.
func (l *ledger) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := ctxT(t)
	for {
		l.mu.Lock()
		ok := cond()
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-l.changed:
		case <-ctx.Done():
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("never: %s (runs %d, settling %d, acked %d)", what, l.runs, l.settling, len(l.acked))
		}
	}
}

// gatedSettler blocks every settlement until the gate opens.
type gatedSettler struct {
	l    *ledger
	gate chan struct{}
}

func (s *gatedSettler) Settle(ctx context.Context, task contracts.Task, o contracts.Outcome, _ error) error {
	s.l.mu.Lock()
	if !s.l.stored[task.ID] {
		s.l.violations = append(s.l.violations, "settled before stored: "+task.ID)
	}
	s.l.settling++
	s.l.maxSettle = max(s.l.maxSettle, s.l.settling)
	s.l.mu.Unlock()
	s.l.signal()
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.l.mu.Lock()
	s.l.settling--
	s.l.settled[task.ID] = true
	s.l.mu.Unlock()
	s.l.signal()
	return nil
}

// ackRecorder checks that the queue hears of a task only after its source.
type ackRecorder struct {
	contracts.TaskQueue
	l *ledger
}

func (q ackRecorder) Ack(ctx context.Context, d contracts.Delivery) error {
	q.l.mu.Lock()
	if !q.l.settled[d.Task.ID] {
		q.l.violations = append(q.l.violations, "acked before settled: "+d.Task.ID)
	}
	q.l.acked[d.Task.ID] = true
	q.l.mu.Unlock()
	q.l.signal()
	return q.TaskQueue.Ack(ctx, d)
}

func settlingPool(t *testing.T, workersN, settleAhead int) (*workers.Pool, *ledger, *gatedSettler, contracts.TaskQueue) {
	t.Helper()
	mq := memqueue.New(memqueue.Options{Capacity: 1000})
	t.Cleanup(func() { _ = mq.Close() })
	l := newLedger()
	s := &gatedSettler{l: l, gate: make(chan struct{})}
	exec := &routine.Executor{
		Routine: contracts.RoutineFunc(func(ctx context.Context, task contracts.Task) error {
			l.mu.Lock()
			l.runs++
			l.stored[task.ID] = true
			l.mu.Unlock()
			l.signal()
			return nil
		}),
		Settlers: map[string]contracts.Settler{"src": s},
	}
	p, err := workers.NewPool(workers.PoolOptions{Name: "p", Queue: ackRecorder{mq, l}, Workers: workersN,
		SettleAhead: settleAhead, Executors: map[string]*routine.Executor{"": exec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), true) })
	return p, l, s, mq
}

func publishN(t *testing.T, q contracts.TaskQueue, n int) {
	t.Helper()
	for i := range n {
		task := contracts.Task{ID: fmt.Sprintf("t%d", i)}.WithAttr(contracts.AttrSource, "src")
		if err := q.Publish(ctxT(t), task); err != nil {
			t.Fatal(err)
		}
	}
}

// A worker hands a finished task to settlement and takes the next one, up
// to SettleAhead settlements under way; the source hears of a task only
// after its routine stored the outcome, the queue only after the source.
func TestSettlementOffTheWorker(t *testing.T) {
	const workersN, ahead, n = 2, 8, 20
	_, l, s, q := settlingPool(t, workersN, ahead)
	publishN(t, q, n)
	// With every settlement held, the workers run SettleAhead tasks into
	// settlement and one more each, which waits for a slot.
	l.wait(t, "SettleAhead settlements under way", func() bool { return l.settling == ahead && l.runs == ahead+workersN })
	st, _ := q.Stats(ctxT(t))
	if st.Acked != 0 || st.InFlight != ahead+workersN {
		t.Fatalf("while settlements are held: %+v, want none acked and %d in flight", st, ahead+workersN)
	}
	close(s.gate)
	l.wait(t, "every task acked", func() bool { return len(l.acked) == n })
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) > 0 {
		t.Fatalf("order violated: %v", l.violations)
	}
	if l.maxSettle > ahead {
		t.Fatalf("%d settlements at once, bound %d", l.maxSettle, ahead)
	}
}

// A graceful stop waits for the settlements under way: Stop returns after
// every finished task was settled with its source and acked.
func TestStopDrainsSettlements(t *testing.T) {
	const n = 12
	p, l, s, q := settlingPool(t, 4, 0)
	publishN(t, q, n)
	l.wait(t, "all tasks in settlement", func() bool { return l.settling == n })
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(ctxT(t), false) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while %d settlements were under way", err, n)
	case <-p.Done():
		t.Fatal("pool done while settlements were under way")
	default:
	}
	close(s.gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	st, _ := q.Stats(ctxT(t))
	if st.Acked != n || st.InFlight != 0 {
		t.Fatalf("after stop: %+v, want %d acked", st, n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) > 0 {
		t.Fatalf("order violated: %v", l.violations)
	}
}

// SettleAhead < 0 settles on the worker: a held settlement holds its worker.
func TestSettleOnWorker(t *testing.T) {
	_, l, s, q := settlingPool(t, 2, -1)
	publishN(t, q, 6)
	l.wait(t, "both workers settling", func() bool { return l.settling == 2 && l.runs == 2 })
	close(s.gate)
	l.wait(t, "every task acked", func() bool { return len(l.acked) == 6 })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxSettle > 2 || len(l.violations) > 0 {
		t.Fatalf("max settling %d, violations %v", l.maxSettle, l.violations)
	}
}
