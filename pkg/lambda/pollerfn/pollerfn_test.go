package pollerfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// source publishes n tasks, then fails with err or panics.
type source struct {
	name  string
	n     int
	err   error
	panic bool
}

func (s *source) Name() string { return s.name }

func (s *source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	for i := range s.n {
		if err := pub.Publish(ctx, contracts.Task{ID: fmt.Sprintf("%s-%d", s.name, i), Kind: "k", Payload: []byte("p")}); err != nil {
			return i, err
		}
	}
	if s.panic {
		panic("source panicked on purpose")
	}
	return s.n, s.err
}

func newQueue(t testing.TB, c *sqs.Client, url, dlq string) *sqsqueue.Queue {
	q, err := sqsqueue.New(sqsqueue.Options{Client: c, QueueURL: url, DeadLetterURL: dlq, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func TestPollSummary(t *testing.T) {
	var counter sqstest.Counter
	c := sqstest.NewClient(sqstest.Endpoint(t), &counter)
	p := sqstest.CreatePair(t, c, sqstest.PairOptions{})
	q := newQueue(t, c, p.URL, p.DeadLetterURL)
	missing := newQueue(t, c, p.URL+"-missing", p.DeadLetterURL)
	poller, err := pollerfn.New(pollerfn.Options{
		Sources: []contracts.SourceSpec{
			{Source: &source{name: "many", n: 25}, Queue: "q"},
			{Source: &source{name: "broken", n: 3, err: errors.New("mailbox gone")}, Queue: "q"},
			{Source: &source{name: "panicky", n: 2, panic: true}, Queue: "q"},
			{Source: &source{name: "nowhere", n: 4}, Queue: "missing"},
		},
		Queues: map[string]*sqsqueue.Queue{"q": q, "missing": missing},
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sum, err := poller.Handle(ctx, json.RawMessage(`{"source":"aws.events"}`))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := map[string]int{"many": 25, "broken": 3, "panicky": 2, "nowhere": 0}
	for k, v := range want {
		if sum.Published[k] != v {
			t.Errorf("published[%s] = %d, want %d (summary %+v)", k, sum.Published[k], v, sum)
		}
	}
	if sum.Failed["nowhere"] != 4 {
		t.Errorf("failed = %v, want nowhere: 4", sum.Failed)
	}
	for _, k := range []string{"broken", "panicky", "nowhere"} {
		if sum.Errors[k] == "" {
			t.Errorf("no error for source %s: %+v", k, sum.Errors)
		}
	}
	if sum.Errors["many"] != "" {
		t.Errorf("error for a healthy source: %s", sum.Errors["many"])
	}
	// 3 batches for 25 tasks, 1 for 3, 1 for 2, and 1 failed attempt for
	// the missing queue (the SDK does not retry a client error).
	if n := counter.Count("SendMessageBatch"); n != 6 || counter.Count("") != n {
		t.Errorf("%d SendMessageBatch calls (%d in all), want 6", n, counter.Count(""))
	}
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Held() != 30 {
		t.Errorf("queue holds %+v, want 30 tasks", s)
	}
}

func TestNewChecksQueues(t *testing.T) {
	_, err := pollerfn.New(pollerfn.Options{Sources: []contracts.SourceSpec{{Source: &source{name: "s"}, Queue: "nope"}}})
	if err == nil {
		t.Fatal("New accepted a source without a queue")
	}
}

// BenchmarkPollerSQSCalls measures SQS API calls per task of one poller
// invocation whose source publishes 100 tasks (target ≤ 0.11), counted at
// an HTTP middleware in front of the real SQS-compatible server.
func BenchmarkPollerSQSCalls(b *testing.B) {
	var counter sqstest.Counter
	c := sqstest.NewClient(sqstest.Endpoint(b), &counter)
	p := sqstest.CreatePair(b, c, sqstest.PairOptions{})
	q := newQueue(b, c, p.URL, p.DeadLetterURL)
	const perPoll = 100
	poller, err := pollerfn.New(pollerfn.Options{Sources: []contracts.SourceSpec{{Source: &source{name: "s", n: perPoll}, Queue: "q"}}, Queues: map[string]*sqsqueue.Queue{"q": q}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	counter.Reset()
	tasks := 0
	for b.Loop() {
		sum, err := poller.Handle(context.Background(), nil)
		if err != nil || len(sum.Errors) > 0 {
			b.Fatalf("%v %+v", err, sum)
		}
		tasks += sum.Published["s"]
	}
	b.ReportMetric(float64(counter.Count(""))/float64(tasks), "calls/task")
	b.ReportMetric(float64(tasks)/b.Elapsed().Seconds(), "tasks/s")
}
