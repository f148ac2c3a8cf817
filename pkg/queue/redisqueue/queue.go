package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/contracts"
)

// Queue is a [contracts.TaskQueue] on Redis. It is safe for concurrent use,
// and any number of Queue values (in any number of processes) may share one
// queue name.
type Queue struct {
	opts  Options
	rdb   redis.UniversalClient
	keys  []string // ready, inflight, delayed, dead, counters, seq, space, signal
	mpref string   // message hash prefix
	inst  string   // random per Queue value: receipts tokens are inst.seq
	seq   atomic.Uint64

	closed    chan struct{}
	isShut    atomic.Bool
	closeOnce sync.Once
	moverDone chan struct{}
	stopMover context.CancelFunc
	wake      chan struct{}
	nextMove  atomic.Int64 // unix nanos of the mover's next planned step

	waitMu  sync.Mutex
	idle    []*waiter
	waiting map[*waiter]struct{}
}

var (
	_ contracts.TaskQueue       = (*Queue)(nil)
	_ contracts.LeaseExtender   = (*Queue)(nil)
	_ contracts.DeadLetterQueue = (*Queue)(nil)
)

// receipt identifies one delivery: the message and the token its claim
// stored. A later delivery of the same message stores a new token, so a
// stale receipt is detected.
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
	keySpace    = "space"
	keySignal   = "signal"
	keyMessage  = "m:"
)

// KeyPrefix returns the prefix of every key of the queue name under prefix
// ("plba:{orders}:"), for tools and clean-up.
func KeyPrefix(prefix, name string) string { return prefix + ":{" + name + "}:" }

// New returns a queue on opts.Client and starts its mover goroutine. It does
// no I/O; an unreachable Redis shows in the first call. Close stops the
// mover.
func New(opts Options) (*Queue, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	var id [8]byte
	_, _ = rand.Read(id[:])
	kp := KeyPrefix(opts.Prefix, opts.Name)
	q := &Queue{
		opts:      opts,
		rdb:       opts.Client,
		mpref:     kp + keyMessage,
		inst:      hex.EncodeToString(id[:]),
		closed:    make(chan struct{}),
		moverDone: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		waiting:   map[*waiter]struct{}{},
	}
	for _, k := range []string{keyReady, keyInFlight, keyDelayed, keyDead, keyCounters, keySeq, keySpace, keySignal} {
		q.keys = append(q.keys, kp+k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.stopMover = cancel
	go q.mover(ctx)
	return q, nil
}

func (q *Queue) errorf(format string, args ...any) error {
	return fmt.Errorf("redisqueue %s: "+format, append([]any{q.opts.Name}, args...)...)
}

func (q *Queue) run(ctx context.Context, s *redis.Script, args ...any) *redis.Cmd {
	return s.Run(ctx, q.rdb, q.keys, append([]any{q.mpref}, args...)...)
}

func ms(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}

// Publish adds a task. With a Capacity it blocks while the queue is full.
func (q *Queue) Publish(ctx context.Context, task contracts.Task) error {
	if q.isShut.Load() {
		return q.errorf("publish: %w", contracts.ErrQueueClosed)
	}
	if task.ID == "" {
		task.ID = q.opts.Name + "-" + q.inst + "-" + strconv.FormatUint(q.seq.Add(1), 10)
	}
	if task.EnqueuedAt.IsZero() {
		task.EnqueuedAt = time.Now()
	}
	body, err := encode(task)
	if err != nil {
		return q.errorf("publish: %w", err)
	}
	if len(body) > q.opts.MaxTaskBytes {
		return q.errorf("publish task %s: %d bytes encoded, limit %d: %w", task.ID, len(body), q.opts.MaxTaskBytes, contracts.ErrTooLarge)
	}
	for {
		err := q.run(ctx, publishScript, q.opts.Capacity, body).Err()
		if err == nil {
			return nil
		}
		if !errors.Is(err, redis.Nil) {
			return q.errorf("publish task %s: %w", task.ID, err)
		}
		// Full: wait for a settlement to free a slot. A missed signal only
		// costs one BlockTimeout; a stale one one more attempt.
		if err := q.block(ctx, q.keys[6]); err != nil {
			return q.errorf("publish task %s: queue full: %w", task.ID, err)
		}
	}
}

// Consume blocks until a task is ready, ctx is done or the queue is closed.
//
// It first tries to claim a task (one script: pop from ready, count the
// attempt, store a fresh receipt token, set the lease). When none is ready it
// waits on the signal list, where every push to ready leaves one token, so a
// publish wakes one waiting consumer, not all of them; a successful claim
// takes a token too, so tokens track ready tasks. A token lost to a race
// costs at most one BlockTimeout, after which the consumer claims anyway.
func (q *Queue) Consume(ctx context.Context) (contracts.Delivery, error) {
	for {
		if q.isShut.Load() {
			return contracts.Delivery{}, q.errorf("consume: %w", contracts.ErrQueueClosed)
		}
		if err := ctx.Err(); err != nil {
			return contracts.Delivery{}, err
		}
		token := q.inst + "." + strconv.FormatUint(q.seq.Add(1), 10)
		reply, err := q.run(ctx, claimScript, ms(q.opts.Lease), token, q.opts.Capacity).Result()
		switch {
		case err == nil:
			res, ok := reply.([]any)
			if !ok {
				continue // malformed entries dead-lettered; more may follow
			}
			if d, ok := q.delivery(ctx, res, token); ok {
				return d, nil
			}
			continue
		case !errors.Is(err, redis.Nil):
			if ctx.Err() != nil {
				return contracts.Delivery{}, ctx.Err()
			}
			return contracts.Delivery{}, q.errorf("consume: %w", err)
		}
		if err := q.block(ctx, q.keys[7]); err != nil {
			if errors.Is(err, contracts.ErrQueueClosed) {
				return contracts.Delivery{}, q.errorf("consume: %w", err)
			}
			if ctx.Err() != nil {
				return contracts.Delivery{}, ctx.Err()
			}
			return contracts.Delivery{}, q.errorf("consume: wait: %w", err)
		}
	}
}

// delivery turns a claim result into a delivery. An entry that is not a task
// envelope is dead-lettered at once and reported as not ok.
func (q *Queue) delivery(ctx context.Context, res []any, token string) (contracts.Delivery, bool) {
	var mid, body string
	var attempt int64
	if len(res) == 3 {
		mid, _ = res[0].(string)
		attempt, _ = res[1].(int64)
		body, _ = res[2].(string)
	}
	task, err := decode(body)
	if err == nil {
		task.Attempt = int(attempt)
		return contracts.Delivery{Task: task, Receipt: receipt{mid: mid, token: token}}, true
	}
	q.opts.Logger.Warn("redisqueue: malformed entry moved to the dead-letter list", "queue", q.opts.Name, "message", mid, "error", err)
	if derr := q.run(context.WithoutCancel(ctx), deadScript, mid, token, q.opts.Capacity, err.Error(), "1").Err(); derr != nil {
		// Its lease runs out and the mover retries; MaxAttempts ends it.
		q.opts.Logger.Error("redisqueue: dead-lettering a malformed entry failed", "queue", q.opts.Name, "message", mid, "error", derr)
	}
	return contracts.Delivery{}, false
}

func receiptOf(d contracts.Delivery) (receipt, bool) {
	r, ok := d.Receipt.(receipt)
	return r, ok && r.mid != "" && r.token != ""
}

// settle runs a settlement script; 0 from the script means not in flight.
func (q *Queue) settle(ctx context.Context, op string, d contracts.Delivery, s *redis.Script, args ...any) (int64, error) {
	r, ok := receiptOf(d)
	if !ok {
		return 0, q.errorf("%s task %s: foreign delivery: %w", op, d.Task.ID, contracts.ErrNotInFlight)
	}
	n, err := q.run(ctx, s, append([]any{r.mid, r.token}, args...)...).Int64()
	if err != nil {
		return 0, q.errorf("%s task %s: %w", op, d.Task.ID, err)
	}
	if n == 0 {
		return 0, q.errorf("%s task %s: %w", op, d.Task.ID, contracts.ErrNotInFlight)
	}
	return n, nil
}

// Ack removes the task.
func (q *Queue) Ack(ctx context.Context, d contracts.Delivery) error {
	_, err := q.settle(ctx, "ack", d, ackScript, q.opts.Capacity)
	return err
}

// Nack returns the task to the queue, visible again after delay (in the
// delayed set until then); on the MaxAttempts-th delivery it is
// dead-lettered instead.
func (q *Queue) Nack(ctx context.Context, d contracts.Delivery, delay time.Duration) error {
	if _, err := q.settle(ctx, "nack", d, nackScript, q.opts.Capacity, ms(delay), q.opts.MaxAttempts); err != nil {
		return err
	}
	if delay > 0 {
		q.wakeMover(time.Now().Add(delay))
	}
	return nil
}

// DeadLetter moves the task to the dead-letter list at once, recording
// reason.
func (q *Queue) DeadLetter(ctx context.Context, d contracts.Delivery, reason error) error {
	msg := "dead-lettered"
	if reason != nil {
		msg = reason.Error()
	}
	_, err := q.settle(ctx, "dead-letter", d, deadScript, q.opts.Capacity, msg, "0")
	return err
}

// Extend sets the delivery's lease to run out lease from now (Redis time).
func (q *Queue) Extend(ctx context.Context, d contracts.Delivery, lease time.Duration) error {
	if lease <= 0 {
		return q.errorf("extend task %s: lease %s: must be positive", d.Task.ID, lease)
	}
	_, err := q.settle(ctx, "extend", d, extendScript, ms(lease))
	return err
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0: all).
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error) {
	res, err := q.run(ctx, deadListScript, limit).Slice()
	if err != nil {
		return nil, q.errorf("list dead letters: %w", err)
	}
	out := make([]contracts.DeadLetter, 0, len(res))
	for _, r := range res {
		f, _ := r.([]any)
		if len(f) != 6 {
			return nil, q.errorf("list dead letters: unexpected reply %v", r)
		}
		s := make([]string, 6)
		for i, v := range f {
			s[i], _ = v.(string)
		}
		mid, body, reason := s[0], s[1], s[3]
		attempt, _ := strconv.Atoi(s[2])
		at, _ := strconv.ParseInt(s[4], 10, 64)
		task, err := decode(body)
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
func (q *Queue) Redrive(ctx context.Context, limit int) (int, error) {
	if q.isShut.Load() {
		return 0, q.errorf("redrive: %w", contracts.ErrQueueClosed)
	}
	moved := 0
	for limit <= 0 || moved < limit {
		chunk := redriveChunk
		if limit > 0 {
			chunk = min(chunk, limit-moved)
		}
		n, err := q.run(ctx, redriveScript, chunk, q.opts.Capacity).Int()
		if err != nil {
			return moved, q.errorf("redrive: %w", err)
		}
		moved += n
		if n < chunk {
			break
		}
	}
	return moved, nil
}

// Stats reports the queue's gauges, exact at one instant (one script), and
// its counters, which count what every process did on this queue since its
// keys were created (not only this Queue value).
func (q *Queue) Stats(ctx context.Context) (contracts.QueueStats, error) {
	res, err := q.run(ctx, statsScript).Int64Slice()
	if err != nil {
		return contracts.QueueStats{}, q.errorf("stats: %w", err)
	}
	if len(res) != 8 {
		return contracts.QueueStats{}, q.errorf("stats: unexpected reply %v", res)
	}
	return contracts.QueueStats{
		Name:         q.opts.Name,
		Backend:      "redis",
		Ready:        res[0],
		InFlight:     res[1],
		Delayed:      res[2],
		Dead:         res[3],
		Published:    res[4],
		Acked:        res[5],
		Nacked:       res[6],
		DeadLettered: res[7],
		Capacity:     int64(q.opts.Capacity),
	}, nil
}

// Close stops the mover and makes Publish, Consume and Redrive return
// [contracts.ErrQueueClosed]; blocked calls are woken at once (CLIENT
// UNBLOCK; with a client other than *redis.Client or *redis.ClusterClient,
// within BlockTimeout).
// Nothing is lost: tasks stay in Redis. Settling deliveries still works
// after Close (so a runtime may close queues before its last acks), and so
// does Stats. The client is not closed.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.isShut.Store(true)
		close(q.closed)
		q.stopMover()
		q.unblockAll()
		<-q.moverDone
	})
	return nil
}

// Purge deletes every key of the queue: tasks, dead letters and counters.
// It is for tests and tools; deliveries in flight become stale.
func (q *Queue) Purge(ctx context.Context) error {
	var keys []string
	var scanner redis.Cmdable = q.rdb
	if cc, ok := q.rdb.(*redis.ClusterClient); ok {
		// All keys share one hash tag, so one node holds them all.
		node, err := cc.MasterForKey(ctx, q.keys[0])
		if err != nil {
			return q.errorf("purge: %w", err)
		}
		scanner = node
	}
	iter := scanner.Scan(ctx, 0, KeyPrefix(q.opts.Prefix, q.opts.Name)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return q.errorf("purge: scan: %w", err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := scanner.Del(ctx, keys[:n]...).Err(); err != nil {
			return q.errorf("purge: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

func (q *Queue) wakeMover(due time.Time) {
	if due.UnixNano() >= q.nextMove.Load() {
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// mover is the one goroutine per Queue that moves due delayed tasks and
// expired leases back to ready. Several processes' movers may run at once;
// each step is one atomic script, so they never move a task twice.
func (q *Queue) mover(ctx context.Context) {
	defer close(q.moverDone)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-q.wake:
		}
		wait := q.opts.MoverInterval
		next, err := q.run(ctx, moveScript, q.opts.MaxAttempts, q.opts.MoverBatch, q.opts.Capacity).Int64()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				q.opts.Logger.Error("redisqueue: mover step failed; retrying", "queue", q.opts.Name, "error", err)
			}
			failing = true
		default:
			if failing {
				q.opts.Logger.Info("redisqueue: mover recovered", "queue", q.opts.Name)
			}
			failing = false
			if next >= 0 {
				wait = min(wait, time.Duration(next)*time.Millisecond)
			}
		}
		q.nextMove.Store(time.Now().Add(wait).UnixNano())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// MaxAttempts implements contracts.AttemptLimiter: executors on this queue
// dead-letter on the delivery the queue would bury.
func (q *Queue) MaxAttempts() int { return q.opts.MaxAttempts }

// Durable implements contracts.DurableQueue: tasks outlive the process.
func (q *Queue) Durable() bool { return true }
