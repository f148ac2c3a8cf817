package runtime

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
)

// Log attribute keys of a record logged inside a task.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
	LogTaskID  = "task_id"
	LogQueue   = "queue"
	LogKind    = "kind"
)

// taskCtx carries the running task's identity for log records: one
// allocation per task (a context.WithValue plus a struct would be two).
type taskCtx struct {
	context.Context
	id, queue, kind string
}

type taskCtxKey struct{}

var propagator = propagation.TraceContext{}

func (c *taskCtx) Value(key any) any {
	if key == (taskCtxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// WithTask returns ctx carrying task's id and kind and its queue, which
// ContextHandler adds to every record logged with it.
func WithTask(ctx context.Context, queue string, task contracts.Task) context.Context {
	return &taskCtx{Context: ctx, id: task.ID, queue: queue, kind: task.Kind}
}

// taskMiddleware puts the task's identity in the routine's context (the
// assembly adds it outermost to every routine of queue).
func taskMiddleware(queue string) contracts.RoutineMiddleware {
	return func(next contracts.Routine) contracts.Routine {
		return contracts.RoutineFunc(func(ctx context.Context, t contracts.Task) error {
			if !trace.SpanContextFromContext(ctx).IsValid() && t.Attributes[contracts.AttrTraceParent] != "" {
				// No tracer: the lines still name the trace the task
				// belongs to (span_id is then the publisher's span).
				ctx = propagator.Extract(ctx, propagation.MapCarrier(t.Attributes))
			}
			return next.Run(WithTask(ctx, queue, t), t)
		})
	}
}

// ContextHandler adds to every record logged with a context (InfoContext,
// ...) the trace_id and span_id of the context's span and, inside a task,
// task_id, queue and kind. Records logged without a context are passed on
// as they are.
func ContextHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ h slog.Handler }

func (c ctxHandler) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
		}
		if t, ok := ctx.Value(taskCtxKey{}).(*taskCtx); ok {
			r.AddAttrs(slog.String(LogTaskID, t.id), slog.String(LogQueue, t.queue), slog.String(LogKind, t.kind))
		}
	}
	return c.h.Handle(ctx, r)
}

func (c ctxHandler) WithAttrs(a []slog.Attr) slog.Handler { return ctxHandler{c.h.WithAttrs(a)} }
func (c ctxHandler) WithGroup(n string) slog.Handler      { return ctxHandler{c.h.WithGroup(n)} }
