package runtime

import (
	"context"
	"errors"
	"fmt"
	"github.com/plba/plba/pkg/contracts"
)

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
	// The consumers are done: a source whose queue lives here releases the
	// marks of the tasks that die with the process.
	if a != nil {
		for _, s := range a.Sources {
			if mk, ok := s.Source.(contracts.MarkKeeper); ok {
				if err := mk.ReleaseMarks(context.WithoutCancel(ctx)); err != nil {
					m.log.Warn("source could not release its in-flight marks; the next start clears them", "source", s.Source.Name(), "err", err)
				}
			}
		}
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
