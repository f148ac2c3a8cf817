// Package driver is the small interface a queue backend implements so that
// the portable type [queue.Queue] (package pkg/queue) can run on it, in the
// manner of go-cloud's pubsub/driver.
//
// # Division of labour
//
// The portable type owns the semantics: attempts and the dead-letter
// decision, delayed nacks, close-once and drain, counters, the envelope,
// size limits, the settle-after-close rule, and detection of a double or
// stale settlement. A driver only does its backend's I/O: store messages,
// hand out ready ones, settle, extend leases, report gauges. Drivers never
// decide whether a task is dead: the portable type tells them.
//
// # Batches
//
// Every data-path method takes or returns a batch, so backends with batch
// APIs (SQS, Redis scripts and pipelines) use them; the portable type sends
// one-element batches on the hot path without allocating ([Message.One]).
//
// # Conformance
//
// Every driver runs queuetest.Run against its real backend.
package driver

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// ErrFull is returned by a bounded driver's Send of one message when the
// backend holds its capacity and the message was not stored; the portable
// type then retries it with a short backoff. A Send of several messages
// stores them all or fails without ErrFull (it waits for room itself).
var ErrFull = errors.New("queue full")

// Op is what a settlement does with a message.
type Op uint8

const (
	// OpAck removes the message.
	OpAck Op = iota + 1
	// OpNack makes the message ready again after Message.Delay.
	OpNack
	// OpDead moves the message to the dead-letter store with Message.Reason.
	OpDead
)

// Message is one task as a driver stores and delivers it.
//
// On Send, Task is complete (ID and EnqueuedAt set by the portable type) and
// Task.Attempt is 0. On Receive, the driver returns the task with
// Task.Attempt set to the delivery count it stores (1 on the first
// delivery) and Handle set to whatever it needs to settle this delivery.
type Message struct {
	Task contracts.Task
	// Handle is the driver's receipt for one delivery (an SQS receipt
	// handle, a Redis token). Opaque to the portable type.
	Handle any
	// Op, Delay and Reason are set by the portable type before a Settle.
	// For OpDead, Delay < 0 marks a dead-lettering Nack (the MaxAttempts-th
	// delivery failed): a backend that keeps counters counts it as a nack
	// too.
	Op     Op
	Delay  time.Duration
	Reason string

	// state is the portable type's in-flight marker: attempt<<1 | 1 while
	// delivered and unsettled. A driver that hands the same *Message out
	// again (memory) gets a new state; a stale settlement of the previous
	// delivery then fails its compare-and-swap instead of racing.
	state atomic.Uint64
	one   [1]*Message
}

// One returns a one-element batch holding m, without allocating.
func (m *Message) One() []*Message {
	m.one[0] = m
	return m.one[:]
}

// Deliver marks m as delivered on attempt; the portable type calls it when
// it hands m to a consumer. Drivers do not call it.
func (m *Message) Deliver(attempt int) { m.state.Store(uint64(attempt)<<1 | 1) }

// Take ends the delivery of attempt exactly once: it reports false when the
// delivery was already settled or m was delivered again since. Drivers do
// not call it.
func (m *Message) Take(attempt int) bool {
	return attempt > 0 && m.state.CompareAndSwap(uint64(attempt)<<1|1, uint64(attempt)<<1)
}

// Holds reports whether the delivery of attempt is still unsettled.
// Drivers do not call it.
func (m *Message) Holds(attempt int) bool {
	return attempt > 0 && m.state.Load() == uint64(attempt)<<1|1
}

// Limits describe a backend to the portable type.
type Limits struct {
	// MaxBatch bounds a Send, Receive or Settle batch (SQS: 10).
	MaxBatch int
	// MaxMessageBytes is the largest envelope the backend stores
	// ([EnvelopeSize]); 0: no limit of its own.
	MaxMessageBytes int
	// ReadAhead is the consumer capacity: how many messages the portable
	// type may receive ahead of its consumers, and a source's bound on
	// what it reads ahead. 0 means the driver hands messages over without
	// a round trip (memory): consumers call Receive themselves.
	ReadAhead int
	// Prefetch: keep the read-ahead buffer full while the queue is
	// consumed, instead of receiving only for waiting consumers. For
	// backends whose leases are long against the time a task waits there
	// (Redis); it takes the receive off the consumers' critical path.
	Prefetch bool
	// Leases: deliveries expire unless extended (Extend is meaningful).
	Leases bool
	// Lease is how long a received message stays in flight without an
	// Extend; the portable type hands back read-ahead messages that
	// waited half of it. 0: no bound.
	Lease time.Duration
	// StrictReceipts: the backend itself rejects a stale settlement (a
	// delivery whose lease expired and that was handed out again).
	StrictReceipts bool
	// Durable: the backend keeps its tasks beyond the process.
	Durable bool
	// Counters: Stats reports counters of its own, shared by every
	// process using the queue; otherwise the portable type counts.
	Counters bool
}

// Queue is the driver interface. Methods are called concurrently. The
// portable type never calls a data-path method after Close has begun, and
// never passes an empty batch.
type Queue interface {
	// Limits returns the backend's limits; called once.
	Limits() Limits
	// Send stores the batch. A bounded backend blocks while full until ctx
	// is done.
	Send(ctx context.Context, batch []*Message) error
	// Receive returns between 1 and max ready messages, blocking until one
	// is ready or ctx is done (then it returns ctx's error).
	Receive(ctx context.Context, max int) ([]*Message, error)
	// Settle applies each message's Op. A message whose delivery the
	// backend no longer holds fails with an error wrapping
	// contracts.ErrNotInFlight. The returned slice has one error per
	// message (nil: settled), or is nil when all succeeded.
	Settle(ctx context.Context, batch []*Message) ([]error, error)
	// Extend keeps the delivery of m invisible to others for lease from
	// now.
	Extend(ctx context.Context, m *Message, lease time.Duration) error
	// Release hands back messages that were received but never given to a
	// consumer (read-ahead at Close): ready again at once, their attempt
	// not counted where the backend can.
	Release(ctx context.Context, batch []*Message) error
	// Stats reports the gauges (and counters when Limits().Counters).
	Stats(ctx context.Context) (contracts.QueueStats, error)
	// Close releases the driver's resources; the backend keeps its data.
	Close() error
}

// Single is implemented by drivers whose one-message operations are much
// cheaper than a batch (memory: a channel operation); the portable type
// then uses it on the one-task paths (Publish, Consume, Ack, Nack,
// DeadLetter). Semantics are those of the batch methods with one message.
type Single interface {
	SendOne(ctx context.Context, m *Message) error
	ReceiveOne(ctx context.Context) (*Message, error)
	SettleOne(ctx context.Context, m *Message) error
}

// DeadLetters is implemented by drivers that can list and redrive their
// dead-letter store.
type DeadLetters interface {
	DeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error)
	Redrive(ctx context.Context, limit int) (int, error)
}

// Holder is implemented by drivers that can tell which tasks they hold
// (ready, in flight, delayed or dead-lettered) by task ID; the portable type
// then implements contracts.TaskHolder with it. Holds returns one answer per
// id, in order. A task published several times under one ID is held while
// any copy is.
type Holder interface {
	Holds(ctx context.Context, ids []string) ([]bool, error)
}
