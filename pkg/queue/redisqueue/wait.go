package redisqueue

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/contracts"
)

// waiter is a connection of its own for blocking calls, with its Redis
// client id, so Close and a cancelled ctx can end a wait at once with
// CLIENT UNBLOCK instead of waiting out BlockTimeout. Waiters are reused;
// there are as many as calls ever waited at the same time.
type waiter struct {
	node *redis.Client // the node holding the queue's keys
	conn *redis.Conn
	id   int64
	// done is closed when the current wait ends; guarded by Queue.waitMu.
	done chan struct{}
}

// errNoWaiter: the client type cannot pin a connection (e.g. *redis.Ring);
// blocking calls then go through the pool and end within BlockTimeout.
var errNoWaiter = errors.New("no dedicated connection")

func (q *Queue) getWaiter(ctx context.Context) (*waiter, error) {
	q.waitMu.Lock()
	if n := len(q.idle); n > 0 {
		w := q.idle[n-1]
		q.idle = q.idle[:n-1]
		w.done = make(chan struct{})
		q.waiting[w] = struct{}{}
		q.waitMu.Unlock()
		return w, nil
	}
	q.waitMu.Unlock()
	var node *redis.Client
	switch c := q.rdb.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, q.keys[0])
		if err != nil {
			return nil, err
		}
		node = n
	default:
		return nil, errNoWaiter
	}
	conn := node.Conn()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	w := &waiter{node: node, conn: conn, id: id, done: make(chan struct{})}
	q.waitMu.Lock()
	q.waiting[w] = struct{}{}
	q.waitMu.Unlock()
	return w, nil
}

// putWaiter returns w for reuse, or closes it when it is broken (its
// connection may have been replaced, so its id is stale) or the queue is
// closed.
func (q *Queue) putWaiter(w *waiter, broken bool) {
	q.waitMu.Lock()
	close(w.done)
	delete(q.waiting, w)
	keep := !broken && !q.isShut.Load()
	if keep {
		q.idle = append(q.idle, w)
	}
	q.waitMu.Unlock()
	if !keep {
		_ = w.conn.Close()
	}
}

// unblockAll wakes every blocked call and closes idle waiters; isShut is
// set already, so woken calls return ErrQueueClosed and close their waiter.
func (q *Queue) unblockAll() {
	q.waitMu.Lock()
	idle := q.idle
	q.idle = nil
	type wait struct {
		w    *waiter
		done chan struct{}
	}
	waiting := make([]wait, 0, len(q.waiting))
	for w := range q.waiting {
		waiting = append(waiting, wait{w, w.done})
	}
	q.waitMu.Unlock()
	for _, w := range idle {
		_ = w.conn.Close()
	}
	for _, w := range waiting {
		q.unblock(w.w, w.done)
	}
}

// unblock ends w's wait whose done channel is done. The UNBLOCK may reach
// Redis before the BLPOP it is meant for (they travel on different
// connections), so it is repeated, with backoff, until the wait has ended.
func (q *Queue) unblock(w *waiter, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), q.opts.BlockTimeout+5*time.Second)
	defer cancel()
	delay := 500 * time.Microsecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if n, err := w.node.ClientUnblock(ctx, w.id).Result(); err == nil && n == 1 {
			return
		}
		timer.Reset(delay)
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// block pops a wake-up token from the list key (BLPOP) for at most
// BlockTimeout and the ctx deadline. It returns nil when woken or timed out,
// ctx's error when ctx is done, ErrQueueClosed after Close, or the Redis
// error.
func (q *Queue) block(ctx context.Context, key string) error {
	if q.isShut.Load() {
		return contracts.ErrQueueClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	wait := q.opts.BlockTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
		if wait <= 0 {
			return context.DeadlineExceeded
		}
	}
	var cmd redis.Cmdable = q.rdb
	w, err := q.getWaiter(ctx)
	switch {
	case err == nil:
		cmd = w.conn
		// Registered as waiting before this check, so a Close after it
		// unblocks this wait.
		if q.isShut.Load() {
			q.putWaiter(w, false)
			return contracts.ErrQueueClosed
		}
		done := w.done
		stop := context.AfterFunc(ctx, func() { q.unblock(w, done) })
		defer stop()
	case !errors.Is(err, errNoWaiter):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if wait >= time.Second {
		// go-redis' typed BLPop takes whole seconds and extends the read
		// deadline by the block time.
		err = cmd.BLPop(ctx, wait.Truncate(time.Second), key).Err()
	} else {
		// Redis takes fractional seconds, go-redis' BLPop does not: hence
		// Do, whose read deadline is the client's ReadTimeout (> 1s).
		args := []any{"blpop", key, strconv.FormatFloat(float64(ms(wait))/1000, 'f', 3, 64)}
		if w != nil {
			err = w.conn.Do(ctx, args...).Err()
		} else {
			err = q.rdb.Do(ctx, args...).Err()
		}
	}
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if w != nil {
		q.putWaiter(w, err != nil)
	}
	switch {
	case q.isShut.Load():
		return contracts.ErrQueueClosed
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return err
	}
}
