package runtime

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/plba/plba/pkg/contracts"
)

// poolSize is a pool's goroutine count: the sum of its routines' Workers,
// which configuration reloads may change.
type poolSize struct {
	mu    sync.Mutex
	specs []contracts.RoutineSpec
}

func (p *poolSize) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.specs {
		n += s.Workers
	}
	return n
}

// subscriber is implemented by configuration managers that notify changes
// (config.Manager does).
type subscriber interface {
	Subscribe(path string, fn func(old, new any)) (cancel func())
}

// watchPoolSize resizes a running pool when a routine's WorkersKey changes.
func (m *Manager) watchPoolSize(poolName string, size *poolSize) {
	sub, ok := m.opts.Config.(subscriber)
	if !ok {
		return
	}
	for i, spec := range size.specs {
		if spec.WorkersKey == "" {
			continue
		}
		cancel := sub.Subscribe(spec.WorkersKey, func(_, v any) {
			n, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil || n < 1 {
				m.log.Warn("ignoring pool size change", "key", spec.WorkersKey, "value", fmt.Sprint(v))
				return
			}
			size.mu.Lock()
			size.specs[i].Workers = n
			size.mu.Unlock()
			w, ok := m.sup.Current(poolName)
			if !ok {
				return
			}
			if r, ok := w.(interface{ Resize(int) error }); ok {
				if err := r.Resize(size.total()); err != nil {
					m.log.Warn("pool resize failed", "pool", poolName, "err", err)
				}
			}
		})
		m.mu.Lock()
		m.unsubscribe = append(m.unsubscribe, cancel)
		m.mu.Unlock()
	}
}
