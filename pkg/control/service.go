package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Access says what an action may do and so what it needs.
type Access int

// Access levels.
const (
	// Read actions report state; they need no token.
	Read Access = iota
	// ReadSensitive actions report payloads (personal data); they need the
	// token and are audited like mutations.
	ReadSensitive
	// Mutate actions change state; they need the token and are audited.
	Mutate
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case ReadSensitive:
		return "read-sensitive"
	default:
		return "mutate"
	}
}

// MarshalText shows the access level by name.
func (a Access) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (a *Access) UnmarshalText(b []byte) error {
	switch string(b) {
	case "read":
		*a = Read
	case "read-sensitive":
		*a = ReadSensitive
	case "mutate":
		*a = Mutate
	default:
		return fmt.Errorf("control: unknown access %q", b)
	}
	return nil
}

// NeedsToken reports whether callers must authenticate.
func (a Access) NeedsToken() bool { return a != Read }

// Action is one entry of the registry.
type Action struct {
	Name    string
	Summary string
	Access  Access
	// Handle decodes params (the request object) and returns a result that
	// is marshalled as JSON.
	Handle func(ctx context.Context, params json.RawMessage) (any, error)
}

// Typed builds an Action from a function with a typed request and
// response: the request is decoded from the call's JSON object.
func Typed[Req, Resp any](name, summary string, access Access, fn func(ctx context.Context, req Req) (Resp, error)) Action {
	return Action{Name: name, Summary: summary, Access: access, Handle: func(ctx context.Context, params json.RawMessage) (any, error) {
		var req Req
		if len(params) > 0 {
			if err := json.Unmarshal(params, &req); err != nil {
				return nil, fmt.Errorf("%w: %v", contracts.ErrInvalidParams, err)
			}
		}
		return fn(ctx, req)
	}}
}

// Code classifies a failed call; every transport answers the same code
// for the same failure.
type Code string

// Error codes.
const (
	CodeBadRequest    Code = "bad_request"
	CodeUnknownAction Code = "unknown_action"
	CodeNotFound      Code = "not_found"
	CodeNotSupported  Code = "not_supported"
	CodeUnauthorized  Code = "unauthorized"
	CodeForbidden     Code = "forbidden"
	CodeTooLarge      Code = "too_large"
	CodeRateLimited   Code = "rate_limited"
	CodeFailed        Code = "failed"
)

// HTTPStatus is the status code HTTP transports answer with.
func (c Code) HTTPStatus() int {
	switch c {
	case "":
		return http.StatusOK
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnknownAction, CodeNotFound:
		return http.StatusNotFound
	case CodeNotSupported:
		return http.StatusNotImplemented
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeRateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusBadGateway
	}
}

// Error is a failed call's typed error.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is lets errors.Is(err, contracts.ErrNotSupported) hold for a decoded
// not_supported answer, so CLI callers branch the same way as in-process
// ones.
func (e *Error) Is(target error) bool {
	switch target {
	case contracts.ErrNotSupported:
		return e.Code == CodeNotSupported
	case contracts.ErrNoSuchItem:
		return e.Code == CodeNotFound
	case contracts.ErrInvalidParams:
		return e.Code == CodeBadRequest
	}
	return false
}

// Errorf returns an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// notSupported is the one answer for an action this deployment cannot
// offer.
func notSupported(d Deployment, action, why string) *Error {
	return Errorf(CodeNotSupported, "%s is not supported in this deployment (%s): %s", action, d, why)
}

// Response answers a call, on every transport.
type Response struct {
	Action string          `json:"action"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Call is one request to the service.
type Call struct {
	// Action names the action.
	Action string
	// Params is the request's JSON object; empty means no parameters.
	Params json.RawMessage
	// Principal says who calls, for the audit log (an address, an IAM ARN).
	Principal string
	// Authenticated is set by the transport once the caller proved it may
	// run actions that need the token (a valid bearer token locally; IAM
	// for Lambda invokes and Function URLs).
	Authenticated bool
}

// Deployment says where the service runs; actions differ by it.
type Deployment string

// Deployments.
const (
	// Local: one process; the service shares memory with the runtime.
	Local Deployment = "local"
	// Split: the AWS control function; it shares no memory with the
	// poller and worker functions.
	Split Deployment = "split"
)

// Service is the ControlPlaneService: one registry of actions that every
// transport (local HTTP, Lambda direct invoke and Function URL, the CLI)
// calls through [Service.Do].
type Service struct {
	deployment Deployment
	actions    map[string]Action
	names      []string
	audit      *slog.Logger
}

// NewService builds the registry from opts: the runtime's own actions, as
// this deployment can offer them, then the modules' actions.
func NewService(opts Options) (*Service, error) {
	if opts.Deployment == "" {
		opts.Deployment = Local
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{deployment: opts.Deployment, actions: map[string]Action{}, audit: opts.Logger.With("audit", true)}
	b := &builtin{opts: opts}
	for _, a := range b.actions() {
		if err := s.Add(a); err != nil {
			return nil, err
		}
	}
	s.mustAdd(Typed("actions", "list the actions this deployment offers", Read,
		func(context.Context, struct{}) (ActionsResult, error) { return s.list(), nil }))
	for _, spec := range opts.Actions {
		if err := s.AddSpec(spec); err != nil {
			return nil, err
		}
	}
	for _, m := range opts.Modules {
		p, ok := m.(contracts.ActionProvider)
		if !ok {
			continue
		}
		for _, spec := range p.Actions() {
			if err := s.AddSpec(spec); err != nil {
				return nil, fmt.Errorf("module %s: %w", m.Name(), err)
			}
		}
	}
	panels, err := s.collectPanels(opts.Modules)
	if err != nil {
		return nil, err
	}
	s.mustAdd(Typed("panels", "the modules' status page panels: read action, columns, row actions", Read,
		func(context.Context, struct{}) (PanelsResult, error) { return PanelsResult{Panels: panels}, nil }))
	return s, nil
}

// PanelsResult answers "panels": what the modules contribute to the status
// page ([contracts.PanelProvider]), in module order.
type PanelsResult struct {
	Panels []contracts.Panel `json:"panels"`
}

// collectPanels gathers the modules' panels and checks that each names
// actions this service serves, so a typo fails at start, not on the page.
func (s *Service) collectPanels(mods []contracts.ApplicationModule) ([]contracts.Panel, error) {
	out := []contracts.Panel{}
	ids := map[string]bool{}
	for _, m := range mods {
		pp, ok := m.(contracts.PanelProvider)
		if !ok {
			continue
		}
		for _, p := range pp.Panels() {
			if p.ID == "" || ids[p.ID] {
				return nil, fmt.Errorf("module %s: panel %q: empty or duplicate id", m.Name(), p.ID)
			}
			ids[p.ID] = true
			if _, ok := s.actions[p.Action]; !ok {
				return nil, fmt.Errorf("module %s: panel %s reads unknown action %q", m.Name(), p.ID, p.Action)
			}
			for _, ra := range p.RowActions {
				if _, ok := s.actions[ra.Action]; !ok {
					return nil, fmt.Errorf("module %s: panel %s: row action %q calls unknown action %q", m.Name(), p.ID, ra.Label, ra.Action)
				}
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *Service) mustAdd(a Action) {
	if err := s.Add(a); err != nil {
		panic(err) // a built-in name clash is a programming error in this package
	}
}

// Add registers an action; names are unique.
func (s *Service) Add(a Action) error {
	if a.Name == "" || a.Handle == nil {
		return errors.New("control: an action needs a name and a handler")
	}
	if _, dup := s.actions[a.Name]; dup {
		return fmt.Errorf("control: action %q registered twice", a.Name)
	}
	s.actions[a.Name] = a
	s.names = append(s.names, a.Name)
	sort.Strings(s.names)
	return nil
}

// AddSpec registers a module's action.
func (s *Service) AddSpec(spec contracts.ActionSpec) error {
	access := Read
	switch {
	case spec.Mutating:
		access = Mutate
	case spec.Sensitive:
		access = ReadSensitive
	}
	return s.Add(Action{Name: spec.Name, Summary: spec.Summary, Access: access, Handle: spec.Handle})
}

// Lookup returns an action by name.
func (s *Service) Lookup(name string) (Action, bool) {
	a, ok := s.actions[name]
	return a, ok
}

// Names lists the registered actions, sorted.
func (s *Service) Names() []string { return slices.Clone(s.names) }

// Deployment reports where the service runs.
func (s *Service) Deployment() Deployment { return s.deployment }

// ActionInfo describes one action for clients.
type ActionInfo struct {
	Name    string `json:"name"`
	Summary string `json:"summary,omitempty"`
	Access  Access `json:"access"`
}

// ActionsResult answers "actions".
type ActionsResult struct {
	Deployment Deployment   `json:"deployment"`
	Actions    []ActionInfo `json:"actions"`
}

func (s *Service) list() ActionsResult {
	out := ActionsResult{Deployment: s.deployment}
	for _, n := range s.names {
		a := s.actions[n]
		out.Actions = append(out.Actions, ActionInfo{Name: n, Summary: a.Summary, Access: a.Access})
	}
	return out
}

// Do runs one call and always returns a Response: failures are typed in
// Response.Error. Actions that need the token are refused unless the
// transport set Call.Authenticated; each of them is audited with one log
// line (principal, action, result), never with parameters, which may hold
// customer data.
func (s *Service) Do(ctx context.Context, c Call) Response {
	resp := Response{Action: c.Action}
	a, ok := s.actions[c.Action]
	if !ok {
		resp.Error = Errorf(CodeUnknownAction, "unknown action %q; known actions: %s", c.Action, strings.Join(s.names, ", "))
		return resp
	}
	if a.Access.NeedsToken() && !c.Authenticated {
		resp.Error = Errorf(CodeUnauthorized, "action %s needs the control token (platform.control.token)", a.Name)
		s.auditLine(c, a, resp.Error)
		return resp
	}
	v, err := safeHandle(ctx, a, c.Params)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(v); err == nil {
			resp.OK, resp.Result = true, b
		}
	}
	if err != nil {
		resp.Error = classify(err)
	}
	if a.Access.NeedsToken() {
		s.auditLine(c, a, resp.Error)
	}
	return resp
}

func (s *Service) auditLine(c Call, a Action, e *Error) {
	result := "ok"
	if e != nil {
		result = string(e.Code)
	}
	who := c.Principal
	if who == "" {
		who = "unknown"
	}
	s.audit.Info("control action", "who", who, "action", a.Name, "access", a.Access.String(), "result", result)
}

// safeHandle runs an action's handler; a panic is a failed call, not a
// dead control plane.
func safeHandle(ctx context.Context, a Action, params json.RawMessage) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("action %s panicked: %v", a.Name, r)
		}
	}()
	return a.Handle(ctx, params)
}

func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, contracts.ErrNotSupported):
		return &Error{Code: CodeNotSupported, Message: err.Error()}
	case errors.Is(err, contracts.ErrInvalidParams):
		return &Error{Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, contracts.ErrNoSuchItem):
		return &Error{Code: CodeNotFound, Message: err.Error()}
	}
	return &Error{Code: CodeFailed, Message: err.Error()}
}

// Decode unmarshals a successful response's result into v, or returns the
// typed *Error of a failed one.
func (r Response) Decode(v any) error {
	if !r.OK {
		if r.Error == nil {
			return Errorf(CodeFailed, "action %s failed without an error", r.Action)
		}
		return r.Error
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, v); err != nil {
		return fmt.Errorf("control: decode %s result: %w", r.Action, err)
	}
	return nil
}
