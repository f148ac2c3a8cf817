package contracts

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors shared by every queue backend. Backends wrap them, so
// callers test with errors.Is.
var (
	// ErrQueueClosed is returned by every operation after Close began —
	// Publish, Consume, Ack, Nack, DeadLetter, Extend, DeadLetters, Redrive;
	// settling included — and by calls blocked when Close began. Stats is
	// the one exception: it reports the final state. Settle before closing:
	// a durable backend hands what was left in flight to another consumer
	// after its lease; an in-memory one reports it in the final Stats.
	ErrQueueClosed = errors.New("queue closed")
	// ErrNotInFlight is returned when a delivery is settled twice, or after
	// its lease expired and the task was handed to another consumer.
	ErrNotInFlight = errors.New("delivery not in flight")
	// ErrTooLarge is returned by Publish when the task exceeds the backend's
	// size limit.
	ErrTooLarge = errors.New("task too large")
)

// Delivery is a task handed to one consumer. It is settled exactly once, by
// Ack, Nack or DeadLetter.
type Delivery struct {
	Task Task
	// Receipt is the backend's handle for this delivery (an SQS receipt
	// handle, an in-memory entry). Opaque to callers.
	Receipt any
}

// TaskQueue carries tasks from sources to workers with at-least-once
// delivery. Every backend passes the conformance suite in package queuetest.
//
// A queue is an adapter chosen by the deployment (in-memory locally, SQS on
// AWS); applications name queues and never depend on a backend.
type TaskQueue interface {
	// Publish adds a task. It blocks while a bounded queue is full, until ctx
	// is done.
	Publish(ctx context.Context, task Task) error
	// Consume blocks until a task is ready, ctx is done, or the queue is
	// closed ([ErrQueueClosed]). The delivery's Task.Attempt counts
	// deliveries, starting at 1.
	Consume(ctx context.Context) (Delivery, error)
	// Ack settles a delivery as done; the task is removed.
	Ack(ctx context.Context, d Delivery) error
	// Nack returns the task to the queue; it becomes visible again after
	// delay and never before. Past the backend's maximum attempts it goes to
	// the dead-letter queue instead.
	Nack(ctx context.Context, d Delivery, delay time.Duration) error
	// DeadLetter moves the task to the dead-letter queue at once; reason is
	// recorded where the backend can.
	DeadLetter(ctx context.Context, d Delivery, reason error) error
	// Stats reports the queue's counters.
	Stats(ctx context.Context) (QueueStats, error)
	// Close stops the queue once: blocked calls and every later call but
	// Stats return [ErrQueueClosed]. It waits for publishes in progress, so
	// no Publish takes effect after Close returned. Close of a durable backend
	// loses nothing; an in-memory queue reports what it held in its final
	// Stats.
	Close() error
}

// LeaseExtender is implemented by queues whose deliveries expire (SQS
// visibility, in-memory leases). Consumers extend the lease while a long
// routine runs.
type LeaseExtender interface {
	Extend(ctx context.Context, d Delivery, lease time.Duration) error
}

// DeadLetterQueue is implemented by queues that can list and redrive their
// dead letters.
type DeadLetterQueue interface {
	// DeadLetters lists up to limit dead-lettered tasks, oldest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Redrive moves up to limit dead letters back to the queue with their
	// attempt count reset; it returns how many moved. limit <= 0 means all.
	Redrive(ctx context.Context, limit int) (int, error)
}

// DeadLetter is a task that will not be retried.
type DeadLetter struct {
	Task   Task
	Reason string
	At     time.Time
}

// QueueStats are a queue's counters. Gauges (Ready, InFlight, Delayed, Dead)
// are current; counters (Published, Acked, Nacked, DeadLettered) are totals
// since the queue was opened and may be unknown (-1) for remote backends.
type QueueStats struct {
	Name         string `json:"name"`
	Backend      string `json:"backend"`
	Ready        int64  `json:"ready"`
	InFlight     int64  `json:"in_flight"`
	Delayed      int64  `json:"delayed"`
	Dead         int64  `json:"dead"`
	Published    int64  `json:"published"`
	Acked        int64  `json:"acked"`
	Nacked       int64  `json:"nacked"`
	DeadLettered int64  `json:"dead_lettered"`
	Capacity     int64  `json:"capacity,omitempty"`
}

// Held is the number of tasks the queue still holds (ready, delayed or in
// flight), not counting dead letters.
func (s QueueStats) Held() int64 { return s.Ready + s.InFlight + s.Delayed }

// AttemptLimiter is implemented by queues that dead-letter a task after a
// number of deliveries (SQS: the redrive policy's maxReceiveCount). The
// queue owns that number: an executor whose routine sets no MaxAttempts of
// its own asks the queue, so both decide on the same delivery.
type AttemptLimiter interface {
	MaxAttempts() int
}
