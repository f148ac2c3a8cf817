// Package queuetest is the conformance suite every [contracts.TaskQueue]
// backend runs from its own tests, in the manner of go-cloud's drivertest:
// one set of semantics, proven the same way for memory, SQS and Redis.
//
// # Use
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, queuetest.Harness{
//			New: func(t *testing.T, o queuetest.Options) contracts.TaskQueue { ... },
//			DelayUnit: 50 * time.Millisecond,
//		})
//	}
//
// Each subtest gets a fresh, empty queue from Harness.New and closes it.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Options are what a subtest asks of a new queue.
type Options struct {
	// MaxAttempts: deliveries before Nack dead-letters (> 1, or negative
	// for unlimited).
	MaxAttempts int
	// Capacity: a bound for backends that have one (0: backend default).
	Capacity int
	// Name, when set, names the backend queue: two queues opened with the
	// same Name in one subtest share it (Harness.SharedNames), different
	// Names never do. The harness may add a prefix of its own.
	Name string
	// Lease: how long a delivery stays in flight unless extended, for
	// backends with leases (0: the harness's default).
	Lease time.Duration
	// MaxTaskBytes: the size limit to configure (0: backend default).
	MaxTaskBytes int
}

// Harness adapts a backend to the suite.
type Harness struct {
	// New returns a fresh, empty queue. The suite closes it.
	New func(t *testing.T, opts Options) contracts.TaskQueue
	// DelayUnit is the smallest delay the backend honours exactly (memory:
	// a few ms; SQS visibility: 1s). Delays in the suite are multiples of it.
	DelayUnit time.Duration
	// Bounded: Publish blocks when Capacity tasks are held.
	Bounded bool
	// StrictReceipts: settling a delivery twice returns ErrNotInFlight.
	// (SQS accepts a second delete of a receipt, so it is not strict.)
	StrictReceipts bool
	// ApproximateStats: gauges lag (SQS); the suite polls until they match.
	ApproximateStats bool
	// Timeout bounds one blocking step; default 10s.
	Timeout time.Duration
	// NewShared, when set, opens n queues (different names) that share one
	// backend client with a connection pool smaller than the consumers the
	// suite starts on them; without it the suite opens them with New.
	NewShared func(t *testing.T, n int, opts Options) []contracts.TaskQueue
	// Leases: deliveries expire after Options.Lease unless extended, and an
	// expired one is delivered again.
	Leases bool
	// SharedNames: two queues opened with the same Options.Name share the
	// backend queue (durable backends).
	SharedNames bool
	// Heavy scales the load cases (10,000 tasks; hundreds of nacks) down
	// for slow emulators: 1 (default) runs them in full.
	Heavy float64
	// Nacks is the number of nacks NacksUnlimitedAttempts makes; default
	// 300 (emulators with slow receives set fewer).
	Nacks int
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 10 * time.Second
	}
	if h.DelayUnit == 0 {
		h.DelayUnit = 20 * time.Millisecond
	}
	if h.Heavy == 0 {
		h.Heavy = 1
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"PublishConsumeAck", testPublishConsumeAck},
		{"ConsumeWaitsForPublish", testConsumeWaits},
		{"ConsumeHonoursContext", testConsumeContext},
		{"NackRedelivers", testNackRedelivers},
		{"NackDelayNotEarly", testNackDelay},
		{"DeadLetterExplicit", testDeadLetter},
		{"DeadLetterAfterMaxAttempts", testMaxAttempts},
		{"SettleTwice", testSettleTwice},
		{"Stats", testStats},
		{"Backpressure", testBackpressure},
		{"Concurrency", testConcurrency},
		{"Close", testClose},
		{"SettleAfterClose", testSettleAfterClose},
		{"ConsumersBeyondPoolOnSharedClient", testConsumersBeyondPool},
		{"CloseWithPublishers", testCloseWithPublishers},
		{"ConsumerCancelStorm", testCancelStorm},
		{"ManyTasksBeforeAnyConsumer", testManyBeforeConsumer},
		{"NacksUnlimitedAttempts", testNacksUnlimited},
		{"NameIsolation", testNameIsolation},
		{"StaleSettleDuringRedelivery", testStaleSettleRace},
		{"LeaseExtend", testLeaseExtend},
		{"LeaseExpiryRedelivers", testLeaseExpiry},
		{"TooLarge", testTooLarge},
		{"BatchReceive", testBatch},
		{"HandBackAtClose", testHandBack},
		{"HeldTasks", testHeldTasks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func open(t *testing.T, h Harness, o Options) contracts.TaskQueue {
	t.Helper()
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	q := h.New(t, o)
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func ctxT(t *testing.T, h Harness) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func mustConsume(t *testing.T, h Harness, q contracts.TaskQueue) contracts.Delivery {
	t.Helper()
	d, err := q.Consume(ctxT(t, h))
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	return d
}

func task(i int) contracts.Task {
	return contracts.Task{
		ID:         fmt.Sprintf("task-%d", i),
		Kind:       "test.kind",
		Payload:    []byte(fmt.Sprintf("payload %d \x00\xff", i)),
		Attributes: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "n": fmt.Sprint(i)},
	}
}

func testPublishConsumeAck(t *testing.T, h Harness) {
	q := open(t, h, Options{})
	ctx := ctxT(t, h)
	const n = 5
	for i := range n {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	seen := map[string]bool{}
	for range n {
		d := mustConsume(t, h, q)
		var i int
		if _, err := fmt.Sscanf(d.Task.ID, "task-%d", &i); err != nil {
			t.Fatalf("unexpected task id %q", d.Task.ID)
		}
		want := task(i)
		if d.Task.Kind != want.Kind || string(d.Task.Payload) != string(want.Payload) {
			t.Errorf("task %s: got kind %q payload %q, want %q %q", d.Task.ID, d.Task.Kind, d.Task.Payload, want.Kind, want.Payload)
		}
		for k, v := range want.Attributes {
			if d.Task.Attributes[k] != v {
				t.Errorf("task %s: attribute %s = %q, want %q", d.Task.ID, k, d.Task.Attributes[k], v)
			}
		}
		if d.Task.Attempt != 1 {
			t.Errorf("task %s: Attempt = %d, want 1", d.Task.ID, d.Task.Attempt)
		}
		if seen[d.Task.ID] {
			t.Errorf("task %s delivered twice", d.Task.ID)
		}
		seen[d.Task.ID] = true
		if err := q.Ack(ctx, d); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Held() == 0 }, "nothing held after acking all")
}

func testConsumeWaits(t *testing.T, h Harness) {
	q := open(t, h, Options{})
	ctx := ctxT(t, h)
	got := make(chan contracts.Delivery, 1)
	errc := make(chan error, 1)
	go func() {
		d, err := q.Consume(ctx)
		if err != nil {
			errc <- err
			return
		}
		got <- d
	}()
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.Task.ID != "task-1" {
			t.Fatalf("got %q", d.Task.ID)
		}
		if err := q.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	case err := <-errc:
		t.Fatalf("Consume: %v", err)
	case <-ctx.Done():
		t.Fatal("blocked Consume never received the published task")
	}
}

func testConsumeContext(t *testing.T, h Harness) {
	q := open(t, h, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*h.DelayUnit)
	defer cancel()
	_, err := q.Consume(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume on an empty queue with an expiring ctx: err = %v, want DeadlineExceeded", err)
	}
}

func testNackRedelivers(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 5})
	ctx := ctxT(t, h)
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, h, q)
	if err := q.Nack(ctx, d, 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	d2 := mustConsume(t, h, q)
	if d2.Task.ID != d.Task.ID || d2.Task.Attempt != 2 {
		t.Fatalf("redelivery: got %s attempt %d, want %s attempt 2", d2.Task.ID, d2.Task.Attempt, d.Task.ID)
	}
	if string(d2.Task.Payload) != string(d.Task.Payload) {
		t.Fatalf("payload changed on redelivery")
	}
	if err := q.Ack(ctx, d2); err != nil {
		t.Fatal(err)
	}
}

func testNackDelay(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 5})
	ctx := ctxT(t, h)
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, h, q)
	delay := 3 * h.DelayUnit
	nackedAt := time.Now()
	if err := q.Nack(ctx, d, delay); err != nil {
		t.Fatal(err)
	}
	early, cancel := context.WithTimeout(ctx, delay/2)
	defer cancel()
	if _, err := q.Consume(early); err == nil {
		t.Fatalf("task redelivered %v after Nack(%v): before its delay", time.Since(nackedAt), delay)
	}
	d2 := mustConsume(t, h, q)
	if since := time.Since(nackedAt); since < delay {
		t.Fatalf("redelivered after %v, before the delay %v", since, delay)
	}
	if d2.Task.Attempt != 2 {
		t.Fatalf("Attempt = %d, want 2", d2.Task.Attempt)
	}
	if err := q.Ack(ctx, d2); err != nil {
		t.Fatal(err)
	}
}

func testDeadLetter(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 5})
	ctx := ctxT(t, h)
	if err := q.Publish(ctx, task(7)); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, h, q)
	if err := q.DeadLetter(ctx, d, errors.New("bad input")); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Dead == 1 && s.Held() == 0 }, "one dead letter, nothing held")
	checkDeadAndRedrive(t, h, q, "task-7")
}

func checkDeadAndRedrive(t *testing.T, h Harness, q contracts.TaskQueue, id string) {
	t.Helper()
	dlq, ok := q.(contracts.DeadLetterQueue)
	if !ok {
		t.Skip("backend lists no dead letters (no contracts.DeadLetterQueue): listing and redrive not checked")
	}
	ctx := ctxT(t, h)
	var dead []contracts.DeadLetter
	waitFor(t, h, func() bool {
		var err error
		dead, err = dlq.DeadLetters(ctx, 10)
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		return len(dead) == 1
	}, "one dead letter listed")
	if dead[0].Task.ID != id {
		t.Fatalf("dead letter %q, want %q", dead[0].Task.ID, id)
	}
	n, err := dlq.Redrive(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("Redrive = %d, %v; want 1", n, err)
	}
	d := mustConsume(t, h, q)
	if d.Task.ID != id || d.Task.Attempt != 1 {
		t.Fatalf("after redrive got %s attempt %d, want %s attempt 1", d.Task.ID, d.Task.Attempt, id)
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Dead == 0 && s.Held() == 0 }, "dead-letter queue empty after redrive")
}

func testMaxAttempts(t *testing.T, h Harness) {
	const max = 3
	q := open(t, h, Options{MaxAttempts: max})
	ctx := ctxT(t, h)
	if err := q.Publish(ctx, task(9)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= max; i++ {
		d := mustConsume(t, h, q)
		if d.Task.Attempt != i {
			t.Fatalf("delivery %d has Attempt %d", i, d.Task.Attempt)
		}
		if err := q.Nack(ctx, d, 0); err != nil {
			t.Fatalf("Nack %d: %v", i, err)
		}
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Dead == 1 && s.Held() == 0 }, "dead-lettered after max attempts")
	short, cancel := context.WithTimeout(ctx, 2*h.DelayUnit)
	defer cancel()
	if d, err := q.Consume(short); err == nil {
		t.Fatalf("task delivered again (attempt %d) after max attempts", d.Task.Attempt)
	}
	checkDeadAndRedrive(t, h, q, "task-9")
}

func testSettleTwice(t *testing.T, h Harness) {
	if !h.StrictReceipts {
		t.Skip("backend does not detect double settlement")
	}
	q := open(t, h, Options{})
	ctx := ctxT(t, h)
	if err := q.Publish(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, h, q)
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(ctx, d); !errors.Is(err, contracts.ErrNotInFlight) {
		t.Errorf("second Ack: %v, want ErrNotInFlight", err)
	}
	if err := q.Nack(ctx, d, 0); !errors.Is(err, contracts.ErrNotInFlight) {
		t.Errorf("Nack after Ack: %v, want ErrNotInFlight", err)
	}
	if err := q.DeadLetter(ctx, d, nil); !errors.Is(err, contracts.ErrNotInFlight) {
		t.Errorf("DeadLetter after Ack: %v, want ErrNotInFlight", err)
	}
	if err := q.Ack(ctx, contracts.Delivery{Task: d.Task}); !errors.Is(err, contracts.ErrNotInFlight) {
		t.Errorf("Ack of a delivery without receipt: %v, want ErrNotInFlight", err)
	}
}

func testStats(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 5})
	ctx := ctxT(t, h)
	for i := range 3 {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	d1 := mustConsume(t, h, q)
	d2 := mustConsume(t, h, q)
	if err := q.Nack(ctx, d2, 100*h.DelayUnit); err != nil {
		t.Fatal(err)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool {
		return s.Ready == 1 && s.InFlight == 1 && s.Delayed == 1 && s.Dead == 0
	}, "ready=1 in_flight=1 delayed=1")
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Published >= 0 && s.Published != 3 {
		t.Errorf("Published = %d, want 3", s.Published)
	}
	if s.Nacked >= 0 && s.Nacked != 1 {
		t.Errorf("Nacked = %d, want 1", s.Nacked)
	}
	if err := q.Ack(ctx, d1); err != nil {
		t.Fatal(err)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.InFlight == 0 && (s.Acked < 0 || s.Acked == 1) }, "acked=1 in_flight=0")
}

func testBackpressure(t *testing.T, h Harness) {
	if !h.Bounded {
		t.Skip("backend is unbounded")
	}
	q := open(t, h, Options{Capacity: 2})
	ctx := ctxT(t, h)
	for i := range 2 {
		if err := q.Publish(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 2*h.DelayUnit)
	defer cancel()
	if err := q.Publish(short, task(3)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish to a full queue: %v, want it to block until the deadline", err)
	}
	// Space frees when a task is settled, and a blocked publisher proceeds.
	done := make(chan error, 1)
	go func() { done <- q.Publish(ctx, task(4)) }()
	d := mustConsume(t, h, q)
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("blocked Publish: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("blocked Publish did not proceed after space was freed")
	}
}

func testConcurrency(t *testing.T, h Harness) {
	q := open(t, h, Options{MaxAttempts: 10, Capacity: 64})
	ctx := ctxT(t, h)
	const publishers, consumers, perPublisher = 4, 4, 50
	total := publishers * perPublisher
	var mu sync.Mutex
	acked := map[string]int{}
	var wg sync.WaitGroup
	errc := make(chan error, publishers+consumers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perPublisher {
				if err := q.Publish(ctx, task(p*perPublisher+i)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var cwg sync.WaitGroup
	for range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				d, err := q.Consume(cctx)
				if err != nil {
					return
				}
				// Every third first delivery is nacked once, to mix
				// redeliveries into the traffic.
				if d.Task.Attempt == 1 && len(d.Task.ID)%3 == 0 {
					if err := q.Nack(ctx, d, 0); err != nil {
						errc <- err
					}
					continue
				}
				if err := q.Ack(ctx, d); err != nil {
					errc <- err
					continue
				}
				mu.Lock()
				acked[d.Task.ID]++
				n := len(acked)
				mu.Unlock()
				if n == total {
					stop()
				}
			}
		}()
	}
	wg.Wait()
	cwg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("concurrent operation: %v", err)
	}
	if len(acked) != total {
		t.Fatalf("acked %d distinct tasks, want %d", len(acked), total)
	}
	waitStats(t, h, q, func(s contracts.QueueStats) bool { return s.Held() == 0 && s.Dead == 0 }, "nothing held after the run")
}

func testClose(t *testing.T, h Harness) {
	q := h.New(t, Options{MaxAttempts: 3})
	ctx := ctxT(t, h)
	errc := make(chan error, 1)
	go func() {
		_, err := q.Consume(ctx)
		errc <- err
	}()
	// Give the consumer a chance to block; correctness does not depend on
	// it (Consume after Close must fail the same way).
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, contracts.ErrQueueClosed) {
			t.Fatalf("Consume after Close: %v, want ErrQueueClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("blocked Consume did not return after Close")
	}
	if err := q.Publish(ctx, task(1)); !errors.Is(err, contracts.ErrQueueClosed) {
		t.Fatalf("Publish after Close: %v, want ErrQueueClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func waitStats(t *testing.T, h Harness, q contracts.TaskQueue, ok func(contracts.QueueStats) bool, what string) {
	t.Helper()
	var last contracts.QueueStats
	cond := func() bool {
		s, err := q.Stats(context.Background())
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		last = s
		return ok(s)
	}
	// A queue that reads ahead hands a claimed batch to its buffer just
	// after the backend counts it in flight; for that moment its gauges
	// are not yet what they settle to, so they are waited for like an
	// approximate backend's.
	if ra, ok := q.(ReadAheader); ok && ra.ReadAhead() > 0 {
		h.ApproximateStats = true
	}
	if !cond() && !h.ApproximateStats {
		// The message is built after the look, so it shows what was seen.
		t.Fatalf("want %s, got %+v", what, last)
	}
	waitFor(t, h, cond, what)
	if !ok(last) {
		t.Fatalf("stats: want %s, got %+v", what, last)
	}
}

// waitFor polls cond: exact backends pass at once; approximate ones get
// until the harness timeout.
func waitFor(t *testing.T, h Harness, cond func() bool, what string) {
	t.Helper()
	if cond() {
		return
	}
	if !h.ApproximateStats {
		t.Fatalf("want %s", what)
	}
	deadline := time.Now().Add(h.Timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %s within %v", what, h.Timeout)
		}
	}
}
