package routine

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is a context with a deadline that costs one allocation and no
// timer until somebody waits on it. context.WithTimeout allocates a timer
// and registers with its parent on every task, which is most of the cost of
// a no-op task in the in-memory pipeline; most routines that do I/O wait on
// Done and get a real context then, while Err and Deadline work without it.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	real   context.Context // materialised on first Done/AfterFunc
	cancel context.CancelFunc
}

// withLazyDeadline bounds parent to now+d; the caller passes now (it reads
// the clock for the run's duration anyway, and time.Now is a noticeable
// part of a no-op task's cost on some virtual machines).
func withLazyDeadline(parent context.Context, now time.Time, d time.Duration) *deadlineCtx {
	dl := now.Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(dl) {
		dl = pd
	}
	return &deadlineCtx{parent: parent, deadline: dl}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) materialize() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real == nil {
		c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.real
}

func (c *deadlineCtx) Done() <-chan struct{} { return c.materialize().Done() }

// AfterFunc lets context.WithCancel(c) and friends register without a
// goroutine (the context package looks for this method).
func (c *deadlineCtx) AfterFunc(f func()) func() bool {
	return context.AfterFunc(c.materialize(), f)
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	real := c.real
	c.mu.Unlock()
	if real != nil {
		return real.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *deadlineCtx) Value(key any) any {
	c.mu.Lock()
	real := c.real
	c.mu.Unlock()
	if real != nil {
		return real.Value(key)
	}
	return c.parent.Value(key)
}

// release frees the timer, if one was made.
func (c *deadlineCtx) release() {
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (c *deadlineCtx) String() string { return "routine.deadlineCtx" }
