package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/routine"
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
	// ReadAhead bounds what a source publishes into a queue that lives in
	// the process to ReadAhead × the consuming pool's size
	// (platform.queue.read_ahead); 0 means no bound.
	ReadAhead int
	// Observer hears about every routine run (progress output, metrics).
	Observer routine.Observer
	// QueueObserver, when set, returns an observer for the routines of
	// one queue (the control plane's recent outcomes per queue); it runs
	// after Observer.
	QueueObserver func(queue string) routine.Observer
	// Lease for queues with leases (SQS visibility); 0 disables heartbeats.
	Lease time.Duration
	// ConfigDeclared: modules' configuration was declared (and checked)
	// before Start; see AssembleOptions.
	ConfigDeclared bool
}

// Validate reports options no manager can run with (Start calls it).
func (o Options) Validate() error {
	switch {
	case o.RoutineTimeout < 0:
		return fmt.Errorf("runtime: negative RoutineTimeout %s", o.RoutineTimeout)
	case o.ReadAhead < 0:
		return fmt.Errorf("runtime: negative ReadAhead %d", o.ReadAhead)
	case o.Lease < 0:
		return fmt.Errorf("runtime: negative Lease %s", o.Lease)
	}
	if err := o.Supervisor.Validate(); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	return nil
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

// QueueNames lists the opened queues in opening order.
func (m *Manager) QueueNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.queueList...)
}

// StartedAt is when Start finished (zero before).
func (m *Manager) StartedAt() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startedAt
}

// ModuleNames lists the assembled modules (after Start).
func (m *Manager) ModuleNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.assembly == nil {
		return nil
	}
	return append([]string(nil), m.assembly.Modules...)
}

// SourceSpecs lists the assembled sources with their queues (after Start).
func (m *Manager) SourceSpecs() []contracts.SourceSpec {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.assembly == nil {
		return nil
	}
	return append([]contracts.SourceSpec(nil), m.assembly.Sources...)
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

	if err := m.opts.Validate(); err != nil {
		m.setState(StateFailed)
		return err
	}
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
