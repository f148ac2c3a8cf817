// Package queue is the portable task queue: one concrete type, [Queue],
// that implements [contracts.TaskQueue] (with [contracts.LeaseExtender] and
// [contracts.DeadLetterQueue]) over a small backend driver (package
// queue/driver), in the manner of go-cloud's pubsub. Backends (memqueue,
// sqsqueue, redisqueue) register by name ([Register]) and are opened by
// name ([Open]), so the runtime imports none of them.
//
// # What the portable type owns
//
//   - Attempts and the dead-letter decision: drivers report how often a
//     task was delivered; Nack of the MaxAttempts-th delivery, and a
//     delivery past MaxAttempts (a lease that ran out on the last attempt),
//     dead-letter the task. MaxAttempts < 0 means never.
//   - Nack(delay): the driver keeps the task invisible for delay, never
//     less; delay 0 makes it ready at once.
//   - Settling: a delivery is settled exactly once; a second settlement, or
//     a stale one after the task was delivered again, returns
//     [contracts.ErrNotInFlight] (an atomic compare-and-swap, no data race).
//   - Close: once; every operation after Close began returns
//     [contracts.ErrQueueClosed] — Publish, Consume, Ack, Nack, DeadLetter,
//     Extend, DeadLetters, Redrive — except Stats, which reports the final
//     state. Close waits for publishes in progress, so no Publish takes
//     effect after Close returned (a Consume or settlement racing Close may
//     still complete, or fail with ErrQueueClosed), and hands back tasks it had read ahead
//     for consumers that never took them ([driver.Queue].Release). Settle
//     before closing: a durable backend redelivers what was left in flight
//     after its lease, an in-memory one reports it in the final Stats.
//   - Counters (published, acked, nacked, dead-lettered) unless the backend
//     keeps shared ones, the task envelope ([driver.Envelope]) and the size
//     limit ([contracts.ErrTooLarge]).
//   - Read-ahead: for backends with a round trip per receive, one receive
//     loop per Queue fetches batches while consumers wait, at most the
//     driver's ReadAhead ahead of them ([Queue.ReadAhead]).
package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/driver"
)

// Options configure the portable type. The zero value is usable.
type Options struct {
	// Name appears in stats and errors; default "queue".
	Name string
	// Backend names the backend in stats when the driver does not.
	Backend string
	// MaxAttempts is the number of deliveries after which a failed task is
	// dead-lettered. Default 5; negative means unlimited.
	MaxAttempts int
	// MaxTaskBytes bounds one task's envelope ([driver.EnvelopeSize]);
	// default and ceiling: the driver's MaxMessageBytes, else 1 MiB.
	MaxTaskBytes int
	// Logger reports dead-lettering on receipt and hand-back failures;
	// default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxAttempts is the MaxAttempts of a zero Options.
const DefaultMaxAttempts = 5

const defaultMaxTaskBytes = 1 << 20

func (o Options) withDefaults(lim driver.Limits) Options {
	if o.Name == "" {
		o.Name = "queue"
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	ceiling := lim.MaxMessageBytes
	if ceiling <= 0 {
		ceiling = defaultMaxTaskBytes
	}
	if o.MaxTaskBytes <= 0 || o.MaxTaskBytes > ceiling {
		o.MaxTaskBytes = ceiling
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Queue is the portable task queue over a driver. It is safe for
// concurrent use.
type Queue struct {
	d    driver.Queue
	one  driver.Single      // nil when the driver has no one-message fast path
	dlq  driver.DeadLetters // nil when the driver has none
	hold driver.Holder      // nil when the driver cannot tell what it holds
	lim  driver.Limits
	opts Options
	inst string
	seq  atomic.Uint64

	// closed is set when Close begins: every operation but Stats checks it
	// (a load: no write to a shared cache line on the hot path).
	closed atomic.Bool
	_      [56]byte
	// state counts publishes in progress; closedBit is set when Close
	// begins. A publish that finds the bit set ends at once; Close waits
	// for the count to reach zero (drained), so no publish takes effect
	// after Close returned.
	state     atomic.Int64
	closing   chan struct{}
	drained   chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once
	closeErr  error

	// Read-ahead (lim.ReadAhead > 0).
	recvOnce   sync.Once
	recvCtx    context.Context
	recvCancel context.CancelFunc
	recvDone   chan struct{}
	buf        chan readAhead
	demand     chan struct{}
	recvErr    chan error // the receive loop's last failure, for a waiting consumer
	waiting    atomic.Int64

	published, acked, nacked, deadLettered atomic.Int64
}

var (
	_ contracts.TaskQueue       = (*Queue)(nil)
	_ contracts.LeaseExtender   = (*Queue)(nil)
	_ contracts.DeadLetterQueue = (*Queue)(nil)
	_ contracts.AttemptLimiter  = (*Queue)(nil)
	_ contracts.DurableQueue    = (*Queue)(nil)
	_ contracts.TaskHolder      = (*Queue)(nil)
)

const closedBit = int64(1) << 62

// New returns the portable queue over d. It owns d: Close closes it.
func New(d driver.Queue, opts Options) *Queue {
	lim := d.Limits()
	if lim.MaxBatch <= 0 {
		lim.MaxBatch = 1
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	q := &Queue{
		d:        d,
		lim:      lim,
		opts:     opts.withDefaults(lim),
		inst:     hex.EncodeToString(id[:]),
		closing:  make(chan struct{}),
		drained:  make(chan struct{}),
		recvDone: make(chan struct{}),
		demand:   make(chan struct{}, 1),
		recvErr:  make(chan error, 1),
	}
	q.dlq, _ = d.(driver.DeadLetters)
	q.one, _ = d.(driver.Single)
	q.hold, _ = d.(driver.Holder)
	if lim.ReadAhead > 0 {
		q.buf = make(chan readAhead, lim.ReadAhead)
	}
	q.recvCtx, q.recvCancel = context.WithCancel(context.Background())
	return q
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.opts.Name }

// MaxAttempts is the number of deliveries after which a failed task is
// dead-lettered (negative: never). It implements contracts.AttemptLimiter:
// executors on this queue dead-letter on the delivery the queue would.
func (q *Queue) MaxAttempts() int { return q.opts.MaxAttempts }

// Durable implements contracts.DurableQueue: whether the backend keeps
// tasks beyond the process.
func (q *Queue) Durable() bool { return q.lim.Durable }

// TellsHeld implements contracts.TaskHolder: whether the driver can tell
// which tasks it holds (driver.Holder).
func (q *Queue) TellsHeld() bool { return q.hold != nil }

// HeldTasks implements contracts.TaskHolder: for each id, whether the
// backend holds a task with it (ready, in flight, delayed or dead). It
// fails with an error wrapping errors.ErrUnsupported when the driver cannot
// tell, and with contracts.ErrQueueClosed after Close.
func (q *Queue) HeldTasks(ctx context.Context, ids []string) ([]bool, error) {
	if q.closed.Load() {
		return nil, q.closedErr("held tasks")
	}
	if q.hold == nil {
		return nil, q.errorf("held tasks: %w", errors.ErrUnsupported)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	held, err := q.hold.Holds(ctx, ids)
	if err != nil {
		return nil, q.errorf("held tasks: %w", err)
	}
	if len(held) != len(ids) {
		return nil, q.errorf("held tasks: driver answered %d of %d", len(held), len(ids))
	}
	return held, nil
}

// ReadAhead is the consumer capacity: how many tasks the queue fetches
// ahead of its consumers (0: none, hand-off without a round trip). A source
// feeding the queue can use it as its own read-ahead bound.
func (q *Queue) ReadAhead() int { return q.lim.ReadAhead }

// Driver returns the driver, for backend-specific tools (purge, URLs).
func (q *Queue) Driver() driver.Queue { return q.d }

func (q *Queue) begin() bool {
	if q.state.Add(1)&closedBit != 0 {
		q.end()
		return false
	}
	return true
}

func (q *Queue) end() {
	if q.state.Add(-1) == closedBit {
		q.drainOnce.Do(func() { close(q.drained) })
	}
}

func (q *Queue) errorf(format string, args ...any) error {
	return fmt.Errorf("queue %s: "+format, append([]any{q.opts.Name}, args...)...)
}

func (q *Queue) closedErr(op string) error {
	return fmt.Errorf("queue %s: %s: %w", q.opts.Name, op, contracts.ErrQueueClosed)
}

// Publish adds a task. It assigns an ID when the task has none and sets
// EnqueuedAt; a task whose envelope exceeds the size limit fails with
// [contracts.ErrTooLarge]. A bounded backend blocks while full.
func (q *Queue) Publish(ctx context.Context, task contracts.Task) error {
	if !q.begin() {
		return q.closedErr("publish")
	}
	m, err := q.message(task)
	if err == nil {
		if q.one != nil {
			err = q.one.SendOne(ctx, m)
		} else {
			err = q.send(ctx, m.One())
		}
		if err != nil {
			err = q.errorf("publish task %s: %w", m.Task.ID, err)
		} else {
			q.published.Add(1)
		}
	}
	q.end()
	return err
}

// PublishBatch adds tasks in batches of the driver's MaxBatch. It stops at
// the first failing batch and returns how many tasks were published.
func (q *Queue) PublishBatch(ctx context.Context, tasks []contracts.Task) (int, error) {
	if !q.begin() {
		return 0, q.closedErr("publish")
	}
	defer q.end()
	done := 0
	for len(tasks) > 0 {
		n := min(len(tasks), q.lim.MaxBatch)
		batch := make([]*driver.Message, 0, n)
		for _, t := range tasks[:n] {
			m, err := q.message(t)
			if err != nil {
				return done, err
			}
			batch = append(batch, m)
		}
		if err := q.send(ctx, batch); err != nil {
			return done, q.errorf("publish batch: %w", err)
		}
		q.published.Add(int64(n))
		done += n
		tasks = tasks[n:]
	}
	return done, nil
}

func (q *Queue) message(task contracts.Task) (*driver.Message, error) {
	m := &driver.Message{Task: task}
	t := &m.Task
	if t.ID == "" {
		t.ID = q.opts.Name + "-" + q.inst + "-" + strconv.FormatUint(q.seq.Add(1), 10)
	}
	if t.EnqueuedAt.IsZero() {
		t.EnqueuedAt = time.Now()
	}
	t.Attempt = 0
	if n := driver.EnvelopeSize(t); n > q.opts.MaxTaskBytes {
		return nil, q.errorf("publish task %s: envelope of %d bytes (payload %d), over the limit of %d: store the payload elsewhere and publish a reference: %w",
			t.ID, n, len(t.Payload), q.opts.MaxTaskBytes, contracts.ErrTooLarge)
	}
	return m, nil
}

// send retries a driver that reports ErrFull without waiting itself.
func (q *Queue) send(ctx context.Context, batch []*driver.Message) error {
	backoff := time.Millisecond
	for {
		err := q.d.Send(ctx, batch)
		if !errors.Is(err, driver.ErrFull) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("queue full: %w", ctx.Err())
		case <-q.closing:
			t.Stop()
			return contracts.ErrQueueClosed
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// Consume blocks until a task is ready, ctx is done or the queue is closed.
func (q *Queue) Consume(ctx context.Context) (contracts.Delivery, error) {
	if q.closed.Load() {
		return contracts.Delivery{}, q.closedErr("consume")
	}
	for {
		var m *driver.Message
		if q.one != nil {
			var err error
			if m, err = q.one.ReceiveOne(ctx); err != nil {
				return contracts.Delivery{}, q.receiveErr(ctx, err)
			}
		} else if q.buf == nil {
			ms, err := q.d.Receive(ctx, 1)
			if err != nil {
				return contracts.Delivery{}, q.receiveErr(ctx, err)
			}
			m = ms[0]
		} else {
			var err error
			if m, err = q.next(ctx); err != nil {
				return contracts.Delivery{}, err
			}
		}
		if d, ok := q.deliver(ctx, m); ok {
			return d, nil
		}
	}
}

// ConsumeBatch blocks until at least one task is ready and returns up to
// limit (at least 1, at most the driver's MaxBatch).
func (q *Queue) ConsumeBatch(ctx context.Context, limit int) ([]contracts.Delivery, error) {
	if q.closed.Load() {
		return nil, q.closedErr("consume")
	}
	limit = min(max(limit, 1), q.lim.MaxBatch)
	for {
		var ms []*driver.Message
		if q.buf == nil {
			var err error
			if ms, err = q.d.Receive(ctx, limit); err != nil {
				return nil, q.receiveErr(ctx, err)
			}
		} else {
			m, err := q.next(ctx)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		more:
			for len(ms) < limit {
				select {
				case it := <-q.buf:
					if q.lim.Prefetch {
						q.poke()
					}
					if m, ok := q.fresh(ctx, it); ok {
						ms = append(ms, m)
					}
				default:
					break more
				}
			}
		}
		out := make([]contracts.Delivery, 0, len(ms))
		for _, m := range ms {
			if d, ok := q.deliver(ctx, m); ok {
				out = append(out, d)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

func (q *Queue) receiveErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case q.closed.Load() || errors.Is(err, contracts.ErrQueueClosed):
		return q.closedErr("consume")
	default:
		return q.errorf("consume: %w", err)
	}
}

// deliver hands m out, or dead-letters it when its delivery count is past
// MaxAttempts (its lease ran out on the last attempt).
func (q *Queue) deliver(ctx context.Context, m *driver.Message) (contracts.Delivery, bool) {
	attempt := max(m.Task.Attempt, 1)
	m.Task.Attempt = attempt
	if q.opts.MaxAttempts > 0 && attempt > q.opts.MaxAttempts {
		m.Op, m.Reason = driver.OpDead, fmt.Sprintf("lease expired on attempt %d: max attempts (%d) reached", attempt-1, q.opts.MaxAttempts)
		if err := q.settle(context.WithoutCancel(ctx), m); err != nil {
			q.opts.Logger.Error("queue: dead-lettering a task past max attempts failed; its lease runs out again", "queue", q.opts.Name, "task", m.Task.ID, "error", err)
		} else if !q.lim.Counters {
			q.deadLettered.Add(1)
		}
		return contracts.Delivery{}, false
	}
	m.Deliver(attempt)
	return contracts.Delivery{Task: m.Task, Receipt: m}, true
}

// readAhead is a message received ahead of the consumers, and when.
type readAhead struct {
	m  *driver.Message
	at time.Time
}

// fresh hands back a read-ahead message that waited past half its lease
// (a consumer might not finish it before the backend hands it to another)
// and reports false; otherwise it returns the message.
func (q *Queue) fresh(ctx context.Context, it readAhead) (*driver.Message, bool) {
	if q.lim.Lease <= 0 || time.Since(it.at) < q.lim.Lease/2 {
		return it.m, true
	}
	if err := q.d.Release(context.WithoutCancel(ctx), it.m.One()); err != nil {
		q.opts.Logger.Warn("queue: handing back a stale read-ahead task failed; its lease runs out", "queue", q.opts.Name, "task", it.m.Task.ID, "error", err)
	}
	return nil, false
}

// next takes a read-ahead message, starting the receive loop on first use.
func (q *Queue) next(ctx context.Context) (*driver.Message, error) {
	q.recvOnce.Do(func() { go q.receiveLoop() })
	for {
		it, err := q.take1(ctx)
		if err != nil {
			return nil, err
		}
		if q.lim.Prefetch {
			q.poke() // room for one more
		}
		if m, ok := q.fresh(ctx, it); ok {
			return m, nil
		}
	}
}

func (q *Queue) take1(ctx context.Context) (readAhead, error) {
	select {
	case it := <-q.buf:
		return it, nil
	default:
	}
	q.waiting.Add(1)
	defer q.waiting.Add(-1)
	q.poke()
	select {
	case it := <-q.buf:
		return it, nil
	case err := <-q.recvErr:
		return readAhead{}, q.errorf("consume: %w", err)
	case <-ctx.Done():
		return readAhead{}, ctx.Err()
	case <-q.closing:
		return readAhead{}, q.closedErr("consume")
	}
}

func (q *Queue) poke() {
	select {
	case q.demand <- struct{}{}:
	default:
	}
}

// receiveLoop fetches batches while more consumers wait than the buffer
// holds (a fetch nobody waits for only ages leases), or, for a Prefetch
// driver, while the buffer has room.
func (q *Queue) receiveLoop() {
	defer close(q.recvDone)
	ctx := q.recvCtx
	failures := 0
	for {
		for !q.lim.Prefetch && q.waiting.Load() <= int64(len(q.buf)) {
			select {
			case <-q.demand:
			case <-ctx.Done():
				return
			}
		}
		free := cap(q.buf) - len(q.buf)
		if free == 0 {
			select {
			case <-q.demand:
			case <-ctx.Done():
				return
			}
			continue
		}
		ms, err := q.d.Receive(ctx, min(free, q.lim.MaxBatch))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			select {
			case q.recvErr <- err: // one waiting consumer reports it
			default:
			}
			q.opts.Logger.Warn("queue: receive failed", "queue", q.opts.Name, "error", err, "failures", failures)
			t := time.NewTimer(min(time.Duration(failures)*100*time.Millisecond, 5*time.Second))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		failures = 0
		now := time.Now()
		for _, m := range ms {
			q.buf <- readAhead{m: m, at: now} // never blocks: only this loop fills, at most free
		}
	}
}

// take ends d's delivery exactly once.
func (q *Queue) take(op string, d contracts.Delivery) (*driver.Message, error) {
	m, ok := d.Receipt.(*driver.Message)
	if !ok || m == nil {
		return nil, q.errorf("%s task %s: foreign delivery: %w", op, d.Task.ID, contracts.ErrNotInFlight)
	}
	if !m.Take(d.Task.Attempt) {
		return nil, q.errorf("%s task %s (attempt %d): %w", op, d.Task.ID, d.Task.Attempt, contracts.ErrNotInFlight)
	}
	return m, nil
}

// settle runs one settlement; on a transport failure the delivery is
// restored, so the caller may settle it again.
func (q *Queue) settle(ctx context.Context, m *driver.Message) error {
	attempt := m.Task.Attempt
	var err error
	if q.one != nil {
		err = q.one.SettleOne(ctx, m)
	} else {
		var errs []error
		errs, err = q.d.Settle(ctx, m.One())
		if err == nil && len(errs) > 0 {
			err = errs[0]
		}
	}
	if err != nil && !errors.Is(err, contracts.ErrNotInFlight) {
		m.Deliver(attempt)
	}
	return err
}

func (q *Queue) settleOne(ctx context.Context, op string, d contracts.Delivery, apply func(*driver.Message)) error {
	if q.closed.Load() {
		return q.closedErr(op)
	}
	m, err := q.take(op, d)
	if err != nil {
		return err
	}
	apply(m)
	// Read before settling: once settled, m may be delivered (and settled)
	// again by another consumer.
	settled := m.Op
	if err := q.settle(ctx, m); err != nil {
		return q.errorf("%s task %s: %w", op, d.Task.ID, err)
	}
	q.count(settled)
	return nil
}

func (q *Queue) count(op driver.Op) {
	if q.lim.Counters {
		return
	}
	switch op {
	case driver.OpAck:
		q.acked.Add(1)
	case driver.OpDead:
		q.deadLettered.Add(1)
	}
}

// Ack settles a delivery as done.
func (q *Queue) Ack(ctx context.Context, d contracts.Delivery) error {
	if q.closed.Load() {
		return q.closedErr("ack")
	}
	m, err := q.take("ack", d)
	if err != nil {
		return err
	}
	m.Op = driver.OpAck
	if err := q.settle(ctx, m); err != nil {
		return q.errorf("ack task %s: %w", d.Task.ID, err)
	}
	q.count(driver.OpAck)
	return nil
}

// Nack returns the task, visible again after delay; on the MaxAttempts-th
// delivery it is dead-lettered instead.
func (q *Queue) Nack(ctx context.Context, d contracts.Delivery, delay time.Duration) error {
	return q.settleOne(ctx, "nack", d, q.nackOp(d.Task.Attempt, delay))
}

func (q *Queue) nackOp(attempt int, delay time.Duration) func(*driver.Message) {
	return func(m *driver.Message) {
		if !q.lim.Counters {
			q.nacked.Add(1)
		}
		if q.opts.MaxAttempts > 0 && attempt >= q.opts.MaxAttempts {
			m.Op, m.Reason = driver.OpDead, fmt.Sprintf("max attempts (%d) reached", q.opts.MaxAttempts)
			// The backend counts a nack that dead-letters as a nack too.
			m.Delay = -1
			return
		}
		m.Op, m.Delay = driver.OpNack, max(delay, 0)
	}
}

// DeadLetter moves the task to the dead-letter store at once.
func (q *Queue) DeadLetter(ctx context.Context, d contracts.Delivery, reason error) error {
	msg := "dead-lettered"
	if reason != nil {
		msg = reason.Error()
	}
	return q.settleOne(ctx, "dead-letter", d, func(m *driver.Message) { m.Op, m.Reason, m.Delay = driver.OpDead, msg, 0 })
}

// AckBatch acks deliveries in batches of the driver's MaxBatch. It returns
// the errors of the deliveries that failed, joined.
func (q *Queue) AckBatch(ctx context.Context, ds []contracts.Delivery) error {
	if q.closed.Load() {
		return q.closedErr("ack")
	}
	var errs []error
	batch := make([]*driver.Message, 0, min(len(ds), q.lim.MaxBatch))
	flush := func() {
		if len(batch) == 0 {
			return
		}
		perr, err := q.d.Settle(ctx, batch)
		for i, m := range batch {
			e := err
			if e == nil && len(perr) > i {
				e = perr[i]
			}
			if e != nil {
				if !errors.Is(e, contracts.ErrNotInFlight) {
					m.Deliver(m.Task.Attempt)
				}
				errs = append(errs, q.errorf("ack task %s: %w", m.Task.ID, e))
				continue
			}
			q.count(driver.OpAck)
		}
		batch = batch[:0]
	}
	for _, d := range ds {
		m, err := q.take("ack", d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.Op = driver.OpAck
		batch = append(batch, m)
		if len(batch) == q.lim.MaxBatch {
			flush()
		}
	}
	flush()
	return errors.Join(errs...)
}

// Extend keeps the delivery for lease from now. On a backend without
// leases (memory) it only checks that the delivery is in flight.
func (q *Queue) Extend(ctx context.Context, d contracts.Delivery, lease time.Duration) error {
	if q.closed.Load() {
		return q.closedErr("extend")
	}
	if lease <= 0 {
		return q.errorf("extend task %s: lease %s: must be positive", d.Task.ID, lease)
	}
	m, ok := d.Receipt.(*driver.Message)
	if !ok || m == nil || !m.Holds(d.Task.Attempt) {
		return q.errorf("extend task %s: %w", d.Task.ID, contracts.ErrNotInFlight)
	}
	if !q.lim.Leases {
		return nil
	}
	if err := q.d.Extend(ctx, m, lease); err != nil {
		return q.errorf("extend task %s: %w", d.Task.ID, err)
	}
	return nil
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0:
// all). A backend without a listable dead-letter store returns an empty
// list.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error) {
	if q.closed.Load() {
		return nil, q.closedErr("dead letters")
	}
	if q.dlq == nil {
		return nil, nil
	}
	out, err := q.dlq.DeadLetters(ctx, limit)
	if err != nil {
		return nil, q.errorf("dead letters: %w", err)
	}
	return out, nil
}

// Redrive moves up to limit dead letters (limit <= 0: all) back with a
// fresh attempt count and returns how many moved.
func (q *Queue) Redrive(ctx context.Context, limit int) (int, error) {
	if q.closed.Load() {
		return 0, q.closedErr("redrive")
	}
	if q.dlq == nil {
		return 0, nil
	}
	n, err := q.dlq.Redrive(ctx, limit)
	if err != nil {
		return n, q.errorf("redrive: %w", err)
	}
	return n, nil
}

// Stats reports the driver's gauges with the queue's counters (or the
// backend's shared ones). It works after Close: the final state.
func (q *Queue) Stats(ctx context.Context) (contracts.QueueStats, error) {
	s, err := q.d.Stats(ctx)
	s.Name = q.opts.Name
	if s.Backend == "" {
		s.Backend = q.opts.Backend
	}
	if !q.lim.Counters {
		s.Published, s.Acked, s.Nacked, s.DeadLettered = q.published.Load(), q.acked.Load(), q.nacked.Load(), q.deadLettered.Load()
	}
	if q.buf != nil {
		// Read ahead: the backend sees them in flight, nobody holds them.
		n := min(int64(len(q.buf)), s.InFlight)
		s.Ready, s.InFlight = s.Ready+n, s.InFlight-n
	}
	if err != nil {
		return s, q.errorf("stats: %w", err)
	}
	return s, nil
}

// Close closes the queue once: later operations return
// [contracts.ErrQueueClosed], blocked ones return it now; Close waits for
// publishes in progress, hands back read-ahead tasks and closes the driver.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		if q.state.Or(closedBit) == 0 {
			q.drainOnce.Do(func() { close(q.drained) })
		}
		close(q.closing)
		q.recvCancel()
		q.recvOnce.Do(func() { close(q.recvDone) }) // never started
		<-q.recvDone
		var errs []error
		if q.buf != nil {
			var left []*driver.Message
		drain:
			for {
				select {
				case it := <-q.buf:
					left = append(left, it.m)
				default:
					break drain
				}
			}
			for len(left) > 0 {
				n := min(len(left), q.lim.MaxBatch)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := q.d.Release(ctx, left[:n]); err != nil {
					errs = append(errs, q.errorf("close: hand back %d unstarted tasks: %w", n, err))
				}
				cancel()
				left = left[n:]
			}
		}
		// The driver's Close wakes calls blocked inside it (a Publish on a
		// full queue, a Consume on an empty one); then nothing is left.
		if err := q.d.Close(); err != nil {
			errs = append(errs, q.errorf("close: %w", err))
		}
		<-q.drained
		q.closeErr = errors.Join(errs...)
	})
	return q.closeErr
}
