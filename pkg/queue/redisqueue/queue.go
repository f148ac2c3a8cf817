package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/driver"
)

// Driver is the Redis driver of the portable [queue.Queue]. Any number of
// drivers (in any number of processes) may share one queue name.
type Driver struct {
	opts  Options
	rdb   redis.UniversalClient
	keys  []string // ready, inflight, delayed, dead, counters, seq, signal, ids
	mpref string   // message hash prefix
	inst  string   // random per Driver: receipt tokens are inst.seq.i
	seq   atomic.Uint64

	closed    chan struct{}
	isShut    atomic.Bool
	closeOnce sync.Once
	moverDone chan struct{}
	stopMover context.CancelFunc
	wake      chan struct{}
	nextMove  atomic.Int64 // unix nanos of the mover's next planned step

	waitMu sync.Mutex // one blocking wait at a time on wait
	wait   *waiter
	// emptied: the last claim left the ready list empty (and deleted the
	// wake-up tokens), so the next Receive waits first: any later push to
	// ready leaves a token, which ends the wait at once.
	emptied atomic.Bool

	settles *combiner
	sends   *combiner
}

var (
	_ driver.Queue       = (*Driver)(nil)
	_ driver.DeadLetters = (*Driver)(nil)
	_ driver.Holder      = (*Driver)(nil)
)

// receipt identifies one delivery: the message and the token its claim
// stored. A later delivery of the same message stores a new token, so a
// stale receipt is detected by the scripts.
type receipt struct {
	mid, token string
}

// Key names, after Prefix:{Name}:.
const (
	keyReady    = "ready"
	keyInFlight = "inflight"
	keyDelayed  = "delayed"
	keyDead     = "dead"
	keyCounters = "counters"
	keySeq      = "seq"
	keySignal   = "signal"
	keyIDs      = "ids"
	keyMessage  = "m:"
)

// KeyPrefix returns the prefix of every key of the queue name under prefix
// ("plba:{orders}:"), for tools and clean-up.
func KeyPrefix(prefix, name string) string { return prefix + ":{" + name + "}:" }

// New returns the portable queue on a Redis driver (see [NewDriver]).
func New(opts Options) (*queue.Queue, error) {
	d, err := NewDriver(opts)
	if err != nil {
		return nil, err
	}
	return queue.New(d, queue.Options{Name: d.opts.Name, Backend: "redis", MaxAttempts: d.opts.MaxAttempts,
		MaxTaskBytes: d.opts.MaxTaskBytes, Logger: d.opts.Logger}), nil
}

// NewDriver returns a driver on opts.Client and starts its mover goroutine.
// It does no I/O; an unreachable Redis shows in the first call. Close stops
// the mover.
func NewDriver(opts Options) (*Driver, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	var id [8]byte
	_, _ = rand.Read(id[:])
	kp := KeyPrefix(opts.Prefix, opts.Name)
	d := &Driver{
		opts:      opts,
		rdb:       opts.Client,
		mpref:     kp + keyMessage,
		inst:      hex.EncodeToString(id[:]),
		closed:    make(chan struct{}),
		moverDone: make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
	for _, k := range []string{keyReady, keyInFlight, keyDelayed, keyDead, keyCounters, keySeq, keySignal, keyIDs} {
		d.keys = append(d.keys, kp+k)
	}
	d.settles = &combiner{max: opts.BatchSize, run: d.settleBatch}
	d.sends = &combiner{max: opts.BatchSize, run: d.sendBatch}
	ctx, cancel := context.WithCancel(context.Background())
	d.stopMover = cancel
	go d.mover(ctx)
	return d, nil
}

func (d *Driver) run(ctx context.Context, s *redis.Script, args ...any) *redis.Cmd {
	return s.Run(ctx, d.rdb, d.keys, append([]any{d.mpref}, args...)...)
}

func ms(t time.Duration) int64 {
	if t <= 0 {
		return 0
	}
	return max(1, int64((t+time.Millisecond-1)/time.Millisecond))
}

// Limits: batches of BatchSize, ReadAhead as configured and kept full
// (leases are long against the time a task waits in it), leases, shared
// counters.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBatch: d.opts.BatchSize, MaxMessageBytes: d.opts.MaxTaskBytes, ReadAhead: d.opts.ReadAhead,
		Prefetch: true, Leases: true, Lease: d.opts.Lease, Durable: true, StrictReceipts: true, Counters: true}
}

// Send stores the batch with one script; publishes of concurrent callers
// are combined into one script call while one is on the wire. A batch that
// does not fit under Capacity fails with driver.ErrFull (the portable type
// retries).
func (d *Driver) Send(ctx context.Context, batch []*driver.Message) error {
	if len(batch) == 1 {
		_, err := d.sends.do(ctx, batch[0])
		return err
	}
	// A batch waits for room itself, so that ErrFull never means "part of
	// the batch was stored".
	backoff := time.Millisecond
	for {
		errs, err := d.sendBatch(ctx, batch)
		if err != nil {
			return err
		}
		var full []*driver.Message
		var failed []error
		for i, e := range errs {
			switch {
			case errors.Is(e, driver.ErrFull):
				full = append(full, batch[i])
			case e != nil:
				failed = append(failed, e)
			}
		}
		if len(failed) > 0 {
			return errors.Join(failed...)
		}
		if len(full) == 0 {
			return nil
		}
		batch = full
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("queue full (%d not stored): %w", len(batch), ctx.Err())
		case <-d.closed:
			t.Stop()
			return contracts.ErrQueueClosed
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// sendBatch stores what fits of batch; a message that did not fit fails
// with driver.ErrFull, one that cannot be encoded with its own error.
func (d *Driver) sendBatch(ctx context.Context, batch []*driver.Message) ([]error, error) {
	var errs []error
	ok := make([]*driver.Message, 0, len(batch))
	args := make([]any, 0, 2*len(batch)+2)
	args = append(args, d.mpref, d.opts.Capacity)
	for i, m := range batch {
		body, err := driver.Encode(m.Task)
		if err == nil && len(body) > d.opts.MaxTaskBytes {
			err = fmt.Errorf("task %s: %d bytes encoded, limit %d: %w", m.Task.ID, len(body), d.opts.MaxTaskBytes, contracts.ErrTooLarge)
		}
		if err != nil {
			if errs == nil {
				errs = make([]error, len(batch))
			}
			errs[i] = err
			continue
		}
		ok = append(ok, m)
		args = append(args, m.Task.ID, body)
	}
	if len(ok) == 0 {
		return errs, nil
	}
	n, err := sendScript.Run(ctx, d.rdb, d.keys, args...).Int()
	if err != nil {
		return nil, err
	}
	if n < len(ok) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		for _, m := range ok[n:] {
			errs[slices.Index(batch, m)] = driver.ErrFull
		}
	}
	return errs, nil
}

// Receive claims up to max ready messages with one script; with none
// ready it waits on the signal list (one blocking connection per Driver,
// outside the client's pool) and claims again.
func (d *Driver) Receive(ctx context.Context, max int) ([]*driver.Message, error) {
	for {
		if d.isShut.Load() {
			return nil, contracts.ErrQueueClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if d.emptied.Swap(false) {
			if err := d.block(ctx); err != nil {
				d.emptied.Store(true)
				return nil, err
			}
		}
		tok := d.inst + "." + strconv.FormatUint(d.seq.Add(1), 10)
		reply, err := d.run(ctx, claimScript, ms(d.opts.Lease), tok, max).Slice()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		claimed := len(reply) / 4
		if out := d.messages(ctx, reply); len(out) > 0 {
			d.emptied.Store(claimed < max)
			return out, nil
		}
		if claimed > 0 {
			continue // all were malformed; more may follow
		}
		d.emptied.Store(true)
	}
}

// messages turns a claim reply into messages; an entry that is not a task
// envelope is dead-lettered at once.
func (d *Driver) messages(ctx context.Context, reply []any) []*driver.Message {
	out := make([]*driver.Message, 0, len(reply)/4)
	for i := 0; i+3 < len(reply); i += 4 {
		mid, _ := reply[i].(string)
		attempt, _ := reply[i+1].(int64)
		body, _ := reply[i+2].(string)
		tok, _ := reply[i+3].(string)
		task, err := driver.Decode(body)
		if err != nil {
			d.opts.Logger.Warn("redisqueue: malformed entry moved to the dead-letter list", "queue", d.opts.Name, "message", mid, "error", err)
			m := &driver.Message{Handle: receipt{mid: mid, token: tok}, Op: opMalformed, Reason: err.Error()}
			if _, derr := d.settleBatch(context.WithoutCancel(ctx), []*driver.Message{m}); derr != nil {
				// Its lease runs out and the mover retries.
				d.opts.Logger.Error("redisqueue: dead-lettering a malformed entry failed", "queue", d.opts.Name, "message", mid, "error", derr)
			}
			continue
		}
		task.Attempt = int(attempt)
		out = append(out, &driver.Message{Task: task, Handle: receipt{mid: mid, token: tok}})
	}
	return out
}

// opMalformed dead-letters an entry marked malformed (driver-internal).
const opMalformed driver.Op = 100

// Settle applies the batch with one script; settlements of concurrent
// callers are combined into one script call while one is on the wire.
func (d *Driver) Settle(ctx context.Context, batch []*driver.Message) ([]error, error) {
	if len(batch) == 1 {
		return d.settles.do(ctx, batch[0])
	}
	return d.settleBatch(ctx, batch)
}

func (d *Driver) settleBatch(ctx context.Context, batch []*driver.Message) ([]error, error) {
	args := make([]any, 0, 2+5*len(batch))
	args = append(args, d.mpref, d.opts.Capacity)
	for _, m := range batch {
		r, _ := m.Handle.(receipt)
		op, num := "a", "0"
		switch m.Op {
		case driver.OpNack:
			op, num = "n", strconv.FormatInt(ms(m.Delay), 10)
		case driver.OpDead:
			op = "d"
			if m.Delay < 0 {
				num = "1"
			}
		case opMalformed:
			op = "m"
		}
		args = append(args, r.mid, r.token, op, num, m.Reason)
	}
	res, err := settleScript.Run(ctx, d.rdb, d.keys, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	var errs []error
	var soonest time.Duration
	for i, m := range batch {
		if m.Op == driver.OpNack && m.Delay > 0 && (soonest == 0 || m.Delay < soonest) {
			soonest = m.Delay
		}
		if i < len(res) && res[i] == 1 {
			continue
		}
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = contracts.ErrNotInFlight
	}
	if soonest > 0 {
		d.wakeMover(time.Now().Add(soonest))
	}
	return errs, nil
}

// Extend sets the delivery's lease to run out lease from now (Redis time).
func (d *Driver) Extend(ctx context.Context, m *driver.Message, lease time.Duration) error {
	r, _ := m.Handle.(receipt)
	n, err := d.run(ctx, extendScript, r.mid, r.token, ms(lease)).Int64()
	if err != nil {
		return err
	}
	if n == 0 {
		return contracts.ErrNotInFlight
	}
	return nil
}

// Release hands read-ahead messages back to the head of the ready list.
func (d *Driver) Release(ctx context.Context, batch []*driver.Message) error {
	args := make([]any, 0, 1+2*len(batch))
	args = append(args, d.mpref)
	for _, m := range batch {
		r, _ := m.Handle.(receipt)
		args = append(args, r.mid, r.token)
	}
	return releaseScript.Run(ctx, d.rdb, d.keys, args...).Err()
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0: all).
func (d *Driver) DeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error) {
	res, err := d.run(ctx, deadListScript, limit).Slice()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out := make([]contracts.DeadLetter, 0, len(res))
	for _, r := range res {
		f, _ := r.([]any)
		if len(f) != 6 {
			return nil, fmt.Errorf("list dead letters: unexpected reply %v", r)
		}
		s := make([]string, 6)
		for i, v := range f {
			s[i], _ = v.(string)
		}
		mid, body, reason := s[0], s[1], s[3]
		attempt, _ := strconv.Atoi(s[2])
		at, _ := strconv.ParseInt(s[4], 10, 64)
		task, err := driver.Decode(body)
		if err != nil || s[5] == "1" {
			task = contracts.Task{ID: mid, Payload: []byte(body), Attributes: map[string]string{AttrMalformed: "true"}}
		}
		task.Attempt = attempt
		out = append(out, contracts.DeadLetter{Task: task, Reason: reason, At: time.UnixMilli(at)})
	}
	return out, nil
}

// redriveChunk bounds one redrive script, so a long dead-letter list does
// not block Redis for long.
const redriveChunk = 1000

// Redrive moves up to limit dead letters (limit <= 0: all), oldest first,
// back to the ready list with their attempt count reset. With a Capacity it
// moves only as many as fit.
func (d *Driver) Redrive(ctx context.Context, limit int) (int, error) {
	moved := 0
	for limit <= 0 || moved < limit {
		chunk := redriveChunk
		if limit > 0 {
			chunk = min(chunk, limit-moved)
		}
		n, err := d.run(ctx, redriveScript, chunk, d.opts.Capacity).Int()
		if err != nil {
			return moved, err
		}
		moved += n
		if n < chunk {
			break
		}
	}
	return moved, nil
}

// holdsChunk bounds the ids of one HeldTasks script.
const holdsChunk = 1000

// Holds implements driver.Holder: for each task id, whether a copy is
// ready, in flight, delayed or dead-lettered (the ids hash, kept by the
// send, ack and purge paths). Tasks stored by a version without the hash
// are not found.
func (d *Driver) Holds(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, 0, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), holdsChunk)
		args := make([]any, 0, n)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		res, err := d.run(ctx, heldScript, args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("held tasks: %w", err)
		}
		if len(res) != n {
			return nil, fmt.Errorf("held tasks: %d answers for %d ids", len(res), n)
		}
		for _, c := range res {
			out = append(out, c > 0)
		}
		ids = ids[n:]
	}
	return out, nil
}

// Stats reports the queue's gauges, exact at one instant (one script), and
// its counters, which count what every process did on this queue since its
// keys were created.
func (d *Driver) Stats(ctx context.Context) (contracts.QueueStats, error) {
	res, err := d.run(ctx, statsScript).Int64Slice()
	if err != nil {
		return contracts.QueueStats{Backend: "redis"}, err
	}
	if len(res) != 8 {
		return contracts.QueueStats{Backend: "redis"}, fmt.Errorf("stats: unexpected reply %v", res)
	}
	return contracts.QueueStats{
		Backend:      "redis",
		Ready:        res[0],
		InFlight:     res[1],
		Delayed:      res[2],
		Dead:         res[3],
		Published:    res[4],
		Acked:        res[5],
		Nacked:       res[6],
		DeadLettered: res[7],
		Capacity:     int64(d.opts.Capacity),
	}, nil
}

// Close stops the mover and closes the blocking connection (a wait in
// progress ends at once). Tasks stay in Redis; the client is not closed.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.isShut.Store(true)
		close(d.closed)
		d.stopMover()
		d.waitMu.Lock()
		w := d.wait
		d.wait = nil
		d.waitMu.Unlock()
		if w != nil {
			w.close()
		}
		<-d.moverDone
	})
	return nil
}

// Purge deletes every key of the queue: tasks, dead letters and counters.
// It is for tests and tools; deliveries in flight become stale.
func (d *Driver) Purge(ctx context.Context) error {
	var keys []string
	var scanner redis.Cmdable = d.rdb
	if cc, ok := d.rdb.(*redis.ClusterClient); ok {
		// All keys share one hash tag, so one node holds them all.
		node, err := cc.MasterForKey(ctx, d.keys[0])
		if err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		scanner = node
	}
	iter := scanner.Scan(ctx, 0, KeyPrefix(d.opts.Prefix, d.opts.Name)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("purge: scan: %w", err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := scanner.Del(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

func (d *Driver) wakeMover(due time.Time) {
	if due.UnixNano() >= d.nextMove.Load() {
		return
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// mover is the one goroutine per Driver that moves due delayed tasks and
// expired leases back to ready. Several processes' movers may run at once;
// each step is one atomic script, so they never move a task twice.
func (d *Driver) mover(ctx context.Context) {
	defer close(d.moverDone)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.wake:
		}
		wait := d.opts.MoverInterval
		next, err := d.run(ctx, moveScript, d.opts.MoverBatch).Int64()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				d.opts.Logger.Error("redisqueue: mover step failed; retrying", "queue", d.opts.Name, "error", err)
			}
			failing = true
		default:
			if failing {
				d.opts.Logger.Info("redisqueue: mover recovered", "queue", d.opts.Name)
			}
			failing = false
			if next >= 0 {
				wait = min(wait, time.Duration(next)*time.Millisecond)
			}
		}
		d.nextMove.Store(time.Now().Add(wait).UnixNano())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}
