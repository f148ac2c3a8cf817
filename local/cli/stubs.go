package cli

import (
	"context"
	"io"
)

func invokeCmd(ctx context.Context, args []string, out, errw io.Writer) int { return ExitUsage }
