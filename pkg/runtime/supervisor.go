package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// WorkerDefinition tells the supervisor how to make a worker. New is called
// for the first start and again for every restart, so a restarted worker is
// a fresh instance with no state left over from its crash.
type WorkerDefinition struct {
	Name string
	New  func() (contracts.Worker, error)
	// NoRestart: a failure is final for this worker.
	NoRestart bool
	// Role says what the worker does; the stop order follows it (sources
	// first, so nothing new comes in, then custom workers, then pools).
	Role Role
}

// Role is a worker's part in a deployment.
type Role string

// Worker roles.
const (
	// RoleCustom is a module's own worker (the default).
	RoleCustom Role = ""
	// RoleSource drives a task source.
	RoleSource Role = "source"
	// RolePool consumes a queue.
	RolePool Role = "pool"
)

// SupervisorOptions configure restarts. Zero values take the defaults.
//
// Start from [DefaultSupervisorOptions]: a zero MaxRestarts means what it
// says (a failed worker is not restarted); only the zero value of the whole
// struct stands for the defaults.
type SupervisorOptions struct {
	// MaxRestarts within Window is the restart intensity; one more failure
	// and the supervisor gives up on the worker. 0: never restart.
	MaxRestarts int
	Window      time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential delay
	// before a restart.
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
	// OnGiveUp is called (once per worker) when a worker exceeded its
	// restart intensity.
	OnGiveUp func(name string, err error)
}

// DefaultSupervisorOptions are the restart intensity and backoff every
// deployment starts from (platform.restart's defaults come from here):
// 5 restarts per minute, backoff 100ms to 30s.
func DefaultSupervisorOptions() SupervisorOptions {
	return SupervisorOptions{MaxRestarts: 5, Window: time.Minute, BackoffMin: 100 * time.Millisecond, BackoffMax: 30 * time.Second}
}

// Validate reports options no supervisor can work with.
func (o SupervisorOptions) Validate() error {
	switch {
	case o.MaxRestarts < 0:
		return fmt.Errorf("supervisor: MaxRestarts %d is negative", o.MaxRestarts)
	case o.Window < 0 || o.BackoffMin < 0 || o.BackoffMax < 0:
		return errors.New("supervisor: negative Window or backoff")
	case o.BackoffMax > 0 && o.BackoffMax < o.BackoffMin:
		return fmt.Errorf("supervisor: BackoffMax %s is below BackoffMin %s", o.BackoffMax, o.BackoffMin)
	}
	return nil
}

// WorkerSupervisor starts workers in registration order, restarts those
// that fail (with jittered backoff, up to an intensity limit) and stops them
// in reverse order.
//
// It is written here rather than taken from a supervisor library such as
// suture because PLBA workers have a drain-or-force Stop with a deadline and
// restart as fresh instances from a factory, which suture's Serve(ctx) model
// does not express.
type WorkerSupervisor struct {
	opts SupervisorOptions
	log  *slog.Logger

	mu       sync.Mutex
	entries  []*supervised
	started  bool
	stopping bool
}

type supervised struct {
	def      WorkerDefinition
	mu       sync.Mutex
	current  contracts.Worker
	restarts []time.Time // within the window
	total    int
	gaveUp   error
	stopped  chan struct{} // closed when the monitor exits
	stopReq  chan struct{}
	reqOnce  sync.Once

	// intent says why the current instance is being stopped by an
	// operator ("pause" or "restart"), so the monitor does not count it as
	// a crash; paused holds from Pause until Resume, which signals resume.
	intent string
	paused bool
	resume chan struct{}
	// started, when set, hears the result of the fresh start an operator
	// action waits for.
	started chan error
}

// NewSupervisor returns an empty supervisor.
func NewSupervisor(opts SupervisorOptions) *WorkerSupervisor {
	d := DefaultSupervisorOptions()
	if opts.MaxRestarts == 0 && opts.Window == 0 {
		// Nothing about the intensity was said: the defaults.
		opts.MaxRestarts, opts.Window = d.MaxRestarts, d.Window
	}
	if opts.Window <= 0 {
		opts.Window = d.Window
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = d.BackoffMin
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = d.BackoffMax
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &WorkerSupervisor{opts: opts, log: opts.Logger}
}

// Add registers a worker definition; it must be called before Start.
func (s *WorkerSupervisor) Add(def WorkerDefinition) error {
	if def.Name == "" || def.New == nil {
		return errors.New("runtime: worker definition needs a name and a constructor")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("runtime: add worker %s: supervisor already started", def.Name)
	}
	for _, e := range s.entries {
		if e.def.Name == def.Name {
			return fmt.Errorf("runtime: worker %q registered twice", def.Name)
		}
	}
	s.entries = append(s.entries, &supervised{def: def, stopped: make(chan struct{}), stopReq: make(chan struct{}), resume: make(chan struct{}, 1)})
	return nil
}

// Start starts every worker in order, each within ctx. If one fails to
// start, the ones already started are stopped (forced) and the error is
// returned.
func (s *WorkerSupervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("runtime: supervisor already started")
	}
	s.started = true
	entries := append([]*supervised(nil), s.entries...)
	s.mu.Unlock()
	for i, e := range entries {
		w, err := startOne(ctx, e.def)
		if err != nil {
			s.stopEntries(context.Background(), entries[:i], true)
			return err
		}
		e.current = w
		go s.monitor(e)
	}
	return nil
}

func startOne(ctx context.Context, def WorkerDefinition) (contracts.Worker, error) {
	w, err := def.New()
	if err != nil {
		return nil, fmt.Errorf("runtime: create worker %s: %w", def.Name, err)
	}
	if err := w.Start(ctx); err != nil {
		_ = w.Stop(context.Background(), true)
		return nil, fmt.Errorf("runtime: start worker %s: %w", def.Name, err)
	}
	return w, nil
}

// monitor restarts e's worker whenever it stops on its own.
func (s *WorkerSupervisor) monitor(e *supervised) {
	defer close(e.stopped)
	for {
		e.mu.Lock()
		w := e.current
		e.mu.Unlock()
		select {
		case <-e.stopReq:
			return
		case <-w.Done():
		}
		e.mu.Lock()
		intent := e.intent
		e.intent = ""
		e.mu.Unlock()
		switch intent {
		case intentPause:
			select {
			case <-e.stopReq:
				return
			case <-e.resume:
			}
			fallthrough
		case intentRestart:
			// An operator's stop: start a fresh instance at once, outside
			// the restart intensity.
			nw, serr := startOne(context.Background(), e.def)
			e.mu.Lock()
			if serr == nil {
				e.current = nw
				e.total++
			}
			if e.started != nil {
				e.started <- serr
				e.started = nil
			}
			e.mu.Unlock()
			if serr != nil {
				s.log.Warn("worker start after operator action failed", "worker", e.def.Name, "err", serr)
				s.giveUp(e, serr)
				return
			}
			continue
		}
		err := w.Err()
		if err == nil {
			err = errors.New("worker stopped on its own")
		}
		select {
		case <-e.stopReq:
			return
		default:
		}
		log := s.log.With("worker", e.def.Name)
		if e.def.NoRestart {
			s.giveUp(e, fmt.Errorf("worker %s failed and is not restarted: %w", e.def.Name, err))
			return
		}
		now := time.Now()
		e.mu.Lock()
		keep := e.restarts[:0]
		for _, t := range e.restarts {
			if now.Sub(t) < s.opts.Window {
				keep = append(keep, t)
			}
		}
		e.restarts = keep
		n := len(e.restarts)
		e.mu.Unlock()
		if n >= s.opts.MaxRestarts {
			s.giveUp(e, fmt.Errorf("worker %s failed %d times within %s, giving up: %w", e.def.Name, n+1, s.opts.Window, err))
			return
		}
		delay := s.backoff(n)
		log.Warn("worker failed; restarting", "err", err, "restart_in", delay, "restarts_in_window", n)
		t := time.NewTimer(delay)
		select {
		case <-e.stopReq:
			t.Stop()
			return
		case <-t.C:
		}
		nw, serr := startOne(context.Background(), e.def)
		e.mu.Lock()
		e.restarts = append(e.restarts, time.Now())
		e.total++
		if serr == nil {
			e.current = nw
		}
		e.mu.Unlock()
		if serr != nil {
			// Count a failed start like a crash: loop around with the
			// old, stopped instance so the intensity check applies.
			log.Warn("worker restart failed", "err", serr)
		}
	}
}

func (s *WorkerSupervisor) backoff(n int) time.Duration {
	d := s.opts.BackoffMin
	for i := 0; i < n && d < s.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

func (s *WorkerSupervisor) giveUp(e *supervised, err error) {
	e.mu.Lock()
	e.gaveUp = err
	e.mu.Unlock()
	s.log.Error("supervisor gave up on worker", "worker", e.def.Name, "err", err)
	if s.opts.OnGiveUp != nil {
		s.opts.OnGiveUp(e.def.Name, err)
	}
}

// Stop stops the workers in reverse order of registration. Without force,
// each drains until ctx is done. Errors from individual workers are joined.
func (s *WorkerSupervisor) Stop(ctx context.Context, force bool) error {
	s.mu.Lock()
	s.stopping = true
	entries := append([]*supervised(nil), s.entries...)
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	return s.stopEntries(ctx, entries, force)
}

// StopWhere stops, in reverse order, only the workers whose names match; the
// runtime uses it to stop sources before draining pools.
func (s *WorkerSupervisor) StopWhere(ctx context.Context, force bool, match func(def WorkerDefinition) bool) error {
	s.mu.Lock()
	var sel []*supervised
	for _, e := range s.entries {
		if match(e.def) {
			sel = append(sel, e)
		}
	}
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	return s.stopEntries(ctx, sel, force)
}

func (s *WorkerSupervisor) stopEntries(ctx context.Context, entries []*supervised, force bool) error {
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		first := false
		e.reqOnce.Do(func() { first = true; close(e.stopReq) })
		if !first {
			continue // already stopped or being stopped
		}
		e.mu.Lock()
		w := e.current
		e.mu.Unlock()
		if w == nil {
			close(e.stopped)
			continue
		}
		<-e.stopped // the monitor will not restart it now
		e.mu.Lock()
		w = e.current
		e.mu.Unlock()
		if err := w.Stop(ctx, force); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", e.def.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Errors of the operator actions Pause, Resume and Restart.
var (
	// ErrNoWorker: no worker of that name.
	ErrNoWorker = errors.New("no such worker")
	// ErrWorkerState: the action does not fit the worker's state (already
	// paused, not paused, not restartable, given up).
	ErrWorkerState = errors.New("worker state does not allow this")
)

const (
	intentPause   = "pause"
	intentRestart = "restart"
)

func (s *WorkerSupervisor) entry(name string) (*supervised, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping {
		return nil, fmt.Errorf("runtime: %s: supervisor not running: %w", name, ErrWorkerState)
	}
	for _, e := range s.entries {
		if e.def.Name == name {
			return e, nil
		}
	}
	return nil, fmt.Errorf("runtime: worker %q: %w", name, ErrNoWorker)
}

// operatorStop stops e's current instance with intent; the monitor then
// waits for Resume (pause) or starts a fresh instance (restart). The
// worker drains within ctx.
func (s *WorkerSupervisor) operatorStop(ctx context.Context, name, intent string) error {
	e, err := s.entry(name)
	if err != nil {
		return err
	}
	e.mu.Lock()
	switch {
	case e.def.NoRestart:
		e.mu.Unlock()
		return fmt.Errorf("runtime: worker %s cannot be started again as a fresh instance: %w", name, ErrWorkerState)
	case e.gaveUp != nil:
		e.mu.Unlock()
		return fmt.Errorf("runtime: worker %s was given up: %w", name, ErrWorkerState)
	case e.paused:
		e.mu.Unlock()
		return fmt.Errorf("runtime: worker %s is paused: %w", name, ErrWorkerState)
	case e.intent != "" || e.current == nil:
		e.mu.Unlock()
		return fmt.Errorf("runtime: worker %s is being stopped or restarted: %w", name, ErrWorkerState)
	}
	e.intent = intent
	e.paused = intent == intentPause
	var started chan error
	if intent == intentRestart {
		started = make(chan error, 1)
		e.started = started
	}
	w := e.current
	e.mu.Unlock()
	s.log.Info("operator "+intent, "worker", name)
	if err := w.Stop(ctx, false); err != nil {
		return err
	}
	return waitStarted(ctx, started)
}

// waitStarted waits for the fresh instance an operator action asked for.
func waitStarted(ctx context.Context, started chan error) error {
	if started == nil {
		return nil
	}
	select {
	case err := <-started:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pause stops the named worker (a source stops polling, a pool drains
// its in-flight tasks within ctx) and keeps it stopped until Resume.
func (s *WorkerSupervisor) Pause(ctx context.Context, name string) error {
	return s.operatorStop(ctx, name, intentPause)
}

// Restart stops the named worker gracefully within ctx and starts a fresh
// instance, and returns once it started; it does not count against the
// restart intensity.
func (s *WorkerSupervisor) Restart(ctx context.Context, name string) error {
	return s.operatorStop(ctx, name, intentRestart)
}

// Resume starts a fresh instance of a paused worker and returns once it
// started.
func (s *WorkerSupervisor) Resume(ctx context.Context, name string) error {
	e, err := s.entry(name)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if !e.paused {
		e.mu.Unlock()
		return fmt.Errorf("runtime: worker %s is not paused: %w", name, ErrWorkerState)
	}
	e.paused = false
	started := make(chan error, 1)
	e.started = started
	e.mu.Unlock()
	e.resume <- struct{}{}
	s.log.Info("operator resume", "worker", name)
	return waitStarted(ctx, started)
}

// Current returns the running instance of the named worker.
func (s *WorkerSupervisor) Current(name string) (contracts.Worker, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.def.Name == name {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.current, e.current != nil
		}
	}
	return nil, false
}

// Force cancels the in-flight work of every worker at once, including
// workers a graceful Stop is still draining; it returns when they stopped
// or ctx is done.
func (s *WorkerSupervisor) Force(ctx context.Context) error {
	s.mu.Lock()
	entries := append([]*supervised(nil), s.entries...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(entries))
	for i, e := range entries {
		e.mu.Lock()
		w := e.current
		e.mu.Unlock()
		if w == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.Stop(ctx, true)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Statuses returns each worker's status, with restart counts, in order.
func (s *WorkerSupervisor) Statuses() []contracts.WorkerStatus {
	s.mu.Lock()
	entries := append([]*supervised(nil), s.entries...)
	s.mu.Unlock()
	out := make([]contracts.WorkerStatus, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		w, total, gaveUp, paused := e.current, e.total, e.gaveUp, e.paused
		e.mu.Unlock()
		var st contracts.WorkerStatus
		if w != nil {
			st = w.Status()
		} else {
			st = contracts.WorkerStatus{State: contracts.WorkerIdle}
		}
		st.Name = e.def.Name
		st.Restarts = total
		if paused {
			st.State = contracts.WorkerPaused
		}
		if gaveUp != nil {
			st.State = contracts.WorkerFailed
			st.LastError = gaveUp.Error()
		}
		out = append(out, st)
	}
	return out
}

// WorkerHealth returns each worker's health by name.
func (s *WorkerSupervisor) WorkerHealth() map[string]contracts.Health {
	s.mu.Lock()
	entries := append([]*supervised(nil), s.entries...)
	s.mu.Unlock()
	out := make(map[string]contracts.Health, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		w, gaveUp, paused := e.current, e.gaveUp, e.paused
		e.mu.Unlock()
		switch {
		case gaveUp != nil:
			out[e.def.Name] = contracts.Down(gaveUp.Error())
		case paused:
			out[e.def.Name] = contracts.Degraded("paused by an operator")
		case w == nil:
			out[e.def.Name] = contracts.Down("not started")
		default:
			out[e.def.Name] = w.Health()
		}
	}
	return out
}

// GaveUp reports the workers the supervisor has given up on.
func (s *WorkerSupervisor) GaveUp() map[string]error {
	s.mu.Lock()
	entries := append([]*supervised(nil), s.entries...)
	s.mu.Unlock()
	out := map[string]error{}
	for _, e := range entries {
		e.mu.Lock()
		if e.gaveUp != nil {
			out[e.def.Name] = e.gaveUp
		}
		e.mu.Unlock()
	}
	return out
}
