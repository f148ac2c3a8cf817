package sqsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

// flakySQS fails SendMessageBatch entries the way SQS reports per-entry
// failures; only what the publisher calls is implemented.
type flakySQS struct {
	sqsqueue.API
	mu          sync.Mutex
	calls       int
	serverFault map[string]int // task id → how many times to fail it
	senderFault map[string]bool
	maxBytes    int // a batch larger than this is BatchRequestTooLong
	sent        []string
}

func (f *flakySQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	size := 0
	for _, e := range in.Entries {
		size += len(aws.ToString(e.MessageBody))
	}
	if f.maxBytes > 0 && size > f.maxBytes {
		return nil, &types.BatchRequestTooLong{Message: aws.String("batch too long")}
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		task, err := sqsqueue.Decode(aws.ToString(e.MessageBody), nil)
		if err != nil {
			return nil, err
		}
		switch {
		case f.senderFault[task.ID]:
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"), Message: aws.String("no"), SenderFault: true})
		case f.serverFault[task.ID] > 0:
			f.serverFault[task.ID]--
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: false})
		default:
			f.sent = append(f.sent, task.ID)
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + task.ID)})
		}
	}
	return out, nil
}

func TestBatcherRetriesAndReports(t *testing.T) {
	f := &flakySQS{serverFault: map[string]int{"2": 2, "5": 10}, senderFault: map[string]bool{"7": true}}
	q, err := sqsqueue.New(sqsqueue.Options{Client: f, QueueURL: "http://x/1/q", DeadLetterURL: "http://x/1/d", EntryRetries: 3, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	b := q.NewBatcher()
	for i := range 10 {
		if err := b.Publish(context.Background(), contracts.Task{ID: strconv.Itoa(i), Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	err = b.Flush(context.Background())
	var pe *sqsqueue.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("Flush = %v, want PublishErrors", err)
	}
	failed := map[string]bool{}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if errors.As(e, &pe) {
			failed[pe.TaskID] = true
		}
	}
	// 2 recovers after two retries; 5 fails four times (1 + 3 retries) and
	// is reported; 7 is the sender's fault and is not retried.
	if len(failed) != 2 || !failed["5"] || !failed["7"] {
		t.Fatalf("failed %v, want 5 and 7", failed)
	}
	if b.Sent() != 8 {
		t.Fatalf("sent %d, want 8", b.Sent())
	}
	if f.calls != 4 {
		t.Fatalf("%d calls, want 4 (one batch, three retries of what the server failed)", f.calls)
	}
}

func TestBatchTooLongIsSplit(t *testing.T) {
	f := &flakySQS{maxBytes: 3000}
	q, err := sqsqueue.New(sqsqueue.Options{Client: f, QueueURL: "http://x/1/q", DeadLetterURL: "http://x/1/d", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	b := q.NewBatcher()
	for i := range 10 {
		if err := b.Publish(context.Background(), contracts.Task{ID: strconv.Itoa(i), Kind: "k", Payload: make([]byte, 600)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.sent) != 10 || f.calls < 3 {
		t.Fatalf("sent %v in %d calls; want all 10, after splitting", f.sent, f.calls)
	}
}

// TestConcurrentAcksShareCalls: acks that arrive while a delete is on the
// wire go out together.
func TestConcurrentAcksShareCalls(t *testing.T) {
	t.Parallel()
	var counter sqstest.Counter
	c := sqstest.NewClient(sqstest.Endpoint(t), &counter)
	q, _ := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{SendConcurrency: 1})
	defer q.Close()
	cx := ctx(t)
	const n = 40
	b := q.NewBatcher()
	for i := range n {
		if err := b.Publish(cx, contracts.Task{ID: fmt.Sprint(i), Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(cx); err != nil {
		t.Fatal(err)
	}
	var ds []contracts.Delivery
	for range n {
		d, err := q.Consume(cx)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	counter.Reset()
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Ack(cx, d); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if calls := counter.Count("DeleteMessageBatch"); calls < n/10 || calls > n/2 {
		t.Fatalf("%d DeleteMessageBatch calls for %d concurrent acks, want them shared (%d..%d)", calls, n, n/10, n/2)
	}
	t.Logf("%d concurrent acks: %d DeleteMessageBatch calls", n, counter.Count("DeleteMessageBatch"))
}
