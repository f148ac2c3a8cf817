// Package controlfn is the Lambda control function: the split-mode door to
// the ControlPlaneService of package control. It answers the same actions,
// with the same typed results, as the local HTTP control plane and the CLI.
//
// # Events
//
// Two event shapes reach the handler:
//
//   - a direct invoke (aws lambda invoke, the CLI's --lambda): the request
//     object itself, {"action":"status"} or {"action":"dlq.list","queue":"orders"};
//     the answer is a control.Response;
//   - a Function URL request (events.LambdaFunctionURLRequest): the action
//     is the path (/api/v1/ACTION or /ACTION) or, on /, the body's
//     "action"; parameters come from the JSON body (base64 when
//     isBase64Encoded) or, for GET, the query string. The answer is an
//     events.LambdaFunctionURLResponse whose body is the control.Response
//     and whose status code is the error code's HTTP status.
//
// # Split-mode semantics
//
// The control function shares no memory with the poller and worker
// functions. Queue stats, dead letters (SQS DLQ, and those only a source
// still marks), peek, redrive and health of the modules' contributors are
// read from the services themselves; workers, restart and outcomes answer
// not_supported; reload answers not_supported (every function loads its
// configuration at cold start); pause and resume use Options.Pauser when
// the deployment configures one, else not_supported.
//
// # Authentication
//
// Both doors are authenticated by IAM: a direct invoke needs
// lambda:InvokeFunction, the Function URL uses auth type AWS_IAM. A
// Function URL request that carries no IAM authorizer (a URL with auth type
// NONE) may run read actions only.
package controlfn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
)

// Options configure a [Handler].
type Options struct {
	// Queues by logical name; *sqsqueue.Queue lists and redrives its DLQ.
	Queues map[string]control.QueueHandle
	// Health contributors (runtime.Assembly.Health).
	Health []contracts.HealthContributor
	// Sources are the dead letters sources still mark; the control
	// function runs no source, so Build leaves it nil.
	Sources control.SourceDLQ
	// Pauser pauses sources and pools through the AWS API; nil: pause
	// and resume are not supported.
	Pauser control.Pauser
	// Modules whose actions are served (contracts.ActionProvider).
	Modules []contracts.ApplicationModule
	// Build is the build version shown in status.
	Build string
	// ConfigVersion identifies the configuration (a hash, a parameter
	// version).
	ConfigVersion string
	// Config, when set, is shown by the config action. Secret fields must
	// be contracts.Secret, which marshals as [REDACTED].
	Config any
	// HealthTimeout bounds each contributor's Health call; default 5s.
	HealthTimeout time.Duration
	// Logger; default slog.Default(). Audit lines go here.
	Logger *slog.Logger
}

// Handler answers control events. Build it once per cold start.
type Handler struct {
	svc  *control.Service
	opts Options
}

// New returns a handler.
func New(opts Options) (*Handler, error) {
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{opts: opts}
	qs := control.QueueMap{}
	for n, q := range opts.Queues {
		qs[n] = q
	}
	svc, err := control.NewService(control.Options{
		Deployment: control.Split,
		Build:      opts.Build,
		Config:     control.StaticConfig{Ver: opts.ConfigVersion, View: configView(opts.Config)},
		Queues:     qs,
		Health:     h.health,
		Sources:    opts.Sources,
		Pauser:     opts.Pauser,
		Modules:    opts.Modules,
		Logger:     opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("controlfn: %w", err)
	}
	h.svc = svc
	return h, nil
}

// Wrap serves an existing service through the Lambda doors (tests use it
// to prove a local service answers the same over every transport).
func Wrap(svc *control.Service) *Handler { return &Handler{svc: svc} }

// Service is the handler's ControlPlaneService.
func (h *Handler) Service() *control.Service { return h.svc }

func configView(v any) map[string]any {
	switch c := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return c
	}
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"error": "config not shown: " + err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"value": json.RawMessage(b)}
	}
	return m
}

// probe tells the two event shapes apart.
type probe struct {
	Action         *string         `json:"action"`
	Version        string          `json:"version"`
	RawPath        *string         `json:"rawPath"`
	RequestContext json.RawMessage `json:"requestContext"`
}

// Handle answers one event: a direct invoke gets a control.Response, a
// Function URL request an events.LambdaFunctionURLResponse. It returns an
// error only if the event is not JSON at all.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var p probe
	if err := json.Unmarshal(raw, &p); err != nil {
		return control.Response{Error: control.Errorf(control.CodeBadRequest,
			"malformed request: %v; send {\"action\": one of %s}", err, strings.Join(h.svc.Names(), ", "))}, nil
	}
	if p.Action == nil && p.RawPath != nil && len(p.RequestContext) > 0 {
		var req events.LambdaFunctionURLRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return urlResponse(control.Response{Error: control.Errorf(control.CodeBadRequest, "malformed Function URL event: %v", err)}), nil
		}
		return h.HandleURL(ctx, req), nil
	}
	action := ""
	if p.Action != nil {
		action = *p.Action
	}
	return h.svc.Do(ctx, control.Call{Action: action, Params: raw, Principal: invoker(ctx), Authenticated: true}), nil
}

// invoker names a direct invoke's caller for the audit log; Lambda passes
// no caller identity, so the request id ties the line to CloudTrail's
// Invoke event.
func invoker(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return "lambda invoke " + lc.AwsRequestID
	}
	return "lambda invoke"
}

// HandleURL answers a Function URL request.
func (h *Handler) HandleURL(ctx context.Context, req events.LambdaFunctionURLRequest) events.LambdaFunctionURLResponse {
	method := strings.ToUpper(req.RequestContext.HTTP.Method)
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	action := strings.Trim(strings.TrimPrefix(path, strings.TrimSuffix(control.APIPrefix, "/")), "/")
	var params json.RawMessage
	switch method {
	case http.MethodGet:
		q, err := url.ParseQuery(req.RawQueryString)
		if err != nil {
			return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeBadRequest, "query: %v", err)})
		}
		params = control.QueryParams(q)
	case http.MethodPost:
		body := []byte(req.Body)
		if req.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(req.Body)
			if err != nil {
				return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeBadRequest, "body is not base64: %v", err)})
			}
			body = b
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			if ct := header(req.Headers, "content-type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
				return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeForbidden, "POST bodies must be Content-Type: application/json")})
			}
			var obj struct {
				Action string `json:"action"`
			}
			if err := json.Unmarshal(body, &obj); err != nil {
				return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeBadRequest, "the body must be a JSON object: %v", err)})
			}
			if action == "" {
				action = obj.Action
			} else if obj.Action != "" && obj.Action != action {
				return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeBadRequest, "path names %q, body names %q", action, obj.Action)})
			}
			params = body
		}
	default:
		return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeBadRequest, "method %s: use GET or POST", method)})
	}
	if method == http.MethodGet {
		if a, ok := h.svc.Lookup(action); ok && a.Access == control.Mutate {
			return urlResponse(control.Response{Action: action, Error: control.Errorf(control.CodeBadRequest, "%s changes state: use POST with a JSON body", action)})
		}
	}
	principal, iam := "function url", false
	if az := req.RequestContext.Authorizer; az != nil && az.IAM != nil {
		principal, iam = "function url "+az.IAM.UserARN, true
	}
	return urlResponse(h.svc.Do(ctx, control.Call{Action: action, Params: params, Principal: principal, Authenticated: iam}))
}

func header(hs map[string]string, name string) string {
	for k, v := range hs {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func urlResponse(resp control.Response) events.LambdaFunctionURLResponse {
	code := http.StatusOK
	if resp.Error != nil {
		code = resp.Error.Code.HTTPStatus()
	}
	b, _ := json.Marshal(resp)
	return events.LambdaFunctionURLResponse{StatusCode: code, Body: string(b),
		Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}}
}

// health asks every contributor concurrently, each within HealthTimeout.
func (h *Handler) health(ctx context.Context) control.HealthResult {
	res := control.HealthResult{Live: true, Components: []control.ComponentHealth{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range h.opts.Health {
		wg.Go(func() {
			hctx, cancel := context.WithTimeout(ctx, h.opts.HealthTimeout)
			defer cancel()
			hl := safeHealth(hctx, c)
			if hl.Checked.IsZero() {
				hl.Checked = time.Now().UTC()
			}
			mu.Lock()
			res.Components = append(res.Components, control.ComponentHealth{Name: c.Name(), Health: hl})
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(res.Components, func(a, b control.ComponentHealth) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range res.Components {
		res.Status = max(res.Status, c.State)
	}
	res.Ready = res.Status != contracts.HealthDown
	return res
}

// safeHealth calls a contributor; a panic or an overrun is Down.
func safeHealth(ctx context.Context, c contracts.HealthContributor) contracts.Health {
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
	case h := <-done:
		return h
	case <-ctx.Done():
		return contracts.Down("health check did not answer in time")
	}
}
