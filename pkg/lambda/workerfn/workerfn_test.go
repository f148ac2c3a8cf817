package workerfn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/workerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// module registers one routine for every kind on queue "tasks"; what it
// does depends on the kind.
type module struct {
	kind        string // "" = every kind
	maxAttempts int
	run         contracts.RoutineFunc
}

func (m module) Name() string { return "test" }
func (m module) Register(_ context.Context, r contracts.Registry) error {
	return r.AddRoutine(contracts.RoutineSpec{Kind: m.kind, Queue: "tasks", Routine: m.run, MaxAttempts: m.maxAttempts})
}

var errBoom = errors.New("boom")

// byKind behaves as the task kind says.
func byKind(_ context.Context, t contracts.Task) error {
	switch t.Kind {
	case "ok":
		return nil
	case "retry":
		return contracts.Retry(errBoom, 42*time.Second)
	case "fail":
		return errBoom
	case "perm":
		return contracts.Permanent(errBoom)
	case "panic":
		panic("routine panicked on purpose")
	}
	return fmt.Errorf("unknown test kind %q", t.Kind)
}

type fixture struct {
	h   *workerfn.Handler
	sqs *fakeSQS
}

func newHandler(t testing.TB, m module, o workerfn.Options) fixture {
	t.Helper()
	a, err := runtime.Assemble(context.Background(), runtime.AssembleOptions{Logger: quiet}, m)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSQS{}
	q, err := sqsqueue.New(sqsqueue.Options{Client: f, QueueURL: "http://sqs.local/123456789012/tasks", DeadLetterURL: "http://sqs.local/123456789012/tasks-dlq", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	o.Routines, o.Executor, o.Queue = a.Routines, a.Executor, q
	if o.Logger == nil {
		o.Logger = quiet
	}
	h, err := workerfn.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{h: h, sqs: f}
}

// record builds an event record carrying task in the envelope, shaped like
// aws-lambda-go's sample event.
func record(t testing.TB, arn string, task contracts.Task, receiveCount int) events.SQSMessage {
	t.Helper()
	enc, err := sqsqueue.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]events.SQSMessageAttribute{}
	for k, v := range enc.Attributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: "String", StringListValues: []string{}, BinaryListValues: [][]byte{}}
	}
	return events.SQSMessage{
		MessageId:         "msg-" + task.ID,
		ReceiptHandle:     "rh-" + task.ID,
		Body:              enc.Body,
		EventSourceARN:    arn,
		EventSource:       "aws:sqs",
		AWSRegion:         "eu-central-1",
		MessageAttributes: attrs,
		Attributes: map[string]string{
			"ApproximateReceiveCount":          fmt.Sprint(receiveCount),
			"SentTimestamp":                    "1520621625029",
			"SenderId":                         "AROAIWPX5BD2BHG722MW4:sender",
			"ApproximateFirstReceiveTimestamp": "1520621634884",
		},
	}
}

const (
	stdARN  = "arn:aws:sqs:eu-central-1:123456789012:tasks"
	fifoARN = "arn:aws:sqs:eu-central-1:123456789012:tasks.fifo"
	tp      = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
)

func task(id, kind string) contracts.Task {
	return contracts.Task{ID: id, Kind: kind, Payload: []byte(`{"order":"` + id + `"}`), Attributes: map[string]string{contracts.AttrTraceParent: tp}}
}

func failures(r events.SQSEventResponse) []string {
	var out []string
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	slices.Sort(out)
	return out
}

// golden compares v, as indented JSON, with testdata/name (or writes it
// with -update).
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}

func readEvent(t *testing.T, name string) events.SQSEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestAWSSampleEvent: aws-lambda-go's own sample event (a body that is not
// a task) is handled: the record goes to the dead-letter queue, the
// invocation succeeds.
func TestAWSSampleEvent(t *testing.T) {
	f := newHandler(t, module{run: byKind}, workerfn.Options{})
	resp, err := f.h.Handle(context.Background(), readEvent(t, "aws-sample-sqs-event.json"))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	golden(t, "aws-sample-sqs-event.response.json", resp)
	if len(f.sqs.dead) != 1 || f.sqs.dead[0].Body != "Message Body" {
		t.Fatalf("dead-letter sends %+v, want the malformed record", f.sqs.dead)
	}
}

// TestGoldenBatch: one record per outcome, from a fixture in the sample
// event's shape; the response is golden.
func TestGoldenBatch(t *testing.T) {
	if *update {
		ev := events.SQSEvent{}
		for _, k := range []string{"ok", "retry", "fail", "perm", "panic"} {
			ev.Records = append(ev.Records, record(t, stdARN, task("t-"+k, k), 1))
		}
		ev.Records = append(ev.Records, record(t, stdARN, task("t-last", "fail"), 3))
		golden(t, "tasks-sqs-event.json", ev)
	}
	f := newHandler(t, module{run: byKind}, workerfn.Options{MaxReceiveCount: 3})
	resp, err := f.h.Handle(context.Background(), readEvent(t, "tasks-sqs-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tasks-sqs-event.response.json", resp)
}

func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		kind         string
		receiveCount int
		maxReceive   int
		listed       bool
		visibility   int32 // -1: no ChangeMessageVisibility
		deadReason   string
	}{
		{name: "success", kind: "ok", receiveCount: 1, listed: false, visibility: -1},
		{name: "retry after", kind: "retry", receiveCount: 1, listed: true, visibility: 42},
		{name: "error", kind: "fail", receiveCount: 1, maxReceive: 3, listed: true, visibility: -1},
		{name: "error on the last receive", kind: "fail", receiveCount: 3, maxReceive: 3, listed: false, visibility: -1, deadReason: "boom"},
		// No hidden executor default: without a redrive limit the queue decides.
		{name: "error with no receive limit", kind: "fail", receiveCount: 5, listed: true, visibility: -1},
		// The queue allows 10: the 9th receive is retried, the 10th dead-letters.
		{name: "error on the 9th of 10 receives", kind: "fail", receiveCount: 9, maxReceive: 10, listed: true, visibility: -1},
		{name: "error on the 10th of 10 receives", kind: "fail", receiveCount: 10, maxReceive: 10, listed: false, visibility: -1, deadReason: "boom"},
		{name: "permanent", kind: "perm", receiveCount: 1, listed: false, visibility: -1, deadReason: "permanent: boom"},
		{name: "panic", kind: "panic", receiveCount: 1, maxReceive: 3, listed: true, visibility: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHandler(t, module{run: byKind}, workerfn.Options{MaxReceiveCount: tc.maxReceive})
			resp, err := f.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record(t, stdARN, task("t1", tc.kind), tc.receiveCount)}})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if got := len(resp.BatchItemFailures) == 1; got != tc.listed {
				t.Errorf("listed = %v, want %v (%+v)", got, tc.listed, resp)
			}
			if v, ok := f.sqs.visibility["rh-t1"]; tc.visibility < 0 && ok {
				t.Errorf("unexpected ChangeMessageVisibility(%d)", v)
			} else if tc.visibility >= 0 && v != tc.visibility {
				t.Errorf("visibility = %d (set %v), want %d", v, ok, tc.visibility)
			}
			switch {
			case tc.deadReason == "" && len(f.sqs.dead) > 0:
				t.Errorf("unexpected dead-letter send %+v", f.sqs.dead)
			case tc.deadReason != "" && (len(f.sqs.dead) != 1 || f.sqs.dead[0].Reason != tc.deadReason):
				t.Errorf("dead-letter sends %+v, want one with reason %q", f.sqs.dead, tc.deadReason)
			}
		})
	}
}

func TestNoRoutineForKind(t *testing.T) {
	f := newHandler(t, module{kind: "ok", run: byKind}, workerfn.Options{})
	resp, err := f.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record(t, stdARN, task("t1", "other"), 1)}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	if len(f.sqs.dead) != 1 || f.sqs.dead[0].Reason != `no routine for task kind "other"` {
		t.Fatalf("dead-letter sends %+v", f.sqs.dead)
	}
}

// TestFIFOStopsAtFirstFailure: in order; the failing record and all after
// it are listed, and those after it do not run.
func TestFIFOStopsAtFirstFailure(t *testing.T) {
	var mu sync.Mutex
	var ran []string
	run := func(ctx context.Context, t contracts.Task) error {
		mu.Lock()
		ran = append(ran, t.ID)
		mu.Unlock()
		return byKind(ctx, t)
	}
	f := newHandler(t, module{run: run}, workerfn.Options{MaxReceiveCount: 5})
	ev := events.SQSEvent{}
	for i, k := range []string{"ok", "perm", "ok", "fail", "ok", "ok"} {
		ev.Records = append(ev.Records, record(t, fifoARN, task(fmt.Sprint(i), k), 1))
	}
	resp, err := f.h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"msg-3", "msg-4", "msg-5"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	if want := []string{"0", "1", "2", "3"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v in order", ran, want)
	}
}

// TestParallelismLimit: a standard queue's records run in parallel, never
// more than Concurrency at once, and the limit is reached.
func TestParallelismLimit(t *testing.T) {
	const limit = 3
	var cur, peak atomic.Int32
	full := make(chan struct{})
	var once sync.Once
	run := func(ctx context.Context, _ contracts.Task) error {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == limit {
			once.Do(func() { close(full) })
		}
		// Hold the slot until the limit was reached once, so the test
		// shows both that it is reached and that it is not exceeded.
		select {
		case <-full:
		case <-ctx.Done():
		}
		return nil
	}
	f := newHandler(t, module{run: run}, workerfn.Options{Concurrency: limit})
	ev := events.SQSEvent{}
	for i := range 10 {
		ev.Records = append(ev.Records, record(t, stdARN, task(fmt.Sprint(i), "ok"), 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := f.h.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	if p := peak.Load(); p != limit {
		t.Fatalf("peak concurrency %d, want %d", p, limit)
	}
}

// TestDeadlineListsUnstarted: records not started before the invocation's
// deadline are listed, not dropped.
func TestDeadlineListsUnstarted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	run := func(context.Context, contracts.Task) error { cancel(); return nil }
	f := newHandler(t, module{run: run}, workerfn.Options{Concurrency: 1})
	ev := events.SQSEvent{}
	for i := range 4 {
		ev.Records = append(ev.Records, record(t, fifoARN, task(fmt.Sprint(i), "ok"), 1))
	}
	resp, err := f.h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"msg-1", "msg-2", "msg-3"}; !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := workerfn.New(workerfn.Options{}); err == nil {
		t.Fatal("New without a queue succeeded")
	}
}

// TestQuickRecordsRunOnOneGoroutine: once records have proven quick, a batch
// runs on the invocation's goroutine (hand-offs would cost more than they
// save); records that take time bring the parallel pool back.
func TestQuickRecordsRunOnOneGoroutine(t *testing.T) {
	var mu sync.Mutex
	goroutines := map[string]bool{}
	var slow atomic.Bool
	run := func(ctx context.Context, _ contracts.Task) error {
		mu.Lock()
		goroutines[goroutineID()] = true
		mu.Unlock()
		if slow.Load() {
			// Simulated work, far above the quick-record mark.
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	// A generous mark keeps the test stable on a loaded machine with -race.
	f := newHandler(t, module{run: run}, workerfn.Options{Concurrency: 10, QuickRecord: 5 * time.Millisecond})
	batch := func() {
		t.Helper()
		ev := events.SQSEvent{}
		for i := range 10 {
			ev.Records = append(ev.Records, record(t, stdARN, task(fmt.Sprint(i), "ok"), 1))
		}
		if _, err := f.h.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	used := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := len(goroutines)
		clear(goroutines)
		return n
	}
	batch() // first batch: nothing known yet, the pool runs it
	used()
	batch()
	if n := used(); n != 1 {
		t.Fatalf("quick records ran on %d goroutines, want 1", n)
	}
	slow.Store(true)
	for range 3 {
		batch() // the moving average climbs past the mark
	}
	used()
	batch()
	if n := used(); n < 2 {
		t.Fatalf("slow records ran on %d goroutine(s), want the parallel pool", n)
	}
}

// goroutineID returns the current goroutine's number from its stack header.
func goroutineID() string {
	var buf [64]byte
	n := goruntime.Stack(buf[:], false)
	f := strings.Fields(string(buf[:n]))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// TestDeadlineReserve, with a real deadline: no record starts after
// deadline − reserve, a record still running then is cancelled and listed,
// a routine that ignores its ctx is left behind at deadline − reserve/2,
// and the handler returns in time with the successes not listed.
func TestDeadlineReserve(t *testing.T) {
	release := make(chan struct{})
	stuckDone := make(chan struct{})
	run := func(ctx context.Context, tk contracts.Task) error {
		switch tk.ID {
		case "slow": // honours ctx
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Minute):
				return nil
			}
		case "stuck": // ignores ctx
			defer close(stuckDone)
			<-release
			return nil
		}
		return nil
	}
	for _, tc := range []struct {
		name   string
		ids    []string
		listed []string
	}{
		{"cancelled", []string{"a", "b", "slow", "c"}, []string{"msg-c", "msg-slow"}},
		{"left behind", []string{"a", "stuck", "c"}, []string{"msg-c", "msg-stuck"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHandler(t, module{run: run}, workerfn.Options{Concurrency: 1, Reserve: 200 * time.Millisecond, QuickRecord: -1})
			ev := events.SQSEvent{}
			for _, id := range tc.ids {
				ev.Records = append(ev.Records, record(t, stdARN, task(id, "ok"), 1))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			dl, _ := ctx.Deadline()
			resp, err := f.h.Handle(ctx, ev)
			returned := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if got := failures(resp); !slices.Equal(got, tc.listed) {
				t.Fatalf("listed %v, want %v", got, tc.listed)
			}
			if left := dl.Sub(returned); left < 50*time.Millisecond {
				t.Fatalf("returned %s before the deadline; the reserve should leave about 100-200ms", left)
			}
		})
	}
	close(release)
	<-stuckDone // the left-behind routine ends (goleak)
}
