package control_test

import (
	// The runtime's default queues are the registered "memory" backend.
	_ "github.com/plba/plba/pkg/queue/memqueue"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/runtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type failModule struct{}

func (failModule) Name() string { return "fail" }
func (failModule) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: oneShot{}, Queue: "jobs", Interval: time.Hour}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "job", Queue: "jobs", Routine: contracts.RoutineFunc(
		func(context.Context, contracts.Task) error {
			return contracts.Permanent(errors.New("cannot ever work"))
		})})
}

type oneShot struct{}

func (oneShot) Name() string { return "oneshot" }
func (oneShot) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	return 1, pub.Publish(ctx, contracts.Task{ID: "job-1", Kind: "job", Payload: []byte("secret payload")})
}

type fakeConfig struct{ reloads int }

func (f *fakeConfig) Version() string          { return "v1" }
func (f *fakeConfig) Redacted() map[string]any { return map[string]any{"pw": contracts.Redacted} }
func (f *fakeConfig) Reload(context.Context) error {
	f.reloads++
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return call(t, http.MethodGet, url, "")
}

func post(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return call(t, http.MethodPost, url, token)
}

func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestControlPlane(t *testing.T) {
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Logging: logging})
	_ = m.Register(failModule{})
	cfg := &fakeConfig{}
	srv := httptest.NewServer(control.NewHandler(control.Options{Manager: m, Config: cfg, Build: "test", Token: "tok"}))
	defer srv.Close()

	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before start: %d", code)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background(), true)
	waitDeadLetter(t, m)
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || !strings.Contains(body, `"live": true`) {
		t.Fatalf("healthz %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	code, body := get(t, srv.URL+"/status")
	var st control.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("status %d %v %s", code, err, body)
	}
	if st.ConfigVersion != "v1" || st.Build != "test" || len(st.Workers) != 2 || len(st.Queues) != 1 || st.Queues[0].Dead != 1 {
		t.Fatalf("status %+v", st)
	}
	if code, body := get(t, srv.URL+"/"); code != 200 || !strings.Contains(body, "pool:job") || !strings.Contains(body, "<table") {
		t.Fatalf("page %d %s", code, body)
	}
	// Admin endpoints need the token.
	if code, _ := get(t, srv.URL+"/admin/queues/jobs/dead"); code != http.StatusUnauthorized {
		t.Fatalf("dead without token: %d", code)
	}
	code, body = call(t, http.MethodGet, srv.URL+"/admin/queues/jobs/dead", "tok")
	if code != 200 || !strings.Contains(body, "job-1") || !strings.Contains(body, "cannot ever work") || strings.Contains(body, "secret payload") {
		t.Fatalf("dead %d %s", code, body)
	}
	if code, _ := post(t, srv.URL+"/admin/queues/nope/redrive", "tok"); code != http.StatusNotFound {
		t.Fatalf("redrive unknown queue: %d", code)
	}
	if code, _ := post(t, srv.URL+"/admin/queues/jobs/redrive?limit=x", "tok"); code != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", code)
	}
	if code, body := post(t, srv.URL+"/admin/queues/jobs/redrive", "tok"); code != 200 || !strings.Contains(body, `"redriven": 1`) {
		t.Fatalf("redrive %d %s", code, body)
	}
	if code, _ := post(t, srv.URL+"/admin/reload", "tok"); code != 200 || cfg.reloads != 1 {
		t.Fatalf("reload %d (%d reloads)", code, cfg.reloads)
	}
	if code, body := get(t, srv.URL+"/config"); code != 200 || !strings.Contains(body, contracts.Redacted) {
		t.Fatalf("config %d %s", code, body)
	}
}

func TestListenAndShutdown(t *testing.T) {
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Logging: logging})
	s, err := control.Listen("127.0.0.1:0", control.NewHandler(control.Options{Manager: m}))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, "http://"+s.Addr()+"/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	http.DefaultClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen("256.0.0.1:1", nil); err == nil {
		t.Fatal("bad address accepted")
	}
}

// waitDeadLetter waits until failModule's one task reached the dead-letter
// queue (the pool settles it just after the routine returned).
func waitDeadLetter(t *testing.T, m *runtime.Manager) {
	t.Helper()
	q, _ := m.Queue("jobs")
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		s, _ := q.Stats(context.Background())
		if s.Dead == 1 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("never dead-lettered: %+v", s)
		}
	}
}
