package memqueue_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/queue/queuetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T, o queuetest.Options) contracts.TaskQueue {
			return memqueue.New(memqueue.Options{Name: "test", Capacity: o.Capacity, MaxAttempts: o.MaxAttempts, MaxTaskBytes: o.MaxTaskBytes})
		},
		DelayUnit:      20 * time.Millisecond,
		Bounded:        true,
		StrictReceipts: true,
	})
}
