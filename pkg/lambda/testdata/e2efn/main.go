// Command e2efn is the end-to-end test's function: one bootstrap that is
// the poller, the worker or the control function (PLBA_FN) of a small test
// module, built like the real functions with lambda.Main.
//
// The module's source emits E2E_TASKS tasks on its first poll. Its routine
// writes E2E_OUT/done-<id> on success; task ids listed in E2E_FAIL fail
// with a plain error, ids in E2E_RETRY fail once with Retry(2s). The source
// is a Settler and writes E2E_OUT/settled-<id>-<outcome>.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda"
)

type module struct{}

func (module) Name() string { return "e2e" }

// log is the module's logger; the routine logs one line per run with the
// task's context (the test checks the fields every line inside a task has).
var log = slog.Default()

func (module) Register(_ context.Context, r contracts.Registry) error {
	log = r.Logger()
	src := &source{}
	if err := r.AddSource(contracts.SourceSpec{Source: src, Queue: "work"}); err != nil {
		return err
	}
	if err := r.AddHealth(contracts.HealthFunc("e2e-source", func(context.Context) contracts.Health { return contracts.Up("fine") })); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "e2e.num", Queue: "work", Routine: contracts.RoutineFunc(run), MaxAttempts: 5})
}

type source struct {
	mu   sync.Mutex
	done bool
}

func (s *source) Name() string { return "numbers" }

func (s *source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, nil
	}
	n, _ := strconv.Atoi(os.Getenv("E2E_TASKS"))
	for i := range n {
		t := contracts.Task{
			ID: fmt.Sprintf("t-%d", i), Kind: "e2e.num", Payload: []byte(strconv.Itoa(i)),
			Attributes: map[string]string{contracts.AttrSource: "numbers"},
		}
		if os.Getenv("E2E_OTLP") == "" {
			// Without a tracer, a trace context of the source's own.
			t.Attributes[contracts.AttrTraceParent] = fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)
		}
		if err := pub.Publish(ctx, t); err != nil {
			return i, err
		}
	}
	s.done = true
	return n, nil
}

func (s *source) Settle(_ context.Context, t contracts.Task, o contracts.Outcome, _ error) error {
	return touch(fmt.Sprintf("settled-%s-%s", t.ID, o))
}

func run(ctx context.Context, t contracts.Task) error {
	log.InfoContext(ctx, "e2e routine", "attempt", t.Attempt)
	if slices.Contains(strings.Split(os.Getenv("E2E_SLOW"), ","), t.ID) {
		// A hung routine: ignores its ctx, outlives the invocation.
		time.Sleep(time.Minute)
	}
	if slices.Contains(strings.Split(os.Getenv("E2E_FAIL"), ","), t.ID) {
		return errors.New("routine failed on purpose")
	}
	if slices.Contains(strings.Split(os.Getenv("E2E_RETRY"), ","), t.ID) && t.Attempt == 1 {
		return contracts.Retry(errors.New("not yet"), 2*time.Second)
	}
	return touch(fmt.Sprintf("done-%s-attempt%d", t.ID, t.Attempt))
}

func touch(name string) error {
	return os.WriteFile(filepath.Join(os.Getenv("E2E_OUT"), name), nil, 0o644)
}

func main() {
	fn, ok := lambda.FunctionNamed(os.Getenv("PLBA_FN"))
	if !ok {
		fmt.Fprintf(os.Stderr, "e2efn: PLBA_FN=%q is not poller, worker or control\n", os.Getenv("PLBA_FN"))
		os.Exit(1)
	}
	o := lambda.Options{ConfigVersion: "e2e-1"}
	if ep := os.Getenv("E2E_OTLP"); ep != "" {
		// A tracer exporting OTLP/HTTP synchronously (Lambda freezes the
		// process between invocations): the test bootstrap may link what
		// the real functions leave out for size.
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(ep+"/v1/traces"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2efn: otlp:", err)
			os.Exit(1)
		}
		// Always sample: the emulator's X-Ray headers say Sampled=0.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "e2e-"+fn.String()))))
		o.Assemble.Tracer = tp.Tracer("e2efn")
	}
	lambda.Main(fn, o, module{})
}
