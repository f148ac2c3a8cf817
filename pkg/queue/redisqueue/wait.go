package redisqueue

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/driver"
)

// waiter is the Driver's one connection for blocking waits. It belongs to a
// private one-connection client made from the caller's client options, so
// a waiting receiver never holds a connection of the caller's pool: any
// number of queues sharing a client leave its pool to publishes, claims and
// acks. A cancelled ctx ends a wait at once with CLIENT UNBLOCK (sent
// through the caller's client); Close closes the private client.
type waiter struct {
	node *redis.Client // the caller's client for the node holding the keys
	priv *redis.Client // private, PoolSize 1
	conn *redis.Conn
	id   int64
}

func (w *waiter) close() {
	_ = w.conn.Close()
	_ = w.priv.Close()
}

// errNoWaiter: the client type cannot be cloned (e.g. *redis.Ring);
// blocking calls then go through its pool and end within BlockTimeout.
var errNoWaiter = errors.New("no dedicated connection")

func (d *Driver) newWaiter(ctx context.Context) (*waiter, error) {
	var node *redis.Client
	switch c := d.rdb.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, d.keys[0])
		if err != nil {
			return nil, err
		}
		node = n
	default:
		return nil, errNoWaiter
	}
	o := *node.Options()
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = 1, 0, 1, 1
	o.OnConnect = nil
	// NewClient deep-copies MaintNotificationsConfig, which the caller's
	// client rewrites (under its own lock) when a connection's handshake
	// finds the server without maintenance notifications (Redis 7.0): a
	// data race. One blocking connection needs none of them.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	o.PushNotificationProcessor = nil
	priv := redis.NewClient(&o)
	conn := priv.Conn()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		_ = conn.Close()
		_ = priv.Close()
		return nil, err
	}
	return &waiter{node: node, priv: priv, conn: conn, id: id}, nil
}

// block pops a wake-up token from the signal list (BLPOP) for at most
// BlockTimeout and the ctx deadline. It returns nil when woken or timed out,
// ctx's error when ctx is done, ErrQueueClosed after Close, or the Redis
// error.
func (d *Driver) block(ctx context.Context) error {
	wait := d.opts.BlockTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
		if wait <= 0 {
			return context.DeadlineExceeded
		}
	}
	d.waitMu.Lock()
	defer d.waitMu.Unlock()
	if d.isShut.Load() {
		return contracts.ErrQueueClosed
	}
	var cmd redis.Cmdable = d.rdb
	if d.wait == nil {
		w, err := d.newWaiter(ctx)
		switch {
		case err == nil:
			d.wait = w
		case !errors.Is(err, errNoWaiter):
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	w := d.wait
	if w != nil {
		cmd = w.conn
		done := make(chan struct{})
		defer close(done)
		stop := context.AfterFunc(ctx, func() { d.unblock(w, done) })
		defer stop()
	}
	var err error
	if wait >= time.Second {
		// go-redis' typed BLPop takes whole seconds and extends the read
		// deadline by the block time.
		err = cmd.BLPop(ctx, wait.Truncate(time.Second), d.keys[6]).Err()
	} else {
		// Redis takes fractional seconds, go-redis' BLPop does not: hence
		// Do, whose read deadline is the client's ReadTimeout (> 1s).
		args := []any{"blpop", d.keys[6], strconv.FormatFloat(float64(ms(wait))/1000, 'f', 3, 64)}
		if w != nil {
			err = w.conn.Do(ctx, args...).Err()
		} else {
			err = d.rdb.Do(ctx, args...).Err()
		}
	}
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	switch {
	case d.isShut.Load():
		return contracts.ErrQueueClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && w != nil:
		// The connection may have been replaced: its id is stale.
		w.close()
		d.wait = nil
	}
	return err
}

// unblock ends w's wait whose done channel is done. The UNBLOCK may reach
// Redis before the BLPOP it is meant for (they travel on different
// connections), so it is repeated, with backoff, until the wait has ended.
func (d *Driver) unblock(w *waiter, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.BlockTimeout+5*time.Second)
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

// combiner joins concurrent one-message settlements into one script call:
// the first caller runs a batch of everything waiting (up to max), the
// others wait for its result; when it is done, the next waiting caller
// leads the next batch. Nobody waits for a timer.
type combiner struct {
	max int
	run func(ctx context.Context, batch []*driver.Message) ([]error, error)

	mu      sync.Mutex
	busy    bool
	pending []*combined
}

type combined struct {
	ctx  context.Context
	m    *driver.Message
	err  error
	lead chan bool // true: lead the next batch; false: done
}

func (c *combiner) do(ctx context.Context, m *driver.Message) ([]error, error) {
	it := &combined{ctx: ctx, m: m, lead: make(chan bool, 1)}
	c.mu.Lock()
	if c.busy {
		c.pending = append(c.pending, it)
		c.mu.Unlock()
		if !<-it.lead {
			return nil, it.err
		}
		c.mu.Lock()
	}
	c.busy = true
	n := min(len(c.pending), c.max-1)
	batch := make([]*combined, 0, n+1)
	batch = append(batch, it)
	batch = append(batch, c.pending[:n]...)
	c.pending = append(c.pending[:0], c.pending[n:]...)
	c.mu.Unlock()

	ms := make([]*driver.Message, len(batch))
	for i, b := range batch {
		ms[i] = b.m
	}
	// The leader's ctx bounds the call; the others' settlements ride along.
	errs, err := c.run(context.WithoutCancel(ctx), ms)
	for i, b := range batch {
		b.err = err
		if err == nil && len(errs) > i {
			b.err = errs[i]
		}
	}
	for _, b := range batch[1:] {
		b.lead <- false
	}
	c.mu.Lock()
	if len(c.pending) > 0 {
		next := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		next.lead <- true
	} else {
		c.busy = false
		c.mu.Unlock()
	}
	return nil, it.err
}
