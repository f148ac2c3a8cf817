package sqsqueue

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/pkg/contracts"
)

// reasonByRedrivePolicy is the reason of a dead letter SQS moved itself.
const reasonByRedrivePolicy = "moved by the queue's redrive policy (maxReceiveCount exceeded)"

// peekVisibility hides listed dead letters only briefly: they are made
// visible again right after listing, and if that fails they come back on
// their own soon.
const peekVisibility = 10 * time.Second

// receiveDLQ receives up to n messages from the dead-letter queue without
// long polling. A short poll samples only some SQS servers, so when confirm
// is set an empty answer is checked once more with a 1s poll.
func (q *Queue) receiveDLQ(ctx context.Context, n int, visibility time.Duration, confirm bool) ([]types.Message, error) {
	waits := []int32{0}
	if confirm {
		waits = append(waits, 1)
	}
	for _, wait := range waits {
		out, err := q.opts.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(q.opts.DeadLetterURL),
			MaxNumberOfMessages:         int32(min(n, MaxBatchEntries)),
			WaitTimeSeconds:             wait,
			VisibilityTimeout:           seconds(visibility, MaxVisibility),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			//lint:ignore SA1019 local-aws-sqs reports receive counts only when the deprecated AttributeNames asks for them
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		if err != nil {
			return nil, fmt.Errorf("sqsqueue %s: receive from dead-letter queue: %w", q.opts.Name, err)
		}
		if len(out.Messages) > 0 {
			return out.Messages, nil
		}
	}
	return nil, nil
}

// DeadLetters lists up to limit dead letters, oldest first (limit <= 0: up
// to 100). Listing receives them from the dead-letter queue and makes them
// visible again at once; SQS counts that as a receive of the dead letter,
// which matters only if the dead-letter queue has a redrive policy itself.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	seen := map[string]bool{}
	var msgs []types.Message
	var handles []string
	for len(msgs) < limit {
		want := min(limit-len(msgs), MaxBatchEntries)
		got, err := q.receiveDLQ(ctx, want, peekVisibility, len(msgs) == 0)
		if err != nil {
			_ = q.release(ctx, q.opts.DeadLetterURL, handles)
			return nil, err
		}
		if len(got) == 0 {
			break
		}
		fresh := 0
		for _, m := range got {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
			if id := aws.ToString(m.MessageId); !seen[id] {
				seen[id] = true
				msgs = append(msgs, m)
				fresh++
			}
		}
		// A short answer means the queue is (approximately) exhausted.
		if fresh == 0 || len(got) < want {
			break
		}
	}
	if err := q.release(ctx, q.opts.DeadLetterURL, handles); err != nil {
		q.opts.Logger.Warn("sqsqueue: listed dead letters stay hidden until their visibility ends", "queue", q.opts.Name, "error", err)
	}
	out := make([]contracts.DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, deadLetterOf(m))
	}
	slices.SortStableFunc(out, func(a, b contracts.DeadLetter) int { return a.At.Compare(b.At) })
	return out, nil
}

func deadLetterOf(m types.Message) contracts.DeadLetter {
	attrs := stringAttrs(m.MessageAttributes)
	sent := msToTime(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)])
	dl := contracts.DeadLetter{Reason: cmp.Or(attrs[AttrReason], reasonByRedrivePolicy), At: sent}
	if at, err := time.Parse(time.RFC3339Nano, attrs[AttrDeadAt]); err == nil {
		dl.At = at
	}
	task, err := Decode(aws.ToString(m.Body), attrs)
	if err != nil {
		// Not an envelope: show the raw body, marked.
		a := maps.Clone(attrs)
		if a == nil {
			a = map[string]string{}
		}
		delete(a, AttrReason)
		delete(a, AttrDeadAt)
		a[AttrMalformed] = "true"
		task = contracts.Task{ID: aws.ToString(m.MessageId), Payload: []byte(aws.ToString(m.Body)), Attributes: a}
	}
	task.Attempt, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if task.EnqueuedAt.IsZero() {
		task.EnqueuedAt = sent
	}
	dl.Task = task
	return dl
}

// Redrive moves up to limit dead letters back to the queue (limit <= 0:
// as many as the dead-letter queue held when Redrive started). The
// messages are sent anew, so their receive count, and with it the task's
// Attempt, starts again at 1; plba.reason and plba.dead_at are dropped.
func (q *Queue) Redrive(ctx context.Context, limit int) (int, error) {
	if q.isShut() {
		return 0, q.errClosed("redrive")
	}
	if limit <= 0 {
		// Bound the run, so tasks that fail again during a long redrive
		// are not moved round and round.
		d, err := q.depths(ctx, q.opts.DeadLetterURL)
		if err != nil {
			return 0, err
		}
		limit = int(d.visible + d.delayed + d.invisible)
		if limit == 0 {
			return 0, nil
		}
	}
	moved := 0
	for moved < limit {
		want := min(limit-moved, MaxBatchEntries)
		got, err := q.receiveDLQ(ctx, want, 30*time.Second, moved == 0)
		if err != nil {
			return moved, err
		}
		if len(got) == 0 {
			return moved, nil
		}
		n, err := q.moveBack(ctx, got)
		moved += n
		if err != nil {
			return moved, err
		}
		if len(got) < want {
			return moved, nil
		}
	}
	return moved, nil
}

// moveBack sends dead letters to the queue and deletes the ones sent from
// the dead-letter queue; the others are made visible again.
func (q *Queue) moveBack(ctx context.Context, msgs []types.Message) (int, error) {
	items := make([]*sendItem, len(msgs))
	for i, m := range msgs {
		attrs := maps.Clone(m.MessageAttributes)
		delete(attrs, AttrReason)
		delete(attrs, AttrDeadAt)
		size := len(aws.ToString(m.Body))
		for k, v := range attrs {
			size += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
		}
		it := &sendItem{
			task: contracts.Task{ID: aws.ToString(m.MessageId)},
			enc:  Encoded{Body: aws.ToString(m.Body), Attributes: attrs, Size: size},
		}
		if q.fifo {
			it.group = cmp.Or(m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)], "plba")
			it.dedup = fifoID(aws.ToString(m.MessageId))
		}
		items[i] = it
	}
	// Batches within the byte limit, like the publisher.
	take := takeSends(q.opts.MaxBatchBytes)
	for rest := items; len(rest) > 0; {
		n := take(rest)
		sendBatch(ctx, &q.opts, q.opts.QueueURL, rest[:n])
		rest = rest[n:]
	}
	var sent, failed []string
	var firstErr error
	for i, it := range items {
		h := aws.ToString(msgs[i].ReceiptHandle)
		if it.err != nil {
			failed = append(failed, h)
			if firstErr == nil {
				firstErr = it.err
			}
			continue
		}
		sent = append(sent, h)
	}
	_ = q.release(ctx, q.opts.DeadLetterURL, failed)
	moved := 0
	for len(sent) > 0 {
		n := min(len(sent), MaxBatchEntries)
		dels := make([]*delItem, n)
		for i := range n {
			dels[i] = &delItem{handle: sent[i]}
		}
		deleteBatch(ctx, &q.opts, q.opts.DeadLetterURL, dels)
		for _, d := range dels {
			if d.err != nil {
				// Sent but not deleted: the task is in both queues; the
				// routine's idempotency covers the duplicate.
				if firstErr == nil {
					firstErr = fmt.Errorf("redrive: sent to the queue, but deleting the dead letter failed: %w", d.err)
				}
				continue
			}
			moved++
		}
		sent = sent[n:]
	}
	if firstErr != nil {
		return moved, fmt.Errorf("sqsqueue %s: redrive: %w", q.opts.Name, firstErr)
	}
	return moved, nil
}

// release makes messages visible again at once.
func (q *Queue) release(ctx context.Context, url string, handles []string) error {
	for len(handles) > 0 {
		n := min(len(handles), MaxBatchEntries)
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i := range n {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(handles[i]), VisibilityTimeout: 0}
		}
		if _, err := q.opts.Client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			return fmt.Errorf("sqsqueue %s: release messages: %w", q.opts.Name, err)
		}
		handles = handles[n:]
	}
	return nil
}
