package cli

import (
	"context"
	"io"
)

func ordersCmd(ctx context.Context, args []string, out, errw io.Writer) int { return ExitUsage }
func invokeCmd(ctx context.Context, args []string, out, errw io.Writer) int { return ExitUsage }
