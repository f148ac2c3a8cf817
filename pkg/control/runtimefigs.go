package control

import (
	"context"
	"runtime"
	"runtime/metrics"
)

// RuntimeFigures answers "runtime": the Go runtime's figures of the process
// that serves the control plane (the local runner; in a split deployment
// the control function itself). Soak tests compare them over time; they are
// read from runtime/metrics, which stops nothing.
type RuntimeFigures struct {
	Goroutines int `json:"goroutines"`
	// HeapLiveBytes is the heap marked live by the last GC cycle: the
	// figure that shows a leak, unlike the allocated heap, which swings
	// with the GC's pacing.
	HeapLiveBytes uint64 `json:"heap_live_bytes"`
	// HeapObjectsBytes is the heap occupied by objects now (live or not
	// yet collected).
	HeapObjectsBytes uint64 `json:"heap_objects_bytes"`
	// TotalBytes is the memory mapped by the Go runtime.
	TotalBytes uint64 `json:"total_bytes"`
	GCCycles   uint64 `json:"gc_cycles"`
	GoVersion  string `json:"go_version"`
}

var runtimeSamples = []string{
	"/sched/goroutines:goroutines",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
}

func runtimeFigures(context.Context, struct{}) (RuntimeFigures, error) {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, n := range runtimeSamples {
		s[i].Name = n
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0 // not supported by this Go version
		}
		return s[i].Value.Uint64()
	}
	return RuntimeFigures{Goroutines: int(u(0)), HeapLiveBytes: u(1), HeapObjectsBytes: u(2), TotalBytes: u(3),
		GCCycles: u(4), GoVersion: runtime.Version()}, nil
}
