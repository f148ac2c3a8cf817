package runtime

import (
	"context"
	"fmt"
	"strings"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/workers"
)

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
	// A queue in the process bounds its sources' read-ahead (see
	// readAhead); sources that mark their origin learn whether their queue
	// outlives the process.
	bounds := map[string]*readAhead{}
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
			e.Observer = m.observer(qname)
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
		if m.opts.ReadAhead > 0 && !durable(q) {
			// Tasks whose routine returned and whose source settlement is
			// under way (up to the pool's SettleAhead) are still held by
			// the queue but are no unfinished work: their outcome is
			// stored, a crash only redelivers them to be found done. They
			// get room of their own, so settlement never eats the
			// read-ahead of the work still to do.
			ra := newReadAhead(q, func() int { return m.opts.ReadAhead*size.total() + workers.DefaultSettleAhead })
			bounds[qname] = ra
			for _, e := range execs {
				e.Observer = routine.Observers(e.Observer, func(contracts.Task, routine.Result) { ra.finished() })
			}
		}
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
		if mk, ok := s.Source.(contracts.MarkKeeper); ok {
			mk.QueueOutlivesProcess(durable(q))
		}
		if ha, ok := s.Source.(contracts.HeldAware); ok && durable(q) {
			// A durable queue that tells what it holds lets the source
			// publish again, within seconds, a message whose publisher died
			// between marking and publishing it (docs/faults.md).
			if th, ok := q.(contracts.TaskHolder); ok && th.TellsHeld() {
				ha.UseTaskHolder(th)
			}
		}
		var pub contracts.Publisher = q
		if ra := bounds[s.Queue]; ra != nil {
			pub = ra
		}
		spec := s
		name := "source:" + spec.Source.Name()
		log := m.opts.Logging.Logger("source")
		if err := m.sup.Add(WorkerDefinition{Name: name, Role: RoleSource, New: func() (contracts.Worker, error) {
			return workers.NewSourceWorker(workers.SourceOptions{Name: name, Source: spec.Source, Publisher: pub,
				Mode: spec.Mode, Interval: spec.Interval, FailureLimit: 10, Logger: log, Tracer: m.opts.Tracer})
		}}); err != nil {
			return err
		}
	}
	return m.sup.Start(ctx)
}

// observer combines Observer and the queue's QueueObserver.
func (m *Manager) observer(queue string) routine.Observer {
	var per routine.Observer
	if m.opts.QueueObserver != nil {
		per = m.opts.QueueObserver(queue)
	}
	return routine.Observers(m.opts.Observer, per)
}
