package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	// The backends plba links: each registers itself by name.
	_ "github.com/plba/plba/pkg/queue/memqueue"
	_ "github.com/plba/plba/pkg/queue/redisqueue"
	_ "github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/runtime"
)

// queueFactory returns the queue factory of the configured backend, any
// registered one ([queue.Register]); its own section is
// platform.queue.<backend>.
func queueFactory(ctx context.Context, cfg *config.Manager, qc runtime.QueueConfig, log *slog.Logger) (runtime.QueueFactory, func(), error) {
	name := qc.Backend
	if name == "" {
		name = "memory"
	}
	if !queue.Registered(name) {
		return nil, nil, configError{fmt.Errorf("platform.queue.backend: %q is not a registered queue backend (registered: %v)", name, queue.Backends())}
	}
	s := queue.Settings{Capacity: qc.Capacity, MaxAttempts: qc.MaxAttempts, Lease: qc.Lease, Logger: log}
	if _, ok := qc.Backends[name]; ok && cfg != nil {
		// Decoded and validated like a module's section: unknown keys and
		// bad values are reported with their key and source.
		s.Section = func(into any) error { return cfg.Decode("platform.queue."+name, into) }
	}
	b, err := queue.OpenBackend(ctx, name, s)
	if err != nil {
		var cerr *config.Error
		if errors.Is(err, queue.ErrInvalidSettings) || errors.As(err, &cerr) {
			return nil, nil, configError{err}
		}
		return nil, nil, err
	}
	return func(ctx context.Context, qname string) (contracts.TaskQueue, error) {
		q, err := b.Open(ctx, qname)
		if errors.Is(err, queue.ErrInvalidSettings) {
			return nil, configError{err}
		}
		return q, err
	}, func() { _ = b.Close() }, nil
}
