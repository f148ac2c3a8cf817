// Package memqueue is a bounded in-memory [contracts.TaskQueue].
//
// # Design
//
// Ready tasks sit in a buffered channel, so a hand-off costs one channel
// operation; a second buffered channel of the same capacity is the admission
// semaphore that makes Publish block when the queue holds Capacity tasks
// (ready, delayed or in flight). Delayed tasks wait in a heap served by one
// goroutine and one timer, never a goroutine per task. Dead letters are kept
// in memory until redriven; they do not count against Capacity.
//
// A delivery carries its entry and attempt number, so settling a delivery
// twice, or a stale one, is detected ([contracts.ErrNotInFlight]).
//
// The queue is not durable: whatever it holds when the process exits is
// lost. Close reports what it still held in the final Stats; the runtime
// stops workers (which nack unfinished tasks) before closing queues.
package memqueue

import (
	"container/heap"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Options configure a queue. The zero value is usable.
type Options struct {
	// Name appears in stats; default "memory".
	Name string
	// Capacity bounds the tasks held (ready + delayed + in flight);
	// Publish blocks while it is reached. Default 1024.
	Capacity int
	// MaxAttempts is the number of deliveries after which a failed task
	// is dead-lettered by Nack. Default 5; negative means unlimited.
	MaxAttempts int
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "memory"
	}
	if o.Capacity <= 0 {
		o.Capacity = 1024
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	return o
}

const (
	stateQueued uint32 = iota
	stateInFlight
)

type entry struct {
	task    contracts.Task
	attempt int
	state   atomic.Uint32
	due     time.Time // while delayed
	index   int       // heap index
}

// Queue is a bounded in-memory task queue. It is safe for concurrent use.
type Queue struct {
	opts   Options
	slots  chan struct{}
	ready  chan *entry
	closed chan struct{}
	done   chan struct{} // delay loop exited
	isShut atomic.Bool
	seq    atomic.Uint64

	mu      sync.Mutex
	delayed delayHeap
	wake    chan struct{}
	dead    []contracts.DeadLetter

	inFlight, published, acked, nacked, deadLettered atomic.Int64
	closeOnce                                        sync.Once
}

var _ contracts.TaskQueue = (*Queue)(nil)
var _ contracts.DeadLetterQueue = (*Queue)(nil)

// New returns a running queue. Close it to stop its delay goroutine.
func New(opts Options) *Queue {
	opts = opts.withDefaults()
	q := &Queue{
		opts:   opts,
		slots:  make(chan struct{}, opts.Capacity),
		ready:  make(chan *entry, opts.Capacity),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	go q.delayLoop()
	return q
}

// Publish adds a task, blocking while the queue is full.
func (q *Queue) Publish(ctx context.Context, task contracts.Task) error {
	if q.isShut.Load() {
		return fmt.Errorf("memqueue %s: publish: %w", q.opts.Name, contracts.ErrQueueClosed)
	}
	select {
	case q.slots <- struct{}{}:
	default:
		select {
		case q.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("memqueue %s: publish: queue full: %w", q.opts.Name, ctx.Err())
		case <-q.closed:
			return fmt.Errorf("memqueue %s: publish: %w", q.opts.Name, contracts.ErrQueueClosed)
		}
	}
	e := &entry{task: task}
	if e.task.ID == "" {
		e.task.ID = q.opts.Name + "-" + strconv.FormatUint(q.seq.Add(1), 10)
	}
	if e.task.EnqueuedAt.IsZero() {
		e.task.EnqueuedAt = time.Now()
	}
	q.published.Add(1)
	q.ready <- e // never blocks: ready has as much room as slots
	return nil
}

// Consume blocks until a task is ready, ctx is done or the queue is closed.
func (q *Queue) Consume(ctx context.Context) (contracts.Delivery, error) {
	if q.isShut.Load() {
		return contracts.Delivery{}, contracts.ErrQueueClosed
	}
	var e *entry
	select {
	case e = <-q.ready:
	default:
		select {
		case e = <-q.ready:
		case <-ctx.Done():
			return contracts.Delivery{}, ctx.Err()
		case <-q.closed:
			return contracts.Delivery{}, contracts.ErrQueueClosed
		}
	}
	e.attempt++
	e.state.Store(stateInFlight)
	q.inFlight.Add(1)
	t := e.task
	t.Attempt = e.attempt
	return contracts.Delivery{Task: t, Receipt: e}, nil
}

// take moves a delivery out of the in-flight state, exactly once.
func (q *Queue) take(op string, d contracts.Delivery) (*entry, error) {
	e, ok := d.Receipt.(*entry)
	if !ok || e == nil {
		return nil, fmt.Errorf("memqueue %s: %s: foreign delivery: %w", q.opts.Name, op, contracts.ErrNotInFlight)
	}
	if e.attempt != d.Task.Attempt || !e.state.CompareAndSwap(stateInFlight, stateQueued) {
		return nil, fmt.Errorf("memqueue %s: %s task %s: %w", q.opts.Name, op, d.Task.ID, contracts.ErrNotInFlight)
	}
	q.inFlight.Add(-1)
	return e, nil
}

// Ack removes the task.
func (q *Queue) Ack(_ context.Context, d contracts.Delivery) error {
	if _, err := q.take("ack", d); err != nil {
		return err
	}
	q.acked.Add(1)
	<-q.slots
	return nil
}

// Nack returns the task, visible again after delay; past MaxAttempts it is
// dead-lettered instead.
func (q *Queue) Nack(_ context.Context, d contracts.Delivery, delay time.Duration) error {
	e, err := q.take("nack", d)
	if err != nil {
		return err
	}
	q.nacked.Add(1)
	if q.opts.MaxAttempts > 0 && e.attempt >= q.opts.MaxAttempts {
		q.bury(e, fmt.Sprintf("max attempts (%d) reached", q.opts.MaxAttempts))
		return nil
	}
	if delay <= 0 {
		q.ready <- e
		return nil
	}
	q.mu.Lock()
	e.due = time.Now().Add(delay)
	heap.Push(&q.delayed, e)
	first := q.delayed[0] == e
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// DeadLetter moves the task to the dead-letter list at once.
func (q *Queue) DeadLetter(_ context.Context, d contracts.Delivery, reason error) error {
	e, err := q.take("dead-letter", d)
	if err != nil {
		return err
	}
	msg := "dead-lettered"
	if reason != nil {
		msg = reason.Error()
	}
	q.bury(e, msg)
	return nil
}

func (q *Queue) bury(e *entry, reason string) {
	t := e.task
	t.Attempt = e.attempt
	q.mu.Lock()
	q.dead = append(q.dead, contracts.DeadLetter{Task: t, Reason: reason, At: time.Now()})
	q.mu.Unlock()
	q.deadLettered.Add(1)
	<-q.slots
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0: all).
func (q *Queue) DeadLetters(_ context.Context, limit int) ([]contracts.DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.dead)
	if limit > 0 && limit < n {
		n = limit
	}
	return append([]contracts.DeadLetter(nil), q.dead[:n]...), nil
}

// Redrive moves up to limit dead letters (limit <= 0: all) back to the queue
// with a fresh attempt count. It moves only as many as fit without blocking.
func (q *Queue) Redrive(_ context.Context, limit int) (int, error) {
	if q.isShut.Load() {
		return 0, fmt.Errorf("memqueue %s: redrive: %w", q.opts.Name, contracts.ErrQueueClosed)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	moved := 0
	for len(q.dead) > 0 && (limit <= 0 || moved < limit) {
		select {
		case q.slots <- struct{}{}:
		default:
			return moved, nil
		}
		t := q.dead[0].Task
		t.Attempt = 0
		q.dead[0] = contracts.DeadLetter{}
		q.dead = q.dead[1:]
		q.ready <- &entry{task: t}
		moved++
	}
	return moved, nil
}

// Stats reports the queue's counters.
func (q *Queue) Stats(context.Context) (contracts.QueueStats, error) {
	q.mu.Lock()
	delayed, dead := len(q.delayed), len(q.dead)
	q.mu.Unlock()
	return contracts.QueueStats{
		Name:         q.opts.Name,
		Backend:      "memory",
		Ready:        int64(len(q.ready)),
		InFlight:     q.inFlight.Load(),
		Delayed:      int64(delayed),
		Dead:         int64(dead),
		Published:    q.published.Load(),
		Acked:        q.acked.Load(),
		Nacked:       q.nacked.Load(),
		DeadLettered: q.deadLettered.Load(),
		Capacity:     int64(q.opts.Capacity),
	}, nil
}

// Close stops the queue. Blocked calls return ErrQueueClosed. Tasks still
// held stay visible in Stats.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.isShut.Store(true)
		close(q.closed)
		<-q.done
	})
	return nil
}

// delayLoop moves delayed tasks to the ready channel when they are due.
func (q *Queue) delayLoop() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		for len(q.delayed) > 0 && !q.delayed[0].due.After(now) {
			e := heap.Pop(&q.delayed).(*entry)
			q.ready <- e // never blocks: the entry holds a slot
		}
		wait := time.Hour
		if len(q.delayed) > 0 {
			wait = q.delayed[0].due.Sub(now)
		}
		q.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-q.wake:
		case <-q.closed:
			return
		}
	}
}

type delayHeap []*entry

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h delayHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *delayHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *delayHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}

// MaxAttempts implements contracts.AttemptLimiter: executors on this queue
// dead-letter on the delivery the queue would bury.
func (q *Queue) MaxAttempts() int { return q.opts.MaxAttempts }
