package routine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type settleRec struct {
	mu    sync.Mutex
	got   []contracts.Outcome
	fail  error
	cause []error
}

func (s *settleRec) Settle(_ context.Context, _ contracts.Task, o contracts.Outcome, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, o)
	s.cause = append(s.cause, cause)
	return s.fail
}

func fixedBackoff(int) time.Duration { return 7 * time.Second }

func TestExecuteDecisions(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		run       func(ctx context.Context) error
		attempt   int
		settleErr error
		want      routine.Decision
		delay     time.Duration
		settled   []contracts.Outcome
		panicked  bool
	}{
		{"success acks and settles", func(context.Context) error { return nil }, 1, nil, routine.Ack, 0, []contracts.Outcome{contracts.OutcomeSucceeded}, false},
		{"error retries after backoff", func(context.Context) error { return boom }, 1, nil, routine.Retry, 7 * time.Second, nil, false},
		{"retry uses its own delay", func(context.Context) error { return contracts.Retry(boom, 42*time.Second) }, 1, nil, routine.Retry, 42 * time.Second, nil, false},
		{"permanent dead-letters at once", func(context.Context) error { return contracts.Permanent(boom) }, 1, nil, routine.DeadLetter, 0, []contracts.Outcome{contracts.OutcomeDeadLettered}, false},
		{"last attempt dead-letters", func(context.Context) error { return boom }, 3, nil, routine.DeadLetter, 0, []contracts.Outcome{contracts.OutcomeDeadLettered}, false},
		{"panic is recovered and retried", func(context.Context) error { panic("kaput") }, 1, nil, routine.Retry, 7 * time.Second, nil, true},
		{"failed settlement after success retries", func(context.Context) error { return nil }, 1, errors.New("imap down"), routine.Retry, 7 * time.Second, []contracts.Outcome{contracts.OutcomeSucceeded}, false},
		{"timeout is an error", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 1, nil, routine.Retry, 7 * time.Second, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &settleRec{fail: tc.settleErr}
			var observed int
			e := &routine.Executor{
				Routine:     contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error { return tc.run(ctx) }),
				Timeout:     50 * time.Millisecond,
				MaxAttempts: 3,
				Backoff:     fixedBackoff,
				Settlers:    map[string]contracts.Settler{"src": rec},
				Observer:    func(contracts.Task, routine.Result) { observed++ },
			}
			task := contracts.Task{ID: "1", Kind: "k", Attempt: tc.attempt, Attributes: map[string]string{contracts.AttrSource: "src"}}
			r := e.Execute(context.Background(), task)
			if r.Decision != tc.want || r.Delay != tc.delay || r.Panicked != tc.panicked {
				t.Fatalf("got %v delay %v panicked %v (err %v); want %v delay %v panicked %v", r.Decision, r.Delay, r.Panicked, r.Err, tc.want, tc.delay, tc.panicked)
			}
			if (tc.want == routine.Ack) != (r.Err == nil) {
				t.Fatalf("Err = %v for decision %v", r.Err, r.Decision)
			}
			if len(rec.got) != len(tc.settled) {
				t.Fatalf("settled %v, want %v", rec.got, tc.settled)
			}
			for i := range rec.got {
				if rec.got[i] != tc.settled[i] {
					t.Fatalf("settled %v, want %v", rec.got, tc.settled)
				}
			}
			if observed != 1 {
				t.Fatalf("observer called %d times", observed)
			}
			if tc.panicked {
				var pe *contracts.PanicError
				if !errors.As(r.Err, &pe) || !strings.Contains(pe.Error(), "kaput") || len(pe.Stack) == 0 {
					t.Fatalf("panic error = %v", r.Err)
				}
			}
		})
	}
}

func TestSettlerOfOtherSourceNotCalled(t *testing.T) {
	rec := &settleRec{}
	e := &routine.Executor{Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil }),
		Settlers: map[string]contracts.Settler{"src": rec}}
	r := e.Execute(context.Background(), contracts.Task{Attributes: map[string]string{contracts.AttrSource: "other"}})
	if r.Decision != routine.Ack || len(rec.got) != 0 {
		t.Fatalf("decision %v settled %v", r.Decision, rec.got)
	}
}

func TestDeadlineContext(t *testing.T) {
	t.Run("Err without waiting", func(t *testing.T) {
		e := &routine.Executor{Timeout: 20 * time.Millisecond, Routine: contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error {
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > 20*time.Millisecond {
				return errors.New("no deadline")
			}
			for ctx.Err() == nil {
				time.Sleep(time.Millisecond) // busy routine that only polls Err
			}
			return ctx.Err()
		})}
		r := e.Execute(context.Background(), contracts.Task{Attempt: 1})
		if !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", r.Err)
		}
	})
	t.Run("parent cancel reaches routine", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		e := &routine.Executor{Timeout: time.Hour, Routine: contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error {
			child, stop := context.WithCancel(ctx) // derived contexts must see it too
			defer stop()
			close(started)
			<-child.Done()
			return child.Err()
		})}
		go func() { <-started; cancel() }()
		r := e.Execute(parent, contracts.Task{Attempt: 1})
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("err = %v", r.Err)
		}
	})
	t.Run("value lookup", func(t *testing.T) {
		type key struct{}
		parent := context.WithValue(context.Background(), key{}, "v")
		e := &routine.Executor{Timeout: time.Hour, Routine: contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error {
			if ctx.Value(key{}) != "v" {
				return errors.New("value lost")
			}
			return nil
		})}
		if r := e.Execute(parent, contracts.Task{Attempt: 1}); r.Err != nil {
			t.Fatal(r.Err)
		}
	})
}

func TestTraceContinuesTaskTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := trace.NewTracerProvider(trace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	e := &routine.Executor{Tracer: tp.Tracer("test"), Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil })}
	task := contracts.Task{Kind: "k", Attempt: 1, Attributes: map[string]string{
		contracts.AttrTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	e.Execute(context.Background(), task)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	sc := spans[0].SpanContext()
	if sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || spans[0].Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Fatalf("span trace %s parent %s: not continuing the task's trace", sc.TraceID(), spans[0].Parent().SpanID())
	}
}

func TestExponentialBackoff(t *testing.T) {
	b := routine.ExponentialBackoff(time.Second, 8*time.Second)
	for attempt, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		for range 50 {
			d := b(attempt)
			if d < max/2 || d > max {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, max/2, max)
			}
		}
	}
}

func TestObservers(t *testing.T) {
	if routine.Observers(nil, nil) != nil {
		t.Fatal("no observers should give nil (nothing to call per task)")
	}
	var calls []string
	a := func(contracts.Task, routine.Result) { calls = append(calls, "a") }
	b := func(contracts.Task, routine.Result) { calls = append(calls, "b") }
	routine.Observers(nil, a)(contracts.Task{}, routine.Result{})
	routine.Observers(a, nil, b)(contracts.Task{}, routine.Result{})
	if strings.Join(calls, "") != "aab" {
		t.Fatalf("calls %v, want a, then a and b in order", calls)
	}
}
