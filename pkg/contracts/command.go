package contracts

import (
	"context"
	"flag"
	"io"
)

// Exit codes every command returns; the runner and the commands an
// application adds share them.
const (
	ExitOK      = 0
	ExitFailure = 1
	// ExitUsage is returned for bad flags and invalid configuration.
	ExitUsage = 2
)

// Command is a subcommand an application adds to its runner's command line
// (the mail order bot adds `orders`). A module contributes commands by
// implementing [CommandProvider]; the runner lists them in its help and
// runs them like its own.
type Command struct {
	// Name is the word after the binary's name.
	Name string
	// Summary is one line for the runner's help.
	Summary string
	// Demo makes [CommandEnv.Config] load the configuration over the
	// application's demo defaults, for commands that read only part of it
	// (a store) and must not fail on sections only `run` needs.
	Demo bool
	// Run runs the command with the arguments after its name and returns
	// its exit code.
	Run func(ctx context.Context, env CommandEnv, args []string) int
}

// CommandProvider is implemented by modules that add commands.
type CommandProvider interface {
	Commands() []Command
}

// CommandEnv is what the runner gives a command.
type CommandEnv interface {
	// Stdout and Stderr are the command's output streams.
	Stdout() io.Writer
	Stderr() io.Writer
	// FlagSet returns a flag set that already has the runner's
	// configuration flags (--config FILE, --set key=value); the command adds
	// its own and parses its arguments with it.
	FlagSet(name string) *flag.FlagSet
	// Config loads and validates the configuration the parsed flags name,
	// exactly as `run` would (defaults, files, environment, flags, enabled
	// providers). Call it once, after parsing.
	Config(ctx context.Context) (Config, error)
	// Fail prints err and returns its exit code: ExitUsage for invalid
	// configuration, ExitFailure otherwise.
	Fail(err error) int
}
