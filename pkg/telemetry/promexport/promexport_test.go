package promexport_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/telemetry"
	"github.com/plba/plba/pkg/telemetry/emf"
	"github.com/plba/plba/pkg/telemetry/instrument"
	"github.com/plba/plba/pkg/telemetry/promexport"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// The same observations through the local SDK (the `metrics` action and
// /metrics) and through the Lambda EMF meter give the same names: the
// OTel name in the action and in EMF, its Prometheus translation on
// /metrics (dots to underscores, the unit, _total for counters).
func TestSameNamesEverywhere(t *testing.T) {
	reader, handler, err := promexport.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := telemetry.New(telemetry.Options{Readers: []sdkmetric.Reader{reader}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	var out bytes.Buffer
	m := emf.New(&out, emf.Options{})
	lambdaTasks, err := instrument.NewTasks(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, obs := range []routine.Observer{p.Observer("orders"), lambdaTasks.Observer("orders")} {
		obs(contracts.Task{Kind: "mail"}, routine.Result{Decision: routine.Ack, Duration: 20 * time.Millisecond})
		obs(contracts.Task{Kind: "mail"}, routine.Result{Decision: routine.Retry, Panicked: true, Duration: time.Millisecond})
	}
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	snap, err := p.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	exposition := string(body)

	emfNames := map[string]string{} // name → CloudWatch unit
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		d, err := emf.Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range d.Metrics {
			emfNames[mt.Name] = mt.Unit
		}
	}
	want := map[string]struct{ prom, unit string }{
		schema.MetricTasks:           {"plba_tasks_total", "Count"},
		schema.MetricRoutineDuration: {"plba_routine_duration_seconds", "Seconds"},
	}
	for name, w := range want {
		if u, ok := emfNames[name]; !ok || u != w.unit {
			t.Errorf("EMF has %s in %q (present %v), want %s", name, u, ok, w.unit)
		}
		inAction := false
		for _, pt := range snap.Counters {
			inAction = inAction || pt.Name == name
		}
		for _, h := range snap.Histograms {
			inAction = inAction || h.Name == name
		}
		if !inAction {
			t.Errorf("the metrics action lacks %s", name)
		}
		if !strings.Contains(exposition, "\n"+w.prom+"{") && !strings.Contains(exposition, "\n"+w.prom+"_count{") {
			t.Errorf("/metrics lacks %s (for %s)", w.prom, name)
		}
	}
	if !strings.Contains(exposition, `plba_tasks_total{kind="mail",outcome="panicked",queue="orders"} 1`) {
		t.Errorf("/metrics series:\n%s", exposition)
	}
}
