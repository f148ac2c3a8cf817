package runner

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/plba/plba/internal/appmanifest"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/lambda/emulator"
)

// invokeCmd runs a Lambda bootstrap under the Runtime API emulator with one
// event, the habit of `sam local invoke`. Without --bootstrap it builds the
// function for this machine first, from the main package the application's
// manifest names (what `make lambdas-host` builds), so a newcomer's
// `plba invoke worker` never meets the arm64 binary `make lambdas` makes
// for AWS.
func (a *App) invokeCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	fs := flag.NewFlagSet("plba invoke", flag.ContinueOnError)
	event := fs.String("event", "", "`file` with the event JSON (\"-\" reads standard input); default {}")
	bootstrap := fs.String("bootstrap", "", "`path` of a bootstrap binary built for this machine; default: build "+
		"bin/lambda-host/<app>/<function>/bootstrap from apps/<app>/plba.app.yaml (as make lambdas-host does)")
	appName := fs.String("app", a.deployName(), "the application (`name` of its folder under apps/, with its plba.app.yaml)")
	build := fs.Bool("build", true, "without --bootstrap: (re)build the host bootstrap first (needs the source tree and go); false uses the one make lambdas-host built")
	timeout := fs.Duration("timeout", 30*time.Second, "function `timeout`")
	var envs multiFlag
	fs.Var(&envs, "env", "function environment `NAME=value` (repeatable); nothing else of the host's is passed but PATH, as on Lambda")
	inherit := fs.Bool("inherit-env", false, "pass the whole host environment too (hides what the function's role and configuration would lack on AWS)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: plba invoke poller|worker|control [--app NAME] [--event FILE] [--bootstrap PATH] [--build=false] [--env NAME=value]... [--inherit-env] [--timeout 30s]

Runs the function's bootstrap as a child process over the Lambda Runtime API (an emulator of
PLBA's own: next / response / error / init error, deadline and request-id headers), invokes it
once with the event and prints the response. A function error prints its errorType and
errorMessage and exits 1. Without --bootstrap the function is built for this machine first
(bin/lambda-host/<app>/<function>/bootstrap, as make lambdas-host builds it); the arm64
binaries of make lambdas are for AWS and do not run on other machines.

Flags:
`)
		fs.PrintDefaults()
	}
	var fn string
	rest := args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		fn, rest = rest[0], rest[1:]
	}
	if code, ok := parse(fs, rest, errw); !ok {
		return code
	}
	switch fn {
	case "poller", "worker", "control":
	default:
		fmt.Fprintf(errw, "plba invoke: give the function: poller, worker or control (got %q)\n", fn)
		return ExitUsage
	}
	if *bootstrap == "" {
		*bootstrap = filepath.Join("bin", "lambda-host", *appName, fn, "bootstrap")
		if *build {
			if err := buildHost(ctx, *appName, fn, *bootstrap, errw); err != nil {
				fmt.Fprintf(errw, "plba invoke: %v\n", err)
				return ExitUsage
			}
		}
	}
	if _, err := os.Stat(*bootstrap); err != nil {
		fmt.Fprintf(errw, "plba invoke: bootstrap %s: %v (build it with: make lambdas-host)\n", *bootstrap, err)
		return ExitUsage
	}
	if err := checkHostArch(*bootstrap); err != nil {
		fmt.Fprintf(errw, "plba invoke: %v\n", err)
		return ExitUsage
	}
	payload := []byte("{}")
	if *event != "" {
		var err error
		if *event == "-" {
			payload, err = io.ReadAll(os.Stdin)
		} else {
			payload, err = os.ReadFile(*event)
		}
		if err != nil {
			fmt.Fprintf(errw, "plba invoke: read event: %v\n", err)
			return ExitUsage
		}
	}
	if !json.Valid(payload) {
		fmt.Fprintf(errw, "plba invoke: event %s is not valid JSON\n", *event)
		return ExitUsage
	}
	// The function's output is copied from other goroutines.
	errw = syncio.NewWriter(errw)
	env := map[string]string{}
	for _, e := range envs {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			fmt.Fprintf(errw, "plba invoke: --env %q: want NAME=value\n", e)
			return ExitUsage
		}
		env[k] = v
	}
	em, err := emulator.Start(ctx, emulator.Options{
		Bootstrap: *bootstrap, Env: env, InheritEnv: *inherit, FunctionName: fn, Timeout: *timeout,
		Stdout: errw, Stderr: errw, Logger: slog.New(slog.NewTextHandler(errw, nil)),
	})
	if err != nil {
		return invokeError(errw, err)
	}
	defer em.Close()
	resp, err := em.Invoke(ctx, payload)
	if err != nil {
		return invokeError(errw, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, resp, "", "  ") == nil {
		resp = pretty.Bytes()
	}
	fmt.Fprintln(out, string(resp))
	return ExitOK
}

// deployName is the application's folder under apps/.
func (a *App) deployName() string {
	if a.Deploy != "" {
		return a.Deploy
	}
	return a.name()
}

// buildHost builds function fn of application app for this machine into
// out, with the Lambda build's tags, from the main package its manifest
// names. It runs in the working directory, which must be the source tree's
// root (where apps/ is).
func buildHost(ctx context.Context, app, fn, out string, errw io.Writer) error {
	m, err := appmanifest.Read(filepath.Join("apps", app))
	if err != nil {
		return fmt.Errorf("build the %s bootstrap: %w (run in the source tree's root, give --app, or --bootstrap PATH)", fn, err)
	}
	fmt.Fprintf(errw, "plba invoke: building %s from %s for %s/%s\n", out, m.Mains[fn], goruntime.GOOS, goruntime.GOARCH)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", appmanifest.LambdaTags, "-trimpath", "-o", out, m.Mains[fn])
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goruntime.GOOS, "GOARCH="+goruntime.GOARCH)
	cmd.Stdout, cmd.Stderr = errw, errw
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the %s bootstrap (%s): %w", fn, m.Mains[fn], err)
	}
	return nil
}

// elfMachines maps Go's architectures to ELF machine types.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390,
}

// checkHostArch reports a bootstrap this machine cannot execute, with the
// command that builds one it can, instead of the kernel's "exec format
// error". Files that are not ELF (scripts, other systems' formats) pass:
// the emulator reports what exec says.
func checkHostArch(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	want, ok := elfMachines[goruntime.GOARCH]
	if !ok || f.Machine == want {
		return nil
	}
	return fmt.Errorf("bootstrap %s is built for %s, this machine is %s/%s: build a host bootstrap with make lambdas-host, or drop --bootstrap and plba invoke builds it",
		path, strings.TrimPrefix(f.Machine.String(), "EM_"), goruntime.GOOS, goruntime.GOARCH)
}

func invokeError(errw io.Writer, err error) int {
	var fe *emulator.FunctionError
	if errors.As(err, &fe) {
		fmt.Fprintf(errw, "plba invoke: function error: %v\n", fe)
		return ExitFailure
	}
	fmt.Fprintf(errw, "plba invoke: %v\n", err)
	return ExitFailure
}
