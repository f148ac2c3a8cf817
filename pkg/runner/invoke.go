package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/lambda/emulator"
)

// invokeCmd runs a built Lambda bootstrap under the Runtime API emulator
// with one event, the habit of `sam local invoke`.
func invokeCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	fs := flag.NewFlagSet("plba invoke", flag.ContinueOnError)
	event := fs.String("event", "", "`file` with the event JSON (\"-\" reads standard input); default {}")
	bootstrap := fs.String("bootstrap", "", "`path` of the bootstrap binary; default bin/lambda/<function>/bootstrap (make lambdas)")
	timeout := fs.Duration("timeout", 30*time.Second, "function `timeout`")
	var envs multiFlag
	fs.Var(&envs, "env", "function environment `NAME=value` (repeatable); nothing else of the host's is passed but PATH, as on Lambda")
	inherit := fs.Bool("inherit-env", false, "pass the whole host environment too (hides what the function's role and configuration would lack on AWS)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: plba invoke poller|worker|control [--event FILE] [--bootstrap PATH] [--env NAME=value]... [--timeout 30s]

Runs the function's bootstrap as a child process over the Lambda Runtime API (an emulator of
PLBA's own: next / response / error / init error, deadline and request-id headers), invokes it
once with the event and prints the response. A function error prints its errorType and
errorMessage and exits 1. The bootstrap must be built for this machine's architecture
(go build -tags lambda.norpc,plba_lambda,validator_novalidatefn -o PATH ./functions/NAME builds it for
this machine; make lambdas builds linux/arm64 for AWS).

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
		*bootstrap = filepath.Join("bin", "lambda", fn, "bootstrap")
	}
	if _, err := os.Stat(*bootstrap); err != nil {
		fmt.Fprintf(errw, "plba invoke: bootstrap %s: %v (build it with: make lambdas)\n", *bootstrap, err)
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

func invokeError(errw io.Writer, err error) int {
	var fe *emulator.FunctionError
	if errors.As(err, &fe) {
		fmt.Fprintf(errw, "plba invoke: function error: %v\n", fe)
		return ExitFailure
	}
	fmt.Fprintf(errw, "plba invoke: %v\n", err)
	return ExitFailure
}
