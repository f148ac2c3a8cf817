// Package cli implements the plba command. Main is separate from package
// main so tests run the real command in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	// ExitUsage is returned for bad flags and invalid configuration.
	ExitUsage = 2
)

// Version is the build version, set with -ldflags "-X github.com/plba/plba/local/cli.Version=...".
var Version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, out, errw io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run application modules (default: the mail order bot; without a config: its demo)", runCmd},
		{"config", "check or show configuration: plba config check|show", configCmd},
		{"orders", "list or show stored orders of the mail order bot: plba orders list|show", ordersCmd},
		{"invoke", "run a Lambda bootstrap locally through the Runtime API emulator", invokeCmd},
		{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) int {
			fmt.Fprintln(out, "plba", Version)
			return ExitOK
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `plba — PLBA local runner (%s)

Usage:
  plba <command> [flags]

Commands:
`, Version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'plba <command> --help' for a command's flags.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.
`)
}

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, out, errw io.Writer) int {
	if len(args) == 0 {
		usage(errw)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(out)
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], out, errw)
		}
	}
	fmt.Fprintf(errw, "plba: unknown command %q\n\n", args[0])
	usage(errw)
	return ExitUsage
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parse parses flags; it returns (code, false) when the caller must return.
func parse(fs *flag.FlagSet, args []string, errw io.Writer) (int, bool) {
	fs.SetOutput(errw)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return 0, true
}
