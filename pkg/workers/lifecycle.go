package workers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// lifecycle is the state machine shared by the standard workers.
type lifecycle struct {
	state     atomic.Value // contracts.WorkerState
	startedAt atomic.Int64
	done      chan struct{}
	doneOnce  sync.Once
	mu        sync.Mutex
	err       error
	lastErr   atomic.Pointer[string]
	lastAt    atomic.Int64

	// For workers run by one goroutine that ends when cancel is called.
	cancel   context.CancelFunc
	stopping atomic.Bool
	stopOnce sync.Once
}

func (l *lifecycle) init() {
	l.done = make(chan struct{})
	l.state.Store(contracts.WorkerIdle)
}

func (l *lifecycle) State() contracts.WorkerState     { return l.state.Load().(contracts.WorkerState) }
func (l *lifecycle) setState(s contracts.WorkerState) { l.state.Store(s) }

// begin moves idle → starting; it fails when Start was already called.
func (l *lifecycle) begin() bool {
	return l.state.CompareAndSwap(contracts.WorkerIdle, contracts.WorkerStarting)
}

func (l *lifecycle) running() {
	l.startedAt.Store(time.Now().UnixNano())
	l.setState(contracts.WorkerRunning)
}

// finish closes Done; err is the reason for stopping on its own (nil after
// a requested stop).
func (l *lifecycle) finish(err error) {
	l.doneOnce.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		if err != nil {
			l.recordError(err)
			l.setState(contracts.WorkerFailed)
		} else {
			l.setState(contracts.WorkerStopped)
		}
		close(l.done)
	})
}

func (l *lifecycle) Done() <-chan struct{} { return l.done }

func (l *lifecycle) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *lifecycle) recordError(err error) {
	s := err.Error()
	l.lastErr.Store(&s)
	l.lastAt.Store(time.Now().UnixNano())
}

func (l *lifecycle) fill(st *contracts.WorkerStatus) {
	st.State = l.State()
	if ns := l.startedAt.Load(); ns != 0 {
		st.StartedAt = time.Unix(0, ns)
	}
	if p := l.lastErr.Load(); p != nil {
		st.LastError = *p
		st.LastAt = time.Unix(0, l.lastAt.Load())
	}
}

func (l *lifecycle) health() contracts.Health {
	switch s := l.State(); s {
	case contracts.WorkerRunning:
		return contracts.Up("running")
	case contracts.WorkerStarting, contracts.WorkerStopping, contracts.WorkerIdle:
		return contracts.Degraded(string(s))
	case contracts.WorkerFailed:
		h := contracts.Down("failed")
		if err := l.Err(); err != nil {
			h.Message = "failed: " + err.Error()
		}
		return h
	default:
		return contracts.Down(string(s))
	}
}

// stopRun stops a worker whose goroutine ends when l.cancel is called: it
// cancels once and waits for Done or ctx.
func (l *lifecycle) stopRun(ctx context.Context, name string) error {
	if l.State() == contracts.WorkerIdle {
		l.finish(nil)
		return nil
	}
	l.stopOnce.Do(func() {
		l.stopping.Store(true)
		l.setState(contracts.WorkerStopping)
		l.cancel()
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("workers: %s did not stop in time: %w", name, ctx.Err())
	}
}
