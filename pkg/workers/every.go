package workers

import (
	"context"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// EveryWorker runs a function on an interval. It is a contracts.Worker for
// long-lived deployments and a contracts.Step for the Lambda poller, which
// calls RunOnce once per scheduled invocation instead.
type EveryWorker struct {
	*FuncWorker
	fn       RunFunc
	interval time.Duration
	onErr    func(error)
}

// Every returns a worker that calls fn every interval until stopped. An
// error from fn is passed to onErr (nil: ignored) and does not stop the
// worker: the next round tries again.
func Every(name string, interval time.Duration, fn RunFunc, onErr func(error)) *EveryWorker {
	w := &EveryWorker{fn: fn, interval: interval, onErr: onErr}
	w.FuncWorker = Func(name, func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := fn(ctx); err != nil && w.onErr != nil {
					w.onErr(err)
				}
			}
		}
	})
	return w
}

// RunOnce implements contracts.Step: one round of the work.
func (w *EveryWorker) RunOnce(ctx context.Context) error { return w.fn(ctx) }

// Interval is the time between rounds in long-lived deployments.
func (w *EveryWorker) Interval() time.Duration { return w.interval }

// Fresh makes a new instance for a restart (the runtime's Renewable).
func (w *EveryWorker) Fresh() contracts.Worker { return Every(w.Name(), w.interval, w.fn, w.onErr) }
