// Package controlfn is the Lambda control function: it answers JSON actions
// about a deployed module, the split-mode counterpart of the local control
// plane.
//
// # Actions
//
//	{"action":"status"}
//	    queue and dead-letter depths per queue, the configuration version and
//	    the configuration with secrets redacted, each health contributor's
//	    state, the build version.
//	{"action":"redrive-dlq","limit":N,"queue":"name"}
//	    moves up to N dead letters (all when N ≤ 0) of one queue, or of every
//	    queue when "queue" is empty, back to the queue.
//
// An unknown action or a malformed request gets a response with ok=false
// and an error naming the known actions; the invocation itself succeeds.
package controlfn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Queue is what the control function needs of a queue; *sqsqueue.Queue and
// *queue.Queue (memory, Redis) implement it.
type Queue interface {
	Stats(ctx context.Context) (contracts.QueueStats, error)
	Redrive(ctx context.Context, limit int) (int, error)
}

// Options configure a [Handler].
type Options struct {
	// Queues by logical name.
	Queues map[string]Queue
	// Health contributors (runtime.Assembly.Health).
	Health []contracts.HealthContributor
	// Build is the build version shown in status.
	Build string
	// ConfigVersion identifies the configuration (a hash, a parameter
	// version).
	ConfigVersion string
	// Config, when set, is shown in status as JSON. Secret fields must be
	// contracts.Secret, which marshals as [REDACTED].
	Config any
	// HealthTimeout bounds each contributor's Health call; default 5s.
	HealthTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Request is a control action.
type Request struct {
	Action string `json:"action"`
	// Queue limits redrive-dlq to one queue.
	Queue string `json:"queue,omitempty"`
	// Limit for redrive-dlq; ≤ 0 means all.
	Limit int `json:"limit,omitempty"`
}

// Response answers a Request.
type Response struct {
	Action string `json:"action"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// Status answers "status".
	Status *Status `json:"status,omitempty"`
	// Redriven answers "redrive-dlq": tasks moved per queue.
	Redriven map[string]int `json:"redriven,omitempty"`
}

// Status is the deployment's state.
type Status struct {
	Build         string                 `json:"build,omitempty"`
	ConfigVersion string                 `json:"config_version,omitempty"`
	Config        json.RawMessage        `json:"config,omitempty"`
	State         contracts.HealthState  `json:"state"`
	Health        []ComponentHealth      `json:"health"`
	Queues        []contracts.QueueStats `json:"queues"`
	QueueErrors   map[string]string      `json:"queue_errors,omitempty"`
	Checked       time.Time              `json:"checked"`
}

// ComponentHealth is one contributor's health.
type ComponentHealth struct {
	Name string `json:"name"`
	contracts.Health
}

// Actions the handler knows.
var Actions = []string{"status", "redrive-dlq"}

// Handler answers control actions. Build it once per cold start.
type Handler struct {
	opts Options
}

// New returns a handler.
func New(opts Options) *Handler {
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{opts: opts}
}

// Handle answers one action. It returns an error only if the response
// cannot be built at all; bad requests get ok=false.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Response, error) {
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return Response{Error: fmt.Sprintf("malformed request: %v; send {\"action\": one of %q}", err, Actions)}, nil
	}
	switch req.Action {
	case "status":
		st := h.status(ctx)
		return Response{Action: req.Action, OK: true, Status: &st}, nil
	case "redrive-dlq":
		return h.redrive(ctx, req), nil
	default:
		return Response{Action: req.Action, Error: fmt.Sprintf("unknown action %q; known actions: %q", req.Action, Actions)}, nil
	}
}

func (h *Handler) status(ctx context.Context) Status {
	st := Status{Build: h.opts.Build, ConfigVersion: h.opts.ConfigVersion, Checked: time.Now().UTC(), Health: []ComponentHealth{}, Queues: []contracts.QueueStats{}}
	if h.opts.Config != nil {
		if b, err := json.Marshal(h.opts.Config); err == nil {
			st.Config = b
		} else {
			st.Config, _ = json.Marshal(map[string]string{"error": "config not shown: " + err.Error()})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range h.opts.Health {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, h.opts.HealthTimeout)
			defer cancel()
			hl := safeHealth(hctx, c)
			if hl.Checked.IsZero() {
				hl.Checked = time.Now().UTC()
			}
			mu.Lock()
			st.Health = append(st.Health, ComponentHealth{Name: c.Name(), Health: hl})
			mu.Unlock()
		}()
	}
	for name, q := range h.opts.Queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := q.Stats(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if st.QueueErrors == nil {
					st.QueueErrors = map[string]string{}
				}
				st.QueueErrors[name] = err.Error()
				return
			}
			s.Name = name
			st.Queues = append(st.Queues, s)
		}()
	}
	wg.Wait()
	slices.SortFunc(st.Health, func(a, b ComponentHealth) int { return cmpStr(a.Name, b.Name) })
	slices.SortFunc(st.Queues, func(a, b contracts.QueueStats) int { return cmpStr(a.Name, b.Name) })
	for _, c := range st.Health {
		st.State = max(st.State, c.State)
	}
	if len(st.QueueErrors) > 0 {
		st.State = max(st.State, contracts.HealthDegraded)
	}
	return st
}

// safeHealth calls a contributor; a panic or an overrun is Down.
func safeHealth(ctx context.Context, c contracts.HealthContributor) (h contracts.Health) {
	done := make(chan contracts.Health, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- contracts.Down(fmt.Sprintf("health check panicked: %v", v))
			}
		}()
		done <- c.Health(ctx)
	}()
	select {
	case h = <-done:
		return h
	case <-ctx.Done():
		return contracts.Down("health check did not answer in time")
	}
}

func (h *Handler) redrive(ctx context.Context, req Request) Response {
	resp := Response{Action: req.Action, Redriven: map[string]int{}}
	names := []string{req.Queue}
	if req.Queue == "" {
		names = names[:0]
		for n := range h.opts.Queues {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	var errs []string
	for _, n := range names {
		q, ok := h.opts.Queues[n]
		if !ok {
			errs = append(errs, fmt.Sprintf("unknown queue %q", n))
			continue
		}
		moved, err := q.Redrive(ctx, req.Limit)
		resp.Redriven[n] = moved
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
		}
	}
	resp.OK = len(errs) == 0
	if !resp.OK {
		resp.Error = fmt.Sprint(errs)
		h.opts.Logger.Error("controlfn: redrive failed", "errors", errs)
	}
	return resp
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
