// Package controlcli is the command-line client of the ControlPlaneService:
// plba status, workers, queues, dlq list|peek|redrive|purge, pause, resume,
// restart, outcomes, health, reload and action. Each command talks to the
// local control plane over HTTP (--url, default from the configuration;
// the token from platform.control.token_file) or to a deployed control
// function (--lambda FUNCTION, through the Lambda Invoke API), and prints
// the same output either way: aligned text for people, --json for scripts.
//
// The runner mounts [Commands]; this package is never linked into a Lambda
// function (it is the only importer of the Lambda service client).
//
// Exit codes: 0 success, 1 the action failed (including "not supported in
// this deployment") or the control plane could not be reached, 2 bad
// usage.
package controlcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/runtime"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Options configure the commands.
type Options struct {
	// NewInvoker builds the Lambda client for --lambda; default the AWS
	// SDK's default configuration (awsconfig.Load) for region.
	NewInvoker func(ctx context.Context, region string) (Invoker, error)
	// Getenv; default os.Getenv (PLBA_CONTROL_URL, PLBA_CONTROL_TOKEN).
	Getenv func(string) string
	// Prog prefixes usage and error messages; default "plba".
	Prog string
}

// Commands returns the control commands for a runner to mount. Each reads
// platform.control (listen address, token, token file) through the
// runner's configuration flags (--config FILE, --set key=value) unless
// --url/--lambda and a token say where to go.
func Commands(o Options) []contracts.Command {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Prog == "" {
		o.Prog = "plba"
	}
	if o.NewInvoker == nil {
		o.NewInvoker = func(ctx context.Context, region string) (Invoker, error) {
			cfg, err := awsconfig.Load(ctx, region)
			if err != nil {
				return nil, err
			}
			return lambda.NewFromConfig(cfg), nil
		}
	}
	c := &cli{o: o}
	cmd := func(name, summary string, run func(ctx context.Context, env contracts.CommandEnv, args []string) int) contracts.Command {
		// Demo: platform.control is all these commands read; the demo
		// defaults stand in for application sections a file may lack.
		return contracts.Command{Name: name, Summary: summary, Demo: true, Run: run}
	}
	return []contracts.Command{
		cmd("status", "control plane status: runtime, health, workers, queues", c.cmd("status", c.status)),
		cmd("health", "every component's health", c.cmd("health", c.health)),
		cmd("workers", "workers, sources and pools", c.cmd("workers", c.workers)),
		cmd("queues", "queue depths and counters", c.cmd("queues", c.queues)),
		cmd("dlq", "dead letters: dlq list|peek|redrive|purge QUEUE", c.dlq),
		cmd("pause", "pause a source or pool: pause NAME", c.cmd("pause", c.target("pause"))),
		cmd("resume", "resume a paused source or pool: resume NAME", c.cmd("resume", c.target("resume"))),
		cmd("restart", "restart a worker as a fresh instance: restart NAME", c.cmd("restart", c.target("restart"))),
		cmd("outcomes", "recent task outcomes: outcomes [--queue Q] [--limit N]", c.cmd("outcomes", c.outcomes)),
		cmd("reload", "reload the configuration", c.cmd("reload", c.reload)),
		cmd("action", "run any control action: action NAME [key=value]...", c.cmd("action", c.action)),
	}
}

type cli struct{ o Options }

// common are the flags every command shares.
type common struct {
	url, tokenFile, function, region string
	asJSON                           bool
	timeout                          time.Duration
	limit, maxBytes                  int
	queue                            string
}

// run is one command's body: it gets the client, the positional
// arguments and the flags.
type run func(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error

// usageError marks a usage problem (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func (c *cli) flags(env contracts.CommandEnv, name string, f *common) *flag.FlagSet {
	fs := env.FlagSet(c.o.Prog + " " + name)
	fs.StringVar(&f.url, "url", "", "local control plane `URL` (default: http:// + platform.control.listen, or $PLBA_CONTROL_URL)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the control token from `FILE` (default: platform.control.token_file; $PLBA_CONTROL_TOKEN wins)")
	fs.StringVar(&f.function, "lambda", "", "call the deployed control `FUNCTION` (name or ARN) through the Lambda Invoke API instead")
	fs.StringVar(&f.region, "region", "", "AWS `region` for --lambda (default: the SDK's)")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "give up after `duration`")
	switch name {
	case "dlq list", "dlq redrive", "outcomes":
		fs.IntVar(&f.limit, "limit", 0, "at most `N` (0: the action's default; redrive: all)")
	case "dlq peek":
		fs.IntVar(&f.maxBytes, "max-bytes", 0, "show at most `N` payload bytes (default 4096, at most 65536)")
	}
	if name == "outcomes" {
		fs.StringVar(&f.queue, "queue", "", "only this `queue`")
	}
	return fs
}

// parseInterleaved parses flags that may come after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *cli) cmd(name string, body run) func(ctx context.Context, env contracts.CommandEnv, args []string) int {
	return func(ctx context.Context, env contracts.CommandEnv, args []string) int {
		return c.exec(ctx, env, name, body, args)
	}
}

func (c *cli) exec(ctx context.Context, env contracts.CommandEnv, name string, body run, args []string) int {
	out, errw := env.Stdout(), env.Stderr()
	var f common
	fs := c.flags(env, name, &f)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cl, err := c.client(ctx, env, &f)
	var ce configErr
	if errors.As(err, &ce) {
		return env.Fail(ce.err)
	}
	if err == nil {
		err = body(ctx, cl, pos, &f, out)
	}
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(errw, "%s %s: %v\n", c.o.Prog, name, err)
		return ExitUsage
	default:
		fmt.Fprintf(errw, "%s %s: %v\n", c.o.Prog, name, err)
		var ce *control.Error
		if errors.As(err, &ce) && ce.Code == control.CodeUnauthorized {
			fmt.Fprintf(errw, "hint: the control plane writes its token to platform.control.token_file when it starts on loopback; pass --token-file or set PLBA_CONTROL_TOKEN\n")
		}
		return ExitFailure
	}
}

// configErr carries a configuration failure to env.Fail (exit 2 for an
// invalid configuration).
type configErr struct{ err error }

func (e configErr) Error() string { return e.err.Error() }

// client picks the transport from the flags.
func (c *cli) client(ctx context.Context, env contracts.CommandEnv, f *common) (Client, error) {
	if f.function != "" {
		if f.url != "" {
			return nil, usageError{"give --url or --lambda, not both"}
		}
		api, err := c.o.NewInvoker(ctx, f.region)
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		return &LambdaClient{Function: f.function, API: api}, nil
	}
	url := f.url
	if url == "" {
		url = c.o.Getenv("PLBA_CONTROL_URL")
	}
	tok := contracts.Secret(c.o.Getenv("PLBA_CONTROL_TOKEN"))
	ep := runtime.DefaultPlatformConfig().Control
	if url == "" || (tok.IsZero() && f.tokenFile == "") {
		cfg, err := env.Config(ctx)
		if err != nil {
			return nil, configErr{err}
		}
		if err := cfg.Decode("platform.control", &ep); err != nil {
			return nil, configErr{err}
		}
	}
	if url == "" {
		if ep.Listen == "" || ep.Listen == "off" {
			return nil, usageError{"platform.control.listen is off: give --url"}
		}
		host, port, err := net.SplitHostPort(ep.Listen)
		if err != nil {
			return nil, usageError{fmt.Sprintf("platform.control.listen %q: %v", ep.Listen, err)}
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		url = "http://" + net.JoinHostPort(host, port)
	}
	if tok.IsZero() {
		tok = ep.Token
	}
	if tok.IsZero() {
		path := f.tokenFile
		if path == "" {
			path = ep.TokenFile
		}
		// A missing file is fine for read actions; the server says when a
		// token is needed.
		if t, err := control.ReadTokenFile(path); err == nil {
			tok = t
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return &HTTPClient{URL: url, Token: tok}, nil
}

// call runs an action and decodes its result into v; it prints the result
// as JSON with --json and returns printed=true.
func call(ctx context.Context, cl Client, f *common, out io.Writer, action string, params, v any) (printed bool, err error) {
	resp, err := cl.Do(ctx, action, params)
	if err != nil {
		return false, err
	}
	if err := resp.Decode(v); err != nil {
		if f.asJSON && resp.Error != nil {
			// Scripts get the typed error on stdout too.
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			_ = enc.Encode(map[string]any{"error": resp.Error})
		}
		return false, err
	}
	if f.asJSON {
		var buf any
		_ = json.Unmarshal(resp.Result, &buf)
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return true, enc.Encode(buf)
	}
	return false, nil
}

func noArgs(pos []string) error {
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	return nil
}

func (c *cli) status(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	var st control.StatusResult
	if done, err := call(ctx, cl, f, out, "status", nil, &st); done || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "deployment\t%s\n", st.Deployment)
	if st.State != "" {
		fmt.Fprintf(tw, "state\t%s\n", st.State)
	}
	if st.Uptime != "" {
		fmt.Fprintf(tw, "uptime\t%s\n", st.Uptime)
	}
	if len(st.Modules) > 0 {
		fmt.Fprintf(tw, "modules\t%s\n", strings.Join(st.Modules, ", "))
	}
	if st.Build != "" {
		fmt.Fprintf(tw, "build\t%s\n", st.Build)
	}
	if st.ConfigVersion != "" {
		fmt.Fprintf(tw, "config\t%s\n", st.ConfigVersion)
	}
	fmt.Fprintf(tw, "health\t%s (live %t, ready %t)\n", st.Health.Status, st.Health.Live, st.Health.Ready)
	// Components that are not up say why (e.g. replies a crash left
	// unconfirmed), so status alone tells an operator where to look.
	for _, c := range st.Health.Components {
		if c.State != contracts.HealthUp {
			fmt.Fprintf(tw, "  %s\t%s: %s\n", c.Name, c.State, c.Message)
		}
	}
	_ = tw.Flush()
	if st.Workers != nil {
		fmt.Fprintln(out)
		printWorkers(out, st.Workers)
	}
	fmt.Fprintln(out)
	printQueues(out, st.QueuesResult)
	return nil
}

func (c *cli) health(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	var h control.HealthResult
	if done, err := call(ctx, cl, f, out, "health", nil, &h); done || err != nil {
		return err
	}
	fmt.Fprintf(out, "health %s (live %t, ready %t)\n", h.Status, h.Live, h.Ready)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tMESSAGE")
	for _, c := range h.Components {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.State, c.Message)
	}
	return tw.Flush()
}

func printWorkers(out io.Writer, ws []contracts.WorkerStatus) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tKIND\tSTATE\tIN FLIGHT\tSUCCEEDED\tFAILED\tPUBLISHED\tRESTARTS\tLAST ERROR")
	for _, w := range ws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", w.Name, w.Kind, w.State, w.InFlight, w.Succeeded, w.Failed, w.Published, w.Restarts, w.LastError)
	}
	_ = tw.Flush()
}

func printQueues(out io.Writer, q control.QueuesResult) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tBACKEND\tREADY\tIN FLIGHT\tDELAYED\tDEAD\tPUBLISHED\tACKED\tNACKED")
	for _, s := range q.Queues {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", s.Name, s.Backend, s.Ready, s.InFlight, s.Delayed, s.Dead, count(s.Published), count(s.Acked), count(s.Nacked))
	}
	for n, e := range q.QueueErrors {
		fmt.Fprintf(tw, "%s\terror: %s\n", n, e)
	}
	_ = tw.Flush()
}

// count shows -1 (unknown for remote backends) as "-".
func count(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func (c *cli) workers(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	var w control.WorkersResult
	if done, err := call(ctx, cl, f, out, "workers", nil, &w); done || err != nil {
		return err
	}
	printWorkers(out, w.Workers)
	return nil
}

func (c *cli) queues(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	var q control.QueuesResult
	if done, err := call(ctx, cl, f, out, "queues", nil, &q); done || err != nil {
		return err
	}
	printQueues(out, q)
	return nil
}

const dlqUsage = `Usage:
  %[1]s dlq list QUEUE [--limit N]        dead letters of QUEUE (ids, kinds, reasons; no payloads)
  %[1]s dlq peek QUEUE ID [--max-bytes N] one dead letter with its payload (bounded, secrets redacted)
  %[1]s dlq redrive QUEUE [--limit N]     move dead letters back to the queue (all without --limit)
  %[1]s dlq purge QUEUE                   drop QUEUE's dead letters
Shared flags: --url URL | --lambda FUNCTION [--region R], --token-file FILE, --json, --config FILE, --set k=v
`

func (c *cli) dlq(ctx context.Context, env contracts.CommandEnv, args []string) int {
	errw := env.Stderr()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(errw, dlqUsage, c.o.Prog)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	sub := args[0]
	var body run
	switch sub {
	case "list":
		body = c.dlqList
	case "peek":
		body = c.dlqPeek
	case "redrive":
		body = c.dlqRedrive
	case "purge":
		body = c.dlqPurge
	default:
		fmt.Fprintf(errw, "%s dlq: unknown subcommand %q\n", c.o.Prog, sub)
		fmt.Fprintf(errw, dlqUsage, c.o.Prog)
		return ExitUsage
	}
	return c.exec(ctx, env, "dlq "+sub, body, args[1:])
}

func oneQueue(pos []string, extra ...string) (string, []string, error) {
	if len(pos) != 1+len(extra) {
		want := "QUEUE"
		for _, e := range extra {
			want += " " + e
		}
		return "", nil, usageError{"give " + want}
	}
	return pos[0], pos[1:], nil
}

func (c *cli) dlqList(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	q, _, err := oneQueue(pos)
	if err != nil {
		return err
	}
	var res control.DeadLettersResult
	if done, err := call(ctx, cl, f, out, "dlq.list", control.QueueRequest{Queue: q, Limit: f.limit}, &res); done || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tATTEMPTS\tAT\tORIGIN\tREASON")
	for _, d := range res.DeadLetters {
		at := ""
		if !d.At.IsZero() {
			at = d.At.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Kind, d.Attempts, at, d.Origin, d.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "%d dead letter(s) in %s\n", len(res.DeadLetters), q)
	return nil
}

func (c *cli) dlqPeek(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	q, rest, err := oneQueue(pos, "ID")
	if err != nil {
		return err
	}
	var res control.PeekResult
	if done, err := call(ctx, cl, f, out, "dlq.peek", control.PeekRequest{Queue: q, ID: rest[0], MaxBytes: f.maxBytes}, &res); done || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nkind\t%s\nattempts\t%d\norigin\t%s\n", res.ID, res.Kind, res.Attempts, res.Origin)
	if res.Ref != "" {
		fmt.Fprintf(tw, "ref\t%s\n", res.Ref)
	}
	if res.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", res.Reason)
	}
	trunc := ""
	if res.Truncated {
		trunc = ", truncated"
	}
	fmt.Fprintf(tw, "payload\t%d bytes (%s%s)\n", res.PayloadBytes, res.Encoding, trunc)
	_ = tw.Flush()
	fmt.Fprintln(out)
	fmt.Fprintln(out, res.Payload)
	return nil
}

func (c *cli) dlqRedrive(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	q, _, err := oneQueue(pos)
	if err != nil {
		return err
	}
	var res control.RedriveResult
	if done, err := call(ctx, cl, f, out, "dlq.redrive", control.QueueRequest{Queue: q, Limit: f.limit}, &res); done || err != nil {
		return err
	}
	fmt.Fprintf(out, "redrove %d dead letter(s) of %s", res.Redriven, q)
	if res.FromSource > 0 {
		fmt.Fprintf(out, "; released %d marked by the source for polling", res.FromSource)
	}
	fmt.Fprintln(out)
	return nil
}

func (c *cli) dlqPurge(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	q, _, err := oneQueue(pos)
	if err != nil {
		return err
	}
	var res control.PurgeResult
	if done, err := call(ctx, cl, f, out, "dlq.purge", control.QueueRequest{Queue: q}, &res); done || err != nil {
		return err
	}
	fmt.Fprintf(out, "purged %d dead letter(s) of %s", res.Purged, q)
	if res.FromSource > 0 {
		fmt.Fprintf(out, "; settled %d marked by the source", res.FromSource)
	}
	fmt.Fprintln(out)
	if res.Note != "" {
		fmt.Fprintln(out, "note:", res.Note)
	}
	return nil
}

func (c *cli) target(action string) run {
	return func(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
		if len(pos) != 1 {
			return usageError{"give one worker, source or pool NAME (see `workers`)"}
		}
		var res control.PauseResult
		if done, err := call(ctx, cl, f, out, action, control.TargetRequest{Name: pos[0]}, &res); done || err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s\n", res.Name, res.State)
		return nil
	}
}

func (c *cli) outcomes(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	var res control.OutcomesResult
	if done, err := call(ctx, cl, f, out, "outcomes", control.OutcomesRequest{Queue: f.queue, Limit: f.limit}, &res); done || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tQUEUE\tID\tKIND\tATTEMPT\tOUTCOME\tDURATION\tERROR")
	for _, o := range res.Outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", o.At.UTC().Format("15:04:05.000"), o.Queue, o.ID, o.Kind, o.Attempt, o.Outcome, o.Duration.Round(time.Microsecond), o.Error)
	}
	return tw.Flush()
}

func (c *cli) reload(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	var res control.ConfigResult
	if done, err := call(ctx, cl, f, out, "reload", nil, &res); done || err != nil {
		return err
	}
	fmt.Fprintf(out, "configuration reloaded: version %s\n", res.Version)
	return nil
}

// action runs any action; key=value pairs become the request object
// (integers and true/false typed), or one JSON object argument is sent as
// is. The result is printed as JSON.
func (c *cli) action(ctx context.Context, cl Client, pos []string, f *common, out io.Writer) error {
	if len(pos) == 0 {
		return usageError{"give an action NAME (the action `actions` lists them)"}
	}
	params := map[string]any{}
	for _, p := range pos[1:] {
		if strings.HasPrefix(p, "{") {
			if err := json.Unmarshal([]byte(p), &params); err != nil {
				return usageError{fmt.Sprintf("%q is not a JSON object: %v", p, err)}
			}
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return usageError{fmt.Sprintf("%q: give key=value", p)}
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			params[k] = n
		} else if v == "true" || v == "false" {
			params[k] = v == "true"
		} else {
			params[k] = v
		}
	}
	f.asJSON = true
	var res json.RawMessage
	_, err := call(ctx, cl, f, out, pos[0], params, &res)
	return err
}
