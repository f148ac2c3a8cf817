// Package control is the local runner's HTTP control plane: liveness,
// readiness, a JSON status snapshot, a small HTML status page, and admin
// actions (config reload, dead-letter listing and redrive).
//
// # Endpoints
//
//	GET  /healthz                          200 when live, 503 otherwise
//	GET  /readyz                           200 when ready, 503 otherwise
//	GET  /status                           JSON: runtime snapshot, config version, build
//	GET  /config                           effective configuration, secrets redacted
//	GET  /                                 HTML status page
//	POST /admin/reload                     reload configuration
//	GET  /admin/queues/{name}/dead?limit=N list dead letters (ids, kinds, reasons)
//	POST /admin/queues/{name}/redrive?limit=N move dead letters back
//
// The server listens on loopback by default. Admin endpoints require
// `Authorization: Bearer TOKEN` when a token is configured.
package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
)

// Config is what the control plane shows of the configuration.
type Config interface {
	Version() string
	Redacted() map[string]any
	Reload(ctx context.Context) error
}

// Options configure the handler.
type Options struct {
	Manager *runtime.Manager
	// Config may be nil (no config endpoints, reload unavailable).
	Config Config
	// Build identifies the binary (version, commit).
	Build string
	// Token, when set, guards the admin endpoints.
	Token  contracts.Secret
	Logger *slog.Logger
}

// Status is the body of GET /status.
type Status struct {
	runtime.Snapshot
	ConfigVersion string `json:"config_version,omitempty"`
	Build         string `json:"build,omitempty"`
}

// NewHandler returns the control plane's handler.
func NewHandler(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /status", h.status)
	mux.HandleFunc("GET /config", h.config)
	mux.HandleFunc("GET /{$}", h.page)
	mux.Handle("POST /admin/reload", h.admin(h.reload))
	mux.Handle("GET /admin/queues/{name}/dead", h.admin(h.dead))
	mux.Handle("POST /admin/queues/{name}/redrive", h.admin(h.redrive))
	return mux
}

type handler struct{ opts Options }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func errJSON(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	live := h.opts.Manager.Health().Liveness()
	code := http.StatusOK
	if !live {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]bool{"live": live})
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	rep := h.opts.Manager.Health().Report(r.Context())
	code := http.StatusOK
	if !rep.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

func (h *handler) snapshot(ctx context.Context) Status {
	s := Status{Snapshot: h.opts.Manager.Snapshot(ctx), Build: h.opts.Build}
	if h.opts.Config != nil {
		s.ConfigVersion = h.opts.Config.Version()
	}
	return s
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.snapshot(r.Context()))
}

func (h *handler) config(w http.ResponseWriter, _ *http.Request) {
	if h.opts.Config == nil {
		errJSON(w, http.StatusNotFound, "no configuration manager")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": h.opts.Config.Version(), "config": h.opts.Config.Redacted()})
}

func (h *handler) admin(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := h.opts.Token.Reveal(); tok != "" {
			got := r.Header.Get("Authorization")
			if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+tok)) != 1 {
				errJSON(w, http.StatusUnauthorized, "admin action needs Authorization: Bearer <platform.control.token>")
				return
			}
		}
		next(w, r)
	})
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.opts.Config == nil {
		errJSON(w, http.StatusNotFound, "no configuration manager")
		return
	}
	if err := h.opts.Config.Reload(r.Context()); err != nil {
		h.opts.Logger.Warn("config reload rejected", "err", err)
		errJSON(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": h.opts.Config.Version()})
}

func (h *handler) dlq(w http.ResponseWriter, r *http.Request) (contracts.DeadLetterQueue, int, bool) {
	name := r.PathValue("name")
	q, ok := h.opts.Manager.Queue(name)
	if !ok {
		errJSON(w, http.StatusNotFound, fmt.Sprintf("no queue %q", name))
		return nil, 0, false
	}
	d, ok := q.(contracts.DeadLetterQueue)
	if !ok {
		errJSON(w, http.StatusNotImplemented, fmt.Sprintf("queue %q cannot list or redrive dead letters", name))
		return nil, 0, false
	}
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			errJSON(w, http.StatusBadRequest, "limit must be a non-negative integer")
			return nil, 0, false
		}
		limit = n
	}
	return d, limit, true
}

// DeadLetterView is one dead letter as the control plane shows it: no
// payload, which may hold personal data.
type DeadLetterView struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	Source   string    `json:"source,omitempty"`
}

func (h *handler) dead(w http.ResponseWriter, r *http.Request) {
	d, limit, ok := h.dlq(w, r)
	if !ok {
		return
	}
	if limit == 0 {
		limit = 100
	}
	list, err := d.DeadLetters(r.Context(), limit)
	if err != nil {
		errJSON(w, http.StatusBadGateway, err.Error())
		return
	}
	out := make([]DeadLetterView, 0, len(list))
	for _, dl := range list {
		out = append(out, DeadLetterView{ID: dl.Task.ID, Kind: dl.Task.Kind, Attempts: dl.Task.Attempt, Reason: dl.Reason, At: dl.At,
			Source: dl.Task.Attr(contracts.AttrSourceRef)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) redrive(w http.ResponseWriter, r *http.Request) {
	d, limit, ok := h.dlq(w, r)
	if !ok {
		return
	}
	n, err := d.Redrive(r.Context(), limit)
	if err != nil {
		errJSON(w, http.StatusBadGateway, err.Error())
		return
	}
	h.opts.Logger.Info("dead letters redriven", "queue", r.PathValue("name"), "count", n)
	writeJSON(w, http.StatusOK, map[string]int{"redriven": n})
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"str": func(s fmt.Stringer) string { return s.String() },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>PLBA status</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.up{color:#070}.degraded{color:#a60}.down{color:#b00}</style></head>
<body><h1>PLBA <small>{{.State}}{{if .Uptime}} · up {{.Uptime}}{{end}}</small></h1>
<p id="health" class="{{str .Health.Status}}">health: {{str .Health.Status}} · live: {{.Health.Live}} · ready: {{.Health.Ready}}{{if .ConfigVersion}} · config {{.ConfigVersion}}{{end}}{{if .Build}} · build {{.Build}}{{end}}</p>
<h2>Workers</h2><table id="workers"><tr><th>name</th><th>kind</th><th>state</th><th>in flight</th><th>succeeded</th><th>failed</th><th>published</th><th>restarts</th><th>last error</th></tr>
{{range .Workers}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.State}}</td><td>{{.InFlight}}</td><td>{{.Succeeded}}</td><td>{{.Failed}}</td><td>{{.Published}}</td><td>{{.Restarts}}</td><td>{{.LastError}}</td></tr>{{end}}</table>
<h2>Queues</h2><table id="queues"><tr><th>name</th><th>backend</th><th>ready</th><th>in flight</th><th>delayed</th><th>dead</th><th>published</th><th>acked</th><th>nacked</th></tr>
{{range .Queues}}<tr><td>{{.Name}}</td><td>{{.Backend}}</td><td>{{.Ready}}</td><td>{{.InFlight}}</td><td>{{.Delayed}}</td><td>{{.Dead}}</td><td>{{.Published}}</td><td>{{.Acked}}</td><td>{{.Nacked}}</td></tr>{{end}}</table>
<h2>Health</h2><table id="components"><tr><th>component</th><th>state</th><th>message</th></tr>
{{range $n := .Health.Names}}{{with index $.Health.Components $n}}<tr><td>{{$n}}</td><td class="{{str .State}}">{{str .State}}</td><td>{{.Message}}</td></tr>{{end}}{{end}}</table>
</body></html>`))

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, h.snapshot(r.Context())); err != nil {
		h.opts.Logger.Warn("status page", "err", err)
	}
}

// Server serves the control plane.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (e.g. 127.0.0.1:8080) and serves h in the background.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("control plane stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting and waits for requests in progress until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
