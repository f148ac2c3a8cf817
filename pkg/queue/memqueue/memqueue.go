// Package memqueue is the bounded in-memory queue backend: a driver for the
// portable [queue.Queue], registered as "memory".
//
// # Design
//
// Ready tasks sit in a buffered channel, so a hand-off costs one channel
// operation and consumers receive in their own goroutine (ReadAhead 0); a
// second buffered channel of the same capacity is the admission semaphore
// that makes Publish block when the queue holds Capacity tasks (ready,
// delayed or in flight). Delayed tasks wait in a heap served by one
// goroutine and one timer, never a goroutine per task. Dead letters are kept
// in memory until redriven; they do not count against Capacity.
//
// The driver stores the portable type's *driver.Message itself, so a task
// costs one allocation however often it is delivered; the portable type's
// compare-and-swap on the message detects a stale settlement.
//
// The queue is not durable: whatever it holds when the process exits is
// lost. Close reports what it still held in the final Stats; the runtime
// stops workers (which nack unfinished tasks) before closing queues.
package memqueue

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/driver"
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
	// MaxTaskBytes bounds one task's envelope; default 1 MiB.
	MaxTaskBytes int
}

// DefaultCapacity is the Capacity of a zero Options.
const DefaultCapacity = 1024

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "memory"
	}
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	return o
}

// New returns a running in-memory queue. Close it to stop its delay
// goroutine.
func New(opts Options) *queue.Queue {
	opts = opts.withDefaults()
	return queue.New(NewDriver(opts.Capacity), queue.Options{
		Name: opts.Name, Backend: "memory", MaxAttempts: opts.MaxAttempts, MaxTaskBytes: opts.MaxTaskBytes,
	})
}

// Driver is the in-memory driver.
type Driver struct {
	capacity int
	slots    chan struct{}
	ready    chan *driver.Message
	closed   chan struct{}
	done     chan struct{} // delay loop exited
	isShut   atomic.Bool

	mu      sync.Mutex
	delayed delayHeap
	wake    chan struct{}
	dead    []contracts.DeadLetter

	inFlight  atomic.Int64
	closeOnce sync.Once
}

var (
	_ driver.Queue       = (*Driver)(nil)
	_ driver.Single      = (*Driver)(nil)
	_ driver.DeadLetters = (*Driver)(nil)
)

// NewDriver returns a driver holding at most capacity tasks and starts its
// delay goroutine (stopped by Close).
func NewDriver(capacity int) *Driver {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	d := &Driver{
		capacity: capacity,
		slots:    make(chan struct{}, capacity),
		ready:    make(chan *driver.Message, capacity),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	go d.delayLoop()
	return d
}

// Limits: no round trip, so no read-ahead; no leases.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBatch: 64, StrictReceipts: true}
}

// Send stores the batch, blocking while the queue is full.
func (d *Driver) Send(ctx context.Context, batch []*driver.Message) error {
	for i, m := range batch {
		select {
		case d.slots <- struct{}{}:
		default:
			select {
			case d.slots <- struct{}{}:
			case <-ctx.Done():
				return fmt.Errorf("queue full (%d sent of %d): %w", i, len(batch), ctx.Err())
			case <-d.closed:
				return contracts.ErrQueueClosed
			}
		}
		d.ready <- m // never blocks: ready has as much room as slots
	}
	return nil
}

// SendOne stores m, blocking while the queue is full.
func (d *Driver) SendOne(ctx context.Context, m *driver.Message) error {
	select {
	case d.slots <- struct{}{}:
	default:
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("queue full: %w", ctx.Err())
		case <-d.closed:
			return contracts.ErrQueueClosed
		}
	}
	d.ready <- m // never blocks: ready has as much room as slots
	return nil
}

// ReceiveOne returns the next ready message, waiting for it.
func (d *Driver) ReceiveOne(ctx context.Context) (*driver.Message, error) {
	var m *driver.Message
	select {
	case m = <-d.ready:
	default:
		select {
		case m = <-d.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.closed:
			return nil, contracts.ErrQueueClosed
		}
	}
	m.Task.Attempt++
	d.inFlight.Add(1)
	return m, nil
}

// SettleOne applies m's Op.
func (d *Driver) SettleOne(_ context.Context, m *driver.Message) error {
	d.inFlight.Add(-1)
	switch m.Op {
	case driver.OpAck:
		<-d.slots
	case driver.OpDead:
		d.bury(m)
	default:
		d.requeue(m, m.Delay)
	}
	return nil
}

// Receive returns up to max ready messages, waiting for the first.
func (d *Driver) Receive(ctx context.Context, max int) ([]*driver.Message, error) {
	m, err := d.ReceiveOne(ctx)
	if err != nil {
		return nil, err
	}
	if max <= 1 {
		return m.One(), nil
	}
	out := []*driver.Message{m}
	for len(out) < max {
		select {
		case m := <-d.ready:
			m.Task.Attempt++
			d.inFlight.Add(1)
			out = append(out, m)
		default:
			return out, nil
		}
	}
	return out, nil
}

// Settle applies each message's Op. The portable type has already made sure
// each delivery is settled once, so every settlement succeeds.
func (d *Driver) Settle(_ context.Context, batch []*driver.Message) ([]error, error) {
	for _, m := range batch {
		d.inFlight.Add(-1)
		switch m.Op {
		case driver.OpAck:
			<-d.slots
		case driver.OpDead:
			d.bury(m)
		default:
			d.requeue(m, m.Delay)
		}
	}
	return nil, nil
}

func (d *Driver) requeue(m *driver.Message, delay time.Duration) {
	if delay <= 0 {
		d.ready <- m // never blocks: the message holds a slot
		return
	}
	due := time.Now().Add(delay)
	d.mu.Lock()
	heap.Push(&d.delayed, delayed{m: m, due: due})
	first := d.delayed[0].m == m
	d.mu.Unlock()
	if first {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (d *Driver) bury(m *driver.Message) {
	t := m.Task
	d.mu.Lock()
	d.dead = append(d.dead, contracts.DeadLetter{Task: t, Reason: m.Reason, At: time.Now()})
	d.mu.Unlock()
	<-d.slots
}

// Extend is never called: the driver has no leases.
func (d *Driver) Extend(context.Context, *driver.Message, time.Duration) error { return nil }

// Release makes messages ready again without counting the delivery.
func (d *Driver) Release(_ context.Context, batch []*driver.Message) error {
	for _, m := range batch {
		d.inFlight.Add(-1)
		m.Task.Attempt--
		d.ready <- m
	}
	return nil
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0: all).
func (d *Driver) DeadLetters(_ context.Context, limit int) ([]contracts.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.dead)
	if limit > 0 && limit < n {
		n = limit
	}
	return append([]contracts.DeadLetter(nil), d.dead[:n]...), nil
}

// Redrive moves up to limit dead letters (limit <= 0: all) back to the queue
// with a fresh attempt count. It moves only as many as fit without blocking.
func (d *Driver) Redrive(_ context.Context, limit int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	moved := 0
	for len(d.dead) > 0 && (limit <= 0 || moved < limit) {
		select {
		case d.slots <- struct{}{}:
		default:
			return moved, nil
		}
		t := d.dead[0].Task
		t.Attempt = 0
		d.dead[0] = contracts.DeadLetter{}
		d.dead = d.dead[1:]
		d.ready <- &driver.Message{Task: t}
		moved++
	}
	return moved, nil
}

// Stats reports the gauges; the portable type adds the counters.
func (d *Driver) Stats(context.Context) (contracts.QueueStats, error) {
	d.mu.Lock()
	delayedN, dead := len(d.delayed), len(d.dead)
	d.mu.Unlock()
	return contracts.QueueStats{
		Backend:  "memory",
		Ready:    int64(len(d.ready)),
		InFlight: d.inFlight.Load(),
		Delayed:  int64(delayedN),
		Dead:     int64(dead),
		Capacity: int64(d.capacity),
	}, nil
}

// Close stops the delay loop and wakes blocked Send and Receive calls.
// Tasks still held stay visible in Stats.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.isShut.Store(true)
		close(d.closed)
		<-d.done
	})
	return nil
}

// delayLoop moves delayed tasks to the ready channel when they are due.
func (d *Driver) delayLoop() {
	defer close(d.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		for len(d.delayed) > 0 && !d.delayed[0].due.After(now) {
			e := heap.Pop(&d.delayed).(delayed)
			d.ready <- e.m // never blocks: the message holds a slot
		}
		wait := time.Hour
		if len(d.delayed) > 0 {
			wait = d.delayed[0].due.Sub(now)
		}
		d.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-d.wake:
		case <-d.closed:
			return
		}
	}
}

type delayed struct {
	m   *driver.Message
	due time.Time
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = delayed{}
	*h = old[:n-1]
	return e
}

func init() {
	queue.Register("memory", func(_ context.Context, s queue.Settings) (queue.Backend, error) {
		return queue.BackendFunc{OpenFunc: func(_ context.Context, name string) (contracts.TaskQueue, error) {
			return New(Options{Name: name, Capacity: s.Capacity, MaxAttempts: s.MaxAttempts}), nil
		}}, nil
	})
}
