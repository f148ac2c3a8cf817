package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Settings are what every backend is opened with: the platform's common
// queue settings and the backend's own configuration section.
type Settings struct {
	// Capacity, MaxAttempts and Lease are platform.queue's; 0 leaves the
	// backend's default.
	Capacity    int
	MaxAttempts int
	Lease       time.Duration
	Logger      *slog.Logger
	// Section decodes the backend's own section (platform.queue.<backend>)
	// into the backend's config type; nil when there is none.
	Section func(into any) error
}

// DecodeSection decodes s.Section into into, leaving it as it is when
// there is no section.
func (s Settings) DecodeSection(into any) error {
	if s.Section == nil {
		return nil
	}
	return s.Section(into)
}

// JSONSection returns a Section function that decodes v (any value with
// JSON tags, e.g. a map from a configuration file) through JSON.
func JSONSection(v any) func(into any) error {
	return func(into any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, into)
	}
}

// Backend opens named queues of one backend, sharing what the backend
// shares between them (a Redis client, an SQS client).
type Backend interface {
	// Open opens the queue name.
	Open(ctx context.Context, name string) (contracts.TaskQueue, error)
	// Close releases what the queues shared; close the queues first.
	Close() error
}

// Factory makes a Backend from settings. Invalid settings fail with an
// error wrapping [ErrInvalidSettings] that names the key.
type Factory func(ctx context.Context, s Settings) (Backend, error)

var (
	// ErrUnknownBackend is returned by [OpenBackend] for a name no
	// package registered.
	ErrUnknownBackend = errors.New("unknown queue backend")
	// ErrInvalidSettings is wrapped by factories for invalid settings.
	ErrInvalidSettings = errors.New("invalid queue settings")
)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a backend available by name, database/sql style: backend
// packages call it from init, so linking a backend is importing it.
// Registering a name twice panics (a programming error at init).
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup || f == nil {
		panic("queue: Register of " + name + " twice or with a nil factory")
	}
	registry[name] = f
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Registered reports whether a backend of that name is registered.
func Registered(name string) bool { return slices.Contains(Backends(), name) }

// OpenBackend makes the backend registered as name.
func OpenBackend(ctx context.Context, name string, s Settings) (Backend, error) {
	regMu.RLock()
	f, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %v)", ErrUnknownBackend, name, Backends())
	}
	return f(ctx, s)
}

// BackendFunc is a Backend that opens queues with a function and shares
// nothing that needs closing, or closes with closeFn.
type BackendFunc struct {
	OpenFunc  func(ctx context.Context, name string) (contracts.TaskQueue, error)
	CloseFunc func() error
}

// Open calls OpenFunc.
func (b BackendFunc) Open(ctx context.Context, name string) (contracts.TaskQueue, error) {
	return b.OpenFunc(ctx, name)
}

// Close calls CloseFunc, if any.
func (b BackendFunc) Close() error {
	if b.CloseFunc == nil {
		return nil
	}
	return b.CloseFunc()
}
