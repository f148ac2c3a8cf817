package runtime_test

import (
	// The default queues are the registered "memory" backend.
	_ "github.com/plba/plba/pkg/queue/memqueue"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/workers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quietLogging(t *testing.T) *runtime.Logging {
	l, err := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSupervisorRestartsThenGivesUp(t *testing.T) {
	var made atomic.Int64
	crash := make(chan struct{}, 100)
	gaveUp := make(chan string, 1)
	sup := runtime.NewSupervisor(runtime.SupervisorOptions{
		MaxRestarts: 3, Window: time.Minute, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
		Logger:   quietLogging(t).Logger("test"),
		OnGiveUp: func(name string, err error) { gaveUp <- name },
	})
	started := make(chan int64, 100)
	err := sup.Add(runtime.WorkerDefinition{Name: "crashy", New: func() (contracts.Worker, error) {
		n := made.Add(1)
		return workers.Func("crashy", func(ctx context.Context) error {
			started <- n
			select {
			case <-crash:
				return fmt.Errorf("crash %d", n)
			case <-ctx.Done():
				return nil
			}
		}), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(context.Background(), true)
	// Crash the first instance and each restart: 1 start + 3 restarts.
	for i := int64(1); i <= 4; i++ {
		if n := <-started; n != i {
			t.Fatalf("instance %d started, want %d", n, i)
		}
		crash <- struct{}{}
	}
	select {
	case name := <-gaveUp:
		if name != "crashy" {
			t.Fatalf("gave up on %q", name)
		}
	case <-ctxT(t).Done():
		t.Fatal("supervisor never gave up")
	}
	st := sup.Statuses()[0]
	if st.State != contracts.WorkerFailed || st.Restarts != 3 || !strings.Contains(st.LastError, "giving up") {
		t.Fatalf("status after giving up: %+v", st)
	}
	if made.Load() != 4 {
		t.Fatalf("%d instances made, want 4", made.Load())
	}
}

// module is a small test application: a counting source and a routine.
type module struct {
	n       int
	src     *listSource
	handled sync.Map
	block   chan struct{}
}

func (m *module) Name() string { return "test" }
func (m *module) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: m.src, Queue: "q", Interval: time.Millisecond}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "item", Queue: "q", Workers: 3, Routine: contracts.RoutineFunc(
		func(ctx context.Context, t contracts.Task) error {
			if m.block != nil {
				select {
				case <-m.block:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			m.handled.Store(t.ID, true)
			return nil
		})})
}

type listSource struct {
	mu      sync.Mutex
	pending []string
	settled map[string]contracts.Outcome
}

func (s *listSource) Name() string { return "list" }
func (s *listSource) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	for i, id := range batch {
		if err := pub.Publish(ctx, contracts.Task{ID: id, Kind: "item", Attributes: map[string]string{contracts.AttrSource: "list"}}); err != nil {
			s.mu.Lock()
			s.pending = append(batch[i:], s.pending...)
			s.mu.Unlock()
			return i, err
		}
	}
	return len(batch), nil
}
func (s *listSource) Settle(_ context.Context, t contracts.Task, o contracts.Outcome, _ error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settled[t.ID] = o
	return nil
}

func newModule(n int) *module {
	src := &listSource{settled: map[string]contracts.Outcome{}}
	for i := range n {
		src.pending = append(src.pending, fmt.Sprintf("id-%d", i))
	}
	return &module{n: n, src: src}
}

func TestManagerRunsModuleEndToEnd(t *testing.T) {
	mod := newModule(50)
	m := runtime.NewManager(runtime.Options{Logging: quietLogging(t)})
	if err := m.Register(mod); err != nil {
		t.Fatal(err)
	}
	if rep := m.Health().Report(ctxT(t)); rep.Ready {
		t.Fatal("ready before start")
	}
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	for {
		mod.src.mu.Lock()
		n := len(mod.src.settled)
		mod.src.mu.Unlock()
		if n == 50 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of 50 settled", n)
		case <-time.After(time.Millisecond):
		}
	}
	// Settle comes before the ack: wait for the last ack to be counted.
	q, _ := m.Queue("q")
	waitQueue(t, q, func(s contracts.QueueStats) bool { return s.Acked == 50 })
	snap := m.Snapshot(ctx)
	if snap.State != runtime.StateRunning || !snap.Health.Ready || !snap.Health.Live {
		t.Fatalf("snapshot %+v", snap)
	}
	if len(snap.Workers) != 2 || len(snap.Queues) != 1 || snap.Queues[0].Acked != 50 {
		t.Fatalf("snapshot workers %+v queues %+v", snap.Workers, snap.Queues)
	}
	if _, err := json.Marshal(snap); err != nil {
		t.Fatalf("snapshot not JSON: %v", err)
	}
	if err := m.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	if m.State() != runtime.StateStopped {
		t.Fatalf("state %s", m.State())
	}
	for id, o := range mod.src.settled {
		if o != contracts.OutcomeSucceeded {
			t.Fatalf("%s settled %v", id, o)
		}
	}
}

func TestReadinessFalseUntilAllWorkersStarted(t *testing.T) {
	release := make(chan struct{})
	slow := &slowStartModule{release: release, entered: make(chan struct{})}
	m := runtime.NewManager(runtime.Options{Logging: quietLogging(t)})
	_ = m.Register(slow)
	errc := make(chan error, 1)
	go func() { errc <- m.Start(ctxT(t)) }()
	<-slow.entered // Start is inside the slow worker's Start now
	if rep := m.Health().Report(ctxT(t)); rep.Ready {
		t.Fatalf("ready while a worker is still starting: %+v", rep)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if rep := m.Health().Report(ctxT(t)); !rep.Ready {
		t.Fatalf("not ready after start: %+v", rep)
	}
	if err := m.Stop(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	if rep := m.Health().Report(ctxT(t)); rep.Ready {
		t.Fatal("ready after stop")
	}
}

type slowStartModule struct {
	release chan struct{}
	entered chan struct{}
}

func (s *slowStartModule) Name() string { return "slow" }
func (s *slowStartModule) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddWorker(workers.Func("fast", func(ctx context.Context) error { <-ctx.Done(); return nil })); err != nil {
		return err
	}
	return r.AddWorker(&slowWorker{FuncWorker: workers.Func("slow", func(ctx context.Context) error { <-ctx.Done(); return nil }), s: s})
}

type slowWorker struct {
	*workers.FuncWorker
	s *slowStartModule
}

func (w *slowWorker) Start(ctx context.Context) error {
	close(w.s.entered)
	<-w.s.release
	return w.FuncWorker.Start(ctx)
}

func TestManagerGracefulStopLosesNothing(t *testing.T) {
	mod := newModule(40)
	mod.block = make(chan struct{}) // every routine blocks until stop
	m := runtime.NewManager(runtime.Options{Logging: quietLogging(t), StopTimeout: 50 * time.Millisecond})
	_ = m.Register(mod)
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	q, _ := m.Queue("q")
	ctx := ctxT(t)
	waitQueue(t, q, func(s contracts.QueueStats) bool { return s.Published == 40 && s.InFlight == 3 })
	err := m.Stop(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "drain deadline") {
		t.Fatalf("Stop: %v; want a drain-deadline report", err)
	}
	s, _ := q.Stats(ctx)
	if s.Acked+s.Held()+s.Dead != 40 || s.InFlight != 0 || s.Held() != 40 {
		t.Fatalf("after stop %+v: every task must still be held by the queue", s)
	}
	if !errors.Is(q.Publish(ctx, contracts.Task{}), contracts.ErrQueueClosed) {
		t.Fatal("queue open after stop")
	}
}

func TestAssembleRejectsBadRegistrations(t *testing.T) {
	cases := map[string]func(contracts.Registry) error{
		"source without queue": func(r contracts.Registry) error {
			return r.AddSource(contracts.SourceSpec{Source: &listSource{}})
		},
		"routine without queue": func(r contracts.Registry) error {
			return r.AddRoutine(contracts.RoutineSpec{Routine: contracts.RoutineFunc(nil)})
		},
		"push mode on poll source": func(r contracts.Registry) error {
			return r.AddSource(contracts.SourceSpec{Source: &listSource{}, Queue: "q", Mode: contracts.SourcePush})
		},
		"duplicate kind on queue": func(r contracts.Registry) error {
			rt := contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil })
			_ = r.AddRoutine(contracts.RoutineSpec{Name: "a", Kind: "k", Queue: "q", Routine: rt})
			return r.AddRoutine(contracts.RoutineSpec{Name: "b", Kind: "k", Queue: "q", Routine: rt})
		},
	}
	for name, reg := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := runtime.Assemble(ctxT(t), runtime.AssembleOptions{}, funcModule{reg})
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

type funcModule struct {
	f func(contracts.Registry) error
}

func (funcModule) Name() string                                             { return "f" }
func (m funcModule) Register(_ context.Context, r contracts.Registry) error { return m.f(r) }

func TestLoggingLevelsPerComponent(t *testing.T) {
	var buf bytes.Buffer
	l, err := runtime.NewLogging(&buf, runtime.LogConfig{Format: "json", Level: "warn", Levels: map[string]string{"imap": "debug"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger("runtime").Info("hidden")
	l.Logger("imap").Debug("shown")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, `"component":"imap"`) {
		t.Fatalf("log output: %s", out)
	}
	if _, err := runtime.NewLogging(&buf, runtime.LogConfig{Level: "loud"}); err == nil || !strings.Contains(err.Error(), "platform.log.level") {
		t.Fatalf("bad level accepted: %v", err)
	}
}

func TestServiceContainerTyped(t *testing.T) {
	c := runtime.NewServiceContainer()
	if err := c.Provide("n", 42); err != nil {
		t.Fatal(err)
	}
	if err := c.Provide("n", 43); err == nil {
		t.Fatal("duplicate accepted")
	}
	if v, err := runtime.Get[int](c, "n"); err != nil || v != 42 {
		t.Fatal(v, err)
	}
	if _, err := runtime.Get[string](c, "n"); err == nil {
		t.Fatal("wrong type accepted")
	}
	if _, err := runtime.Get[int](c, "missing"); err == nil {
		t.Fatal("missing accepted")
	}
}

// A reload that changes a routine's WorkersKey resizes the running pool.
func TestReloadResizesPool(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/c.yaml"
	if err := os.WriteFile(file, []byte("apps:\n  sized:\n    workers: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(ctxT(t), config.Options{Files: []string{file}, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	m := runtime.NewManager(runtime.Options{Config: cfg, Logging: quietLogging(t)})
	_ = m.Register(sizedModule{})
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background(), true)
	conc := func() int {
		for _, w := range m.Snapshot(ctxT(t)).Workers {
			if strings.HasPrefix(w.Name, "pool:") {
				return w.Concurrency
			}
		}
		return -1
	}
	if c := conc(); c != 2 {
		t.Fatalf("concurrency %d, want 2", c)
	}
	if err := os.WriteFile(file, []byte("apps:\n  sized:\n    workers: 6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Reload(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if c := conc(); c != 6 {
		t.Fatalf("concurrency after reload %d, want 6", c)
	}
}

type sizedModule struct{}

type sizedConfig struct {
	Workers int `koanf:"workers" validate:"gte=1"`
}

func (sizedModule) Name() string { return "sized" }
func (sizedModule) DeclareConfig(c contracts.Config) error {
	return c.Declare("apps.sized", &sizedConfig{Workers: 1})
}
func (sizedModule) Register(_ context.Context, r contracts.Registry) error {
	var c sizedConfig
	if err := r.Config().Decode("apps.sized", &c); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "k", Queue: "q", Workers: c.Workers, WorkersKey: "apps.sized.workers",
		Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil })})
}

// A graceful stop drains; a second, forced stop cuts the drain short and
// still loses nothing.
func TestForcedStopEscalatesGracefulStop(t *testing.T) {
	mod := newModule(10)
	mod.block = make(chan struct{}) // routines wait for ctx only
	m := runtime.NewManager(runtime.Options{Logging: quietLogging(t), StopTimeout: time.Hour})
	_ = m.Register(mod)
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	q, _ := m.Queue("q")
	ctx := ctxT(t)
	waitQueue(t, q, func(s contracts.QueueStats) bool { return s.InFlight == 3 })
	graceful := make(chan error, 1)
	go func() { graceful <- m.Stop(context.Background(), false) }()
	for m.State() != runtime.StateStopping {
		select {
		case err := <-graceful:
			t.Fatalf("graceful stop returned early: %v", err)
		case <-ctx.Done():
			t.Fatal("never stopping")
		case <-time.After(time.Millisecond):
		}
	}
	start := time.Now()
	_ = m.Stop(ctx, true)
	select {
	case <-graceful:
	case <-ctx.Done():
		t.Fatal("graceful stop still draining after the forced stop")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("forced stop took %v", time.Since(start))
	}
	s, _ := q.Stats(ctx)
	if s.InFlight != 0 || s.Held() != 10 {
		t.Fatalf("after forced stop %+v: all 10 tasks must be back in the queue", s)
	}
}

// waitQueue waits until q's stats satisfy ok (the pool changes them from its
// own goroutines; there is no event to await).
func waitQueue(t *testing.T, q contracts.TaskQueue, ok func(contracts.QueueStats) bool) {
	t.Helper()
	ctx := ctxT(t)
	for {
		s, _ := q.Stats(ctx)
		if ok(s) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stats %+v", s)
		case <-time.After(time.Millisecond):
		}
	}
}
