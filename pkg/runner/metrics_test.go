package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/runner"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// runWithControl runs the counter app with a control plane on an
// ephemeral port until tick=3 is logged; it returns a function calling a
// control action over HTTP and one that stops the app.
func runWithControl(t *testing.T, extra ...string) (call func(action string) control.Response, stop func()) {
	call, _, stop = runWithControlURL(t, extra...)
	return call, stop
}

func runWithControlURL(t *testing.T, extra ...string) (call func(action string) control.Response, base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	args := append([]string{"run", "--listen", "127.0.0.1:0", "--set", "apps.counter.interval=5ms",
		"--set", "platform.control.token_file=" + filepath.Join(t.TempDir(), "control.token")}, extra...)
	go func() { done <- run(ctx, args, &out, &errw) }()
	waitFor(t, &errw, "control plane listening", done)
	m := regexp.MustCompile(`url=(http://[^ ]+/)`).FindStringSubmatch(errw.String())
	if m == nil {
		cancel()
		t.Fatalf("no control URL in the log:\n%s", errw.String())
	}
	waitFor(t, &errw, "tick=3", done)
	call = func(action string) control.Response {
		t.Helper()
		resp, err := http.Get(m[1] + "api/v1/" + action)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r control.Response
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v: %s", action, err, b)
		}
		return r
	}
	stop = func() {
		cancel()
		if code := <-done; code != runner.ExitOK {
			t.Fatalf("exit %d: %s", code, errw.String())
		}
	}
	return call, m[1], stop
}

// Metrics are on by default (platform.telemetry.metrics.enabled): the
// `metrics` action counts the ticks the routine ran, with their durations
// and the queue's gauges.
func TestRunServesMetricsAction(t *testing.T) {
	call, stop := runWithControl(t)
	defer stop()
	var s control.MetricsResult
	if err := call("metrics").Decode(&s); err != nil {
		t.Fatal(err)
	}
	tasks, ok := s.Find(schema.MetricTasks, map[string]string{"queue": "ticks", "kind": "tick", "outcome": "succeeded"})
	if !ok || tasks.Value < 3 {
		t.Errorf("plba.tasks = %+v (found %v), want ≥ 3 after tick=3: %+v", tasks, ok, s.Counters)
	}
	h, ok := s.FindHistogram(schema.MetricRoutineDuration, map[string]string{"queue": "ticks", "kind": "tick"})
	if !ok || h.Count < uint64(tasks.Value) || len(h.Counts) != len(h.Bounds)+1 {
		t.Errorf("plba.routine.duration = %+v (found %v)", h, ok)
	}
	for _, g := range []string{schema.MetricQueueDepth, schema.MetricQueueInFlight, schema.MetricQueueDelayed, schema.MetricQueueDead} {
		if _, ok := s.Find(g, map[string]string{"queue": "ticks"}); !ok {
			t.Errorf("no %s{queue=ticks} in %+v", g, s.Gauges)
		}
	}
	if s.Time.IsZero() {
		t.Error("no time")
	}
	// Sources and restarts come from the workers' own counters.
	if pt, ok := s.Find(schema.MetricSourcePolls, map[string]string{"source": "counter", "outcome": "succeeded"}); !ok || pt.Value < 3 {
		t.Errorf("%s = %+v (found %v)", schema.MetricSourcePolls, pt, ok)
	}
	if pt, ok := s.Find(schema.MetricSourcePublished, map[string]string{"source": "counter"}); !ok || pt.Value < 3 {
		t.Errorf("%s = %+v (found %v)", schema.MetricSourcePublished, pt, ok)
	}
	if pt, ok := s.Find(schema.MetricRestarts, map[string]string{"worker": "source:counter"}); !ok || pt.Value != 0 {
		t.Errorf("%s = %+v (found %v)", schema.MetricRestarts, pt, ok)
	}
}

// platform.telemetry.metrics.enabled=false installs no observer: the
// action answers not_supported, naming the key.
func TestRunMetricsOff(t *testing.T) {
	call, stop := runWithControl(t, "--set", "platform.telemetry.metrics.enabled=false")
	defer stop()
	r := call("metrics")
	if r.OK || r.Error == nil || r.Error.Code != control.CodeNotSupported || !regexp.MustCompile(`platform\.telemetry\.metrics\.enabled`).MatchString(r.Error.Message) {
		t.Fatalf("metrics with metrics off: %+v", r)
	}
}

// platform.telemetry.metrics.duration_buckets applies; buckets that are
// not ascending exit 2 naming the key.
func TestRunMetricsBuckets(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(bad, []byte("platform:\n  telemetry:\n    metrics:\n      duration_buckets: [1, 0.5]\n"), 0o600)
	_ = os.WriteFile(good, []byte("platform:\n  telemetry:\n    metrics:\n      duration_buckets: [0.5, 1]\n"), 0o600)
	var out, errw syncio.Buffer
	code := run(context.Background(), []string{"run", "--listen", "off", "--config", bad}, &out, &errw)
	if code != runner.ExitUsage || !strings.Contains(errw.String(), "platform.telemetry.metrics.duration_buckets") {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	call, stop := runWithControl(t, "--config", good)
	defer stop()
	var s control.MetricsResult
	if err := call("metrics").Decode(&s); err != nil {
		t.Fatal(err)
	}
	h, ok := s.FindHistogram(schema.MetricRoutineDuration, nil)
	if !ok || fmt.Sprint(h.Bounds) != "[0.5 1]" {
		t.Fatalf("histogram %+v (found %v)", h, ok)
	}
}

// GET /metrics serves the Prometheus exposition of the same instruments
// (names translated: dots to underscores, unit and _total suffixes), behind
// the control plane's Host allow-list; platform.telemetry.metrics.prometheus
// =false removes the route.
func TestRunServesPrometheusMetrics(t *testing.T) {
	_, base, stop := runWithControlURL(t)
	get := func(host string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"metrics", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, re := range []string{
		`(?m)^plba_tasks_total\{[^}]*kind="tick"[^}]*outcome="succeeded"[^}]*queue="ticks"[^}]*\} [1-9]`,
		`(?m)^plba_routine_duration_seconds_bucket\{[^}]*kind="tick"[^}]*le="0.001"`,
		`(?m)^plba_routine_duration_seconds_count\{`,
		`(?m)^plba_queue_depth\{[^}]*queue="ticks"`,
		`(?m)^plba_queue_dead\{[^}]*queue="ticks"`,
		`(?m)^# TYPE plba_tasks_total counter`,
		`(?m)^go_goroutines `,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	if code, _ := get("evil.example"); code != http.StatusForbidden {
		t.Errorf("/metrics with a foreign Host: %d, want 403", code)
	}
	stop()

	_, base, stop = runWithControlURL(t, "--set", "platform.telemetry.metrics.prometheus=false")
	defer stop()
	if code, _ := get(""); code != http.StatusNotFound {
		t.Errorf("/metrics with prometheus off: %d, want 404", code)
	}
}
