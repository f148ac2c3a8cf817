// Package xray reads AWS X-Ray trace headers (Lambda's _X_AMZN_TRACE_ID,
// an SQS record's AWSTraceHeader) as OpenTelemetry span contexts, so
// PLBA's spans can link the X-Ray trace Lambda and SQS keep. It is written
// here because go.opentelemetry.io/contrib/propagators/aws is deprecated;
// the header format is small:
//
//	Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1
//
// Root's epoch (8 hex digits) and unique part (24) are the 32-hex W3C trace
// ID; Parent is the span ID; Sampled=1 sets the sampled flag.
package xray

import (
	"context"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Parse returns the span context a header names, and whether it named a
// valid one (a header without Parent, as the root of a trace Lambda starts
// may be, has no span to link).
func Parse(header string) (trace.SpanContext, bool) {
	var root, parent string
	sampled := false
	for part := range strings.SplitSeq(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v == "1"
		}
	}
	// 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx
	if len(root) != 35 || root[:2] != "1-" || root[10] != '-' {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(root[2:10] + root[11:])
	if err != nil {
		return trace.SpanContext{}, false
	}
	sid, err := trace.SpanIDFromHex(parent)
	if err != nil {
		return trace.SpanContext{}, false
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// ctxKey is the key aws-lambda-go stores the invocation's trace header
// under (a plain string, its choice).
const ctxKey = "x-amzn-trace-id"

// FromInvocation returns the invocation's X-Ray header: the value
// aws-lambda-go puts in the handler's context, else _X_AMZN_TRACE_ID.
func FromInvocation(ctx context.Context) string {
	if v, ok := ctx.Value(ctxKey).(string); ok && v != "" {
		return v
	}
	return os.Getenv("_X_AMZN_TRACE_ID")
}
