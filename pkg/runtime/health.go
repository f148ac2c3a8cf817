package runtime

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// HealthReport is the detailed health view.
type HealthReport struct {
	// Status is the worst state of all components.
	Status contracts.HealthState `json:"status"`
	Live   bool                  `json:"live"`
	Ready  bool                  `json:"ready"`
	// Components by name: workers as "worker:NAME", contributors by name.
	Components map[string]contracts.Health `json:"components"`
}

// HealthRegistry aggregates health from contributors and workers.
type HealthRegistry struct {
	mu           sync.RWMutex
	contributors []contracts.HealthContributor
	// Timeout bounds each contributor's Health call; default 2s.
	Timeout time.Duration
	workers func() map[string]contracts.Health
	gaveUp  func() map[string]error
	running func() bool
}

// NewHealthRegistry returns an empty registry.
func NewHealthRegistry() *HealthRegistry { return &HealthRegistry{Timeout: 2 * time.Second} }

// Add registers a contributor.
func (h *HealthRegistry) Add(c contracts.HealthContributor) {
	h.mu.Lock()
	h.contributors = append(h.contributors, c)
	h.mu.Unlock()
}

func (h *HealthRegistry) attach(workers func() map[string]contracts.Health, gaveUp func() map[string]error, running func() bool) {
	h.mu.Lock()
	h.workers, h.gaveUp, h.running = workers, gaveUp, running
	h.mu.Unlock()
}

// Liveness is false only when the process should be restarted: the
// supervisor gave up on a worker.
func (h *HealthRegistry) Liveness() bool {
	h.mu.RLock()
	gaveUp := h.gaveUp
	h.mu.RUnlock()
	return gaveUp == nil || len(gaveUp()) == 0
}

// Report collects every component's health, contributors concurrently and
// each within Timeout.
func (h *HealthRegistry) Report(ctx context.Context) HealthReport {
	h.mu.RLock()
	contribs := append([]contracts.HealthContributor(nil), h.contributors...)
	workers, running := h.workers, h.running
	h.mu.RUnlock()
	rep := HealthReport{Components: map[string]contracts.Health{}, Live: h.Liveness()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range contribs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, h.Timeout)
			defer cancel()
			res := make(chan contracts.Health, 1)
			go func() { res <- safeHealth(cctx, c) }()
			var hv contracts.Health
			select {
			case hv = <-res:
			case <-cctx.Done():
				hv = contracts.Down("health check timed out")
			}
			hv.Checked = time.Now()
			mu.Lock()
			rep.Components[c.Name()] = hv
			mu.Unlock()
		}()
	}
	wg.Wait()
	allWorkersUp := true
	if workers != nil {
		for name, hv := range workers() {
			rep.Components["worker:"+name] = hv
			if hv.State != contracts.HealthUp {
				allWorkersUp = false
			}
		}
	}
	noneDown := true
	for _, hv := range rep.Components {
		if hv.State > rep.Status {
			rep.Status = hv.State
		}
		if hv.State == contracts.HealthDown {
			noneDown = false
		}
	}
	rep.Ready = running != nil && running() && allWorkersUp && noneDown && rep.Live
	return rep
}

func safeHealth(ctx context.Context, c contracts.HealthContributor) (h contracts.Health) {
	defer func() {
		if v := recover(); v != nil {
			h = contracts.Down("health check panicked")
		}
	}()
	return c.Health(ctx)
}

// Names lists the components of a report, sorted.
func (r HealthReport) Names() []string {
	out := make([]string, 0, len(r.Components))
	for n := range r.Components {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
