package sqsqueue

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Message is an SQS message received by someone else (the Lambda event
// source mapping hands them to the worker as event records).
type Message struct {
	ID            string
	ReceiptHandle string
	Body          string
	// Attributes are the message attributes with string values.
	Attributes map[string]string
	// ReceiveCount is ApproximateReceiveCount.
	ReceiveCount int
	SentAt       time.Time
	// GroupID is the FIFO message group, if any.
	GroupID string
}

// Delivery turns m into a delivery of this queue, so Ack, Nack, Extend,
// DeadLetter and SendToDeadLetter work on it. A body that is not a task
// envelope yields an error wrapping [ErrMalformed] together with a delivery
// whose task holds the message id as ID and the raw body as payload, which
// can still be dead-lettered.
func (q *Queue) Delivery(m Message) (contracts.Delivery, error) {
	r := &receipt{
		handle:   m.ReceiptHandle,
		msgID:    m.ID,
		body:     m.Body,
		sattrs:   m.Attributes,
		group:    m.GroupID,
		received: time.Now(),
		count:    m.ReceiveCount,
		sentAt:   m.SentAt,
	}
	task, err := Decode(m.Body, m.Attributes)
	if err != nil {
		return contracts.Delivery{
			Task:    contracts.Task{ID: m.ID, Payload: []byte(m.Body), Attributes: m.Attributes, Attempt: max(m.ReceiveCount, 1), EnqueuedAt: m.SentAt},
			Receipt: r,
		}, fmt.Errorf("sqsqueue %s: message %s: %w", q.opts.Name, m.ID, err)
	}
	r.task, r.kind = task, task.Kind
	return q.delivery(r), nil
}

// KeepAlive extends d's lease every lease/3 until the returned stop
// function is called, so a routine that runs longer than the visibility
// timeout keeps its message. stop returns the last extension error, if
// any; a failed extension is retried at the next tick. Use it around a
// routine in long-lived consumers; the Lambda worker does not need it (the
// queue's visibility timeout exceeds the function timeout).
func KeepAlive(ctx context.Context, ext contracts.LeaseExtender, d contracts.Delivery, lease time.Duration) (stop func() error) {
	if lease < 3*time.Second {
		lease = 3 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		lastErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				lastErr = ext.Extend(ctx, d, lease)
				if ctx.Err() != nil {
					lastErr = nil
				}
			}
		}
	}()
	var once sync.Once
	return func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return lastErr
	}
}
