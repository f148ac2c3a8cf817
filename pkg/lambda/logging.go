package lambda

import (
	"context"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/plba/plba/pkg/runtime"
)

// newLogging returns the function's component loggers: JSON on w (Lambda
// sends stderr to CloudWatch Logs) whatever platform.log.format says,
// levels from platform.log, the function's name and version on every
// record and the request id on records logged with the invocation's
// context.
func newLogging(w io.Writer, lc runtime.LogConfig, fn Function, getenv func(string) string) (*runtime.Logging, error) {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}).WithAttrs([]slog.Attr{
		slog.String("function", fn.String()),
		slog.String("function_version", getenv("AWS_LAMBDA_FUNCTION_VERSION")),
	})
	return runtime.NewLoggingHandler(requestIDHandler{h}, lc)
}

// LogRequestID is the attribute of the invocation's request id.
const LogRequestID = "aws_request_id"

type requestIDHandler struct{ h slog.Handler }

func (r requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return r.h.Enabled(ctx, l)
}

func (r requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if ctx != nil {
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
			rec.AddAttrs(slog.String(LogRequestID, lc.AwsRequestID))
		}
	}
	return r.h.Handle(ctx, rec)
}

func (r requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{r.h.WithAttrs(a)}
}
func (r requestIDHandler) WithGroup(n string) slog.Handler { return requestIDHandler{r.h.WithGroup(n)} }
