// Package awspause is the split deployment's pause and resume: a
// control.Pauser over the AWS API. It is a package of its own so that only
// the control function's main links the Lambda and EventBridge clients
// (functions/control passes [FromEnv] as lambda.Options.ControlPauser);
// the poller and worker binaries stay as small as before.
package awspause

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
)

// LambdaAPI is the part of the Lambda client the AWS pauser calls.
type LambdaAPI interface {
	ListEventSourceMappings(ctx context.Context, in *lambda.ListEventSourceMappingsInput, optFns ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error)
	UpdateEventSourceMapping(ctx context.Context, in *lambda.UpdateEventSourceMappingInput, optFns ...func(*lambda.Options)) (*lambda.UpdateEventSourceMappingOutput, error)
}

// EventsAPI is the part of the EventBridge client the AWS pauser calls.
type EventsAPI interface {
	DisableRule(ctx context.Context, in *eventbridge.DisableRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DisableRuleOutput, error)
	EnableRule(ctx context.Context, in *eventbridge.EnableRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.EnableRuleOutput, error)
}

// Pauser is the split deployment's pause: a pool ("pool:…" or
// "worker") is the worker function's SQS event source mapping, disabled
// and enabled again; a source ("source:…" or "poller") is the poller's
// EventBridge schedule rule. Messages wait in SQS and mail waits in the
// mailbox meanwhile; nothing is lost. The control function's role needs
// lambda:UpdateEventSourceMapping on the worker's mapping (and, when only
// the function is named, lambda:ListEventSourceMappings, which AWS grants
// on "*" only), and events:DisableRule and events:EnableRule on the rule.
type Pauser struct {
	Lambda LambdaAPI
	Events EventsAPI
	// WorkerFunction is the worker function's name or ARN.
	WorkerFunction string
	// WorkerMapping, when set, is the UUID of the worker's SQS event
	// source mapping: paused directly, without listing the function's
	// mappings (the CDK stack sets it, so the role needs no "*").
	WorkerMapping string
	// PollerRule is the schedule rule's name.
	PollerRule string
}

var _ control.Pauser = (*Pauser)(nil)

// Pause implements control.Pauser.
func (p *Pauser) Pause(ctx context.Context, name string) (control.PauseResult, error) {
	return p.set(ctx, name, false)
}

// Resume implements control.Pauser.
func (p *Pauser) Resume(ctx context.Context, name string) (control.PauseResult, error) {
	return p.set(ctx, name, true)
}

func (p *Pauser) set(ctx context.Context, name string, enabled bool) (control.PauseResult, error) {
	switch {
	case name == "worker" || strings.HasPrefix(name, "pool:"):
		if p.Lambda == nil || (p.WorkerFunction == "" && p.WorkerMapping == "") {
			return control.PauseResult{}, fmt.Errorf("pause %s: %w: no worker function configured", name, contracts.ErrNotSupported)
		}
		return p.mappings(ctx, name, enabled)
	case name == "poller" || strings.HasPrefix(name, "source:"):
		if p.Events == nil || p.PollerRule == "" {
			return control.PauseResult{}, fmt.Errorf("pause %s: %w: no poller schedule rule configured", name, contracts.ErrNotSupported)
		}
		var err error
		if enabled {
			_, err = p.Events.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: aws.String(p.PollerRule)})
		} else {
			_, err = p.Events.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: aws.String(p.PollerRule)})
		}
		if err != nil {
			return control.PauseResult{}, fmt.Errorf("schedule rule %s: %w", p.PollerRule, err)
		}
		return control.PauseResult{Name: name, State: state(enabled, "schedule rule "+p.PollerRule)}, nil
	}
	return control.PauseResult{}, control.Errorf(control.CodeNotFound,
		"%q: the split deployment pauses \"worker\" (pool:…, the SQS event source mapping) or \"poller\" (source:…, the schedule rule)", name)
}

func state(enabled bool, what string) string {
	if enabled {
		return "running (" + what + " enabled)"
	}
	return "paused (" + what + " disabled)"
}

func (p *Pauser) mappings(ctx context.Context, name string, enabled bool) (control.PauseResult, error) {
	var uuids []string
	in := &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(p.WorkerFunction)}
	for p.WorkerMapping == "" {
		out, err := p.Lambda.ListEventSourceMappings(ctx, in)
		if err != nil {
			return control.PauseResult{}, fmt.Errorf("event source mappings of %s: %w", p.WorkerFunction, err)
		}
		for _, m := range out.EventSourceMappings {
			if m.UUID != nil {
				uuids = append(uuids, *m.UUID)
			}
		}
		if out.NextMarker == nil || *out.NextMarker == "" {
			break
		}
		in.Marker = out.NextMarker
	}
	if p.WorkerMapping != "" {
		uuids = []string{p.WorkerMapping}
	}
	if len(uuids) == 0 {
		return control.PauseResult{}, control.Errorf(control.CodeNotFound, "%s has no event source mapping", p.WorkerFunction)
	}
	for _, id := range uuids {
		if _, err := p.Lambda.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), Enabled: aws.Bool(enabled)}); err != nil {
			return control.PauseResult{}, fmt.Errorf("event source mapping %s: %w", id, err)
		}
	}
	return control.PauseResult{Name: name, State: state(enabled, fmt.Sprintf("%d event source mapping(s) of %s", len(uuids), p.WorkerFunction))}, nil
}

// Environment of the control function for split-mode pause and resume:
// the worker function whose SQS event source mapping a pool pause
// disables, and the poller's schedule rule a source pause disables.
const (
	EnvWorkerFunction = "PLBA_CONTROL_WORKER_FUNCTION"
	EnvWorkerMapping  = "PLBA_CONTROL_WORKER_MAPPING"
	EnvPollerRule     = "PLBA_CONTROL_POLLER_RULE"
)

// FromEnv returns the pauser the environment configures, or nil (pause
// and resume answer not_supported) when neither variable is set.
func FromEnv(ctx context.Context, getenv func(string) string) (control.Pauser, error) {
	fn, mapping, rule := getenv(EnvWorkerFunction), getenv(EnvWorkerMapping), getenv(EnvPollerRule)
	if fn == "" && mapping == "" && rule == "" {
		return nil, nil
	}
	cfg, err := awsconfig.Load(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("awspause: load AWS config: %w", err)
	}
	p := &Pauser{WorkerFunction: fn, WorkerMapping: mapping, PollerRule: rule}
	if fn != "" || mapping != "" {
		p.Lambda = lambda.NewFromConfig(cfg)
	}
	if rule != "" {
		p.Events = eventbridge.NewFromConfig(cfg)
	}
	return p, nil
}
