package contracts

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Routine does the business work for one task. It must be safe for concurrent
// use: a pool calls it from several goroutines. It must honour ctx: a per-task
// timeout or a forced stop cancels it.
type Routine interface {
	Run(ctx context.Context, task Task) error
}

// RoutineFunc adapts a function to [Routine].
type RoutineFunc func(ctx context.Context, task Task) error

// Run calls f(ctx, task).
func (f RoutineFunc) Run(ctx context.Context, task Task) error { return f(ctx, task) }

// RoutineMiddleware wraps a routine, in the style of net/http middleware.
type RoutineMiddleware func(Routine) Routine

// retryError asks for a redelivery after a given delay.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.after, e.err)
}
func (e *retryError) Unwrap() error { return e.err }

// permanentError asks for the task to be dead-lettered at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Retry marks err as transient: the task is redelivered after the given
// delay (never before). A nil err yields nil. A negative delay counts as 0.
func Retry(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	if after < 0 {
		after = 0
	}
	return &retryError{err: err, after: after}
}

// Permanent marks err as final: retrying cannot help, the task goes to the
// dead-letter queue at once. A nil err yields nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// RetryAfter reports the delay requested by [Retry] anywhere in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// PanicError is the error a worker reports when a routine panicked. The
// panic is recovered; the task is nacked like on any other error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("routine panicked: %v", e.Value) }
