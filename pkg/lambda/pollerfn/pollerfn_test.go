package pollerfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
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
	// Failing sources fail the invocation (the Errors metric the stack
	// alarms on), after every source ran and every batch went out.
	if !errors.Is(err, pollerfn.ErrSourceFailed) || !strings.Contains(err.Error(), "3 of 4") || !strings.Contains(err.Error(), "broken: mailbox gone") {
		t.Fatalf("Handle: %v, want ErrSourceFailed naming the 3 failing sources", err)
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

// blockingSource publishes one task, then waits for its ctx to end.
type blockingSource struct{}

func (blockingSource) Name() string { return "slow" }
func (blockingSource) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	if err := pub.Publish(ctx, contracts.Task{ID: "slow-0", Kind: "k", Payload: []byte("p")}); err != nil {
		return 0, err
	}
	<-ctx.Done()
	return 1, nil
}

// TestPollDeadlineReserve, with a real deadline: a source that would run
// forever is stopped Reserve before the deadline, what it published goes
// out, and Handle returns before Lambda would cut it off.
func TestPollDeadlineReserve(t *testing.T) {
	c := sqstest.NewClient(sqstest.Endpoint(t), nil)
	p := sqstest.CreatePair(t, c, sqstest.PairOptions{})
	q := newQueue(t, c, p.URL, p.DeadLetterURL)
	poller, err := pollerfn.New(pollerfn.Options{Sources: []contracts.SourceSpec{{Source: blockingSource{}, Queue: "q"}},
		Queues: map[string]*sqsqueue.Queue{"q": q}, Reserve: 300 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	dl, _ := ctx.Deadline()
	sum, err := poller.Handle(ctx, json.RawMessage(`{}`))
	if err != nil || sum.Published["slow"] != 1 {
		t.Fatalf("Handle: %v %+v", err, sum)
	}
	if left := time.Until(dl); left < 100*time.Millisecond {
		t.Fatalf("returned %s before the deadline", left)
	}
}
