package workers_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/workers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startPool(t *testing.T, q contracts.TaskQueue, n int, exec *routine.Executor) *workers.Pool {
	t.Helper()
	p, err := workers.NewPool(workers.PoolOptions{Name: "p", Queue: q, Workers: n, Executors: map[string]*routine.Executor{"": exec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), true) })
	return p
}

func waitStats(t *testing.T, q contracts.TaskQueue, cond func(contracts.QueueStats) bool) contracts.QueueStats {
	t.Helper()
	ctx := ctxT(t)
	for {
		s, _ := q.Stats(ctx)
		if cond(s) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stats never matched: %+v", s)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func TestPanickingRoutineDoesNotKillWorker(t *testing.T) {
	q := memqueue.New(memqueue.Options{MaxAttempts: 10})
	defer q.Close()
	var runs atomic.Int64
	exec := &routine.Executor{Backoff: func(int) time.Duration { return 0 }, MaxAttempts: 10,
		Routine: contracts.RoutineFunc(func(_ context.Context, t contracts.Task) error {
			runs.Add(1)
			if t.Attempt == 1 {
				panic("first delivery panics")
			}
			return nil
		})}
	p := startPool(t, q, 1, exec) // one goroutine: it must survive every panic
	ctx := ctxT(t)
	for i := range 5 {
		if err := q.Publish(ctx, contracts.Task{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.Acked == 5 })
	st := p.Status()
	if st.Panics != 5 || st.Succeeded != 5 || st.State != contracts.WorkerRunning {
		t.Fatalf("status %+v: want 5 panics, 5 successes, still running", st)
	}
	if runs.Load() != 10 {
		t.Fatalf("runs = %d, want 10", runs.Load())
	}
}

func TestRetryDelayHonoured(t *testing.T) {
	q := memqueue.New(memqueue.Options{})
	defer q.Close()
	const delay = 150 * time.Millisecond
	var mu sync.Mutex
	var times []time.Time
	exec := &routine.Executor{Routine: contracts.RoutineFunc(func(_ context.Context, t contracts.Task) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if t.Attempt == 1 {
			return contracts.Retry(errors.New("busy"), delay)
		}
		return nil
	})}
	startPool(t, q, 4, exec)
	if err := q.Publish(ctxT(t), contracts.Task{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.Acked == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d runs", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < delay {
		t.Fatalf("redelivered after %v, before the requested %v", gap, delay)
	}
}

func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	q := memqueue.New(memqueue.Options{MaxAttempts: 100})
	defer q.Close()
	var runs atomic.Int64
	exec := &routine.Executor{MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Millisecond },
		Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { runs.Add(1); return errors.New("always") })}
	p := startPool(t, q, 2, exec)
	if err := q.Publish(ctxT(t), contracts.Task{ID: "doomed"}); err != nil {
		t.Fatal(err)
	}
	s := waitStats(t, q, func(s contracts.QueueStats) bool { return s.Dead == 1 })
	if runs.Load() != 3 || s.Held() != 0 {
		t.Fatalf("runs %d, stats %+v: want 3 runs then dead", runs.Load(), s)
	}
	dead, _ := q.DeadLetters(ctxT(t), 0)
	if len(dead) != 1 || dead[0].Task.ID != "doomed" || dead[0].Reason != "always" {
		t.Fatalf("dead letters %+v", dead)
	}
	if p.Status().DeadLettered != 1 {
		t.Fatalf("status %+v", p.Status())
	}
}

func TestUnknownKindDeadLettered(t *testing.T) {
	q := memqueue.New(memqueue.Options{})
	defer q.Close()
	exec := &routine.Executor{Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil })}
	p, err := workers.NewPool(workers.PoolOptions{Name: "p", Queue: q, Executors: map[string]*routine.Executor{"known": exec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background(), false)
	_ = q.Publish(ctxT(t), contracts.Task{Kind: "known"})
	_ = q.Publish(ctxT(t), contracts.Task{Kind: "mystery"})
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.Acked == 1 && s.Dead == 1 })
}

// Graceful shutdown loses no task: every published task is either acked or
// still held by the queue, including tasks whose routine was cut off by the
// drain deadline.
func TestGracefulShutdownLosesNothing(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("force=%v", force), func(t *testing.T) {
			q := memqueue.New(memqueue.Options{Capacity: 1000})
			defer q.Close()
			var started atomic.Int64
			exec := &routine.Executor{Routine: contracts.RoutineFunc(func(ctx context.Context, t contracts.Task) error {
				started.Add(1)
				if t.Attempt == 1 && len(t.ID)%2 == 0 { // some tasks are slow
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(time.Minute):
					}
				}
				return nil
			})}
			p := startPool(t, q, 4, exec)
			ctx := ctxT(t)
			const n = 200
			for i := range n {
				if err := q.Publish(ctx, contracts.Task{ID: fmt.Sprintf("t%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			// Wait until the pool is busy with slow tasks, then stop it.
			waitStats(t, q, func(s contracts.QueueStats) bool { return s.InFlight == 4 })
			stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			err := p.Stop(stopCtx, force)
			if !force && err == nil {
				t.Fatal("Stop returned nil although slow routines were abandoned at the deadline")
			}
			<-p.Done()
			s, _ := q.Stats(ctx)
			if s.InFlight != 0 {
				t.Fatalf("in flight after stop: %+v", s)
			}
			if s.Acked+s.Held()+s.Dead != n {
				t.Fatalf("lost tasks: acked %d + held %d + dead %d != %d (%+v)", s.Acked, s.Held(), s.Dead, n, s)
			}
			if s.Held() == 0 {
				t.Fatalf("expected abandoned tasks back in the queue, stats %+v", s)
			}
		})
	}
}

func TestSourceWorkerPolls(t *testing.T) {
	q := memqueue.New(memqueue.Options{})
	defer q.Close()
	src := &countSource{}
	w, err := workers.NewSourceWorker(workers.SourceOptions{Source: src, Publisher: q, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.Published >= 3 })
	if err := w.Stop(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	if w.Err() != nil || w.Status().State != contracts.WorkerStopped || w.Status().Published < 3 {
		t.Fatalf("status %+v err %v", w.Status(), w.Err())
	}
}

func TestSourceWorkerFailsAfterLimit(t *testing.T) {
	src := &countSource{fail: errors.New("server down")}
	w, err := workers.NewSourceWorker(workers.SourceOptions{Source: src, Publisher: contracts.PublisherFunc(
		func(context.Context, contracts.Task) error { return nil }), Interval: time.Millisecond, FailureLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Start(ctxT(t))
	<-w.Done()
	if w.Err() == nil || w.Status().State != contracts.WorkerFailed {
		t.Fatalf("want failed worker, got %+v", w.Status())
	}
}

func TestPushModeNeedsPushSource(t *testing.T) {
	_, err := workers.NewSourceWorker(workers.SourceOptions{Source: &countSource{}, Publisher: contracts.PublisherFunc(
		func(context.Context, contracts.Task) error { return nil }), Mode: contracts.SourcePush})
	if err == nil {
		t.Fatal("push mode accepted a poll-only source")
	}
}

type countSource struct {
	n    atomic.Int64
	fail error
}

func (s *countSource) Name() string { return "count" }
func (s *countSource) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	if s.fail != nil {
		return 0, s.fail
	}
	i := s.n.Add(1)
	return 1, pub.Publish(ctx, contracts.Task{ID: fmt.Sprint(i)})
}

func TestFuncWorker(t *testing.T) {
	w := workers.Func("loop", func(ctx context.Context) error { <-ctx.Done(); return nil })
	_ = w.Start(ctxT(t))
	if w.Health().State != contracts.HealthUp {
		t.Fatal("not up")
	}
	if err := w.Stop(ctxT(t), false); err != nil || w.Err() != nil {
		t.Fatal(err, w.Err())
	}
	crash := workers.Func("crash", func(context.Context) error { panic("oops") })
	_ = crash.Start(ctxT(t))
	<-crash.Done()
	if crash.Err() == nil || crash.Health().State != contracts.HealthDown {
		t.Fatalf("panic not reported: %v", crash.Err())
	}
}

func TestPoolResize(t *testing.T) {
	q := memqueue.New(memqueue.Options{Capacity: 100})
	defer q.Close()
	release := make(chan struct{})
	var running atomic.Int64
	exec := &routine.Executor{Routine: contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error {
		running.Add(1)
		defer running.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})}
	p := startPool(t, q, 2, exec)
	ctx := ctxT(t)
	for i := range 20 {
		_ = q.Publish(ctx, contracts.Task{ID: fmt.Sprint(i)})
	}
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.InFlight == 2 })
	if err := p.Resize(5); err != nil {
		t.Fatal(err)
	}
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.InFlight == 5 })
	if p.Status().Concurrency != 5 {
		t.Fatalf("concurrency %d", p.Status().Concurrency)
	}
	if err := p.Resize(1); err != nil {
		t.Fatal(err)
	}
	close(release) // running tasks finish; only one goroutine keeps consuming
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.Acked == 20 })
	if p.Status().Concurrency != 1 {
		t.Fatalf("concurrency %d", p.Status().Concurrency)
	}
	if err := p.Resize(0); err == nil {
		t.Fatal("resize to 0 accepted")
	}
}

// extendingQueue is memqueue plus a LeaseExtender that reports each call.
type extendingQueue struct {
	*queue.Queue
	extended chan string
}

func (q extendingQueue) Extend(_ context.Context, d contracts.Delivery, lease time.Duration) error {
	q.extended <- d.Task.ID
	return nil
}

// A long routine keeps its delivery: the pool extends the lease while it
// runs and stops extending once it returns.
func TestPoolExtendsLeaseWhileRoutineRuns(t *testing.T) {
	q := extendingQueue{Queue: memqueue.New(memqueue.Options{}), extended: make(chan string, 16)}
	defer q.Close()
	exec := &routine.Executor{Routine: contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error {
		// Finish only after the lease was extended twice.
		for range 2 {
			select {
			case id := <-q.extended:
				if id != "long" {
					return fmt.Errorf("extended %q", id)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})}
	p, err := workers.NewPool(workers.PoolOptions{Name: "p", Queue: q, Lease: 30 * time.Millisecond,
		Executors: map[string]*routine.Executor{"": exec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background(), true)
	if err := q.Publish(ctxT(t), contracts.Task{ID: "long"}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, q, func(s contracts.QueueStats) bool { return s.Acked == 1 })
	if p.Status().Succeeded != 1 {
		t.Fatalf("status %+v", p.Status())
	}
}
