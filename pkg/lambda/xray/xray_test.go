package xray_test

import (
	"context"
	"testing"

	"github.com/plba/plba/pkg/lambda/xray"
)

func TestParse(t *testing.T) {
	sc, ok := xray.Parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	if !ok || sc.TraceID().String() != "5759e988bd862e3fe1be46a994272793" || sc.SpanID().String() != "53995c3f42cd8ad8" || !sc.IsSampled() || !sc.IsRemote() {
		t.Fatalf("%v %v", sc, ok)
	}
	if sc, ok := xray.Parse("Sampled=0;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a:1"); !ok || sc.IsSampled() {
		t.Fatalf("order and extra fields: %v %v", sc, ok)
	}
	for _, bad := range []string{"", "Root=1-5759e988-bd862e3fe1be46a994272793", "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
		"Root=1-5759e988-bd862e3fe1be46a99427279z;Parent=53995c3f42cd8ad8", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", "garbage"} {
		if _, ok := xray.Parse(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestFromInvocation(t *testing.T) {
	t.Setenv("_X_AMZN_TRACE_ID", "env")
	//lint:ignore SA1029 aws-lambda-go's own key is a plain string
	ctx := context.WithValue(context.Background(), "x-amzn-trace-id", "ctx")
	if got := xray.FromInvocation(ctx); got != "ctx" {
		t.Errorf("from ctx: %q", got)
	}
	if got := xray.FromInvocation(context.Background()); got != "env" {
		t.Errorf("from env: %q", got)
	}
}
