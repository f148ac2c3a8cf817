package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/workers"
)

// settleSource publishes given tasks once, without plba.source (the source
// worker stamps it), and reports each settlement on a channel.
type settleSource struct {
	mu      sync.Mutex
	pending []contracts.Task
	settled chan settlement
}

type settlement struct {
	task    contracts.Task
	outcome contracts.Outcome
	cause   error
}

func (s *settleSource) Name() string { return "settle-src" }
func (s *settleSource) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, t := range batch {
		if err := pub.Publish(ctx, t); err != nil {
			return 0, err
		}
	}
	return len(batch), nil
}
func (s *settleSource) Settle(_ context.Context, t contracts.Task, o contracts.Outcome, cause error) error {
	s.settled <- settlement{t, o, cause}
	return nil
}

type routineModule struct {
	src  *settleSource
	spec contracts.RoutineSpec
}

func (routineModule) Name() string { return "settings" }
func (m routineModule) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: m.src, Queue: "q", Interval: time.Millisecond}); err != nil {
		return err
	}
	m.spec.Queue, m.spec.Kind = "q", "k"
	return r.AddRoutine(m.spec)
}

func startWith(t *testing.T, opts runtime.Options, mod contracts.ApplicationModule) *runtime.Manager {
	t.Helper()
	opts.Logging = quietLogging(t)
	m := runtime.NewManager(opts)
	if err := m.Register(mod); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), true) })
	return m
}

// A queue that allows 10 attempts dead-letters on the 10th: the executor
// asks the queue instead of using a default of its own. The source worker
// stamped plba.source, so the settlement reached the source.
func TestAttemptsComeFromTheQueue(t *testing.T) {
	src := &settleSource{pending: []contracts.Task{{ID: "poison", Kind: "k"}}, settled: make(chan settlement, 1)}
	var attempts atomic.Int64
	mod := routineModule{src: src, spec: contracts.RoutineSpec{Routine: contracts.RoutineFunc(func(_ context.Context, t contracts.Task) error {
		attempts.Add(1)
		return contracts.Retry(errors.New("always fails"), time.Millisecond)
	})}}
	queues := func(_ context.Context, name string) (contracts.TaskQueue, error) {
		return memqueue.New(memqueue.Options{Name: name, MaxAttempts: 10}), nil
	}
	m := startWith(t, runtime.Options{Queues: queues}, mod)
	select {
	case s := <-src.settled:
		if s.outcome != contracts.OutcomeDeadLettered || s.task.Attempt != 10 || attempts.Load() != 10 {
			t.Fatalf("settled %s on attempt %d after %d runs, want dead-lettered on the 10th", s.outcome, s.task.Attempt, attempts.Load())
		}
		if s.task.Attr(contracts.AttrSource) != "settle-src" {
			t.Fatalf("plba.source = %q", s.task.Attr(contracts.AttrSource))
		}
	case <-ctxT(t).Done():
		t.Fatalf("never dead-lettered; %d runs", attempts.Load())
	}
	q, _ := m.Queue("q")
	waitQueue(t, q, func(s contracts.QueueStats) bool { return s.Dead == 1 })
}

// platform.routines.timeout (Options.RoutineTimeout) cancels a routine that
// sets no timeout of its own.
func TestRoutineTimeoutApplies(t *testing.T) {
	src := &settleSource{pending: []contracts.Task{{ID: "slow", Kind: "k"}}, settled: make(chan settlement, 1)}
	mod := routineModule{src: src, spec: contracts.RoutineSpec{MaxAttempts: 1, Routine: contracts.RoutineFunc(func(ctx context.Context, _ contracts.Task) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return nil
		}
	})}}
	start := time.Now()
	startWith(t, runtime.Options{RoutineTimeout: 50 * time.Millisecond}, mod)
	select {
	case s := <-src.settled:
		if s.outcome != contracts.OutcomeDeadLettered || !errors.Is(s.cause, context.DeadlineExceeded) {
			t.Fatalf("settled %s with %v", s.outcome, s.cause)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %s", d)
		}
	case <-ctxT(t).Done():
		t.Fatal("the slow routine was never cancelled")
	}
}

// Routine middleware: the runtime-wide one wraps the routine's own, and
// both run inside the executor (a panicking middleware is recovered).
func TestMiddlewareOrder(t *testing.T) {
	var mu sync.Mutex
	var trail []string
	mark := func(name string) contracts.RoutineMiddleware {
		return func(next contracts.Routine) contracts.Routine {
			return contracts.RoutineFunc(func(ctx context.Context, t contracts.Task) error {
				mu.Lock()
				trail = append(trail, name)
				mu.Unlock()
				return next.Run(ctx, t)
			})
		}
	}
	src := &settleSource{pending: []contracts.Task{{ID: "a", Kind: "k"}}, settled: make(chan settlement, 1)}
	mod := routineModule{src: src, spec: contracts.RoutineSpec{
		Middleware: []contracts.RoutineMiddleware{mark("routine-1"), mark("routine-2")},
		Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error {
			mu.Lock()
			trail = append(trail, "run")
			mu.Unlock()
			return nil
		})}}
	startWith(t, runtime.Options{Middleware: []contracts.RoutineMiddleware{mark("global")}}, mod)
	s := <-src.settled
	mu.Lock()
	defer mu.Unlock()
	if s.outcome != contracts.OutcomeSucceeded || strings.Join(trail, ",") != "global,routine-1,routine-2,run" {
		t.Fatalf("outcome %s, trail %v", s.outcome, trail)
	}
}

// platform.restart.max_restarts: 0 means a failed worker is not restarted.
func TestZeroRestartsMeansNone(t *testing.T) {
	var made atomic.Int64
	gaveUp := make(chan error, 1)
	sup := runtime.NewSupervisor(runtime.SupervisorOptions{MaxRestarts: 0, Window: time.Minute,
		Logger: quietLogging(t).Logger("test"), OnGiveUp: func(_ string, err error) { gaveUp <- err }})
	if err := sup.Add(runtime.WorkerDefinition{Name: "once", New: func() (contracts.Worker, error) {
		n := made.Add(1)
		return workers.Func("once", func(context.Context) error { return fmt.Errorf("crash %d", n) }), nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(context.Background(), true)
	select {
	case err := <-gaveUp:
		if !strings.Contains(err.Error(), "crash 1") {
			t.Fatalf("gave up with %v", err)
		}
	case <-ctxT(t).Done():
		t.Fatal("never gave up")
	}
	if made.Load() != 1 {
		t.Fatalf("%d instances, want 1 (no restart)", made.Load())
	}
	if err := (runtime.SupervisorOptions{MaxRestarts: -1}).Validate(); err == nil {
		t.Fatal("negative MaxRestarts validated")
	}
	// The platform default comes from the supervisor's defaults.
	if d := runtime.DefaultPlatformConfig().Restart; d.MaxRestarts != runtime.DefaultSupervisorOptions().MaxRestarts || d.MaxRestarts == 0 {
		t.Fatalf("platform.restart default %+v", d)
	}
}

// Modules share clients through the service container: a module
// registered later finds what an earlier one provided, typed.
func TestModulesShareServices(t *testing.T) {
	type client struct{ name string }
	var got *client
	provider := funcModule{f: func(r contracts.Registry) error { return r.Services().Provide("shared.client", &client{"db"}) }}
	consumer := namedFuncModule{name: "consumer", f: func(r contracts.Registry) error {
		c, err := runtime.Get[*client](r.Services(), "shared.client")
		got = c
		return err
	}}
	a, err := runtime.Assemble(ctxT(t), runtime.AssembleOptions{Logger: quietLogging(t).Logger("test")}, provider, consumer)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.name != "db" || fmt.Sprint(a.Services.Names()) != "[shared.client]" {
		t.Fatalf("consumer got %+v; services %v", got, a.Services.Names())
	}
}

type namedFuncModule struct {
	name string
	f    func(contracts.Registry) error
}

func (m namedFuncModule) Name() string                                           { return m.name }
func (m namedFuncModule) Register(_ context.Context, r contracts.Registry) error { return m.f(r) }
