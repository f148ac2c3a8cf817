package control_test

import (
	goruntime "runtime"
	// The runtime's default queues are the registered "memory" backend.
	_ "github.com/plba/plba/pkg/queue/memqueue"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/internal/syncio"
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

// Actions makes failModule an ActionProvider, as the bot's orders are.
func (failModule) Actions() []contracts.ActionSpec {
	return []contracts.ActionSpec{{Name: "fail.echo", Summary: "echo", Handle: func(_ context.Context, p json.RawMessage) (any, error) {
		var req struct {
			Say string `json:"say"`
		}
		if err := json.Unmarshal(p, &req); err != nil || req.Say == "" {
			return nil, contracts.ErrInvalidParams
		}
		return map[string]string{"said": req.Say}, nil
	}}}
}

type oneShot struct{}

func (oneShot) Name() string { return "oneshot" }
func (oneShot) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	return 1, pub.Publish(ctx, contracts.Task{ID: "job-1", Kind: "job", Payload: []byte("customer mail; password: hunter2; rest"),
		Attributes: map[string]string{"x-api-token": "abc", "plain": "ok"}})
}

type fakeConfig struct{ reloads int }

func (f *fakeConfig) Version() string          { return "v1" }
func (f *fakeConfig) Redacted() map[string]any { return map[string]any{"pw": contracts.Redacted} }
func (f *fakeConfig) Reload(context.Context) error {
	f.reloads++
	return nil
}

// env is a running manager with one dead letter, its service and an HTTP
// server for it.
type env struct {
	m        *runtime.Manager
	svc      *control.Service
	srv      *httptest.Server
	cfg      *fakeConfig
	audit    *syncio.Buffer
	outcomes *control.Outcomes
}

const token = "s3cret-token"

func newEnv(t *testing.T, tweak func(*control.HTTPOptions)) *env {
	t.Helper()
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	e := &env{cfg: &fakeConfig{}, audit: &syncio.Buffer{}, outcomes: control.NewOutcomes(8)}
	e.m = runtime.NewManager(runtime.Options{Logging: logging, QueueObserver: e.outcomes.Observer})
	mod := failModule{}
	_ = e.m.Register(mod)
	if err := e.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.m.Stop(context.Background(), true) })
	waitDeadLetter(t, e.m)
	so := control.LocalOptions(e.m)
	so.Config, so.Build, so.Outcomes, so.Modules = e.cfg, "test", e.outcomes, []contracts.ApplicationModule{mod}
	so.Logger = slogJSON(e.audit)
	svc, err := control.NewService(so)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	ho := control.HTTPOptions{Service: svc, Token: token, Logger: so.Logger}
	if tweak != nil {
		tweak(&ho)
	}
	e.srv = httptest.NewServer(control.NewHTTPHandler(ho))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) jobs(t *testing.T) contracts.QueueStats {
	t.Helper()
	q, _ := e.m.Queue("jobs")
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type req struct {
	method, path, body string
	header             map[string]string
	host               string
}

func (e *env) do(t *testing.T, r req) (int, string) {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, _ := http.NewRequest(r.method, e.srv.URL+r.path, body)
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var jsonAuth = map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}

func TestHTTPEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	if code, body := e.do(t, req{method: "GET", path: "/healthz"}); code != 200 || !strings.Contains(body, `"live": true`) {
		t.Fatalf("healthz %d %s", code, body)
	}
	if code, body := e.do(t, req{method: "GET", path: "/readyz"}); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	code, body := e.do(t, req{method: "GET", path: "/status"})
	var st control.StatusResult
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("status %d %v %s", code, err, body)
	}
	if st.Deployment != control.Local || st.State != "running" || st.ConfigVersion != "v1" || st.Build != "test" ||
		len(st.Workers) != 2 || len(st.Queues) != 1 || st.Queues[0].Dead != 1 {
		t.Fatalf("status %+v", st)
	}
	if code, body := e.do(t, req{method: "GET", path: "/"}); code != 200 || !strings.Contains(body, `<table id="workers"`) || !strings.Contains(body, "/api/v1/") {
		t.Fatalf("page %d %s", code, body)
	}
	if code, body := e.do(t, req{method: "GET", path: "/config"}); code != 200 || !strings.Contains(body, contracts.Redacted) {
		t.Fatalf("config %d %s", code, body)
	}
	// Read actions over GET with query parameters; no token needed.
	code, body = e.do(t, req{method: "GET", path: "/api/v1/dlq.list?queue=jobs&limit=5"})
	if code != 200 || !strings.Contains(body, "job-1") || !strings.Contains(body, "cannot ever work") || strings.Contains(body, "hunter2") {
		t.Fatalf("dlq.list %d %s", code, body)
	}
	if code, body := e.do(t, req{method: "GET", path: "/api/v1/dlq.list?queue=nope"}); code != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("unknown queue %d %s", code, body)
	}
	if code, body := e.do(t, req{method: "GET", path: "/api/v1/dlq.list?queue=jobs&limit=x"}); code != 400 || !strings.Contains(body, `"bad_request"`) {
		t.Fatalf("bad limit %d %s", code, body)
	}
	// A module's action.
	if code, body := e.do(t, req{method: "POST", path: "/api/v1/fail.echo", body: `{"say":"hi"}`, header: map[string]string{"Content-Type": "application/json"}}); code != 200 || !strings.Contains(body, `"said": "hi"`) {
		t.Fatalf("module action %d %s", code, body)
	}
	// dlq.peek reveals the payload: it needs the token, bounds the
	// payload and redacts secret-looking values.
	if code, _ := e.do(t, req{method: "GET", path: "/api/v1/dlq.peek?queue=jobs&id=job-1"}); code != 401 {
		t.Fatalf("peek without token: %d", code)
	}
	code, body = e.do(t, req{method: "POST", path: "/api/v1/dlq.peek", body: `{"queue":"jobs","id":"job-1","max_bytes":30}`, header: jsonAuth})
	var pk control.PeekResult
	var resp control.Response
	_ = json.Unmarshal([]byte(body), &resp)
	if err := resp.Decode(&pk); err != nil || code != 200 {
		t.Fatalf("peek %d %s", code, body)
	}
	if pk.Payload != "customer mail; password: "+contracts.Redacted || !pk.Truncated || pk.PayloadBytes != 38 ||
		pk.Attributes["x-api-token"] != contracts.Redacted || pk.Attributes["plain"] != "ok" {
		t.Fatalf("peek %+v", pk)
	}
	// Redrive with the token works and is audited once.
	code, body = e.do(t, req{method: "POST", path: "/api/v1/dlq.redrive", body: `{"queue":"jobs"}`, header: jsonAuth})
	if code != 200 || !strings.Contains(body, `"redriven": 1`) {
		t.Fatalf("redrive %d %s", code, body)
	}
	if code, _ := e.do(t, req{method: "POST", path: "/api/v1/reload", header: jsonAuth}); code != 200 || e.cfg.reloads != 1 {
		t.Fatalf("reload %d (%d reloads)", code, e.cfg.reloads)
	}
	logs := e.audit.String()
	if n := strings.Count(logs, `"action":"dlq.redrive"`); n != 1 || !strings.Contains(logs, `"who":"http 127.0.0.1 (Go-http-client/1.1)"`) ||
		!strings.Contains(logs, `"action":"dlq.redrive","access":"mutate","result":"ok"`) {
		t.Errorf("audit lines:\n%s", logs)
	}
	if strings.Contains(logs, token) || strings.Contains(logs, "hunter2") {
		t.Errorf("audit log holds a secret:\n%s", logs)
	}
}

// Every refused request is refused with 401/403 and changes nothing: the
// dead letter stays where it was and the config was not reloaded.
func TestSecurityRefusals(t *testing.T) {
	e := newEnv(t, nil)
	redrive := func(mod func(*req)) req {
		r := req{method: "POST", path: "/api/v1/dlq.redrive", body: `{"queue":"jobs"}`,
			header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}}
		mod(&r)
		return r
	}
	cases := []struct {
		name string
		r    req
		code int
	}{
		{"no token", redrive(func(r *req) { delete(r.header, "Authorization") }), 401},
		{"wrong token", redrive(func(r *req) { r.header["Authorization"] = "Bearer nope" }), 401},
		{"token prefix", redrive(func(r *req) { r.header["Authorization"] = "Bearer " + token[:4] }), 401},
		{"basic auth", redrive(func(r *req) { r.header["Authorization"] = "Basic " + token }), 401},
		{"cross-site Origin", redrive(func(r *req) { r.header["Origin"] = "http://evil.example" }), 403},
		{"cross-site fetch", redrive(func(r *req) { r.header["Sec-Fetch-Site"] = "cross-site" }), 403},
		{"same-site fetch", redrive(func(r *req) { r.header["Sec-Fetch-Site"] = "same-site" }), 403},
		{"form content type", redrive(func(r *req) {
			r.header["Content-Type"] = "application/x-www-form-urlencoded"
			r.body = "queue=jobs"
		}), 403},
		{"text/plain", redrive(func(r *req) { r.header["Content-Type"] = "text/plain" }), 403},
		{"no content type, no body", redrive(func(r *req) { delete(r.header, "Content-Type"); r.body = "" }), 403},
		{"the issue's form post", req{method: "POST", path: "/api/v1/dlq.redrive", body: "queue=jobs",
			header: map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}}, 403},
		{"foreign Host", redrive(func(r *req) { r.host = "evil.example" }), 403},
		{"foreign Host with port", redrive(func(r *req) { r.host = "rebind.evil.example:8080" }), 403},
		{"reload without token", req{method: "POST", path: "/api/v1/reload", header: map[string]string{"Content-Type": "application/json"}}, 401},
		{"pause without token", req{method: "POST", path: "/api/v1/pause", body: `{"name":"source:oneshot"}`, header: map[string]string{"Content-Type": "application/json"}}, 401},
	}
	for _, c := range cases {
		code, body := e.do(t, c.r)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
		if s := e.jobs(t); s.Dead != 1 || s.Ready != 0 || s.InFlight != 0 {
			t.Fatalf("%s changed the queue: %+v", c.name, s)
		}
	}
	if e.cfg.reloads != 0 {
		t.Fatalf("config reloaded %d times by refused requests", e.cfg.reloads)
	}
	for _, w := range e.m.Supervisor().Statuses() {
		if w.State == contracts.WorkerPaused {
			t.Fatalf("%s paused by a refused request", w.Name)
		}
	}
	// DNS rebinding: a foreign Host cannot read either.
	for _, p := range []string{"/status", "/config", "/api/v1/dlq.list?queue=jobs", "/", "/healthz"} {
		if code, body := e.do(t, req{method: "GET", path: p, host: "evil.example"}); code != 403 || strings.Contains(body, "job-1") {
			t.Errorf("GET %s with a foreign Host: %d %s", p, code, body)
		}
	}
	// GET and HEAD never mutate, even with the token.
	for _, m := range []string{"GET", "HEAD"} {
		if code, _ := e.do(t, req{method: m, path: "/api/v1/dlq.redrive?queue=jobs", header: jsonAuth}); code != 400 {
			t.Errorf("%s redrive: %d", m, code)
		}
	}
	if s := e.jobs(t); s.Dead != 1 {
		t.Fatalf("GET changed the queue: %+v", s)
	}
	// Refusals of token-needing actions are audited too.
	if n := strings.Count(e.audit.String(), `"result":"unauthorized"`); n < 4 {
		t.Errorf("%d unauthorized audit lines:\n%s", n, e.audit.String())
	}
}

func TestHostAllowList(t *testing.T) {
	e := newEnv(t, func(o *control.HTTPOptions) {
		o.Listen = "127.0.0.1:8080"
		o.AllowedHosts = []string{"plba.internal"}
	})
	for host, want := range map[string]int{
		"localhost:8080": 200, "127.0.0.1:1234": 200, "[::1]:8080": 200, "plba.internal": 200, "PLBA.internal:80": 200,
		"evil.example": 403, "localhost.evil.example": 403, "": 403,
	} {
		if host == "" {
			continue // net/http fills an empty Host from the URL
		}
		if code, _ := e.do(t, req{method: "GET", path: "/healthz", host: host}); code != want {
			t.Errorf("Host %q: %d, want %d", host, code, want)
		}
	}
}

func TestBodyAndRateLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	e := newEnv(t, func(o *control.HTTPOptions) {
		o.MaxBodyBytes = 64
		o.Rate, o.Burst = 1, 3
		o.Now = func() time.Time { return now }
	})
	big := `{"queue":"jobs","pad":"` + strings.Repeat("x", 100) + `"}`
	if code, body := e.do(t, req{method: "POST", path: "/api/v1/dlq.redrive", body: big, header: jsonAuth}); code != 413 || !strings.Contains(body, "too_large") {
		t.Fatalf("big body: %d %s", code, body)
	}
	if s := e.jobs(t); s.Dead != 1 {
		t.Fatalf("big body changed the queue: %+v", s)
	}
	for i := range 2 {
		if code, _ := e.do(t, req{method: "GET", path: "/healthz"}); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code, body := e.do(t, req{method: "GET", path: "/healthz"}); code != 429 || !strings.Contains(body, "rate_limited") {
		t.Fatalf("over the burst: %d %s", code, body)
	}
	now = now.Add(time.Second)
	if code, _ := e.do(t, req{method: "GET", path: "/healthz"}); code != 200 {
		t.Fatalf("after a second: %d", code)
	}
}

// A handler without a token refuses every token-needing action.
func TestNoTokenFailsClosed(t *testing.T) {
	e := newEnv(t, func(o *control.HTTPOptions) { o.Token = "" })
	if code, _ := e.do(t, req{method: "POST", path: "/api/v1/dlq.redrive", body: `{"queue":"jobs"}`,
		header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer "}}); code != 401 {
		t.Fatalf("empty token accepted: %d", code)
	}
	if s := e.jobs(t); s.Dead != 1 {
		t.Fatalf("queue changed: %+v", s)
	}
}

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	def := runtime.DefaultPlatformConfig().Control
	if def.TokenFile != runtime.DefaultControlTokenFile || def.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults %+v", def)
	}
	for _, listen := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080", "[::]:8080", "example.com:80"} {
		c := def
		c.Listen = listen
		_, err := control.Prepare(c)
		if !errors.Is(err, control.ErrTokenRequired) || !strings.Contains(err.Error(), "platform.control.token") {
			t.Errorf("listen %s without token: %v", listen, err)
		}
	}
	c := def
	c.Listen, c.Token = "0.0.0.0:8080", "configured"
	if p, err := control.Prepare(c); err != nil || p.Generated || p.HTTP.Token != "configured" {
		t.Fatalf("configured token: %+v %v", p, err)
	}
	// Loopback without a token: generated, written 0600, read back by the
	// CLI's reader, removed by Cleanup.
	c = def
	c.TokenFile = filepath.Join(dir, "sub", "control.token")
	p, err := control.Prepare(c)
	if err != nil || !p.Generated || len(p.HTTP.Token.Reveal()) != 64 {
		t.Fatalf("generated: %+v %v", p, err)
	}
	fi, err := os.Stat(c.TokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v %v", fi, err)
	}
	got, err := control.ReadTokenFile(c.TokenFile)
	if err != nil || got != p.HTTP.Token {
		t.Fatalf("read back: %v", err)
	}
	if err := os.Chmod(c.TokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := control.ReadTokenFile(c.TokenFile); err == nil {
		t.Fatal("a world-readable token file was accepted")
	}
	p.Cleanup()
	if _, err := os.Stat(c.TokenFile); !os.IsNotExist(err) {
		t.Fatalf("token file left: %v", err)
	}
	c.Listen = "off"
	if p, err := control.Prepare(c); err != nil || p.Generated {
		t.Fatalf("off: %+v %v", p, err)
	}
}

func TestPauseResumeRestart(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	do := func(action, name string) control.Response {
		return e.svc.Do(ctx, control.Call{Action: action, Params: json.RawMessage(`{"name":"` + name + `"}`), Authenticated: true})
	}
	state := func(name string) contracts.WorkerState {
		for _, w := range e.m.Supervisor().Statuses() {
			if w.Name == name {
				return w.State
			}
		}
		return ""
	}
	if r := do("pause", "pool:job"); !r.OK {
		t.Fatalf("pause: %+v", r.Error)
	}
	if s := state("pool:job"); s != contracts.WorkerPaused {
		t.Fatalf("state after pause: %s", s)
	}
	if r := do("pause", "pool:job"); r.OK || r.Error.Code != control.CodeBadRequest {
		t.Fatalf("second pause: %+v", r)
	}
	// Paused pool: a redriven task waits in the queue.
	if r := e.svc.Do(ctx, control.Call{Action: "dlq.redrive", Params: json.RawMessage(`{"queue":"jobs"}`), Authenticated: true}); !r.OK {
		t.Fatalf("redrive: %+v", r.Error)
	}
	if s := e.jobs(t); s.Ready != 1 || s.Dead != 0 {
		t.Fatalf("paused pool consumed: %+v", s)
	}
	if r := do("resume", "pool:job"); !r.OK {
		t.Fatalf("resume: %+v", r.Error)
	}
	waitDeadLetter(t, e.m)
	if s := state("pool:job"); s != contracts.WorkerRunning {
		t.Fatalf("state after resume: %s", s)
	}
	if r := do("resume", "pool:job"); r.OK || r.Error.Code != control.CodeBadRequest {
		t.Fatalf("resume a running pool: %+v", r)
	}
	if r := do("restart", "source:oneshot"); !r.OK {
		t.Fatalf("restart: %+v", r.Error)
	}
	var restarts int
	for _, w := range e.m.Supervisor().Statuses() {
		if w.Name == "source:oneshot" {
			restarts = w.Restarts
		}
	}
	if restarts != 1 {
		t.Fatalf("restarts %d", restarts)
	}
	if r := do("pause", "nope"); r.OK || r.Error.Code != control.CodeNotFound {
		t.Fatalf("pause unknown: %+v", r)
	}
	if r := do("pause", ""); r.OK || r.Error.Code != control.CodeBadRequest {
		t.Fatalf("pause without name: %+v", r)
	}
	// The outcomes ring saw the two dead-lettered runs.
	var oc control.OutcomesResult
	if err := e.svc.Do(ctx, control.Call{Action: "outcomes", Params: json.RawMessage(`{"queue":"jobs"}`)}).Decode(&oc); err != nil {
		t.Fatal(err)
	}
	if len(oc.Outcomes) < 2 || oc.Outcomes[0].Outcome != "dead-lettered" || oc.Outcomes[0].ID != "job-1" || oc.Outcomes[0].Error == "" {
		t.Fatalf("outcomes %+v", oc)
	}
	// A paused worker does not hold up a graceful stop.
	if r := do("pause", "pool:job"); !r.OK {
		t.Fatalf("pause: %+v", r.Error)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.m.Stop(stopCtx, false); err != nil {
		t.Fatalf("stop with a paused pool: %v", err)
	}
	if r := do("resume", "pool:job"); r.OK {
		t.Fatal("resume after stop succeeded")
	}
}

func TestOutcomesRing(t *testing.T) {
	o := control.NewOutcomes(3)
	base := time.Unix(0, 0)
	for i := range 5 {
		o.Record(control.OutcomeRecord{Queue: "a", ID: string(rune('0' + i)), At: base.Add(time.Duration(i) * time.Second)})
	}
	o.Record(control.OutcomeRecord{Queue: "b", ID: "b", At: base.Add(10 * time.Second), Error: strings.Repeat("e", 2000)})
	got := o.Recent("a", 0)
	if len(got) != 3 || got[0].ID != "4" || got[2].ID != "2" {
		t.Fatalf("ring a %+v", got)
	}
	all := o.Recent("", 2)
	if len(all) != 2 || all[0].ID != "b" || len(all[0].Error) != 512 || all[1].ID != "4" {
		t.Fatalf("all %+v", all)
	}
}

func TestListenAndShutdown(t *testing.T) {
	e := newEnv(t, nil)
	s, err := control.Listen("127.0.0.1:0", control.NewHTTPHandler(control.HTTPOptions{Service: e.svc}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz %v %v", res, err)
	}
	res.Body.Close()
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
		if s.Dead == 1 && s.InFlight == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("never dead-lettered: %+v", s)
		}
	}
}

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// The runtime action reports this process's goroutines and heap without a
// token (a read), for soak tests and operators.
func TestRuntimeFigures(t *testing.T) {
	e := newEnv(t, nil)
	goruntime.GC() // a finished GC cycle sets the live heap
	var f control.RuntimeFigures
	if err := e.svc.Do(context.Background(), control.Call{Action: "runtime"}).Decode(&f); err != nil {
		t.Fatal(err)
	}
	if f.Goroutines < 2 || f.HeapLiveBytes == 0 || f.HeapObjectsBytes == 0 || f.TotalBytes < f.HeapObjectsBytes || f.GCCycles == 0 || f.GoVersion == "" {
		t.Fatalf("runtime figures %+v", f)
	}
	if code, body := e.do(t, req{method: "GET", path: "/api/v1/runtime"}); code != 200 || !strings.Contains(body, `"goroutines"`) {
		t.Fatalf("GET /api/v1/runtime without a token: %d %s", code, body)
	}
}
