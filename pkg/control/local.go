package control

import (
	"context"
	"errors"
	"fmt"

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

// SourceDLQ is the dead letters that sources still mark, by queue.
// [SourcesOf] builds it; a deployment without sources passes nil.
type SourceDLQ interface {
	// Has reports whether some source publishing into queue marks dead
	// letters.
	Has(queue string) bool
	// List lists up to limit marked dead letters of queue's sources.
	List(ctx context.Context, queue string, limit int) ([]SourceDeadLetter, error)
	// Redrive releases the dead letters with these task IDs, by source
	// name, and returns how many.
	Redrive(ctx context.Context, queue string, ids map[string][]string) (int, error)
	// Purge settles queue's sources' marked dead letters as done.
	Purge(ctx context.Context, queue string) (int, error)
}

// SourceDeadLetter is a dead letter a source marks.
type SourceDeadLetter struct {
	Source string
	contracts.DeadLetter
}

// SourcesOf picks the sources that mark their own dead letters
// ([contracts.DeadLetterSource]) from a module assembly's source specs; nil
// when there are none. Only binaries that call it link the sources'
// dead-letter code (the Lambda control function does not).
func SourcesOf(specs []contracts.SourceSpec) SourceDLQ {
	set := sourceSet{}
	for _, s := range specs {
		if d, ok := s.Source.(contracts.DeadLetterSource); ok {
			set[s.Queue] = append(set[s.Queue], d)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return set
}

type sourceSet map[string][]contracts.DeadLetterSource

func (s sourceSet) Has(queue string) bool { return len(s[queue]) > 0 }

func (s sourceSet) List(ctx context.Context, queue string, limit int) ([]SourceDeadLetter, error) {
	var out []SourceDeadLetter
	for _, src := range s[queue] {
		if len(out) >= limit {
			break
		}
		list, err := src.MarkedDeadLetters(ctx, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("source %s: dead letters: %w", src.Name(), err)
		}
		for _, dl := range list {
			out = append(out, SourceDeadLetter{Source: src.Name(), DeadLetter: dl})
		}
	}
	return out, nil
}

func (s sourceSet) Redrive(ctx context.Context, queue string, ids map[string][]string) (int, error) {
	total := 0
	for _, src := range s[queue] {
		if len(ids[src.Name()]) == 0 {
			continue
		}
		n, err := src.RedriveMarked(ctx, ids[src.Name()])
		total += n
		if err != nil {
			return total, fmt.Errorf("source %s: redrive: %w", src.Name(), err)
		}
	}
	return total, nil
}

func (s sourceSet) Purge(ctx context.Context, queue string) (int, error) {
	total := 0
	for _, src := range s[queue] {
		n, err := src.PurgeMarked(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("source %s: purge: %w", src.Name(), err)
		}
	}
	return total, nil
}
