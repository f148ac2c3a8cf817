package control

import (
	"context"
	"errors"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
)

// LocalOptions returns the Options of a long-lived process's control plane
// over m: runtime, queues and health in this process. Callers add Config,
// Build, Outcomes, Sources, Modules and Logger.
func LocalOptions(m *runtime.Manager) Options {
	return Options{
		Deployment: Local,
		Runtime:    ManagerRuntime{m},
		Queues:     managerQueues{m},
		Health:     func(ctx context.Context) HealthResult { return HealthFromReport(m.Health().Report(ctx)) },
	}
}

// ManagerRuntime is [Runtime] over a *runtime.Manager and its supervisor.
type ManagerRuntime struct{ M *runtime.Manager }

// Info implements Runtime.
func (r ManagerRuntime) Info() RuntimeInfo {
	return RuntimeInfo{State: string(r.M.State()), StartedAt: r.M.StartedAt(), Modules: r.M.ModuleNames()}
}

// Workers implements Runtime.
func (r ManagerRuntime) Workers() []contracts.WorkerStatus { return r.M.Supervisor().Statuses() }

// Pause implements Runtime.
func (r ManagerRuntime) Pause(ctx context.Context, name string) error {
	return supervisorErr(r.M.Supervisor().Pause(ctx, name))
}

// Resume implements Runtime.
func (r ManagerRuntime) Resume(ctx context.Context, name string) error {
	return supervisorErr(r.M.Supervisor().Resume(ctx, name))
}

// Restart implements Runtime.
func (r ManagerRuntime) Restart(ctx context.Context, name string) error {
	return supervisorErr(r.M.Supervisor().Restart(ctx, name))
}

func supervisorErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, runtime.ErrNoWorker):
		return &Error{Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, runtime.ErrWorkerState):
		return &Error{Code: CodeBadRequest, Message: err.Error()}
	}
	return err
}

type managerQueues struct{ m *runtime.Manager }

func (q managerQueues) Names() []string { return q.m.QueueNames() }

func (q managerQueues) Queue(name string) (QueueHandle, bool) {
	tq, ok := q.m.Queue(name)
	if !ok {
		return nil, false
	}
	return tq, true
}

// HealthFromReport converts the runtime's report, components sorted by
// name.
func HealthFromReport(rep runtime.HealthReport) HealthResult {
	out := HealthResult{Status: rep.Status, Live: rep.Live, Ready: rep.Ready, Components: make([]ComponentHealth, 0, len(rep.Components))}
	for _, n := range rep.Names() {
		out.Components = append(out.Components, ComponentHealth{Name: n, Health: rep.Components[n]})
	}
	return out
}

// SourcesOf picks the sources that mark their own dead letters
// ([contracts.DeadLetterSource]) from a module assembly's source specs.
func SourcesOf(specs []contracts.SourceSpec) []SourceDeadLetters {
	var out []SourceDeadLetters
	for _, s := range specs {
		if d, ok := s.Source.(contracts.DeadLetterSource); ok {
			out = append(out, SourceDeadLetters{Queue: s.Queue, Source: d})
		}
	}
	return out
}
