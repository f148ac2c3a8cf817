package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/workers"
)

// QueueFactory opens the queue a module named. The local default is the
// "memory" backend; `--queue NAME` swaps in any registered backend
// (queue.Register) without touching modules.
type QueueFactory func(ctx context.Context, name string) (contracts.TaskQueue, error)

// MemoryQueues returns a factory of in-memory queues: the registered
// backend "memory" (linked by importing pkg/queue/memqueue; the runtime
// imports no backend itself).
func MemoryQueues(capacity, maxAttempts int) QueueFactory {
	return func(ctx context.Context, name string) (contracts.TaskQueue, error) {
		b, err := queue.OpenBackend(ctx, "memory", queue.Settings{Capacity: capacity, MaxAttempts: maxAttempts})
		if err != nil {
			return nil, err
		}
		return b.Open(ctx, name)
	}
}

// Renewable is implemented by custom workers that can make a fresh
// instance of themselves; the supervisor restarts only those (and the
// standard workers, which it builds itself).
type Renewable interface {
	Fresh() contracts.Worker
}

// Options configure a Manager.
type Options struct {
	Config  contracts.Config
	Logging *Logging
	// Queues opens named queues; default in-memory (capacity 1024, 5
	// attempts).
	Queues QueueFactory
	// StartTimeout bounds starting all workers; default 30s.
	StartTimeout time.Duration
	// StopTimeout is the drain deadline for graceful stops; default 30s.
	StopTimeout time.Duration
	Supervisor  SupervisorOptions
	Tracer      trace.Tracer
	// Backoff for routine errors; nil means routine.DefaultBackoff.
	Backoff routine.Backoff
	// RoutineTimeout bounds a routine run when its spec sets none
	// (platform.routines.timeout); 0 means no timeout.
	RoutineTimeout time.Duration
	// Middleware wraps every routine (see AssembleOptions.Middleware).
	Middleware []contracts.RoutineMiddleware
	// Observer hears about every routine run (progress output, metrics).
	Observer routine.Observer
	// Lease for queues with leases (SQS visibility); 0 disables heartbeats.
	Lease time.Duration
	// ConfigDeclared: modules' configuration was declared (and checked)
	// before Start; see AssembleOptions.
	ConfigDeclared bool
}

// State is the manager's life-cycle state.
type State string

// Manager states.
const (
	StateNew      State = "new"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
	StateFailed   State = "failed"
)

// Manager is the RuntimeManager: the facade that bootstraps modules, starts
// and stops everything in order, and reports a snapshot.
type Manager struct {
	opts     Options
	log      *slog.Logger
	services *ServiceContainer
	health   *HealthRegistry
	sup      *WorkerSupervisor

	mu        sync.Mutex
	state     State
	modules   []contracts.ApplicationModule
	assembly  *Assembly
	queues    map[string]contracts.TaskQueue
	queueList []string
	startedAt time.Time
	stopOnce  sync.Once
	stopErr   error

	unsubscribe []func()
}

// NewManager returns a manager; register modules, then Start.
func NewManager(opts Options) *Manager {
	if opts.Logging == nil {
		opts.Logging, _ = NewLogging(os.Stderr, LogConfig{})
	}
	if opts.Queues == nil {
		opts.Queues = MemoryQueues(1024, 5)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.Supervisor.Logger == nil {
		opts.Supervisor.Logger = opts.Logging.Logger("supervisor")
	}
	m := &Manager{
		opts:     opts,
		log:      opts.Logging.Logger("runtime"),
		services: NewServiceContainer(),
		health:   NewHealthRegistry(),
		state:    StateNew,
		queues:   map[string]contracts.TaskQueue{},
	}
	m.sup = NewSupervisor(opts.Supervisor)
	m.health.attach(m.sup.WorkerHealth, m.sup.GaveUp, func() bool { return m.State() == StateRunning })
	return m
}

// Services returns the shared service container.
func (m *Manager) Services() *ServiceContainer { return m.services }

// Health returns the health registry.
func (m *Manager) Health() *HealthRegistry { return m.health }

// Supervisor returns the worker supervisor.
func (m *Manager) Supervisor() *WorkerSupervisor { return m.sup }

// State returns the life-cycle state.
func (m *Manager) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

func (m *Manager) setState(s State) {
	m.mu.Lock()
	m.state = s
	m.mu.Unlock()
}

// Register adds modules; call before Start.
func (m *Manager) Register(modules ...contracts.ApplicationModule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != StateNew {
		return fmt.Errorf("runtime: register after start")
	}
	m.modules = append(m.modules, modules...)
	return nil
}

// Queue returns an opened queue by name (after Start).
func (m *Manager) Queue(name string) (contracts.TaskQueue, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[name]
	return q, ok
}

// Start bootstraps the modules and starts queues, pools, custom workers and
// sources, in that order, within StartTimeout. On failure everything
// started is stopped again.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.state != StateNew {
		m.mu.Unlock()
		return fmt.Errorf("runtime: start: state is %s", m.state)
	}
	m.state = StateStarting
	modules := m.modules
	m.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, m.opts.StartTimeout)
	defer cancel()
	err := m.start(ctx, modules)
	if err != nil {
		m.setState(StateFailed)
		m.log.Error("start failed", "err", err)
		stopCtx, c := context.WithTimeout(context.Background(), m.opts.StopTimeout)
		defer c()
		_ = m.shutdown(stopCtx, true)
		m.setState(StateFailed)
		return err
	}
	m.mu.Lock()
	m.state = StateRunning
	m.startedAt = time.Now()
	m.mu.Unlock()
	m.log.Info("runtime started", "modules", len(modules), "workers", len(m.sup.Statuses()), "queues", m.queueList)
	return nil
}

func (m *Manager) start(ctx context.Context, modules []contracts.ApplicationModule) error {
	a, err := Assemble(ctx, AssembleOptions{
		Config:    m.opts.Config,
		LoggerFor: m.opts.Logging.Logger,
		Services:  m.services,
		Tracer:    m.opts.Tracer,
		Backoff:   m.opts.Backoff,

		DefaultTimeout: m.opts.RoutineTimeout,
		Middleware:     m.opts.Middleware,

		ConfigDeclared: m.opts.ConfigDeclared,
	}, modules...)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.assembly = a
	m.mu.Unlock()
	for _, h := range a.Health {
		m.health.Add(h)
	}
	for _, s := range a.Sources {
		if h, ok := s.Source.(contracts.HealthContributor); ok {
			m.health.Add(h)
		}
	}
	// Queues first.
	for _, name := range a.Queues() {
		q, err := m.opts.Queues(ctx, name)
		if err != nil {
			return fmt.Errorf("runtime: open queue %q: %w", name, err)
		}
		m.mu.Lock()
		m.queues[name] = q
		m.queueList = append(m.queueList, name)
		m.mu.Unlock()
	}
	// One pool per queue: its executors dispatch by task kind.
	for _, qname := range a.Queues() {
		execs := map[string]*routine.Executor{}
		var specs []contracts.RoutineSpec
		var names []string
		for _, spec := range a.Routines {
			if spec.Queue != qname {
				continue
			}
			e := a.Executor(spec).LimitFrom(m.queues[qname])
			e.Observer = m.opts.Observer
			execs[spec.Kind] = e
			specs = append(specs, spec)
			names = append(names, spec.Name)
		}
		if len(execs) == 0 {
			continue // a queue only published to, consumed elsewhere
		}
		q := m.queues[qname]
		poolName := "pool:" + strings.Join(names, "+")
		log := m.opts.Logging.Logger("worker")
		size := &poolSize{specs: specs}
		if err := m.sup.Add(WorkerDefinition{Name: poolName, Role: RolePool, New: func() (contracts.Worker, error) {
			return workers.NewPool(workers.PoolOptions{Name: poolName, Queue: q, Executors: execs, Workers: size.total(), Lease: m.opts.Lease, Logger: log})
		}}); err != nil {
			return err
		}
		m.watchPoolSize(poolName, size)
	}
	for _, w := range a.Workers {
		def := WorkerDefinition{Name: w.Name(), NoRestart: true}
		first := w
		var used bool
		def.New = func() (contracts.Worker, error) {
			if !used {
				used = true
				return first, nil
			}
			return first.(Renewable).Fresh(), nil
		}
		if _, ok := w.(Renewable); ok {
			def.NoRestart = false
		}
		if err := m.sup.Add(def); err != nil {
			return err
		}
	}
	for _, s := range a.Sources {
		q := m.queues[s.Queue]
		spec := s
		name := "source:" + spec.Source.Name()
		log := m.opts.Logging.Logger("source")
		if err := m.sup.Add(WorkerDefinition{Name: name, Role: RoleSource, New: func() (contracts.Worker, error) {
			return workers.NewSourceWorker(workers.SourceOptions{Name: name, Source: spec.Source, Publisher: q,
				Mode: spec.Mode, Interval: spec.Interval, FailureLimit: 10, Logger: log, Tracer: m.opts.Tracer})
		}}); err != nil {
			return err
		}
	}
	return m.sup.Start(ctx)
}

// poolSize is a pool's goroutine count: the sum of its routines' Workers,
// which configuration reloads may change.
type poolSize struct {
	mu    sync.Mutex
	specs []contracts.RoutineSpec
}

func (p *poolSize) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.specs {
		n += s.Workers
	}
	return n
}

// subscriber is implemented by configuration managers that notify changes
// (config.Manager does).
type subscriber interface {
	Subscribe(path string, fn func(old, new any)) (cancel func())
}

// watchPoolSize resizes a running pool when a routine's WorkersKey changes.
func (m *Manager) watchPoolSize(poolName string, size *poolSize) {
	sub, ok := m.opts.Config.(subscriber)
	if !ok {
		return
	}
	for i, spec := range size.specs {
		if spec.WorkersKey == "" {
			continue
		}
		cancel := sub.Subscribe(spec.WorkersKey, func(_, v any) {
			n, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil || n < 1 {
				m.log.Warn("ignoring pool size change", "key", spec.WorkersKey, "value", fmt.Sprint(v))
				return
			}
			size.mu.Lock()
			size.specs[i].Workers = n
			size.mu.Unlock()
			w, ok := m.sup.Current(poolName)
			if !ok {
				return
			}
			if r, ok := w.(interface{ Resize(int) error }); ok {
				if err := r.Resize(size.total()); err != nil {
					m.log.Warn("pool resize failed", "pool", poolName, "err", err)
				}
			}
		})
		m.mu.Lock()
		m.unsubscribe = append(m.unsubscribe, cancel)
		m.mu.Unlock()
	}
}

// Stop stops sources, then custom workers, then drains the pools within
// ctx (or StopTimeout when ctx has no deadline), closes the queues and runs
// the modules' OnStop hooks. With force, in-flight routines are cancelled at
// once and their tasks returned to the queue. Stop is idempotent; a second
// call with force=true escalates a graceful stop in progress.
func (m *Manager) Stop(ctx context.Context, force bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.StopTimeout)
		defer cancel()
	}
	if force && m.State() == StateStopping {
		// Escalation: a graceful stop is draining; cut in-flight routines
		// now, then wait for that stop to finish.
		_ = m.sup.Force(ctx)
	}
	m.stopOnce.Do(func() {
		m.setState(StateStopping)
		m.stopErr = m.shutdown(ctx, force)
		m.setState(StateStopped)
		m.log.Info("runtime stopped", "err", m.stopErr)
	})
	return m.stopErr
}

func (m *Manager) shutdown(ctx context.Context, force bool) error {
	var errs []error
	// Sources first: nothing new comes in.
	if err := m.sup.StopWhere(ctx, force, func(d WorkerDefinition) bool { return d.Role == RoleSource }); err != nil {
		errs = append(errs, err)
	}
	// Then custom workers, then the pools drain.
	if err := m.sup.StopWhere(ctx, force, func(d WorkerDefinition) bool { return d.Role == RoleCustom }); err != nil {
		errs = append(errs, err)
	}
	if err := m.sup.Stop(ctx, force); err != nil {
		errs = append(errs, err)
	}
	m.mu.Lock()
	queues := m.queueList
	a := m.assembly
	unsub := m.unsubscribe
	m.unsubscribe = nil
	m.mu.Unlock()
	for _, f := range unsub {
		f()
	}
	for _, name := range queues {
		q := m.queues[name]
		if st, err := q.Stats(context.WithoutCancel(ctx)); err == nil && st.Held() > 0 {
			m.log.Warn("queue still holds tasks at shutdown", "queue", name, "ready", st.Ready, "delayed", st.Delayed, "in_flight", st.InFlight)
		}
		if err := q.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close queue %s: %w", name, err))
		}
	}
	if a != nil {
		if err := a.Close(context.WithoutCancel(ctx)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Snapshot is the runtime's status view.
type Snapshot struct {
	State     State                    `json:"state"`
	StartedAt time.Time                `json:"started_at,omitzero"`
	Uptime    string                   `json:"uptime,omitempty"`
	Modules   []string                 `json:"modules"`
	Workers   []contracts.WorkerStatus `json:"workers"`
	Queues    []contracts.QueueStats   `json:"queues"`
	Health    HealthReport             `json:"health"`
	Services  []string                 `json:"services,omitempty"`
}

// Snapshot reports state, workers, queues and health.
func (m *Manager) Snapshot(ctx context.Context) Snapshot {
	m.mu.Lock()
	s := Snapshot{State: m.state, StartedAt: m.startedAt}
	if m.assembly != nil {
		s.Modules = m.assembly.Modules
	}
	queues := append([]string(nil), m.queueList...)
	m.mu.Unlock()
	if !s.StartedAt.IsZero() {
		s.Uptime = time.Since(s.StartedAt).Round(time.Second).String()
	}
	s.Workers = m.sup.Statuses()
	for _, name := range queues {
		st, err := m.queues[name].Stats(ctx)
		if err != nil {
			st = contracts.QueueStats{Name: name}
			m.log.Warn("queue stats failed", "queue", name, "err", err)
		}
		st.Name = name
		s.Queues = append(s.Queues, st)
	}
	s.Health = m.health.Report(ctx)
	s.Services = m.services.Names()
	return s
}
