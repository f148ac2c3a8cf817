package lambda_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

type otlpSpan struct {
	name, trace, id, parent, service string
	links                            []string // linked trace IDs
}

// otlpReceiver is a small OTLP/HTTP trace collector decoding the protobuf.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var m coltrace.ExportTraceServiceRequest
	if err != nil || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &m) != nil {
		http.Error(w, "want an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range m.ResourceSpans {
		var service string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := otlpSpan{name: s.Name, trace: hex.EncodeToString(s.TraceId), id: hex.EncodeToString(s.SpanId),
					parent: hex.EncodeToString(s.ParentSpanId), service: service}
				for _, l := range s.Links {
					sp.links = append(sp.links, hex.EncodeToString(l.TraceId))
				}
				r.spans = append(r.spans, sp)
			}
		}
	}
	r.mu.Unlock()
	b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// TestOTLPTraceAcrossTheSplit runs the poller and the worker bootstraps
// (a test build with an OTLP/HTTP tracer: the real functions leave OTLP out
// for size) under the emulator against the SQS server; a small OTLP
// receiver decoding the protobuf sees, for every task, one trace from the
// poller's "publish" span to the worker's routine span, its child across
// SQS, and the worker's batch span linking each record's trace.
func TestOTLPTraceAcrossTheSplit(t *testing.T) {
	endpoint := sqstest.Endpoint(t)
	client := sqstest.NewClient(endpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{})
	bootstrap := buildBootstrap(t)
	rec := &otlpReceiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	const tasks = 5
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(fn string) *emulator.Emulator {
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bootstrap, FunctionName: fn, Timeout: 20 * time.Second,
			Stdout: io.Discard, Stderr: io.Discard, Env: map[string]string{
				"PLBA_FN": fn, "E2E_OTLP": srv.URL, "E2E_TASKS": strconv.Itoa(tasks), "E2E_OUT": t.TempDir(),
				"AWS_ENDPOINT_URL_SQS": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
				"AWS_EC2_METADATA_DISABLED": "true",
				"PLBA_QUEUE_WORK_URL":       pair.URL, "PLBA_QUEUE_WORK_DLQ_URL": pair.DeadLetterURL,
			}})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	if _, err := start("poller").Invoke(ctx, []byte(`{"source":"aws.events"}`)); err != nil {
		t.Fatalf("poller: %v", err)
	}
	worker := start("worker")
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	for received := 0; received < tasks; {
		recs, err := esm.Poll(ctx, worker.Invoke)
		if err != nil {
			t.Fatalf("worker: %v", err)
		}
		received += len(recs)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	byID := map[string]otlpSpan{}
	for _, s := range rec.spans {
		byID[s.id] = s
	}
	joined := map[string]bool{} // traces from a poller publish to a worker routine
	var linked []string
	for _, s := range rec.spans {
		switch s.name {
		case "plba.routine":
			if pub, ok := byID[s.parent]; ok && pub.name == "publish e2e.num" && pub.trace == s.trace &&
				pub.service == "e2e-poller" && s.service == "e2e-worker" {
				joined[s.trace] = true
			}
		case "sqs batch":
			linked = append(linked, s.links...)
		}
	}
	if len(joined) == 0 {
		t.Fatalf("no trace from the poller's publish span to the worker's routine span; spans: %+v", rec.spans)
	}
	routines := 0
	for _, s := range rec.spans {
		if s.name == "plba.routine" {
			routines++
			if !joined[s.trace] {
				t.Errorf("routine span %s is not in a trace the poller started", s.id)
			}
		}
	}
	if routines != tasks {
		t.Errorf("%d routine spans for %d tasks", routines, tasks)
	}
	for tr := range joined {
		found := false
		for _, l := range linked {
			found = found || l == tr
		}
		if !found {
			t.Errorf("no batch span links trace %s", tr)
		}
	}
}
