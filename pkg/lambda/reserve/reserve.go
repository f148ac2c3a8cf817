// Package reserve holds the one rule for how long before an invocation's
// deadline the Lambda worker and poller stop (platform.lambda.reserve),
// apart from both so that each function links only its own handler.
package reserve

import "time"

// Default returns the reserve for an invocation with left time to its
// deadline: a tenth of it, at least 100ms and at most 3s (a 30 s function
// stops starting work 3 s before its deadline).
func Default(left time.Duration) time.Duration {
	return min(max(left/10, 100*time.Millisecond), 3*time.Second)
}
