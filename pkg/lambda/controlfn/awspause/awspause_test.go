package awspause_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/lambda/controlfn/awspause"
)

// fakeAPI records the calls; it stands for the Lambda and EventBridge
// APIs, which have no local emulator here.
type fakeAPI struct {
	calls []string
}

func (f *fakeAPI) ListEventSourceMappings(_ context.Context, in *lambda.ListEventSourceMappingsInput, _ ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error) {
	f.calls = append(f.calls, "list "+aws.ToString(in.FunctionName)+" "+aws.ToString(in.Marker))
	if in.Marker == nil {
		return &lambda.ListEventSourceMappingsOutput{EventSourceMappings: []types.EventSourceMappingConfiguration{{UUID: aws.String("u1")}},
			NextMarker: aws.String("m2")}, nil
	}
	return &lambda.ListEventSourceMappingsOutput{EventSourceMappings: []types.EventSourceMappingConfiguration{{UUID: aws.String("u2")}}}, nil
}

func (f *fakeAPI) UpdateEventSourceMapping(_ context.Context, in *lambda.UpdateEventSourceMappingInput, _ ...func(*lambda.Options)) (*lambda.UpdateEventSourceMappingOutput, error) {
	f.calls = append(f.calls, "update "+aws.ToString(in.UUID)+" enabled="+map[bool]string{true: "true", false: "false"}[aws.ToBool(in.Enabled)])
	return &lambda.UpdateEventSourceMappingOutput{}, nil
}

func (f *fakeAPI) DisableRule(_ context.Context, in *eventbridge.DisableRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.DisableRuleOutput, error) {
	f.calls = append(f.calls, "disable "+aws.ToString(in.Name))
	return &eventbridge.DisableRuleOutput{}, nil
}

func (f *fakeAPI) EnableRule(_ context.Context, in *eventbridge.EnableRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.EnableRuleOutput, error) {
	f.calls = append(f.calls, "enable "+aws.ToString(in.Name))
	return &eventbridge.EnableRuleOutput{}, nil
}

func TestPauser(t *testing.T) {
	api := &fakeAPI{}
	p := &awspause.Pauser{Lambda: api, Events: api, WorkerFunction: "plba-dev-worker", PollerRule: "plba-dev-poll"}
	ctx := context.Background()
	r, err := p.Pause(ctx, "pool:orders")
	if err != nil || !strings.HasPrefix(r.State, "paused (2 event source mapping(s) of plba-dev-worker") {
		t.Fatalf("pause pool: %+v %v", r, err)
	}
	if _, err := p.Resume(ctx, "source:imap"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pause(ctx, "poller"); err != nil {
		t.Fatal(err)
	}
	want := []string{"list plba-dev-worker ", "list plba-dev-worker m2", "update u1 enabled=false", "update u2 enabled=false", "enable plba-dev-poll", "disable plba-dev-poll"}
	if strings.Join(api.calls, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", api.calls, want)
	}
	var ce *control.Error
	if _, err := p.Pause(ctx, "restart-everything"); !errors.As(err, &ce) || ce.Code != control.CodeNotFound {
		t.Fatalf("unknown target: %v", err)
	}
	none := &awspause.Pauser{}
	if _, err := none.Pause(ctx, "worker"); !errors.Is(err, contracts.ErrNotSupported) {
		t.Fatalf("no worker function: %v", err)
	}
	// With the mapping's UUID (as the stack sets it) nothing is listed.
	api.calls = nil
	direct := &awspause.Pauser{Lambda: api, WorkerMapping: "u9"}
	if r, err := direct.Pause(ctx, "worker"); err != nil || !strings.HasPrefix(r.State, "paused (1 event source mapping(s)") ||
		strings.Join(api.calls, "|") != "update u9 enabled=false" {
		t.Fatalf("pause by mapping: %+v %v, calls %q", r, err, api.calls)
	}
	if p, err := awspause.FromEnv(ctx, func(string) string { return "" }); p != nil || err != nil {
		t.Fatalf("FromEnv without variables: %v %v", p, err)
	}
}
