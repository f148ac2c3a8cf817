package pollerfn

import (
	"context"
	"testing"

	"github.com/plba/plba/pkg/contracts"
)

// A task published during an invocation with an X-Ray header gets the
// invocation's trace as its traceparent; one with its own keeps it; without
// a header nothing is added.
func TestInvocationTraceParent(t *testing.T) {
	var got []contracts.Task
	rec := contracts.PublisherFunc(func(_ context.Context, t contracts.Task) error { got = append(got, t); return nil })
	//lint:ignore SA1029 aws-lambda-go's own key is a plain string
	ctx := context.WithValue(context.Background(), "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	pub := withInvocationTrace(ctx, nil, rec)
	own := "00-11111111111111111111111111111111-2222222222222222-01"
	_ = pub.Publish(ctx, contracts.Task{ID: "a"})
	_ = pub.Publish(ctx, contracts.Task{ID: "b", Attributes: map[string]string{contracts.AttrTraceParent: own}})
	if tp := got[0].Attr(contracts.AttrTraceParent); tp != "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01" {
		t.Errorf("traceparent %q", tp)
	}
	if tp := got[1].Attr(contracts.AttrTraceParent); tp != own {
		t.Errorf("own traceparent replaced: %q", tp)
	}
	t.Setenv("_X_AMZN_TRACE_ID", "")
	if p := withInvocationTrace(context.Background(), nil, rec); p == nil {
		t.Fatal("nil publisher")
	} else {
		got = nil
		_ = p.Publish(context.Background(), contracts.Task{ID: "c"})
		if tp := got[0].Attr(contracts.AttrTraceParent); tp != "" {
			t.Errorf("traceparent without X-Ray: %q", tp)
		}
	}
}
