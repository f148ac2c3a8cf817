// Package emulator is a Lambda Runtime API emulator: it runs a function's
// bootstrap binary as a child process, speaks the Runtime API to it exactly
// as Lambda does, and accepts invocations in-process ([Emulator.Invoke]) or
// over HTTP like the AWS Runtime Interface Emulator
// (POST /2015-03-31/functions/function/invocations). Tests use it to run the
// real bootstrap binaries; users use it through `plba invoke`, the habit of
// `sam local invoke`.
//
// # What it emulates
//
//   - Runtime API 2018-06-01: GET runtime/invocation/next (headers
//     Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn,
//     -Trace-Id), POST runtime/invocation/{id}/response and /error, POST
//     runtime/init/error.
//   - The function environment: AWS_LAMBDA_RUNTIME_API,
//     AWS_LAMBDA_FUNCTION_NAME, _MEMORY_SIZE, _VERSION, AWS_REGION,
//     AWS_DEFAULT_REGION, _HANDLER, LAMBDA_TASK_ROOT, AWS_EXECUTION_ENV,
//     AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME, TZ, plus
//     Options.Env. The host environment is not inherited (Lambda's is not
//     yours) except PATH, unless Options.InheritEnv is set.
//   - One invocation at a time per process; the process stays warm between
//     invocations.
//   - The timeout: an invocation that outlives it gets a
//     "Sandbox.Timedout" error and the process is killed; the next
//     invocation starts a fresh one (a cold start), as on Lambda. A process
//     that exits (a Go handler panic makes aws-lambda-go exit after
//     reporting it) is restarted the same way.
//   - Init failures: a POST to runtime/init/error, or an exit before the
//     first GET next, fail the invocation that was waiting for it.
//   - The deadline: Lambda-Runtime-Deadline-Ms is the instant the timer
//     fires, to the millisecond, so a function that ignores its deadline
//     fails here as on Lambda.
//   - The 6 MB payload limit of synchronous invocations ([MaxPayload]): a
//     larger event is refused (413 RequestEntityTooLargeException over
//     HTTP, [ErrRequestTooLarge] from Invoke) and a larger response is a
//     "Function.ResponseSizeTooLarge" error.
//   - A read-only task root: the bootstrap's directory (LAMBDA_TASK_ROOT)
//     is mounted read-only in a mount namespace of the function's own, as
//     Lambda's /var/task is; /tmp stays writable. That needs the privilege
//     to create a mount namespace (root, CAP_SYS_ADMIN) and util-linux's
//     unshare; without them the emulator says on the function's stderr
//     that the task root is writable here, instead of pretending.
//
// Not emulated: concurrency (one process), extensions, response streaming,
// the Telemetry and Logs APIs, memory limits.
package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors callers branch on.
var (
	// ErrTimeout is matched (errors.Is) by the error of an invocation that
	// ran past Options.Timeout.
	ErrTimeout = errors.New("lambda emulator: task timed out")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("lambda emulator: closed")
	// ErrRequestTooLarge is matched by the error of an Invoke whose event
	// is over MaxPayload.
	ErrRequestTooLarge = errors.New("lambda emulator: request payload over 6 MB")
)

// MaxPayload is Lambda's limit, in bytes, for a synchronous invocation's
// request and for its response (6 MB).
const MaxPayload = 6 << 20

// FunctionError is a function's error response (the Runtime API's error
// document), also used for timeouts and crashes with Lambda's error types
// ("Sandbox.Timedout", "Runtime.ExitError", "Runtime.InitError" when the
// function did not say).
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
	// Init is true when the function failed during initialisation.
	Init bool `json:"-"`
}

func (e *FunctionError) Error() string {
	if e.Init {
		return fmt.Sprintf("lambda function init failed: %s: %s", e.Type, e.Message)
	}
	return fmt.Sprintf("lambda function error: %s: %s", e.Type, e.Message)
}

// Is makes a timeout match [ErrTimeout] and an oversized request
// [ErrRequestTooLarge].
func (e *FunctionError) Is(target error) bool {
	return target == ErrTimeout && e.Type == "Sandbox.Timedout" ||
		target == ErrRequestTooLarge && e.Type == "RequestEntityTooLargeException"
}

func requestTooLarge(n int) *FunctionError {
	return &FunctionError{Type: "RequestEntityTooLargeException",
		Message: fmt.Sprintf("%d byte payload is too large for the RequestResponse invocation type (limit %d bytes)", n, MaxPayload)}
}

// Options configure an [Emulator].
type Options struct {
	// Bootstrap is the path of the function's executable. Required.
	Bootstrap string
	// Args are passed to Bootstrap.
	Args []string
	// Env is the function's environment (on top of Lambda's variables).
	Env map[string]string
	// InheritEnv passes the host environment to the function too. Off by
	// default, as on Lambda: credentials a function needs must be passed in
	// Env, so a missing permission shows here and not first on AWS.
	InheritEnv bool
	// WritableTaskRoot leaves the bootstrap's directory writable (no mount
	// namespace).
	WritableTaskRoot bool
	// FunctionName; default "function".
	FunctionName string
	// Timeout of one invocation; default 30s.
	Timeout time.Duration
	// InitTimeout bounds initialisation (start to first GET next); default
	// 10s, Lambda's.
	InitTimeout time.Duration
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE; default 128.
	MemoryMB int
	// Region; default us-east-1.
	Region string
	// Addr is where the Runtime API and the invoke endpoint listen;
	// default 127.0.0.1:0 (a free port).
	Addr string
	// Stdout and Stderr receive the function's output; default os.Stderr.
	Stdout, Stderr io.Writer
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Emulator runs one function. Start it with [Start]; Close it.
type Emulator struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	url  string
	arn  string

	slot chan struct{} // one invocation at a time

	mu       sync.Mutex
	proc     *process
	inflight map[string]*invocation
	closed   bool

	pending chan *invocation // handed to the function's GET next
	done    chan struct{}    // closed by Close
	srvDone chan struct{}
}

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	trace    string
	result   chan result // buffered 1
}

type result struct {
	body []byte
	ferr *FunctionError
}

// process is one run of the bootstrap (a sandbox, in Lambda's words).
type process struct {
	cmd     *exec.Cmd
	ready   chan struct{} // first GET next arrived
	exited  chan struct{} // process ended
	once    sync.Once
	initErr *FunctionError // set before exited closes, if init/error came
	exitErr error
}

// Start listens, starts the function's process and waits for it to
// initialise (up to InitTimeout or ctx). An init failure is returned as a
// *FunctionError with Init set; the emulator is closed then.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	if opts.Bootstrap == "" {
		return nil, errors.New("lambda emulator: Bootstrap is required")
	}
	abs, err := filepath.Abs(opts.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("lambda emulator: bootstrap %s: %w", opts.Bootstrap, err)
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("lambda emulator: bootstrap %s is not an executable file (%v)", abs, err)
	}
	opts.Bootstrap = abs
	if opts.FunctionName == "" {
		opts.FunctionName = "function"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = 10 * time.Second
	}
	if opts.MemoryMB <= 0 {
		opts.MemoryMB = 128
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stderr
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("lambda emulator: listen %s: %w", opts.Addr, err)
	}
	e := &Emulator{
		opts:     opts,
		ln:       ln,
		url:      "http://" + ln.Addr().String(),
		arn:      fmt.Sprintf("arn:aws:lambda:%s:123456789012:function:%s", opts.Region, opts.FunctionName),
		slot:     make(chan struct{}, 1),
		inflight: map[string]*invocation{},
		pending:  make(chan *invocation),
		done:     make(chan struct{}),
		srvDone:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", e.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", e.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", e.invokeError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", e.initError)
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", e.invokeHTTP)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(e.srvDone)
		_ = e.srv.Serve(ln)
	}()
	e.slot <- struct{}{}
	_, err = e.ensureProcess(ctx)
	<-e.slot
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

// URL is the emulator's base URL; invoke with a POST of the event to
// URL()+"/2015-03-31/functions/function/invocations".
func (e *Emulator) URL() string { return e.url }

// RuntimeAPI is the value of AWS_LAMBDA_RUNTIME_API given to the function.
func (e *Emulator) RuntimeAPI() string { return e.ln.Addr().String() }

// Invoke runs one invocation and returns the function's response. A
// function error, timeout or crash is a *FunctionError. If ctx ends first
// the process is killed (a running invocation cannot be taken back) and
// ctx's error returned.
func (e *Emulator) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	select {
	case e.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.done:
		return nil, ErrClosed
	}
	defer func() { <-e.slot }()
	if len(event) > MaxPayload {
		return nil, requestTooLarge(len(event))
	}
	inv := &invocation{id: newID(), event: event, result: make(chan result, 1), trace: traceID()}
	e.mu.Lock()
	e.inflight[inv.id] = inv
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.inflight, inv.id)
		e.mu.Unlock()
	}()
	var p *process
	var timer *time.Timer
	// A process that is exiting (after reporting a panic, say) looks alive
	// until it is gone; an invocation not yet handed over goes to the next
	// one instead.
	for handed := false; !handed; {
		var err error
		if p, err = e.ensureProcess(ctx); err != nil {
			return nil, err
		}
		// The clock runs from the hand-over, like Lambda's from the invoke.
		// The advertised deadline (whole milliseconds) is the instant the
		// timer fires: no grace a real Lambda would not give.
		inv.deadline = time.UnixMilli(time.Now().Add(e.opts.Timeout).UnixMilli())
		timer = time.NewTimer(time.Until(inv.deadline))
		defer timer.Stop()
		select {
		case e.pending <- inv:
			handed = true
		case <-p.exited:
		case <-timer.C:
			e.kill(p)
			return nil, e.timeoutError()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.done:
			return nil, ErrClosed
		}
	}
	select {
	case r := <-inv.result:
		if r.ferr != nil {
			return nil, r.ferr
		}
		return r.body, nil
	case <-p.exited:
		// The function may have reported before exiting (a panic).
		select {
		case r := <-inv.result:
			if r.ferr != nil {
				return nil, r.ferr
			}
			return r.body, nil
		default:
		}
		return nil, e.crashError(p)
	case <-timer.C:
		e.kill(p)
		return nil, e.timeoutError()
	case <-ctx.Done():
		e.kill(p)
		return nil, ctx.Err()
	case <-e.done:
		return nil, ErrClosed
	}
}

func (e *Emulator) timeoutError() *FunctionError {
	return &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("Task timed out after %.2f seconds", e.opts.Timeout.Seconds())}
}

func (e *Emulator) crashError(p *process) *FunctionError {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.initErr != nil {
		ferr := *p.initErr
		return &ferr
	}
	msg := "Runtime exited without providing a reason"
	if p.exitErr != nil {
		msg = "Runtime exited with error: " + p.exitErr.Error()
	}
	return &FunctionError{Type: "Runtime.ExitError", Message: msg}
}

// ensureProcess returns a ready process, starting one when there is none
// or the last one ended. The caller holds the slot.
func (e *Emulator) ensureProcess(ctx context.Context) (*process, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	p := e.proc
	if p != nil {
		select {
		case <-p.exited:
			p = nil
		default:
		}
	}
	if p == nil {
		var err error
		p, err = e.spawn()
		if err != nil {
			e.mu.Unlock()
			return nil, err
		}
		e.proc = p
	}
	e.mu.Unlock()
	t := time.NewTimer(e.opts.InitTimeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return p, nil
	case <-p.exited:
		ferr := e.crashError(p)
		ferr.Init = true
		if ferr.Type == "Runtime.ExitError" {
			ferr.Type = "Runtime.InitError"
		}
		return nil, ferr
	case <-t.C:
		e.kill(p)
		return nil, &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("Init timed out after %.2f seconds", e.opts.InitTimeout.Seconds()), Init: true}
	case <-ctx.Done():
		e.kill(p)
		return nil, ctx.Err()
	}
}

// spawn starts the bootstrap. e.mu is held.
func (e *Emulator) spawn() (*process, error) {
	cmd := exec.Command(e.opts.Bootstrap, e.opts.Args...)
	root := filepath.Dir(e.opts.Bootstrap)
	if !e.opts.WritableTaskRoot {
		if unshare, ok := readOnlyRootSupported(); ok {
			// unshare execs sh, sh execs the bootstrap: one PID, one
			// process group, as before.
			args := append([]string{"--mount", "--propagation", "private", "sh", "-c",
				`mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"`, root, e.opts.Bootstrap}, e.opts.Args...)
			cmd = exec.Command(unshare, args...)
		} else {
			fmt.Fprintf(e.opts.Stderr, "lambda emulator: the task root %s stays writable here (a read-only one needs root or CAP_SYS_ADMIN and util-linux unshare); on Lambda it is read-only\n", root)
		}
	}
	cmd.Dir = root
	cmd.Env = e.environ()
	cmd.Stdout, cmd.Stderr = e.opts.Stdout, e.opts.Stderr
	// Own process group, so a timeout kills whatever the function started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lambda emulator: start %s: %w", e.opts.Bootstrap, err)
	}
	p := &process{cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		e.mu.Lock()
		p.exitErr = err
		e.mu.Unlock()
		close(p.exited)
	}()
	e.opts.Logger.Debug("lambda emulator: started function", "function", e.opts.FunctionName, "pid", cmd.Process.Pid)
	return p, nil
}

// readOnlyRootSupported reports whether a mount namespace can be made
// here, and the unshare binary to make it with.
var readOnlyRootSupported = sync.OnceValues(func() (string, bool) {
	path, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		return "", false
	}
	// Probe once: containers may forbid mount namespaces even to root.
	if err := exec.Command(path, "--mount", "--propagation", "private", "true").Run(); err != nil {
		return "", false
	}
	return path, true
})

func (e *Emulator) environ() []string {
	env := map[string]string{}
	if e.opts.InheritEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	} else if path := os.Getenv("PATH"); path != "" {
		env["PATH"] = path
	}
	for k, v := range map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          e.RuntimeAPI(),
		"AWS_LAMBDA_FUNCTION_NAME":        e.opts.FunctionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(e.opts.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + e.opts.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + newID()[:32],
		"AWS_REGION":                      e.opts.Region,
		"AWS_DEFAULT_REGION":              e.opts.Region,
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"_HANDLER":                        filepath.Base(e.opts.Bootstrap),
		"LAMBDA_TASK_ROOT":                filepath.Dir(e.opts.Bootstrap),
		"LAMBDA_RUNTIME_DIR":              filepath.Dir(e.opts.Bootstrap),
		"TZ":                              ":UTC",
	} {
		env[k] = v
	}
	for k, v := range e.opts.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// kill ends p's process group. Only our own child is signalled.
func (e *Emulator) kill(p *process) {
	select {
	case <-p.exited:
		return // never signal a PID that may have been reused
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// next is the function's GET next: it blocks until an invocation comes.
func (e *Emulator) next(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p != nil {
		p.once.Do(func() { close(p.ready) })
	}
	select {
	case inv := <-e.pending:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", e.arn)
		h.Set("Lambda-Runtime-Trace-Id", inv.trace)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.event)
	case <-r.Context().Done():
	case <-e.done:
		http.Error(w, "emulator closed", http.StatusGone)
	}
}

func (e *Emulator) lookup(w http.ResponseWriter, r *http.Request) *invocation {
	id := r.PathValue("id")
	e.mu.Lock()
	inv := e.inflight[id]
	e.mu.Unlock()
	if inv == nil {
		writeJSON(w, http.StatusBadRequest, FunctionError{Type: "InvalidRequestID", Message: "unknown request id " + id})
	}
	return inv
}

func (e *Emulator) response(w http.ResponseWriter, r *http.Request) {
	inv := e.lookup(w, r)
	if inv == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxPayload {
		n, _ := io.Copy(io.Discard, r.Body)
		deliver(inv, result{ferr: &FunctionError{Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).", int64(len(body))+n, MaxPayload)}})
		writeJSON(w, http.StatusRequestEntityTooLarge, FunctionError{Type: "RequestEntityTooLarge", Message: "response payload too large"})
		return
	}
	deliver(inv, result{body: body})
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func (e *Emulator) invokeError(w http.ResponseWriter, r *http.Request) {
	inv := e.lookup(w, r)
	if inv == nil {
		return
	}
	deliver(inv, result{ferr: readError(r)})
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func (e *Emulator) initError(w http.ResponseWriter, r *http.Request) {
	ferr := readError(r)
	ferr.Init = true
	e.mu.Lock()
	if e.proc != nil {
		e.proc.initErr = ferr
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

// readError reads an error document; the Lambda-Runtime-Function-Error-Type
// header wins over a missing errorType.
func readError(r *http.Request) *FunctionError {
	var ferr FunctionError
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &ferr); err != nil || (ferr.Type == "" && ferr.Message == "") {
		ferr = FunctionError{Message: strings.TrimSpace(string(body))}
	}
	if ferr.Type == "" {
		ferr.Type = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if ferr.Type == "" {
		ferr.Type = "Unhandled"
	}
	return &ferr
}

func deliver(inv *invocation, r result) {
	select {
	case inv.result <- r:
	default: // a second report for the same id is ignored
	}
}

// invokeHTTP is the RIE-style invoke endpoint: the event in, the function's
// response out; function errors as 200 with X-Amz-Function-Error and the
// error document, like Lambda's Invoke API.
func (e *Emulator) invokeHTTP(w http.ResponseWriter, r *http.Request) {
	event, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(event) > MaxPayload {
		// Refused whole, as Lambda's Invoke API does: never a cut event.
		n, _ := io.Copy(io.Discard, r.Body)
		writeJSON(w, http.StatusRequestEntityTooLarge, requestTooLarge(len(event)+int(n)))
		return
	}
	if len(bytes.TrimSpace(event)) == 0 {
		event = []byte("{}")
	}
	out, err := e.Invoke(r.Context(), event)
	var ferr *FunctionError
	switch {
	case errors.As(err, &ferr):
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		writeJSON(w, http.StatusOK, ferr)
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, FunctionError{Type: "EmulatorError", Message: err.Error()})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		_, _ = w.Write(out)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Close kills the function's process and stops listening.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	p := e.proc
	e.mu.Unlock()
	close(e.done)
	if p != nil {
		select {
		case <-p.exited:
		default:
			// SIGTERM first, as Lambda does at shutdown; then make sure.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
			t := time.NewTimer(2 * time.Second)
			select {
			case <-p.exited:
			case <-t.C:
				e.kill(p)
			}
			t.Stop()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	<-e.srvDone
	if err != nil {
		return fmt.Errorf("lambda emulator: close: %w", err)
	}
	return nil
}

// InvokeOnce starts the function, invokes it with event and closes it: what
// `plba invoke --event FILE` does.
func InvokeOnce(ctx context.Context, opts Options, event []byte) ([]byte, error) {
	e, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return e.Invoke(ctx, event)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// traceID is an X-Ray style trace header.
func traceID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:40])
}
