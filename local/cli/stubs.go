package cli

import (
	"context"
	"fmt"
	"io"
)

func invokeCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	fmt.Fprintln(errw, "Usage: plba invoke poller|worker|control --event FILE")
	return ExitOK
}
