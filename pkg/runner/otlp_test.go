package runner_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
	"github.com/plba/plba/pkg/runner"
)

// otlpReceiver is a small OTLP/HTTP collector: it decodes the protobuf
// exports of traces and metrics and keeps what it saw.
type otlpReceiver struct {
	mu      sync.Mutex
	spans   []span
	metrics map[string]bool
	headers []http.Header
}

type span struct {
	name, trace, id, parent, service string
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf", http.StatusUnsupportedMediaType)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.headers = append(r.headers, req.Header.Clone())
	var resp proto.Message
	switch req.URL.Path {
	case "/v1/traces":
		var m coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range m.ResourceSpans {
			var service string
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, span{name: s.Name, trace: hex.EncodeToString(s.TraceId), id: hex.EncodeToString(s.SpanId),
						parent: hex.EncodeToString(s.ParentSpanId), service: service})
				}
			}
		}
		resp = &coltrace.ExportTraceServiceResponse{}
	case "/v1/metrics":
		var m colmetric.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.metrics == nil {
			r.metrics = map[string]bool{}
		}
		for _, rm := range m.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, mt := range sm.Metrics {
					r.metrics[mt.Name] = true
				}
			}
		}
		resp = &colmetric.ExportMetricsServiceResponse{}
	default:
		http.NotFound(w, req)
		return
	}
	b, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// TestOTLPOneTraceAcrossSQS: the counter app runs on the SQS server
// (platform.queue.backend: sqs), so every tick goes source → SQS → pool →
// routine; with platform.tracing.exporter: otlp, a small OTLP/HTTP
// receiver decoding the protobuf sees one trace per tick holding the
// source's publish span and, as its child, the routine span — the trace
// context crossed the SQS server in the message attributes. The metrics
// arrive over OTLP too, with the header configured as a secret.
func TestOTLPOneTraceAcrossSQS(t *testing.T) {
	endpoint := sqstest.Endpoint(t)
	client := sqstest.NewClient(endpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{})
	rec := &otlpReceiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--listen", "off", "--queue", "sqs", "--set", "apps.counter.interval=20ms",
			"--set", "platform.queue.sqs.url=" + pair.URL, "--set", "platform.queue.sqs.dlq_url=" + pair.DeadLetterURL,
			"--set", "platform.queue.sqs.endpoint=" + endpoint, "--set", "platform.queue.sqs.region=us-east-1",
			"--set", "platform.queue.sqs.wait_time=1s",
			"--set", "platform.tracing.exporter=otlp", "--set", "platform.telemetry.otlp.endpoint=" + srv.URL,
			"--set", "platform.telemetry.otlp.headers.x-api-key=k3y-s3cret"}, &out, &errw)
	}()
	waitFor(t, &errw, "tick=3", done)
	cancel()
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if strings.Contains(errw.String(), "k3y-s3cret") {
		t.Error("the OTLP header secret is in the log")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	byTrace := map[string][]span{}
	for _, s := range rec.spans {
		byTrace[s.trace] = append(byTrace[s.trace], s)
	}
	joined := 0
	for _, spans := range byTrace {
		var pub, routine *span
		for i := range spans {
			switch spans[i].name {
			case "publish tick":
				pub = &spans[i]
			case "plba.routine":
				routine = &spans[i]
			}
		}
		if pub != nil && routine != nil && routine.parent == pub.id && pub.service == "counter" {
			joined++
		}
	}
	if joined < 3 {
		t.Fatalf("want ≥ 3 traces from the publish span to the routine span across SQS, got %d of %d traces: %+v", joined, len(byTrace), rec.spans)
	}
	if !rec.metrics["plba.tasks"] || !rec.metrics["plba.routine.duration"] {
		t.Errorf("metrics over OTLP: %v", rec.metrics)
	}
	for _, h := range rec.headers {
		if h.Get("X-Api-Key") != "k3y-s3cret" {
			t.Fatalf("export without the configured header: %v", h)
		}
	}
}

// The otlp trace exporter needs the endpoint: exit 2 naming both keys.
func TestOTLPNeedsEndpoint(t *testing.T) {
	var out, errw syncio.Buffer
	code := run(context.Background(), []string{"run", "--listen", "off", "--set", "platform.tracing.exporter=otlp"}, &out, &errw)
	if code != runner.ExitUsage || !strings.Contains(errw.String(), "platform.telemetry.otlp.endpoint") || !strings.Contains(errw.String(), "platform.tracing.exporter") {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}
