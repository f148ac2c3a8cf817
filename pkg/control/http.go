package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// HTTPOptions configure the local HTTP transport.
type HTTPOptions struct {
	Service *Service
	// Token authenticates actions that need it (Authorization: Bearer).
	// Empty refuses them all: the handler fails closed. [Prepare] settles
	// it from platform.control.
	Token contracts.Secret
	// Listen is the address served; its host is an allowed Host name.
	Listen string
	// AllowedHosts are further Host names (without port) to answer to;
	// loopback names always are.
	AllowedHosts []string
	// MaxBodyBytes bounds a request body; default 64 KiB.
	MaxBodyBytes int64
	// Rate (requests/second per client address) and Burst; defaults 20, 40.
	Rate  float64
	Burst int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, serves GET /metrics (the Prometheus exposition,
	// see telemetry/promexport) behind the same rate limit and Host
	// allow-list as everything else; it needs no token, like the read
	// actions.
	Metrics http.Handler
	// Now is the rate limiter's clock; default time.Now.
	Now func() time.Time
}

// APIPrefix is where the actions are served: GET or POST
// /api/v1/ACTION.
const APIPrefix = "/api/v1/"

// NewHTTPHandler returns the control plane's HTTP handler. Every request
// passes, in order: the rate limit, the Host allow-list (DNS rebinding),
// then for POST the cross-origin check (Sec-Fetch-Site, Origin) and the
// JSON-only body rule (CSRF), the body size bound, and the token for
// actions that need it.
func NewHTTPHandler(o HTTPOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	if o.Burst <= 0 {
		o.Burst = 40
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &httpHandler{o: o, hosts: allowedHosts(o.Listen, o.AllowedHosts), cop: http.NewCrossOriginProtection(),
		limit: newLimiter(o.Rate, o.Burst, o.Now)}
	if tok := o.Token.Reveal(); tok != "" {
		sum := sha256.Sum256([]byte(tok))
		h.tokenSum = sum[:]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /status", h.plain("status"))
	mux.HandleFunc("GET /config", h.plain("config"))
	mux.HandleFunc("GET /{$}", h.page)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET "+APIPrefix+"{action}", h.action)
	mux.HandleFunc("POST "+APIPrefix+"{action}", h.action)
	return h.guard(mux)
}

type httpHandler struct {
	o        HTTPOptions
	hosts    map[string]bool
	cop      *http.CrossOriginProtection
	limit    *limiter
	tokenSum []byte
}

// allowedHosts are the loopback names, the listen host and the configured
// names, lower case.
func allowedHosts(listen string, extra []string) map[string]bool {
	m := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			m[strings.ToLower(host)] = true
		}
	}
	for _, h := range extra {
		m[strings.ToLower(strings.TrimSpace(h))] = true
	}
	return m
}

// hostAllowed checks the Host header. An IP literal equal to the address
// the connection arrived on is allowed too: DNS rebinding needs a name.
func (h *httpHandler) hostAllowed(r *http.Request) bool {
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if host == "" {
		return false
	}
	if h.hosts[host] {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if lh, _, err := net.SplitHostPort(la.String()); err == nil {
				return net.ParseIP(lh).Equal(ip)
			}
		}
	}
	return false
}

func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func (h *httpHandler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action, _ := strings.CutPrefix(r.URL.Path, APIPrefix)
		if action == r.URL.Path {
			action = "" // not an API path
		}
		if !h.limit.allow(clientAddr(r)) {
			w.Header().Set("Retry-After", "1")
			writeError(w, action, Errorf(CodeRateLimited, "too many requests from %s", clientAddr(r)))
			return
		}
		if !h.hostAllowed(r) {
			// Do not echo the Host: it is the attacker's.
			writeError(w, action, Errorf(CodeForbidden, "Host not allowed; add the name to platform.control.allowed_hosts"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := h.cop.Check(r); err != nil {
				writeError(w, action, Errorf(CodeForbidden, "cross-origin request refused"))
				return
			}
			// Every POST, even one without a body, must say JSON: no HTML
			// form can, and a script on another site that tries needs a
			// CORS preflight this server never answers.
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeError(w, action, Errorf(CodeForbidden, "POST requests must be Content-Type: application/json"))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// authenticated compares the bearer token in constant time (both sides
// hashed, so the length does not leak either).
func (h *httpHandler) authenticated(r *http.Request) bool {
	if h.tokenSum == nil {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum) == 1
}

func (h *httpHandler) action(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("action")
	a, ok := h.o.Service.Lookup(name)
	var params json.RawMessage
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if ok && a.Access == Mutate {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, name, Errorf(CodeBadRequest, "%s changes state: use POST with a JSON body", name))
			return
		}
		params = QueryParams(r.URL.Query())
	} else {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, name, Errorf(CodeTooLarge, "request body over %d bytes", mbe.Limit))
				return
			}
			writeError(w, name, Errorf(CodeBadRequest, "read body: %v", err))
			return
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			if !json.Valid(b) || b[0] != '{' {
				writeError(w, name, Errorf(CodeBadRequest, "the body must be a JSON object"))
				return
			}
			params = b
		}
	}
	principal := "http " + clientAddr(r)
	if ua := r.UserAgent(); ua != "" {
		principal += " (" + truncate(ua, 64) + ")"
	}
	resp := h.o.Service.Do(r.Context(), Call{Action: name, Params: params, Principal: principal, Authenticated: h.authenticated(r)})
	writeResponse(w, resp)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// QueryParams turns ?queue=orders&limit=5 into {"queue":"orders","limit":5}:
// integers and true/false become JSON numbers and booleans, the rest
// strings. The HTTP and Function URL transports share it.
func QueryParams(q url.Values) json.RawMessage {
	if len(q) == 0 {
		return nil
	}
	m := make(map[string]any, len(q))
	for k, vs := range q {
		v := vs[len(vs)-1]
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[k] = n
		} else if v == "true" || v == "false" {
			m[k] = v == "true"
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeResponse(w http.ResponseWriter, resp Response) {
	code := http.StatusOK
	if resp.Error != nil {
		code = resp.Error.Code.HTTPStatus()
	}
	writeJSON(w, code, resp)
}

func writeError(w http.ResponseWriter, action string, e *Error) {
	writeResponse(w, Response{Action: action, Error: e})
}

func (h *httpHandler) healthz(w http.ResponseWriter, r *http.Request) {
	res := h.o.Service.Do(r.Context(), Call{Action: "health"})
	var hr HealthResult
	if err := res.Decode(&hr); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"live": false})
		return
	}
	code := http.StatusOK
	if !hr.Live {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]bool{"live": hr.Live})
}

func (h *httpHandler) readyz(w http.ResponseWriter, r *http.Request) {
	res := h.o.Service.Do(r.Context(), Call{Action: "health"})
	var hr HealthResult
	if err := res.Decode(&hr); err != nil {
		writeError(w, "health", classify(err))
		return
	}
	code := http.StatusOK
	if !hr.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, hr)
}

// plain serves a read action's result without the envelope (GET /status,
// GET /config, kept for scripts and the page).
func (h *httpHandler) plain(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res := h.o.Service.Do(r.Context(), Call{Action: action})
		if res.Error != nil {
			writeResponse(w, res)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(res.Result)
	}
}

// limiter is a token bucket per client address. The table is bounded:
// when it is full, buckets idle long enough to be full again are dropped,
// and if none are, the table is cleared (which only ever lets more
// through, never locks a client out).
type limiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxBuckets = 4096

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) evict(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
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
	s := &Server{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}}
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
