package runtime

import (
	"fmt"
	"sort"
	"sync"

	"github.com/plba/plba/pkg/contracts"
)

// ServiceContainer is the seed's ServiceContainer: a registry of shared
// services by name (store clients, catalogs, API clients), one per
// deployment. A module provides its clients during Register
// (Registry.Services().Provide) and modules registered after it look them
// up, typed, with [Get] — so two modules of one deployment share one
// connection pool instead of each opening its own (the mail order bot
// provides its order store as "mailorderbot.store"). It holds no life
// cycle: whoever provides a service closes it in its OnStop.
type ServiceContainer struct {
	mu       sync.RWMutex
	services map[string]any
}

var _ contracts.Services = (*ServiceContainer)(nil)

// NewServiceContainer returns an empty container.
func NewServiceContainer() *ServiceContainer {
	return &ServiceContainer{services: map[string]any{}}
}

// Provide registers svc under name; a name can be provided once.
func (c *ServiceContainer) Provide(name string, svc any) error {
	if name == "" || svc == nil {
		return fmt.Errorf("runtime: provide service: empty name or nil service")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.services[name]; dup {
		return fmt.Errorf("runtime: service %q provided twice", name)
	}
	c.services[name] = svc
	return nil
}

// Lookup returns the service registered under name.
func (c *ServiceContainer) Lookup(name string) (any, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.services[name]
	return s, ok
}

// Names lists the registered services, sorted.
func (c *ServiceContainer) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.services))
	for n := range c.services {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the service registered under name as a T.
func Get[T any](c contracts.Services, name string) (T, error) {
	var zero T
	s, ok := c.Lookup(name)
	if !ok {
		return zero, fmt.Errorf("runtime: no service %q", name)
	}
	t, ok := s.(T)
	if !ok {
		return zero, fmt.Errorf("runtime: service %q is a %T, not a %T", name, s, zero)
	}
	return t, nil
}
