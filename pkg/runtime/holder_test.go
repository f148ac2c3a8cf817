package runtime_test

import (
	"context"
	"sync"
	"testing"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/runtime"
)

// heldSource records the TaskHolder the deployment hands it.
type heldSource struct {
	settleSource
	mu     sync.Mutex
	holder contracts.TaskHolder
}

func (s *heldSource) UseTaskHolder(h contracts.TaskHolder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holder = h
}

type heldModule struct{ src *heldSource }

func (heldModule) Name() string { return "held" }
func (m heldModule) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: m.src, Queue: "q"}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Queue: "q", Kind: "k", Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil })})
}

// durableQueue is a memory queue that claims to be durable and, when
// tells is set, to tell which tasks it holds.
type durableQueue struct {
	contracts.TaskQueue
	tells bool
}

func (durableQueue) Durable() bool     { return true }
func (q durableQueue) TellsHeld() bool { return q.tells }
func (durableQueue) HeldTasks(context.Context, []string) ([]bool, error) {
	return nil, nil
}

// A source that can use a TaskHolder gets its queue when, and only when,
// the queue is durable and tells which tasks it holds.
func TestTaskHolderReachesHeldAwareSources(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue func(name string) contracts.TaskQueue
		want  bool
	}{
		{"memory", func(n string) contracts.TaskQueue { return memqueue.New(memqueue.Options{Name: n}) }, false},
		{"durable, cannot tell", func(n string) contracts.TaskQueue {
			return durableQueue{TaskQueue: memqueue.New(memqueue.Options{Name: n})}
		}, false},
		{"durable, tells", func(n string) contracts.TaskQueue {
			return durableQueue{TaskQueue: memqueue.New(memqueue.Options{Name: n}), tells: true}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &heldSource{settleSource: settleSource{settled: make(chan settlement, 1)}}
			queues := func(_ context.Context, name string) (contracts.TaskQueue, error) { return tc.queue(name), nil }
			startWith(t, runtime.Options{Queues: queues}, heldModule{src: src})
			src.mu.Lock()
			got := src.holder != nil
			src.mu.Unlock()
			if got != tc.want {
				t.Fatalf("holder handed to the source: %v, want %v", got, tc.want)
			}
		})
	}
}
