package redisqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/queuetest"
	"github.com/plba/plba/pkg/queue/redisqueue"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The example needs the real server; without it (and outside CI) it is
	// skipped like the tests, instead of failing on its output.
	if c, err := net.DialTimeout("tcp", testsvc.Redis.Addr(), time.Second); err != nil {
		if os.Getenv("CI") != "true" {
			_ = flag.Set("test.skip", "^Example")
		}
	} else {
		_ = c.Close()
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// client returns a client for the test Redis, closed when the test ends.
func client(t testing.TB) *redis.Client {
	t.Helper()
	addr := testsvc.Require(t, testsvc.Redis)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

// open returns a queue under a fresh name on c; when the test ends it is
// closed and its keys are deleted. Registered after client, so it runs
// before the client is closed.
func open(t testing.TB, c redis.UniversalClient, o redisqueue.Options) *queue.Queue {
	t.Helper()
	o.Client = c
	if o.Name == "" {
		o.Name = uniqueName()
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = 100 * time.Millisecond
	}
	if o.MoverInterval == 0 {
		o.MoverInterval = 50 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	q, err := redisqueue.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = q.Close()
		if err := purge(q); err != nil {
			t.Errorf("purge: %v", err)
		}
	})
	return q
}

func purge(q *queue.Queue) error {
	return q.Driver().(*redisqueue.Driver).Purge(context.Background())
}

// opts maps the suite's options to the driver's; a suite Name becomes a
// queue name of this run.
func opts(o queuetest.Options, base redisqueue.Options) redisqueue.Options {
	base.Capacity, base.MaxAttempts, base.Lease, base.MaxTaskBytes = o.Capacity, o.MaxAttempts, o.Lease, o.MaxTaskBytes
	if o.Name != "" {
		base.Name = runPrefix + o.Name
	}
	return base
}

var runPrefix = uniqueName() + "-"

// harness runs the suite on c; shared opens several queues on one extra
// client whose pool (4) is smaller than the consumers the suite starts.
func harness(c redis.UniversalClient, shared func(t *testing.T) redis.UniversalClient) queuetest.Harness {
	return queuetest.Harness{
		New: func(t *testing.T, o queuetest.Options) contracts.TaskQueue {
			return open(t, c, opts(o, redisqueue.Options{BlockTimeout: 5 * time.Second}))
		},
		NewShared: func(t *testing.T, n int, o queuetest.Options) []contracts.TaskQueue {
			sc := shared(t)
			var qs []contracts.TaskQueue
			for range n {
				qs = append(qs, open(t, sc, opts(o, redisqueue.Options{BlockTimeout: 5 * time.Second})))
			}
			return qs
		},
		DelayUnit:      50 * time.Millisecond,
		Bounded:        true,
		StrictReceipts: true,
		Leases:         true,
		SharedNames:    true,
	}
}

func TestConformance(t *testing.T) {
	c := client(t)
	queuetest.Run(t, harness(c, func(t *testing.T) redis.UniversalClient {
		sc := redis.NewClient(&redis.Options{Addr: testsvc.Redis.Addr(), PoolSize: 4, PoolTimeout: 2 * time.Second})
		t.Cleanup(func() { _ = sc.Close() })
		return sc
	}))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func task(id string) contracts.Task {
	return contracts.Task{ID: id, Kind: "test.kind", Payload: []byte("body of " + id), Attributes: map[string]string{"k": id}}
}

func mustConsume(t *testing.T, q *queue.Queue) contracts.Delivery {
	t.Helper()
	d, err := q.Consume(ctxT(t))
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	return d
}

func stats(t *testing.T, q *queue.Queue) contracts.QueueStats {
	t.Helper()
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLeaseExpiryRedelivers(t *testing.T) {
	c := client(t)
	lease := 150 * time.Millisecond
	q := open(t, c, redisqueue.Options{Lease: lease, MaxAttempts: 5})
	ctx := ctxT(t)
	if err := q.Publish(ctx, task("a")); err != nil {
		t.Fatal(err)
	}
	d1 := mustConsume(t, q)
	start := time.Now()
	// Not settled: after the lease the mover hands it out again.
	d2 := mustConsume(t, q)
	if since := time.Since(start); since < lease-10*time.Millisecond {
		t.Fatalf("redelivered after %v, before the lease %v ran out", since, lease)
	}
	if d2.Task.ID != "a" || d2.Task.Attempt != 2 {
		t.Fatalf("redelivery: %s attempt %d, want a attempt 2", d2.Task.ID, d2.Task.Attempt)
	}
	if err := q.Ack(ctx, d1); !errors.Is(err, contracts.ErrNotInFlight) {
		t.Fatalf("Ack of the expired delivery: %v, want ErrNotInFlight", err)
	}
	if err := q.Extend(ctx, d1, time.Second); !errors.Is(err, contracts.ErrNotInFlight) {
		t.Fatalf("Extend of the expired delivery: %v, want ErrNotInFlight", err)
	}
	if err := q.Ack(ctx, d2); err != nil {
		t.Fatalf("Ack of the current delivery: %v", err)
	}
	if s := stats(t, q); s.Held() != 0 || s.Acked != 1 {
		t.Fatalf("stats after ack: %+v", s)
	}
}

func TestLeaseExpiryAtMaxAttemptsDeadLetters(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{Lease: 50 * time.Millisecond, MaxAttempts: 2})
	ctx := ctxT(t)
	if err := q.Publish(ctx, task("slow")); err != nil {
		t.Fatal(err)
	}
	mustConsume(t, q)
	if d := mustConsume(t, q); d.Task.Attempt != 2 {
		t.Fatalf("attempt %d, want 2", d.Task.Attempt)
	}
	// The second lease runs out too: that was the last attempt.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if d, err := q.Consume(short); err == nil {
		t.Fatalf("delivered again (attempt %d) after max attempts", d.Task.Attempt)
	}
	dead, err := q.DeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Task.ID != "slow" || !strings.Contains(dead[0].Reason, "lease expired") {
		t.Fatalf("dead letters: %+v", dead)
	}
	// Attempt is the backend's delivery count: the expired second delivery
	// and the claim that found it past MaxAttempts.
	if dead[0].Task.Attempt < 2 || time.Since(dead[0].At) > 5*time.Second {
		t.Fatalf("dead letter attempt %d at %v", dead[0].Task.Attempt, dead[0].At)
	}
}

func TestExtendKeepsDelivery(t *testing.T) {
	c := client(t)
	lease := 100 * time.Millisecond
	q := open(t, c, redisqueue.Options{Lease: lease, MaxAttempts: 5})
	ctx := ctxT(t)
	if err := q.Publish(ctx, task("long")); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, q)
	if err := q.Extend(ctx, d, 2*time.Second); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	// Well past the original lease nobody else gets the task.
	wait, cancel := context.WithTimeout(ctx, 4*lease)
	defer cancel()
	if d2, err := q.Consume(wait); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume while the lease is extended: %+v, %v; want DeadlineExceeded", d2.Task, err)
	}
	if s := stats(t, q); s.InFlight != 1 || s.Ready != 0 {
		t.Fatalf("stats while extended: %+v", s)
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatalf("Ack after Extend: %v", err)
	}
}

func TestMalformedEntriesAreDeadLettered(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{MaxAttempts: 5, BlockTimeout: 5 * time.Second})
	ctx := ctxT(t)
	kp := redisqueue.KeyPrefix("plba", optsName(t, q))
	// Things a foreign producer or a hand edit might leave: a raw element
	// in the ready list, a record whose body is not an envelope, a record of
	// the wrong type, and a member of the delayed set without a record.
	must(t, c.LPush(ctx, kp+"ready", "not-a-task-id").Err())
	// More strays than one claim step buries: the good task behind them
	// must still come at once, without a wake-up token of their own.
	for i := range 40 {
		must(t, c.LPush(ctx, kp+"ready", "stray-"+strconv.Itoa(i)).Err())
	}
	must(t, c.HSet(ctx, kp+"m:900", "body", "{not json", "attempt", 0).Err())
	must(t, c.LPush(ctx, kp+"ready", "900").Err())
	must(t, c.Set(ctx, kp+"m:901", "a string, not a hash", 0).Err())
	must(t, c.LPush(ctx, kp+"ready", "901").Err())
	must(t, c.ZAdd(ctx, kp+"delayed", redis.Z{Score: 0, Member: "ghost"}).Err())
	if err := q.Publish(ctx, task("good")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d := mustConsume(t, q)
	if el := time.Since(start); el > time.Second {
		t.Errorf("the good task behind the strays took %v", el)
	}
	if d.Task.ID != "good" || d.Task.Attempt != 1 {
		t.Fatalf("got %s attempt %d, want the good task", d.Task.ID, d.Task.Attempt)
	}
	if err := q.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	// The mover finds the delayed ghost within its interval.
	var dead []contracts.DeadLetter
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if dead, err = q.DeadLetters(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if len(dead) >= 44 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling Redis state another goroutine changes
	}
	if len(dead) != 44 {
		t.Fatalf("dead letters: %d, want 44: %+v", len(dead), dead)
	}
	payloads := map[string]string{}
	for _, dl := range dead {
		if dl.Task.Attr(redisqueue.AttrMalformed) != "true" || !strings.Contains(dl.Reason, "malformed") {
			t.Errorf("dead letter %+v: want a malformed one with a reason", dl)
		}
		payloads[string(dl.Task.Payload)] = dl.Reason
	}
	for _, raw := range []string{"not-a-task-id", "{not json", "901", "ghost"} {
		if _, ok := payloads[raw]; !ok {
			t.Errorf("no dead letter with payload %q; have %v", raw, payloads)
		}
	}
	s := stats(t, q)
	if s.Held() != 0 || s.Dead != 44 || s.DeadLettered != 44 {
		t.Fatalf("stats: %+v", s)
	}
	// Nothing left to deliver: no hot loop, no crash.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := q.Consume(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume: %v, want DeadlineExceeded", err)
	}
}

// optsName reads a queue's name back from its stats.
func optsName(t *testing.T, q *queue.Queue) string {
	return stats(t, q).Name
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueuesShareAName(t *testing.T) {
	c := client(t)
	name := uniqueName()
	producer := open(t, c, redisqueue.Options{Name: name})
	consumer := open(t, c, redisqueue.Options{Name: name})
	ctx := ctxT(t)
	if err := producer.Publish(ctx, task("shared")); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, consumer)
	if d.Task.ID != "shared" || string(d.Task.Payload) != "body of shared" || d.Task.Attr("k") != "shared" {
		t.Fatalf("got %+v", d.Task)
	}
	if d.Task.EnqueuedAt.IsZero() || time.Since(d.Task.EnqueuedAt) > time.Minute {
		t.Fatalf("EnqueuedAt %v", d.Task.EnqueuedAt)
	}
	// Receipts are per delivery, not per Queue value: any value may settle.
	if err := producer.Nack(ctx, d, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	d2 := mustConsume(t, consumer)
	if d2.Task.Attempt != 2 {
		t.Fatalf("attempt %d", d2.Task.Attempt)
	}
	if err := consumer.Ack(ctx, d2); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, producer); s.Published != 1 || s.Nacked != 1 || s.Acked != 1 || s.Held() != 0 {
		t.Fatalf("shared counters: %+v", s)
	}
}

func TestPublishAssignsIDAndRejectsLargeTasks(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{MaxTaskBytes: 1024})
	ctx := ctxT(t)
	if err := q.Publish(ctx, contracts.Task{Kind: "k", Payload: make([]byte, 2048)}); !errors.Is(err, contracts.ErrTooLarge) {
		t.Fatalf("large task: %v, want ErrTooLarge", err)
	}
	if err := q.Publish(ctx, contracts.Task{Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	d := mustConsume(t, q)
	if d.Task.ID == "" {
		t.Fatal("no ID assigned")
	}
	if err := q.DeadLetter(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	dead, err := q.DeadLetters(ctx, 1)
	if err != nil || len(dead) != 1 || dead[0].Task.ID != d.Task.ID || dead[0].Reason == "" {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
}

func TestRedriveRespectsCapacityAndLimit(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{Capacity: 2, MaxAttempts: 5})
	ctx := ctxT(t)
	for _, id := range []string{"a", "b", "c"} {
		if err := q.Publish(ctx, task(id)); err != nil {
			t.Fatal(err)
		}
		d := mustConsume(t, q)
		if err := q.DeadLetter(ctx, d, errors.New("no")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.Redrive(ctx, 1); err != nil || n != 1 {
		t.Fatalf("Redrive(1) = %d, %v", n, err)
	}
	// Capacity 2: one more fits, the third stays dead.
	if n, err := q.Redrive(ctx, 0); err != nil || n != 1 {
		t.Fatalf("Redrive(0) = %d, %v; want 1 (capacity)", n, err)
	}
	for _, want := range []string{"a", "b"} {
		d := mustConsume(t, q)
		if d.Task.ID != want || d.Task.Attempt != 1 {
			t.Fatalf("got %s attempt %d, want %s attempt 1 (oldest first)", d.Task.ID, d.Task.Attempt, want)
		}
		if err := q.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if s := stats(t, q); s.Dead != 1 || s.Held() != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestCloseUnblocksPublishAndConsume(t *testing.T) {
	c := client(t)
	// A long BlockTimeout: only CLIENT UNBLOCK makes this fast.
	block := 5 * time.Second
	q := open(t, c, redisqueue.Options{Capacity: 1, BlockTimeout: block})
	empty := open(t, c, redisqueue.Options{BlockTimeout: block})
	ctx := ctxT(t)
	if err := q.Publish(ctx, task("fill")); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	go func() { errc <- q.Publish(ctx, task("blocked")) }()
	go func() {
		_, err := empty.Consume(ctx)
		errc <- err
	}()
	time.AfterFunc(50*time.Millisecond, func() { _ = q.Close(); _ = empty.Close() })
	start := time.Now()
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, contracts.ErrQueueClosed) {
				t.Fatalf("blocked call after Close: %v, want ErrQueueClosed", err)
			}
		case <-time.After(block):
			t.Fatalf("blocked call still blocked after Close")
		}
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("blocked calls took %v to see Close", el)
	}
	// Durable: the task published before Close is still there.
	if s := stats(t, q); s.Ready != 1 {
		t.Fatalf("stats after close: %+v", s)
	}
}

func TestCancelUnblocksConsume(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{BlockTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := q.Consume(ctx)
		errc <- err
	}()
	time.AfterFunc(50*time.Millisecond, cancel)
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume after cancel: %v, want Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Consume did not see its ctx cancelled")
	}
	// The waiter connection is reused and still works.
	if err := q.Publish(ctxT(t), task("after")); err != nil {
		t.Fatal(err)
	}
	if d := mustConsume(t, q); d.Task.ID != "after" {
		t.Fatalf("got %s", d.Task.ID)
	}
}

// A cancel can reach Redis (as CLIENT UNBLOCK, on another connection)
// before the BLPOP it is meant to end; it must still end it.
func TestCancelRacingTheWait(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{BlockTimeout: 5 * time.Second})
	for i := range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := q.Consume(ctx)
			errc <- err
		}()
		time.Sleep(time.Duration(i%20) * 25 * time.Microsecond) // spreads the cancel over the wait's start
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: %v, want Canceled", i, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: Consume did not return after cancel", i)
		}
	}
}

// A client that cannot pin a connection (a Ring) still works; blocking
// calls then end within BlockTimeout.
func TestConformanceRing(t *testing.T) {
	addr := testsvc.Require(t, testsvc.Redis)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"one": addr}})
	t.Cleanup(func() { _ = ring.Close() })
	h := harness(ring, nil)
	h.NewShared = nil
	queuetest.Run(t, h)
}

func TestOptionsValidate(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, o := range []redisqueue.Options{
		{Name: "x"},
		{Client: c},
		{Client: c, Name: "has{brace}"},
		{Client: c, Name: "x", Capacity: -1},
		{Client: c, Name: "x", Lease: time.Microsecond},
	} {
		if _, err := redisqueue.New(o); !errors.Is(err, redisqueue.ErrInvalidOptions) {
			t.Errorf("New(%+v): %v, want ErrInvalidOptions", o, err)
		}
	}
	q, err := redisqueue.New(redisqueue.Options{Client: c, Name: "orders.v1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_ = q.Close()
}

// In a Redis Cluster every key of a queue shares one hash tag, so the
// scripts (which also touch per-message keys they cannot declare) run on one
// node; waiters pin connections to that node.
func TestConformanceCluster(t *testing.T) {
	addr := testsvc.Require(t, testsvc.RedisCluster)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	t.Cleanup(func() { _ = cc.Close() })
	queuetest.Run(t, harness(cc, func(t *testing.T) redis.UniversalClient {
		sc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, PoolSize: 4, PoolTimeout: 2 * time.Second})
		t.Cleanup(func() { _ = sc.Close() })
		return sc
	}))
	t.Run("MalformedAndPurge", func(t *testing.T) {
		q := open(t, cc, redisqueue.Options{})
		ctx := ctxT(t)
		kp := redisqueue.KeyPrefix("plba", optsName(t, q))
		must(t, cc.LPush(ctx, kp+"ready", "stray").Err())
		if err := q.Publish(ctx, task("ok")); err != nil {
			t.Fatal(err)
		}
		if d := mustConsume(t, q); d.Task.ID != "ok" {
			t.Fatalf("got %s", d.Task.ID)
		}
		if s := stats(t, q); s.Dead != 1 || s.InFlight != 1 {
			t.Fatalf("stats %+v", s)
		}
		if err := purge(q); err != nil {
			t.Fatal(err)
		}
		if n, err := cc.Exists(ctx, kp+"ready", kp+"dead", kp+"inflight", kp+"counters").Result(); err != nil || n != 0 {
			t.Fatalf("keys left after Purge: %d, %v", n, err)
		}
	})
}

// Without Redis every call fails with a wrapped error instead of hanging,
// the mover keeps retrying quietly, and Close still returns.
func TestUnreachableRedis(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	defer c.Close()
	q, err := redisqueue.New(redisqueue.Options{Client: c, Name: "nowhere", Logger: quiet, MoverInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := q.Publish(ctx, task("x")); err == nil || !strings.Contains(err.Error(), "queue nowhere: publish") {
		t.Errorf("Publish: %v", err)
	}
	if _, err := q.Consume(ctx); err == nil || !strings.Contains(err.Error(), "queue nowhere: consume") {
		t.Errorf("Consume: %v", err)
	}
	if _, err := q.Stats(ctx); err == nil {
		t.Error("Stats without Redis: no error")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Consume(ctx); !errors.Is(err, contracts.ErrQueueClosed) {
		t.Errorf("Consume after Close: %v", err)
	}
}

// More due tasks than one mover step moves: the mover goes on at once
// instead of waiting for its interval.
func TestMoverMovesInBatches(t *testing.T) {
	c := client(t)
	q := open(t, c, redisqueue.Options{MoverBatch: 2, MoverInterval: time.Minute, MaxAttempts: 5})
	ctx := ctxT(t)
	const n = 7
	for i := range n {
		if err := q.Publish(ctx, task(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := q.Nack(ctx, mustConsume(t, q), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if s := stats(t, q); s.Delayed != n {
		t.Fatalf("stats after nacks: %+v", s)
	}
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for range n {
		d, err := q.Consume(wait)
		if err != nil {
			t.Fatalf("Consume: %v (stats %+v)", err, stats(t, q))
		}
		if d.Task.Attempt != 2 {
			t.Fatalf("attempt %d", d.Task.Attempt)
		}
		if err := q.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}
