package workers

import (
	"context"
	"errors"
	"fmt"

	"github.com/plba/plba/pkg/contracts"
)

// RunFunc is the body of a custom worker: it runs until ctx is cancelled
// (return nil) or it fails (return the error).
type RunFunc func(ctx context.Context) error

// FuncWorker adapts a RunFunc to [contracts.Worker].
type FuncWorker struct {
	lifecycle
	name string
	run  RunFunc
}

// Func returns a worker that runs fn in its own goroutine. A panic in fn is
// recovered and reported as the worker's failure.
func Func(name string, fn RunFunc) *FuncWorker {
	w := &FuncWorker{name: name, run: fn}
	w.init()
	return w
}

// Name returns the worker's name.
func (w *FuncWorker) Name() string { return w.name }

// Start runs fn.
func (w *FuncWorker) Start(context.Context) error {
	if !w.begin() {
		return fmt.Errorf("workers: %s: already started", w.name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.running()
	go func() {
		err := w.safeRun(ctx)
		if w.stopping.Load() {
			err = nil
		} else if err == nil {
			err = errors.New("worker returned before it was stopped")
		}
		cancel()
		w.finish(err)
	}()
	return nil
}

func (w *FuncWorker) safeRun(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("worker %s panicked: %v", w.name, v)
		}
	}()
	return w.run(ctx)
}

// Stop cancels fn's context and waits until it returns or ctx is done.
func (w *FuncWorker) Stop(ctx context.Context, _ bool) error { return w.stopRun(ctx, w.name) }

// Health reports up while running.
func (w *FuncWorker) Health() contracts.Health { return w.health() }

// Status reports the worker's state.
func (w *FuncWorker) Status() contracts.WorkerStatus {
	st := contracts.WorkerStatus{Name: w.name, Kind: "custom"}
	w.fill(&st)
	return st
}

// Fresh returns a new, unstarted worker running the same function, so a
// supervisor can restart a failed FuncWorker.
func (w *FuncWorker) Fresh() contracts.Worker { return Func(w.name, w.run) }
