package runtime

import (
	"context"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// readAhead is the publisher a source gets when its queue lives in the
// process: it bounds what the source publishes (and so marks at its origin)
// to a multiple of the consumers' pool size, so that a crash or a stop
// strands little and the source does not mark the whole mailbox while the
// pool works through the first tasks.
type readAhead struct {
	q contracts.TaskQueue
	// limit returns the bound now: multiple × the pool's current size
	// (a reload may resize the pool).
	limit func() int
	// room is signalled (non-blocking) when a consumer finished a task.
	room chan struct{}
}

// roomRecheck bounds WaitRoom: a finished task is signalled before its ack
// reaches the queue's counters, so the room seen right after a signal may
// not have grown yet.
const roomRecheck = 50 * time.Millisecond

func newReadAhead(q contracts.TaskQueue, limit func() int) *readAhead {
	return &readAhead{q: q, limit: limit, room: make(chan struct{}, 1)}
}

func (r *readAhead) Publish(ctx context.Context, t contracts.Task) error { return r.q.Publish(ctx, t) }

// Room implements contracts.Backpressure.
func (r *readAhead) Room() int {
	st, err := r.q.Stats(context.Background())
	if err != nil {
		return r.limit() // no figures: do not stall the source
	}
	return r.limit() - int(st.Held())
}

// WaitRoom implements contracts.Backpressure. It returns once at least
// half the bound is free: a source woken for every finished task would
// read one message per cycle, and a cycle's round trips cost the same for
// one message as for fifty.
func (r *readAhead) WaitRoom(ctx context.Context) error {
	if r.Room() >= max(1, r.limit()/2) {
		return nil
	}
	t := time.NewTimer(roomRecheck)
	defer t.Stop()
	for {
		select {
		case <-r.room:
		case <-t.C:
			t.Reset(roomRecheck)
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.Room() >= max(1, r.limit()/2) {
			return nil
		}
	}
}

// finished is chained into the executors' Observer.
func (r *readAhead) finished() {
	select {
	case r.room <- struct{}{}:
	default:
	}
}

// durable reports whether q keeps its tasks beyond the process.
func durable(q contracts.TaskQueue) bool {
	d, ok := q.(contracts.DurableQueue)
	return ok && d.Durable()
}
