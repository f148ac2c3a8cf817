package queuetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Batcher is what the portable queue (queue.Queue) offers beyond
// contracts.TaskQueue; the batch cases skip queues without it.
type Batcher interface {
	PublishBatch(ctx context.Context, tasks []contracts.Task) (int, error)
	ConsumeBatch(ctx context.Context, limit int) ([]contracts.Delivery, error)
	AckBatch(ctx context.Context, ds []contracts.Delivery) error
}

// ReadAheader reports the consumer capacity a queue reads ahead.
type ReadAheader interface{ ReadAhead() int }

func name(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func scaled(h Harness, n int) int { return max(1, int(float64(n)*h.Heavy)) }

// testSettleAfterClose: the rule is one for every backend — after Close
// every operation but Stats returns ErrQueueClosed, settling included.
func testSettleAfterClose(t *testing.T, h Harness) {
	q := h.New(t, Options{MaxAttempts: 3})
	defer q.Close()
	ctx := ctxT(t, h)
	for i := range 3 {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	ds := []contracts.Delivery{mustConsume(t, h, q), mustConsume(t, h, q), mustConsume(t, h, q)}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checks := map[string]error{
		"Ack":            q.Ack(ctx, ds[0]),
		"Nack":           q.Nack(ctx, ds[1], time.Millisecond),
		"DeadLetter":     q.DeadLetter(ctx, ds[2], errors.New("x")),
		"Publish":        q.Publish(ctx, task(9)),
		"Ack (repeated)": q.Ack(ctx, ds[0]),
	}
	if ext, ok := q.(contracts.LeaseExtender); ok {
		checks["Extend"] = ext.Extend(ctx, ds[0], time.Second)
	}
	if dlq, ok := q.(contracts.DeadLetterQueue); ok {
		_, checks["DeadLetters"] = dlq.DeadLetters(ctx, 1)
		_, checks["Redrive"] = dlq.Redrive(ctx, 1)
	}
	for op, err := range checks {
		if !errors.Is(err, contracts.ErrQueueClosed) {
			t.Errorf("%s after Close: %v, want ErrQueueClosed", op, err)
		}
	}
	if _, err := q.Stats(ctx); err != nil {
		t.Errorf("Stats after Close: %v, want the final stats", err)
	}
}

// testConsumersBeyondPool: more consumers wait than the shared client has
// connections, on several queues; publishes, claims and acks still flow
// and no queue starves another.
func testConsumersBeyondPool(t *testing.T, h Harness) {
	const queues, consumers, perQueue = 3, 6, 30
	o := Options{MaxAttempts: 5, Capacity: 256}
	var qs []contracts.TaskQueue
	if h.NewShared != nil {
		qs = h.NewShared(t, queues, o)
	} else {
		for range queues {
			qs = append(qs, h.New(t, o))
		}
	}
	for _, q := range qs {
		t.Cleanup(func() { _ = q.Close() })
	}
	ctx := ctxT(t, h)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var acked [queues]atomic.Int64
	errc := make(chan error, queues*consumers)
	for qi, q := range qs {
		for range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := q.Consume(cctx)
					if err != nil {
						return
					}
					if err := q.Ack(ctx, d); err != nil {
						errc <- fmt.Errorf("queue %d: ack: %w", qi, err)
						return
					}
					acked[qi].Add(1)
				}
			}()
		}
	}
	// Let the consumers block before the first publish: the case is about
	// waiting consumers. Correctness does not depend on it.
	time.Sleep(2 * h.DelayUnit)
	for i := range perQueue {
		for qi, q := range qs {
			if err := q.Publish(ctx, task(qi*1000+i)); err != nil {
				t.Fatalf("queue %d: publish %d with %d consumers waiting: %v", qi, i, queues*consumers, err)
			}
		}
	}
	waitFor(t, Harness{ApproximateStats: true, Timeout: h.Timeout}, func() bool {
		for qi := range qs {
			if acked[qi].Load() < perQueue {
				return false
			}
		}
		return true
	}, fmt.Sprintf("all %d tasks of each of %d queues acked", perQueue, queues))
	stop()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for qi := range qs {
		if n := acked[qi].Load(); n != perQueue {
			t.Errorf("queue %d: acked %d, want %d (a task delivered twice?)", qi, n, perQueue)
		}
	}
}

// testCloseWithPublishers: Close races running publishers; a publish
// either took effect before Close returned or failed with ErrQueueClosed,
// and the final stats count exactly the successful ones.
func testCloseWithPublishers(t *testing.T, h Harness) {
	q := h.New(t, Options{MaxAttempts: 3, Capacity: 100000})
	defer q.Close()
	ctx := ctxT(t, h)
	const publishers = 8
	var ok atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{}, publishers)
	errc := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				err := q.Publish(ctx, task(p*1_000_000+i))
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, contracts.ErrQueueClosed) {
						errc <- err
					}
					return
				}
				ok.Add(1)
			}
		}()
	}
	for range publishers {
		<-started
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Stats taken when Close returned: a publish that returns nil later
	// took effect after Close, and is missing here.
	atClose, err := q.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats after Close: %v", err)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("publish during Close: %v, want nil or ErrQueueClosed", err)
	}
	n := ok.Load()
	if atClose.Published >= 0 && atClose.Published != n {
		t.Fatalf("%d publishes returned nil, the stats taken when Close returned count %d", n, atClose.Published)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool {
		return s.Held() == n && (s.Published < 0 || s.Published == n)
	}, fmt.Sprintf("%d published and held after Close", n))
}

// testCancelStorm: consumers whose contexts are cancelled over and over
// while tasks flow lose nothing.
func testCancelStorm(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 10, Capacity: 1024})
	ctx := ctxT(t, h)
	total := scaled(h, 300)
	var mu sync.Mutex
	acked := map[string]bool{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var cancels atomic.Int64
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				// Short-lived waits, some cancelled at once.
				cctx, cancel := context.WithTimeout(ctx, time.Duration((c+i)%4)*time.Millisecond)
				d, err := q.Consume(cctx)
				cancel()
				if err != nil {
					cancels.Add(1)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				if err := q.Ack(ctx, d); err != nil {
					t.Errorf("ack %s: %v", d.Task.ID, err)
					continue
				}
				mu.Lock()
				acked[d.Task.ID] = true
				if len(acked) == total {
					close(done)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range total {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n != total {
		t.Fatalf("acked %d of %d tasks (%d cancelled waits)", n, total, cancels.Load())
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Held() == 0 }, "nothing held")
}

// testManyBeforeConsumer: 10,000 tasks from 20 publishers before any
// consumer starts; every one is delivered.
func testManyBeforeConsumer(t *testing.T, h Harness) {
	total := scaled(h, 10000)
	const publishers = 20
	q := open(t, h, Options{MaxAttempts: 5, Capacity: total + 16})
	ctx, cancel := context.WithTimeout(context.Background(), 10*h.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < total; i += publishers {
				if err := q.Publish(ctx, task(i)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("publish: %v", err)
	}
	seen := make([]atomic.Bool, total)
	var got atomic.Int64
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var cwg sync.WaitGroup
	for range 8 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				d, err := q.Consume(cctx)
				if err != nil {
					return
				}
				var i int
				if _, err := fmt.Sscanf(d.Task.ID, "task-%d", &i); err != nil || i < 0 || i >= total {
					t.Errorf("unexpected task %q", d.Task.ID)
					continue
				}
				if err := q.Ack(ctx, d); err != nil {
					t.Errorf("ack %s: %v", d.Task.ID, err)
					continue
				}
				if !seen[i].Swap(true) && got.Add(1) == int64(total) {
					stop()
				}
			}
		}()
	}
	cwg.Wait()
	if n := got.Load(); n != int64(total) {
		t.Fatalf("delivered %d distinct of %d tasks", n, total)
	}
}

// testNacksUnlimited: with unlimited attempts a task survives hundreds of
// nacks, its attempt counting up, and is never dead-lettered.
func testNacksUnlimited(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*h.Timeout)
	defer cancel()
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	n := h.Nacks
	if n == 0 {
		n = 300
	}
	for i := 1; i <= n; i++ {
		d := mustConsume(t, h, q)
		if d.Task.Attempt != i {
			t.Fatalf("delivery %d has Attempt %d", i, d.Task.Attempt)
		}
		if err := q.Nack(ctx, d, 0); err != nil {
			t.Fatalf("nack %d: %v", i, err)
		}
	}
	d := mustConsume(t, h, q)
	if d.Task.Attempt != n+1 {
		t.Fatalf("final delivery Attempt %d, want %d", d.Task.Attempt, n+1)
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Held() == 0 && s.Dead == 0 }, "acked, never dead")
}

// testNameIsolation: queues of different names never see each other's
// tasks.
func testNameIsolation(t *testing.T, h Harness) {
	a := open(t, h, Options{Name: name("iso-a")})
	b := open(t, h, Options{Name: name("iso-b")})
	ctx := ctxT(t, h)
	if err := a.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, task(2)); err != nil {
		t.Fatal(err)
	}
	da, db := mustConsume(t, h, a), mustConsume(t, h, b)
	if da.Task.ID != "task-1" || db.Task.ID != "task-2" {
		t.Fatalf("queue a delivered %s, queue b %s", da.Task.ID, db.Task.ID)
	}
	short, cancel := context.WithTimeout(ctx, 3*h.DelayUnit)
	defer cancel()
	if d, err := a.Consume(short); err == nil {
		t.Fatalf("queue a delivered %s too", d.Task.ID)
	}
	if err := a.Ack(ctx, da); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(ctx, da); err == nil {
		t.Fatal("queue b acked a delivery of queue a")
	}
	if err := b.Ack(ctx, db); err != nil {
		t.Fatal(err)
	}
}

// testStaleSettleRace: a stale settlement of an earlier delivery races a
// redelivering consumer; under -race this must be free of data races, and
// the stale one always fails with ErrNotInFlight.
func testStaleSettleRace(t *testing.T, h Harness) {
	if !h.StrictReceipts {
		t.Skip("backend does not detect stale settlements (StrictReceipts false)")
	}
	q := open(t, h, Options{MaxAttempts: -1})
	ctx := ctxT(t, h)
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	first := mustConsume(t, h, q)
	if err := q.Nack(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	rounds := scaled(h, 200)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := q.Ack(ctx, first); !errors.Is(err, contracts.ErrNotInFlight) {
				t.Errorf("stale Ack: %v, want ErrNotInFlight", err)
				return
			}
		}
	}()
	var last contracts.Delivery
	for i := range rounds {
		last = mustConsume(t, h, q)
		if i < rounds-1 {
			if err := q.Nack(ctx, last, 0); err != nil {
				t.Fatalf("nack: %v", err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := q.Ack(ctx, last); err != nil {
		t.Fatalf("ack of the current delivery: %v", err)
	}
}

func leaseOf(h Harness) time.Duration { return max(10*h.DelayUnit, time.Second) }

// testLeaseExtend: an extended delivery stays with its consumer past its
// original lease.
func testLeaseExtend(t *testing.T, h Harness) {
	if !h.Leases {
		t.Skip("backend has no leases (deliveries never expire)")
	}
	lease := leaseOf(h)
	q := open(t, h, Options{Lease: lease})
	ext, ok := q.(contracts.LeaseExtender)
	if !ok {
		t.Fatal("a backend with leases must implement contracts.LeaseExtender")
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout+4*lease)
	defer cancel()
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, h, q)
	deadline := time.Now().Add(2 * lease)
	for time.Now().Before(deadline) {
		if err := ext.Extend(ctx, d, 2*lease); err != nil {
			t.Fatalf("Extend: %v", err)
		}
		short, cancel := context.WithTimeout(ctx, lease/3)
		got, err := q.Consume(short)
		cancel()
		if err == nil {
			t.Fatalf("extended delivery handed out again (attempt %d)", got.Task.Attempt)
		}
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatalf("Ack after extending: %v", err)
	}
}

// testLeaseExpiry: a consumer that dies without settling loses its lease;
// the task comes back with the next attempt and the dead consumer's late
// settlement fails.
func testLeaseExpiry(t *testing.T, h Harness) {
	if !h.Leases {
		t.Skip("backend has no leases (deliveries never expire)")
	}
	lease := leaseOf(h)
	q := open(t, h, Options{Lease: lease, MaxAttempts: 5})
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout+4*lease)
	defer cancel()
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	dead := mustConsume(t, h, q)
	at := time.Now()
	d := mustConsume(t, h, q)
	if since := time.Since(at); since < lease/2 {
		t.Fatalf("redelivered after %v, lease %v", since, lease)
	}
	if d.Task.ID != dead.Task.ID || d.Task.Attempt != 2 {
		t.Fatalf("redelivery %s attempt %d, want %s attempt 2", d.Task.ID, d.Task.Attempt, dead.Task.ID)
	}
	if h.StrictReceipts {
		if err := q.Ack(ctx, dead); !errors.Is(err, contracts.ErrNotInFlight) {
			t.Fatalf("late Ack of the expired delivery: %v, want ErrNotInFlight", err)
		}
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// testTooLarge: a task over the size limit fails with ErrTooLarge and
// leaves nothing behind.
func testTooLarge(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxTaskBytes: 4096})
	ctx := ctxT(t, h)
	big := task(1)
	big.Payload = []byte(strings.Repeat("x", 8192))
	err := q.Publish(ctx, big)
	if !errors.Is(err, contracts.ErrTooLarge) {
		t.Fatalf("Publish of an 8 KiB task with a 4 KiB limit: %v, want ErrTooLarge", err)
	}
	if err := q.Publish(ctx, task(2)); err != nil {
		t.Fatalf("small task after a refused one: %v", err)
	}
	d := mustConsume(t, h, q)
	if d.Task.ID != "task-2" {
		t.Fatalf("got %s", d.Task.ID)
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// testBatch: batch publish, receive (bounded by the limit asked) and ack.
func testBatch(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 3})
	b, ok := q.(Batcher)
	if !ok {
		t.Skip("queue offers no batch operations (queuetest.Batcher)")
	}
	ctx := ctxT(t, h)
	const n = 25
	tasks := make([]contracts.Task, n)
	for i := range tasks {
		tasks[i] = task(i)
	}
	if got, err := b.PublishBatch(ctx, tasks); err != nil || got != n {
		t.Fatalf("PublishBatch = %d, %v; want %d", got, err, n)
	}
	seen := map[string]bool{}
	batches := 0
	for len(seen) < n {
		ds, err := b.ConsumeBatch(ctx, 10)
		if err != nil {
			t.Fatalf("ConsumeBatch after %d of %d: %v", len(seen), n, err)
		}
		if len(ds) == 0 || len(ds) > 10 {
			t.Fatalf("ConsumeBatch(10) returned %d deliveries", len(ds))
		}
		batches++
		for _, d := range ds {
			if seen[d.Task.ID] {
				t.Fatalf("%s delivered twice", d.Task.ID)
			}
			seen[d.Task.ID] = true
		}
		if err := b.AckBatch(ctx, ds); err != nil {
			t.Fatalf("AckBatch: %v", err)
		}
		if h.StrictReceipts {
			if err := b.AckBatch(ctx, ds[:1]); !errors.Is(err, contracts.ErrNotInFlight) {
				t.Fatalf("second AckBatch: %v, want ErrNotInFlight", err)
			}
		}
	}
	if batches == n {
		t.Logf("every batch held one task")
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Held() == 0 }, "nothing held after AckBatch")
}

// testHandBack: tasks read ahead for consumers that never took them go
// back to the backend at Close, at once and without spending an attempt
// where the backend can.
func testHandBack(t *testing.T, h Harness) {
	if !h.SharedNames {
		t.Skip("backend cannot reopen a queue by name (not durable): nothing to hand back to")
	}
	n := name("handback")
	lease := 30 * time.Second // far beyond the test: only a hand-back brings tasks back in time
	q := h.New(t, Options{Name: n, Lease: lease, MaxAttempts: 3})
	defer q.Close()
	ra, ok := q.(ReadAheader)
	if !ok || ra.ReadAhead() == 0 {
		q.Close()
		t.Skip("queue reads nothing ahead of its consumers (ReadAhead 0): nothing to hand back")
	}
	ctx := ctxT(t, h)
	const total = 6
	for i := range total {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	first := mustConsume(t, h, q)
	if err := q.Ack(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again := open(t, h, Options{Name: n, Lease: lease})
	seen := map[string]bool{first.Task.ID: true}
	for len(seen) < total {
		d, err := again.Consume(ctx)
		if err != nil {
			t.Fatalf("after Close, %d of %d tasks came back: %v", len(seen)-1, total-1, err)
		}
		if seen[d.Task.ID] {
			t.Fatalf("%s delivered twice", d.Task.ID)
		}
		seen[d.Task.ID] = true
		if err := again.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

// testHeldTasks: a queue that tells what it holds (contracts.TaskHolder)
// answers by task ID for ready, in-flight, delayed and dead-lettered tasks,
// and forgets a task once it is acked. Backends that cannot tell (SQS, the
// in-memory queue) skip it.
func testHeldTasks(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 5})
	th, ok := q.(contracts.TaskHolder)
	if !ok || !th.TellsHeld() {
		if ok {
			if _, err := th.HeldTasks(ctxT(t, h), []string{"x"}); !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("HeldTasks on a backend that cannot tell: %v, want errors.ErrUnsupported", err)
			}
		}
		t.Skip("backend cannot tell which tasks it holds (no contracts.TaskHolder)")
	}
	ctx := ctxT(t, h)
	ids := []string{"task-0", "task-1", "task-2", "task-3", "task-never"}
	check := func(what string, want ...bool) {
		t.Helper()
		got, err := th.HeldTasks(ctx, ids)
		if err != nil {
			t.Fatalf("HeldTasks (%s): %v", what, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("HeldTasks (%s) = %v, want %v (ids %v)", what, got, want, ids)
		}
	}
	check("empty queue", false, false, false, false, false)
	for i := range 4 {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	check("all ready", true, true, true, true, false)
	got := map[string]contracts.Delivery{}
	for range 4 {
		d := mustConsume(t, h, q)
		got[d.Task.ID] = d
	}
	check("all in flight", true, true, true, true, false)
	if err := q.Ack(ctx, got["task-0"]); err != nil {
		t.Fatal(err)
	}
	if err := q.Nack(ctx, got["task-1"], 100*h.DelayUnit); err != nil {
		t.Fatal(err)
	}
	if err := q.DeadLetter(ctx, got["task-2"], errors.New("bad")); err != nil {
		t.Fatal(err)
	}
	check("acked, delayed, dead, in flight", false, true, true, true, false)
	if err := q.Ack(ctx, got["task-3"]); err != nil {
		t.Fatal(err)
	}
	check("task-3 acked", false, true, true, false, false)

	// A second copy under the same ID: held until both are acked.
	if err := q.Publish(ctx, task(0)); err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, task(0)); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, h, q)
	if d.Task.ID != "task-0" {
		t.Fatalf("consumed %s, want task-0 (task-1 is delayed)", d.Task.ID)
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	check("one of two copies acked", true, true, true, false, false)
	if got, err := th.HeldTasks(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("HeldTasks(nil) = %v, %v; want empty", got, err)
	}
}
