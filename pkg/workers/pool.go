package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
)

// PoolOptions configure a consumer pool.
type PoolOptions struct {
	// Name identifies the pool; required.
	Name  string
	Queue contracts.TaskQueue
	// Executors by task kind; the "" entry handles every other kind. A task
	// of a kind with no executor is dead-lettered.
	Executors map[string]*routine.Executor
	// Workers is the number of consuming goroutines; default 1.
	Workers int
	// Lease, when the queue is a contracts.LeaseExtender, is extended every
	// Lease/3 while a routine runs, so a long routine keeps its delivery.
	Lease time.Duration
	// SettleAhead bounds the tasks whose routine has returned and whose
	// settlement with their source (contracts.Settler, e.g. \Seen on the
	// IMAP message) is still under way. A worker hands such a task to a
	// settling goroutine and takes the next one, so settlements of many
	// tasks can share a round trip; when SettleAhead are under way, a
	// worker waits for one of them before it takes more. Default
	// DefaultSettleAhead; a negative value settles on the worker.
	SettleAhead int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// DefaultSettleAhead is PoolOptions.SettleAhead when unset. Settlement
// rounds on a busy IMAP server take 5–20 ms while four workers finish a
// task every 50–100 µs, so the bound must hold a few rounds' worth or the
// workers wait for slots: on the end-to-end benchmark (docs/throughput.md)
// 64 left workers blocked for a fifth of their time, 256 none. A task
// being settled is still held by its queue (the runtime gives such tasks
// room of their own on top of the read-ahead bound), so the bound also
// caps what waits in memory for its settlement.
const DefaultSettleAhead = 256

// Pool is a queue-consumer worker: Workers goroutines each consume a task,
// execute it and settle it on the queue.
type Pool struct {
	lifecycle
	opts PoolOptions
	log  *slog.Logger

	consumeCtx  context.Context // cancelled when Stop begins: take no more
	stopConsume context.CancelFunc
	runCtx      context.Context // cancelled on force or drain deadline
	abandon     context.CancelFunc
	settleCtx   context.Context // runCtx without its cancellation
	wg          sync.WaitGroup
	stopOnce    sync.Once
	stopping    atomic.Bool

	sizeMu  sync.Mutex
	cancels []context.CancelFunc // one per consuming goroutine

	// settleSlots holds a token per settlement under way off the workers
	// (nil: settle on the worker).
	settleSlots chan struct{}

	inFlight, succeeded, failed, panics, dead atomic.Int64
}

var _ contracts.Worker = (*Pool)(nil)

// NewPool returns a pool; Start it to begin consuming.
func NewPool(opts PoolOptions) (*Pool, error) {
	if opts.Name == "" {
		return nil, errors.New("workers: pool needs a name")
	}
	if opts.Queue == nil {
		return nil, fmt.Errorf("workers: pool %s: no queue", opts.Name)
	}
	if len(opts.Executors) == 0 {
		return nil, fmt.Errorf("workers: pool %s: no routine", opts.Name)
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SettleAhead == 0 {
		opts.SettleAhead = DefaultSettleAhead
	}
	p := &Pool{opts: opts, log: opts.Logger.With("worker", opts.Name)}
	if opts.SettleAhead > 0 {
		p.settleSlots = make(chan struct{}, opts.SettleAhead)
	}
	p.init()
	return p, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.opts.Name }

// Start launches the consuming goroutines.
func (p *Pool) Start(context.Context) error {
	if !p.begin() {
		return fmt.Errorf("workers: pool %s: already started", p.opts.Name)
	}
	p.consumeCtx, p.stopConsume = context.WithCancel(context.Background())
	p.runCtx, p.abandon = context.WithCancel(context.Background())
	p.settleCtx = context.WithoutCancel(p.runCtx)
	p.sizeMu.Lock()
	p.grow(p.opts.Workers)
	p.sizeMu.Unlock()
	p.running()
	go func() {
		p.wg.Wait()
		var err error
		if !p.stopping.Load() {
			err = fmt.Errorf("workers: pool %s: all consumers exited: %w", p.opts.Name, contracts.ErrQueueClosed)
		}
		p.stopConsume()
		p.abandon()
		p.finish(err)
	}()
	return nil
}

// grow starts n more consuming goroutines; sizeMu is held.
func (p *Pool) grow(n int) {
	for range n {
		ctx, cancel := context.WithCancel(p.consumeCtx)
		p.cancels = append(p.cancels, cancel)
		p.wg.Add(1)
		go p.loop(ctx)
	}
}

// Resize changes the number of consuming goroutines while the pool runs
// (for example after a configuration reload). Goroutines beyond n finish
// the task in hand and exit.
func (p *Pool) Resize(n int) error {
	if n < 1 {
		return fmt.Errorf("workers: pool %s: cannot resize to %d", p.opts.Name, n)
	}
	p.sizeMu.Lock()
	defer p.sizeMu.Unlock()
	if p.State() != contracts.WorkerRunning || p.stopping.Load() {
		return fmt.Errorf("workers: pool %s: resize while %s", p.opts.Name, p.State())
	}
	if d := n - len(p.cancels); d > 0 {
		p.grow(d)
	}
	for len(p.cancels) > n {
		last := len(p.cancels) - 1
		p.cancels[last]()
		p.cancels = p.cancels[:last]
	}
	p.log.Info("pool resized", "workers", n)
	return nil
}

func (p *Pool) loop(ctx context.Context) {
	defer p.wg.Done()
	var backoff time.Duration
	for ctx.Err() == nil {
		d, err := p.opts.Queue.Consume(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, contracts.ErrQueueClosed) {
				return
			}
			// A transient consume failure (network): back off, never spin.
			p.recordError(err)
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
			p.log.Warn("consume failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		p.handle(d)
	}
}

func (p *Pool) executor(kind string) *routine.Executor {
	if e, ok := p.opts.Executors[kind]; ok {
		return e
	}
	return p.opts.Executors[""]
}

// handle runs one task. When its outcome must be settled with a source, the
// settlement and the queue's ack/nack/dead-letter that follows it run on a
// goroutine of their own (bounded by SettleAhead) and the worker returns
// for its next task; the task stays in flight (and its lease extended)
// until the queue has it settled.
func (p *Pool) handle(d contracts.Delivery) {
	p.inFlight.Add(1)
	exec := p.executor(d.Task.Kind)
	if exec == nil {
		defer p.inFlight.Add(-1)
		err := fmt.Errorf("no routine for task kind %q", d.Task.Kind)
		p.failed.Add(1)
		p.dead.Add(1)
		p.recordError(err)
		// Settlement must reach the queue even when the run was abandoned.
		if qerr := p.opts.Queue.DeadLetter(p.settleCtx, d, err); qerr != nil {
			p.log.Error("dead-letter failed", "task", d.Task.ID, "err", qerr)
		}
		return
	}
	var stopBeat func()
	if p.opts.Lease > 0 {
		if ext, ok := p.opts.Queue.(contracts.LeaseExtender); ok {
			stopBeat = heartbeat(p.runCtx, ext, d, p.opts.Lease, p.log)
		}
	}
	run := exec.Run(p.runCtx, d.Task)
	if p.settleSlots == nil || !run.NeedsSettle() {
		p.settle(d, &run, stopBeat)
		return
	}
	// The worker's own goroutine holds a count on wg, so this Add never
	// races with the Wait that ends the pool.
	p.settleSlots <- struct{}{}
	p.wg.Add(1)
	handed := run // only this copy escapes to the heap
	go func() {
		defer p.wg.Done()
		p.settle(d, &handed, stopBeat)
		<-p.settleSlots
	}()
}

// settle settles a run with its source (through the executor, which makes
// the final decision) and then on the queue.
func (p *Pool) settle(d contracts.Delivery, run *routine.Pending, stopBeat func()) {
	defer p.inFlight.Add(-1)
	r := run.Settle()
	if stopBeat != nil {
		stopBeat()
	}
	// Settlement must reach the queue even when the run was abandoned.
	settleCtx := p.settleCtx
	var qerr error
	switch r.Decision {
	case routine.Ack:
		p.succeeded.Add(1)
		qerr = p.opts.Queue.Ack(settleCtx, d)
	case routine.DeadLetter:
		p.failed.Add(1)
		p.dead.Add(1)
		qerr = p.opts.Queue.DeadLetter(settleCtx, d, r.Err)
	default:
		p.failed.Add(1)
		delay := r.Delay
		if p.runCtx.Err() != nil {
			// Abandoned by shutdown: hand the task back at once; it did
			// not fail on its own merits.
			delay = 0
		}
		qerr = p.opts.Queue.Nack(settleCtx, d, delay)
	}
	if r.Err != nil {
		if r.Panicked {
			p.panics.Add(1)
		}
		p.recordError(r.Err)
		p.log.Warn("routine failed", "task", d.Task.ID, "kind", d.Task.Kind, "attempt", d.Task.Attempt,
			"decision", r.Decision.String(), "delay", r.Delay, "err", r.Err)
	}
	if qerr != nil {
		p.recordError(qerr)
		p.log.Error("settling task on queue failed", "task", d.Task.ID, "decision", r.Decision.String(), "err", qerr)
	}
}

// heartbeat extends d's lease every lease/3 until the returned func is called.
func heartbeat(ctx context.Context, ext contracts.LeaseExtender, d contracts.Delivery, lease time.Duration, log *slog.Logger) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := ext.Extend(context.WithoutCancel(ctx), d, lease); err != nil {
					log.Warn("lease extension failed", "task", d.Task.ID, "err", err)
				}
			case <-stop:
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// Stop stops consuming and drains in-flight tasks until ctx is done; then (or
// at once with force) it cancels the routines still running, whose tasks are
// nacked back to the queue without delay.
func (p *Pool) Stop(ctx context.Context, force bool) error {
	if p.State() == contracts.WorkerIdle {
		p.finish(nil)
		return nil
	}
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		p.setState(contracts.WorkerStopping)
		p.stopConsume()
	})
	if force {
		p.abandon()
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.abandon()
	// Routines honour cancellation; give them a moment to return and nack.
	grace := time.NewTimer(5 * time.Second)
	defer grace.Stop()
	select {
	case <-p.done:
		return fmt.Errorf("workers: pool %s: drain deadline passed, in-flight tasks were abandoned and returned to the queue", p.opts.Name)
	case <-grace.C:
		return fmt.Errorf("workers: pool %s: %d routines ignore cancellation and are still running", p.opts.Name, p.inFlight.Load())
	}
}

func (p *Pool) size() int {
	p.sizeMu.Lock()
	defer p.sizeMu.Unlock()
	return len(p.cancels)
}

// Health reports the pool's health.
func (p *Pool) Health() contracts.Health { return p.health() }

// Status is a snapshot of the pool's counters.
func (p *Pool) Status() contracts.WorkerStatus {
	st := contracts.WorkerStatus{
		Name:         p.opts.Name,
		Kind:         "consumer-pool",
		Concurrency:  p.size(),
		InFlight:     p.inFlight.Load(),
		Succeeded:    p.succeeded.Load(),
		Failed:       p.failed.Load(),
		Panics:       p.panics.Load(),
		DeadLettered: p.dead.Load(),
	}
	p.fill(&st)
	return st
}
