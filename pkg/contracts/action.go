package contracts

import (
	"context"
	"encoding/json"
	"errors"
)

// ActionProvider is implemented by modules that offer control actions of
// their own (list or show what they stored, review an item). Every
// deployment's control plane — the local HTTP API, the Lambda control
// function, the CLI — calls Actions once after the module registered and
// serves them next to the runtime's own actions, with the same
// authentication and audit.
type ActionProvider interface {
	Actions() []ActionSpec
}

// ActionSpec declares one control action.
type ActionSpec struct {
	// Name is how clients call the action, conventionally "module.verb"
	// (e.g. "items.list"); it must not collide with a runtime action.
	Name string
	// Summary is one line for help output.
	Summary string
	// Mutating actions change state: they need the control token and each
	// call is written to the audit log.
	Mutating bool
	// Sensitive read-only actions reveal stored payloads (personal data):
	// they need the control token like mutating ones.
	Sensitive bool
	// Handle runs the action. params is the request's JSON object (it holds
	// the "action" key too; decode it into a struct and ignore that
	// field). The result is marshalled as JSON. Wrap
	// [ErrInvalidParams] or [ErrNoSuchItem] so the control plane answers
	// with the matching typed error.
	Handle func(ctx context.Context, params json.RawMessage) (any, error)
}

// Errors an action handler wraps so every transport answers the same
// typed error.
var (
	// ErrInvalidParams: the request's parameters are wrong (bad request).
	ErrInvalidParams = errors.New("invalid parameters")
	// ErrNoSuchItem: the item the request names does not exist.
	ErrNoSuchItem = errors.New("no such item")
	// ErrNotSupported: the action cannot be offered in this deployment
	// (e.g. in-process state the split control function does not share).
	ErrNotSupported = errors.New("not supported in this deployment")
)
