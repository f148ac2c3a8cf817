package runtime

import (
	"context"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Snapshot is the runtime's status view.
type Snapshot struct {
	State     State                    `json:"state"`
	StartedAt time.Time                `json:"started_at,omitzero"`
	Uptime    string                   `json:"uptime,omitempty"`
	Modules   []string                 `json:"modules"`
	Workers   []contracts.WorkerStatus `json:"workers"`
	Queues    []contracts.QueueStats   `json:"queues"`
	Health    HealthReport             `json:"health"`
	Services  []string                 `json:"services,omitempty"`
}

// Snapshot reports state, workers, queues and health.
func (m *Manager) Snapshot(ctx context.Context) Snapshot {
	m.mu.Lock()
	s := Snapshot{State: m.state, StartedAt: m.startedAt}
	if m.assembly != nil {
		s.Modules = m.assembly.Modules
	}
	queues := append([]string(nil), m.queueList...)
	m.mu.Unlock()
	if !s.StartedAt.IsZero() {
		s.Uptime = time.Since(s.StartedAt).Round(time.Second).String()
	}
	s.Workers = m.sup.Statuses()
	for _, name := range queues {
		st, err := m.queues[name].Stats(ctx)
		if err != nil {
			st = contracts.QueueStats{Name: name}
			m.log.Warn("queue stats failed", "queue", name, "err", err)
		}
		st.Name = name
		s.Queues = append(s.Queues, st)
	}
	s.Health = m.health.Report(ctx)
	s.Services = m.services.Names()
	return s
}
