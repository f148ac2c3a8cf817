package sqsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/queuetest"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open creates a fresh queue pair on the test server and a Queue on it.
func open(t *testing.T, c *sqs.Client, pair sqstest.PairOptions, o sqsqueue.Options) (*sqsqueue.Queue, sqstest.Pair) {
	t.Helper()
	p := sqstest.CreatePair(t, c, pair)
	o.Client = c
	o.QueueURL = p.URL
	o.DeadLetterURL = p.DeadLetterURL
	if o.WaitTime == 0 {
		o.WaitTime = time.Second
	}
	o.ReadyCountsInFlight = true
	if o.Logger == nil {
		o.Logger = quiet
	}
	q, err := sqsqueue.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return q, p
}

var (
	pairsMu sync.Mutex
	pairs   = map[string]sqstest.Pair{}
)

// namedPair returns the queue pair of a suite Name, created on first use,
// so two queues opened with one Name share it; without a Name, a fresh one.
func namedPair(t *testing.T, c *sqs.Client, o sqstest.PairOptions, name string) sqstest.Pair {
	if name == "" {
		return sqstest.CreatePair(t, c, o)
	}
	pairsMu.Lock()
	defer pairsMu.Unlock()
	p, ok := pairs[name]
	if !ok {
		p = sqstest.CreatePair(t, c, o)
		pairs[name] = p
	}
	return p
}

// openPortable opens the portable queue on a fresh queue pair, as the
// suite asks (a lease is the visibility timeout, whole seconds).
func openPortable(t *testing.T, c *sqs.Client, pair sqstest.PairOptions, o queuetest.Options) contracts.TaskQueue {
	t.Helper()
	if o.MaxAttempts < 0 {
		// SQS always has a bound when a redrive policy is set: its largest.
		pair.MaxReceiveCount = 1000
	}
	p := namedPair(t, c, pair, o.Name)
	so := sqsqueue.Options{Client: c, QueueURL: p.URL, DeadLetterURL: p.DeadLetterURL, WaitTime: time.Second,
		ReadyCountsInFlight: true, Logger: quiet, MaxAttempts: o.MaxAttempts, MaxMessageSize: max(o.MaxTaskBytes, 0)}
	if o.Lease > 0 {
		so.VisibilityTimeout = max(o.Lease.Round(time.Second), 2*time.Second)
	}
	q, err := sqsqueue.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T, o queuetest.Options) contracts.TaskQueue {
			return openPortable(t, c, sqstest.PairOptions{MaxReceiveCount: o.MaxAttempts + 1}, o)
		},
		DelayUnit:        time.Second,
		StrictReceipts:   false,
		ApproximateStats: true,
		Leases:           true,
		SharedNames:      true,
		Timeout:          20 * time.Second,
		// local-aws-sqs takes ~0.6 s per nack and receive round.
		Nacks: 100,
	})
}

func TestConformanceFIFO(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T, o queuetest.Options) contracts.TaskQueue {
			return openPortable(t, c, sqstest.PairOptions{FIFO: true, MaxReceiveCount: o.MaxAttempts + 1}, o)
		},
		DelayUnit:        time.Second,
		ApproximateStats: true,
		Leases:           true,
		SharedNames:      true,
		Timeout:          20 * time.Second,
		// local-aws-sqs takes ~0.6 s per nack and receive round.
		Nacks: 100,
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	q, _ := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{MaxMessageSize: 4096, MaxBatchBytes: 4096})
	defer q.Close()
	err := q.Publish(ctx(t), contracts.Task{ID: "big", Kind: "k", Payload: make([]byte, 4000)})
	if !errors.Is(err, contracts.ErrTooLarge) {
		t.Fatalf("Publish of a 4000-byte payload with a 4 KiB limit: %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "4096") || !strings.Contains(err.Error(), "reference") {
		t.Errorf("error does not explain the limit: %v", err)
	}
	b := q.NewBatcher()
	if err := b.Publish(ctx(t), contracts.Task{ID: "big", Kind: "k", Payload: make([]byte, 4000)}); !errors.Is(err, contracts.ErrTooLarge) {
		t.Fatalf("Batcher.Publish: %v, want ErrTooLarge", err)
	}
}

// TestEnvelope checks what lands in SQS: kind and trace context as message
// attributes, overflow attributes and the payload in the body, the FIFO
// group and deduplication ids from the task.
func TestEnvelope(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	q, p := open(t, c, sqstest.PairOptions{FIFO: true}, sqsqueue.Options{})
	defer q.Close()
	attrs := map[string]string{
		contracts.AttrTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		contracts.AttrTraceState:  "k=v",
		contracts.AttrGroup:       "mailbox-INBOX",
		"bad name/with:chars":     "goes to the body",
		"empty":                   "",
	}
	for i := range 10 {
		attrs[fmt.Sprintf("a%02d", i)] = fmt.Sprint(i)
	}
	task := contracts.Task{ID: "t-1", Kind: "mail.order", Payload: []byte{0, 1, 2, 0xff}, Attributes: attrs}
	if err := q.Publish(ctx(t), task); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(p.URL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		//lint:ignore SA1019 local-aws-sqs reports receive counts only when the deprecated AttributeNames asks for them
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}
	m := out.Messages[0]
	if n := len(m.MessageAttributes); n != 8 {
		t.Errorf("%d message attributes, want 8 (10 minus 2 kept free for dead-lettering)", n)
	}
	for k, want := range map[string]string{"plba.kind": "mail.order", "traceparent": attrs["traceparent"], "tracestate": "k=v"} {
		if got := aws.ToString(m.MessageAttributes[k].StringValue); got != want {
			t.Errorf("message attribute %s = %q, want %q", k, got, want)
		}
	}
	if g := m.Attributes["MessageGroupId"]; g != "mailbox-INBOX" {
		t.Errorf("MessageGroupId = %q, want the task's plba.group", g)
	}
	if d := m.Attributes["MessageDeduplicationId"]; d != "" && d != "t-1" {
		t.Errorf("MessageDeduplicationId = %q, want the task ID", d)
	}
	if !strings.Contains(aws.ToString(m.Body), `"bad name/with:chars":"goes to the body"`) {
		t.Errorf("attribute with an invalid SQS name not in the body: %s", aws.ToString(m.Body))
	}
	strs := map[string]string{}
	for k, v := range m.MessageAttributes {
		strs[k] = aws.ToString(v.StringValue)
	}
	got, err := sqsqueue.Decode(aws.ToString(m.Body), strs)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != task.ID || got.Kind != task.Kind || string(got.Payload) != string(task.Payload) {
		t.Errorf("decoded %+v", got)
	}
	for k, v := range attrs {
		if got.Attributes[k] != v {
			t.Errorf("attribute %q = %q, want %q", k, got.Attributes[k], v)
		}
	}
	if _, ok := got.Attributes["plba.kind"]; ok {
		t.Error("plba.kind leaked into the task attributes")
	}
}

// TestMalformed: a foreign message never reaches a consumer and never
// loops; it lands in the dead-letter queue with a reason.
func TestMalformed(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	q, p := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{})
	defer q.Close()
	cx := ctx(t)
	if _, err := c.SendMessage(cx, &sqs.SendMessageInput{QueueUrl: aws.String(p.URL), MessageBody: aws.String("hello, not json")}); err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(cx, contracts.Task{ID: "good", Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Consume(cx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Task.ID != "good" {
		t.Fatalf("consumed %q, want the good task only", d.Task.ID)
	}
	if err := q.Ack(cx, d); err != nil {
		t.Fatal(err)
	}
	var dead []contracts.DeadLetter
	for range 50 {
		if dead, err = q.DeadLetters(cx, 10); err != nil {
			t.Fatal(err)
		}
		if len(dead) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the server's state; nothing to await
	}
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want the malformed message", len(dead))
	}
	if string(dead[0].Task.Payload) != "hello, not json" || dead[0].Task.Attr(sqsqueue.AttrMalformed) != "true" || !strings.Contains(dead[0].Reason, "malformed") {
		t.Errorf("dead letter %+v", dead[0])
	}
	// Listing left it in the dead-letter queue.
	again, err := q.DeadLetters(cx, 10)
	if err != nil || len(again) != 1 {
		t.Fatalf("second listing: %d, %v", len(again), err)
	}
}

// TestCloseReleasesBuffered: messages received into the local buffer but
// not handed out are not lost at Close: they are made visible again (or,
// if a cancelled long poll took them, come back after the 3s visibility).
func TestCloseReleasesBuffered(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	q, p := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{BatchSize: 10, VisibilityTimeout: 3 * time.Second})
	cx := ctx(t)
	for i := range 5 {
		if err := q.Publish(cx, contracts.Task{ID: fmt.Sprint(i), Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := q.Consume(cx)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(cx, d); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2, err := sqsqueue.New(sqsqueue.Options{Client: c, QueueURL: p.URL, DeadLetterURL: p.DeadLetterURL, WaitTime: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	seen := map[string]bool{}
	for len(seen) < 4 {
		d, err := q2.Consume(cx)
		if err != nil {
			t.Fatalf("after Close, %d of 4 buffered tasks came back: %v", len(seen), err)
		}
		seen[d.Task.ID] = true
		if err := q2.Ack(cx, d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatcherCalls: the poller's publisher makes one call per 10 tasks.
func TestBatcherCalls(t *testing.T) {
	t.Parallel()
	var counter sqstest.Counter
	c := sqstest.NewClient(sqstest.Endpoint(t), &counter)
	q, _ := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{})
	defer q.Close()
	counter.Reset()
	b := q.NewBatcher()
	cx := ctx(t)
	for i := range 95 {
		if err := b.Publish(cx, contracts.Task{ID: fmt.Sprint(i), Kind: "k", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(cx); err != nil {
		t.Fatal(err)
	}
	if b.Sent() != 95 || b.Pending() != 0 {
		t.Fatalf("sent %d pending %d", b.Sent(), b.Pending())
	}
	if n := counter.Count(""); n != 10 {
		t.Fatalf("%d API calls for 95 tasks, want 10 SendMessageBatch", n)
	}
	// Size-aware: 4 tasks of ~300 KiB with a 1 MiB batch limit need 2 calls.
	counter.Reset()
	q2, _ := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{MaxMessageSize: 1 << 20})
	defer q2.Close()
	b2 := q2.NewBatcher()
	for i := range 4 {
		if err := b2.Publish(cx, contracts.Task{ID: fmt.Sprint(i), Kind: "k", Payload: make([]byte, 230<<10)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b2.Flush(cx); err != nil {
		t.Fatal(err)
	}
	if n := counter.Count("SendMessageBatch"); n != 2 {
		t.Fatalf("%d SendMessageBatch calls for 4 tasks of 307 KiB each, want 2", n)
	}
}

// TestExtend: an extended message stays invisible past its original
// visibility timeout (the consumer pool extends leases this way).
func TestExtend(t *testing.T) {
	t.Parallel()
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	q, _ := open(t, c, sqstest.PairOptions{}, sqsqueue.Options{VisibilityTimeout: 3 * time.Second})
	defer q.Close()
	cx := ctx(t)
	if err := q.Publish(cx, contracts.Task{ID: "long", Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Consume(cx)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Extend(cx, d, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Past the 3s visibility: without the extension it would be back.
	short, cancel := context.WithTimeout(cx, 5*time.Second)
	defer cancel()
	if d2, err := q.Consume(short); err == nil {
		t.Fatalf("redelivered (attempt %d) while the heartbeat ran", d2.Task.Attempt)
	}
	if err := q.Ack(cx, d); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    sqsqueue.Options
		want string
	}{
		{"empty", sqsqueue.Options{}, "Client is required"},
		{"no dlq", sqsqueue.Options{Client: &sqs.Client{}, QueueURL: "http://x/1/q"}, "DeadLetterURL is required"},
		{"fifo mismatch", sqsqueue.Options{Client: &sqs.Client{}, QueueURL: "http://x/1/q.fifo", DeadLetterURL: "http://x/1/d"}, "FIFO"},
		{"batch", sqsqueue.Options{Client: &sqs.Client{}, QueueURL: "http://x/1/q", DeadLetterURL: "http://x/1/d", BatchSize: 11}, "BatchSize"},
		{"wait", sqsqueue.Options{Client: &sqs.Client{}, QueueURL: "http://x/1/q", DeadLetterURL: "http://x/1/d", WaitTime: time.Minute}, "WaitTime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if !errors.Is(err, sqsqueue.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}
