package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control/controlcli"
)

// Exit codes (the same values as contracts.ExitOK and friends).
const (
	ExitOK      = contracts.ExitOK
	ExitFailure = contracts.ExitFailure
	// ExitUsage is returned for bad flags and invalid configuration.
	ExitUsage = contracts.ExitUsage
)

// Version is the build version shown by `version`, `--help` and the control
// plane, when [App.Version] is empty; set it with
// -ldflags "-X github.com/plba/plba/pkg/runner.Version=...".
var Version = "dev"

// App is one application as its command line sees it: a name and the
// modules it runs. Its main is
//
//	func main() { runner.Main(runner.App{Name: "shop", Modules: ...}) }
type App struct {
	// Name is the binary's name in usage and error messages.
	Name string
	// Deploy is the application's folder under apps/ (with its
	// plba.app.yaml): `invoke` builds its functions from there. Default
	// Name.
	Deploy string
	// Summary is the first line of --help.
	Summary string
	// Version, when set, wins over the package's Version.
	Version string
	// Modules returns fresh modules for one command; it must do no I/O
	// (modules do theirs in Register). env.Demo is true when the user asked
	// for the demo, or gave no configuration at all to `run`.
	Modules func(env ModuleEnv) []contracts.ApplicationModule
	// Commands are added to the runner's own (run, config, invoke,
	// version) next to those the modules contribute through
	// contracts.CommandProvider.
	Commands []contracts.Command
	// Middleware wraps every routine the modules register (logging,
	// metrics, auth), outermost first.
	Middleware []contracts.RoutineMiddleware
	// Signals subscribes c to the signals `run` acts on; nil means SIGINT,
	// SIGTERM and SIGHUP from the operating system. Tests inject signals
	// through it.
	Signals func(c chan<- os.Signal) (stop func())
}

// ModuleEnv is what [App.Modules] may use to build modules.
type ModuleEnv struct {
	// Demo asks for the application's demo (no external services).
	Demo bool
	// Stdout is the command's standard output (progress lines).
	Stdout io.Writer
}

func (a *App) version() string {
	if a.Version != "" {
		return a.Version
	}
	return Version
}

func (a *App) name() string {
	if a.Name != "" {
		return a.Name
	}
	return "plba"
}

func (a *App) signals(c chan<- os.Signal) func() {
	if a.Signals != nil {
		return a.Signals(c)
	}
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	return func() { signal.Stop(c) }
}

// Main runs the command line of app and exits with its code.
func Main(app App) {
	os.Exit(Run(context.Background(), app, os.Args[1:], os.Stdout, os.Stderr))
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, out, errw io.Writer) int
}

// builtins are the runner's own commands.
func (a *App) builtins() []command {
	return []command{
		{"run", "run the application until SIGINT/SIGTERM (without configuration: its demo, if it has one)", a.runCmd},
		{"config", "check or show the configuration: config check|show", a.configCmd},
		{"invoke", "run a Lambda function locally through the Runtime API emulator (built for this machine)", a.invokeCmd},
		{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) int {
			fmt.Fprintln(out, a.name(), a.version())
			return ExitOK
		}},
	}
}

// contributed lists the control-plane client commands (status, workers,
// queues, dlq, ...), the app's own commands and those its modules provide.
func (a *App) contributed() []contracts.Command {
	cmds := controlcli.Commands(controlcli.Options{Prog: a.name()})
	cmds = append(cmds, a.Commands...)
	if a.Modules == nil {
		return cmds
	}
	for _, m := range a.Modules(ModuleEnv{Stdout: io.Discard}) {
		if p, ok := m.(contracts.CommandProvider); ok {
			cmds = append(cmds, p.Commands()...)
		}
	}
	return cmds
}

func (a *App) usage(w io.Writer, extra []contracts.Command) {
	title := a.Summary
	if title == "" {
		title = "PLBA runner"
	}
	fmt.Fprintf(w, "%s — %s (%s)\n\nUsage:\n  %s <command> [flags]\n\nCommands:\n", a.name(), title, a.version(), a.name())
	for _, c := range a.builtins() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	for _, c := range extra {
		fmt.Fprintf(w, "  %-8s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, `
Run '%s <command> --help' for a command's flags.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.
`, a.name())
}

// Run runs one command line of app (args without the binary's name) and
// returns its exit code. It is Main without the process around it: tests
// and embedding programs call it directly.
func Run(ctx context.Context, app App, args []string, out, errw io.Writer) int {
	a := &app
	extra := a.contributed()
	if len(args) == 0 {
		a.usage(errw, extra)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		a.usage(out, extra)
		return ExitOK
	}
	for _, c := range a.builtins() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], out, errw)
		}
	}
	for _, c := range extra {
		if c.Name == args[0] {
			env := &commandEnv{app: a, name: a.name() + " " + c.Name, out: out, errw: errw, demo: c.Demo}
			defer env.close()
			return c.Run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(errw, "%s: unknown command %q\n\n", a.name(), args[0])
	a.usage(errw, extra)
	return ExitUsage
}

// commandEnv implements contracts.CommandEnv for contributed commands.
type commandEnv struct {
	app       *App
	name      string
	out, errw io.Writer
	demo      bool
	flags     configFlags
	loaded    []*loaded
}

func (e *commandEnv) close() {
	for _, l := range e.loaded {
		_ = l.cfg.Close()
	}
}

func (e *commandEnv) Stdout() io.Writer { return e.out }
func (e *commandEnv) Stderr() io.Writer { return e.errw }

func (e *commandEnv) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.errw)
	e.flags.registerFiles(fs)
	return fs
}

func (e *commandEnv) Config(ctx context.Context) (contracts.Config, error) {
	e.flags.demo = e.demo
	l, err := e.app.loadConfig(ctx, &e.flags, nil, newBootLogger(e.errw), io.Discard)
	if err != nil {
		return nil, err
	}
	e.loaded = append(e.loaded, l)
	return l.cfg, nil
}

func (e *commandEnv) Fail(err error) int { return exitFor(e.errw, e.app.name(), err) }

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
