package runner_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/runner"
)

// Every line a routine logs with its context names the task (task_id,
// queue, kind) and its trace (trace_id, span_id of the routine span), in
// the configured JSON format.
func TestLogLinesInsideATaskCarryTaskAndTrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--listen", "off", "--set", "apps.counter.interval=5ms",
			"--set", "platform.log.format=json", "--set", "platform.tracing.exporter=stdout"}, &out, &errw)
	}()
	waitFor(t, &errw, `"tick":3`, done)
	cancel()
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	n := 0
	for _, line := range strings.Split(errw.String(), "\n") {
		if !strings.Contains(line, "tick processed") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if rec["queue"] != "ticks" || rec["kind"] != "tick" || !strings.HasPrefix(rec["task_id"].(string), "tick-") ||
			len(rec["trace_id"].(string)) != 32 || len(rec["span_id"].(string)) != 16 || rec["component"] != "counter" {
			t.Errorf("line lacks the task or trace fields: %s", line)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("%d tick lines:\n%s", n, errw.String())
	}
}

// platform.log.levels apply again on reload: the module's lines are off at
// warn, on after a SIGHUP that sets its level to info.
func TestLogLevelsChangeOnReload(t *testing.T) {
	file := writeFile(t, "log.yaml", "apps:\n  counter:\n    interval: 5ms\nplatform:\n  log:\n    levels: {counter: warn}\n")
	sig := make(chan chan<- os.Signal, 1)
	app := counterApp(func(c chan<- os.Signal) func() { sig <- c; return func() {} })
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runner.Run(context.Background(), app, []string{"run", "--listen", "off", "--config", file}, &out, &errw)
	}()
	sigc := <-sig
	waitFor(t, &errw, "runtime started", done)
	if err := os.WriteFile(file, []byte("apps:\n  counter:\n    interval: 5ms\nplatform:\n  log:\n    levels: {counter: info}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := errw.String()
	sigc <- syscall.SIGHUP
	waitFor(t, &errw, "tick processed", done)
	sigc <- syscall.SIGTERM
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if strings.Contains(before, "tick processed") {
		t.Errorf("the module logged at info while its level was warn:\n%s", before)
	}
	if !strings.Contains(errw.String(), "log levels applied") {
		t.Errorf("no log of the new levels:\n%s", errw.String())
	}
}
