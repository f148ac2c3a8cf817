package runtime

import (
	"context"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
)

// QueueObservers combines per-queue observer factories (the control
// plane's outcomes, the metrics) into one for Options.QueueObserver; nil
// entries and nil observers are skipped, so a feature that is off costs
// nothing per task.
func QueueObservers(fs ...func(queue string) routine.Observer) func(queue string) routine.Observer {
	return func(queue string) routine.Observer {
		obs := make([]routine.Observer, 0, len(fs))
		for _, f := range fs {
			if f != nil {
				obs = append(obs, f(queue))
			}
		}
		return routine.Observers(obs...)
	}
}

// QueueStats reads every opened queue's statistics, Name set; a queue whose
// Stats fails is left out (and logged), so one unreachable backend does not
// hide the others.
func (m *Manager) QueueStats(ctx context.Context) []contracts.QueueStats {
	names := m.QueueNames()
	out := make([]contracts.QueueStats, 0, len(names))
	for _, name := range names {
		q, ok := m.Queue(name)
		if !ok {
			continue
		}
		st, err := q.Stats(ctx)
		if err != nil {
			m.log.Warn("queue stats failed", "queue", name, "err", err)
			continue
		}
		st.Name = name
		out = append(out, st)
	}
	return out
}
