package sqsqueue

import (
	"fmt"
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
