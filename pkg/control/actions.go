package control

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// Options configure a [Service]. What is nil is not offered: its actions
// answer the typed "not supported in this deployment".
type Options struct {
	// Deployment is Local (default) or Split.
	Deployment Deployment
	// Build identifies the binary (version, commit).
	Build string
	// Config shows and reloads the configuration; nil: config and reload
	// are not supported.
	Config Config
	// Runtime is the in-process runtime (local only): state, workers,
	// pause, resume, restart. See [ManagerRuntime].
	Runtime Runtime
	// Queues by logical name.
	Queues Queues
	// Health reports every component's health.
	Health func(ctx context.Context) HealthResult
	// Outcomes is the ring of recent task outcomes; nil: not supported.
	Outcomes *Outcomes
	// Metrics answers the `metrics` action (a *telemetry.Provider); nil:
	// not supported (metrics off, or the split control function, which
	// shares no memory with the functions that count).
	Metrics Metrics
	// Sources are the dead letters sources still mark (an IMAP mailbox),
	// listed and redriven with the queue's; see [SourcesOf].
	Sources SourceDLQ
	// Pauser pauses and resumes sources and pools where Runtime cannot
	// (split: the event source mapping and the schedule rule).
	Pauser Pauser
	// Modules whose [contracts.ActionProvider] actions are served.
	Modules []contracts.ApplicationModule
	// Actions are further actions to serve.
	Actions []contracts.ActionSpec
	// Logger receives the audit lines; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Metrics reads every metric now.
type Metrics interface {
	Snapshot(ctx context.Context) (schema.Snapshot, error)
}

// MetricsResult answers "metrics": counters (cumulative since start),
// gauges and histograms by name, unit and attributes; see
// [schema.Snapshot] for the JSON shape the status page reads.
type MetricsResult = schema.Snapshot

// Config is what the control plane shows and reloads of the configuration.
type Config interface {
	Version() string
	Redacted() map[string]any
	Reload(ctx context.Context) error
}

// StaticConfig is a configuration that cannot be reloaded in place (the
// split control function: each function loads its configuration at cold
// start).
type StaticConfig struct {
	Ver  string
	View map[string]any
}

// Version implements Config.
func (c StaticConfig) Version() string { return c.Ver }

// Redacted implements Config.
func (c StaticConfig) Redacted() map[string]any { return c.View }

// Reload implements Config: not supported.
func (c StaticConfig) Reload(context.Context) error {
	return fmt.Errorf("reload: %w: every function loads its configuration at cold start; publish a new parameter version or redeploy", contracts.ErrNotSupported)
}

// Runtime is the in-process runtime the local control plane drives.
type Runtime interface {
	Info() RuntimeInfo
	Workers() []contracts.WorkerStatus
	// Pause stops a source or pool (by worker name) until Resume; Restart
	// replaces a worker with a fresh instance.
	Pause(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
}

// RuntimeInfo is the runtime's life-cycle view.
type RuntimeInfo struct {
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Modules   []string  `json:"modules,omitempty"`
}

// Pauser pauses what a split deployment runs outside this process.
type Pauser interface {
	Pause(ctx context.Context, name string) (PauseResult, error)
	Resume(ctx context.Context, name string) (PauseResult, error)
}

// Queues gives the control plane its queues by logical name.
type Queues interface {
	Names() []string
	Queue(name string) (QueueHandle, bool)
}

// QueueHandle is what every queue offers; dead-letter actions need
// [contracts.DeadLetterQueue] and, for purge, [DeadLetterPurger].
type QueueHandle interface {
	Stats(ctx context.Context) (contracts.QueueStats, error)
}

// DeadLetterPurger is implemented by queues that can drop their dead
// letters.
type DeadLetterPurger interface {
	PurgeDeadLetters(ctx context.Context) (int, error)
}

// QueueMap is a fixed set of queues.
type QueueMap map[string]QueueHandle

// Names implements Queues, sorted.
func (m QueueMap) Names() []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Queue implements Queues.
func (m QueueMap) Queue(name string) (QueueHandle, bool) {
	q, ok := m[name]
	return q, ok
}

// ComponentHealth is one component's health.
type ComponentHealth struct {
	Name string `json:"name"`
	contracts.Health
}

// HealthResult answers "health".
type HealthResult struct {
	Status     contracts.HealthState `json:"status"`
	Live       bool                  `json:"live"`
	Ready      bool                  `json:"ready"`
	Components []ComponentHealth     `json:"components"`
}

// StatusResult answers "status".
type StatusResult struct {
	Deployment    Deployment `json:"deployment"`
	Build         string     `json:"build,omitempty"`
	ConfigVersion string     `json:"config_version,omitempty"`
	RuntimeInfo
	Uptime  string                   `json:"uptime,omitempty"`
	Health  HealthResult             `json:"health"`
	Workers []contracts.WorkerStatus `json:"workers,omitempty"`
	QueuesResult
}

// WorkersResult answers "workers".
type WorkersResult struct {
	Workers []contracts.WorkerStatus `json:"workers"`
}

// QueuesResult answers "queues".
type QueuesResult struct {
	Queues      []contracts.QueueStats `json:"queues"`
	QueueErrors map[string]string      `json:"queue_errors,omitempty"`
}

// ConfigResult answers "config" and "reload".
type ConfigResult struct {
	Version string         `json:"version"`
	Config  map[string]any `json:"config,omitempty"`
}

// QueueRequest names a queue; Limit bounds list and redrive (0: the
// action's default; for redrive, all).
type QueueRequest struct {
	Queue string `json:"queue"`
	Limit int    `json:"limit,omitempty"`
}

// PeekRequest names one dead letter. MaxBytes bounds the payload shown
// (default 4096, at most 65536).
type PeekRequest struct {
	Queue    string `json:"queue"`
	ID       string `json:"id"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// DeadLetterView is one dead letter without its payload.
type DeadLetterView struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at,omitzero"`
	// Ref is the item's reference in its source (for IMAP: the mailbox,
	// UIDVALIDITY and UID).
	Ref string `json:"ref,omitempty"`
	// Origin is "queue" for the queue's dead-letter store and "source:NAME"
	// for a dead letter only the source still marks.
	Origin string `json:"origin"`
}

// DeadLettersResult answers "dlq.list".
type DeadLettersResult struct {
	Queue       string           `json:"queue"`
	DeadLetters []DeadLetterView `json:"dead_letters"`
}

// PeekResult answers "dlq.peek": one dead letter with its payload,
// truncated to MaxBytes and with secret-looking values redacted.
type PeekResult struct {
	DeadLetterView
	Attributes   map[string]string `json:"attributes,omitempty"`
	PayloadBytes int               `json:"payload_bytes"`
	// Encoding is "text" (UTF-8, redacted) or "base64" (binary, shown as is).
	Encoding  string `json:"encoding"`
	Payload   string `json:"payload"`
	Truncated bool   `json:"truncated"`
}

// RedriveResult answers "dlq.redrive".
type RedriveResult struct {
	Queue    string `json:"queue"`
	Redriven int    `json:"redriven"`
	// FromSource counts dead letters the source released for polling again.
	FromSource int `json:"from_source,omitempty"`
}

// PurgeResult answers "dlq.purge".
type PurgeResult struct {
	Queue      string `json:"queue"`
	Purged     int    `json:"purged"`
	FromSource int    `json:"from_source,omitempty"`
	// Note says what was not purged (a queue that cannot drop its own
	// dead letters while its source's were settled).
	Note string `json:"note,omitempty"`
}

// TargetRequest names a worker, source or pool.
type TargetRequest struct {
	Name string `json:"name"`
}

// PauseResult answers "pause", "resume" and "restart".
type PauseResult struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// OutcomesRequest selects recent outcomes: Queue "" means every queue.
type OutcomesRequest struct {
	Queue string `json:"queue,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// OutcomesResult answers "outcomes", newest first.
type OutcomesResult struct {
	Outcomes []OutcomeRecord `json:"outcomes"`
}

type builtin struct{ opts Options }

func (b *builtin) actions() []Action {
	return []Action{
		Typed("status", "deployment, runtime state, health, workers and queues", Read, b.status),
		Typed("health", "every component's health; live and ready", Read, b.health),
		Typed("workers", "workers, sources and pools with their counters", Read, b.workers),
		Typed("queues", "queue depths and counters", Read, b.queues),
		Typed("config", "effective configuration, secrets redacted", Read, b.config),
		Typed("reload", "reload the configuration", Mutate, b.reload),
		Typed("dlq.list", "list a queue's dead letters (no payloads)", Read, b.dlqList),
		Typed("dlq.peek", "one dead letter with its payload (bounded, secrets redacted)", ReadSensitive, b.dlqPeek),
		Typed("dlq.redrive", "move dead letters back to the queue", Mutate, b.dlqRedrive),
		Typed("dlq.purge", "drop a queue's dead letters", Mutate, b.dlqPurge),
		Typed("pause", "pause a source or pool", Mutate, b.pause),
		Typed("resume", "resume a paused source or pool", Mutate, b.resume),
		Typed("restart", "restart a worker as a fresh instance", Mutate, b.restart),
		Typed("outcomes", "recent task outcomes per queue", Read, b.outcomes),
		Typed("metrics", "every metric now: task counters, routine durations, queue gauges", Read, b.metrics),
		Typed("runtime", "Go runtime figures of this process: goroutines, live heap, GC cycles", Read, runtimeFigures),
	}
}

func (b *builtin) dep() Deployment { return b.opts.Deployment }

func (b *builtin) status(ctx context.Context, _ struct{}) (StatusResult, error) {
	st := StatusResult{Deployment: b.dep(), Build: b.opts.Build}
	if b.opts.Config != nil {
		st.ConfigVersion = b.opts.Config.Version()
	}
	var wg sync.WaitGroup
	wg.Go(func() { st.Health, _ = b.health(ctx, struct{}{}) })
	wg.Go(func() { st.QueuesResult, _ = b.queues(ctx, struct{}{}) })
	if b.opts.Runtime != nil {
		st.RuntimeInfo = b.opts.Runtime.Info()
		st.Workers = b.opts.Runtime.Workers()
		if !st.StartedAt.IsZero() {
			st.Uptime = b.opts.Now().Sub(st.StartedAt).Round(time.Second).String()
		}
	}
	wg.Wait()
	return st, nil
}

func (b *builtin) health(ctx context.Context, _ struct{}) (HealthResult, error) {
	if b.opts.Health == nil {
		return HealthResult{Status: contracts.HealthUp, Live: true, Ready: true, Components: []ComponentHealth{}}, nil
	}
	return b.opts.Health(ctx), nil
}

func (b *builtin) workers(context.Context, struct{}) (WorkersResult, error) {
	if b.opts.Runtime == nil {
		return WorkersResult{}, notSupported(b.dep(), "workers", "the control function shares no memory with the worker and poller functions; see their CloudWatch metrics")
	}
	return WorkersResult{Workers: b.opts.Runtime.Workers()}, nil
}

func (b *builtin) queues(ctx context.Context, _ struct{}) (QueuesResult, error) {
	res := QueuesResult{Queues: []contracts.QueueStats{}}
	if b.opts.Queues == nil {
		return res, nil
	}
	names := b.opts.Queues.Names()
	stats := make([]contracts.QueueStats, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		q, _ := b.opts.Queues.Queue(n)
		wg.Go(func() { stats[i], errs[i] = q.Stats(ctx) })
	}
	wg.Wait()
	for i, n := range names {
		if errs[i] != nil {
			if res.QueueErrors == nil {
				res.QueueErrors = map[string]string{}
			}
			res.QueueErrors[n] = errs[i].Error()
			continue
		}
		stats[i].Name = n
		res.Queues = append(res.Queues, stats[i])
	}
	return res, nil
}

func (b *builtin) config(context.Context, struct{}) (ConfigResult, error) {
	if b.opts.Config == nil {
		return ConfigResult{}, notSupported(b.dep(), "config", "no configuration manager")
	}
	return ConfigResult{Version: b.opts.Config.Version(), Config: b.opts.Config.Redacted()}, nil
}

func (b *builtin) reload(ctx context.Context, _ struct{}) (ConfigResult, error) {
	if b.opts.Config == nil {
		return ConfigResult{}, notSupported(b.dep(), "reload", "no configuration manager")
	}
	if err := b.opts.Config.Reload(ctx); err != nil {
		if errors.Is(err, contracts.ErrNotSupported) {
			return ConfigResult{}, notSupported(b.dep(), "reload", err.Error())
		}
		return ConfigResult{}, Errorf(CodeBadRequest, "configuration rejected, the previous one stays: %v", err)
	}
	return ConfigResult{Version: b.opts.Config.Version()}, nil
}

func (b *builtin) queue(name string) (QueueHandle, error) {
	if name == "" {
		return nil, Errorf(CodeBadRequest, "name a queue (\"queue\"); have %q", b.queueNames())
	}
	if b.opts.Queues != nil {
		if q, ok := b.opts.Queues.Queue(name); ok {
			return q, nil
		}
	}
	return nil, Errorf(CodeNotFound, "no queue %q; have %q", name, b.queueNames())
}

func (b *builtin) queueNames() []string {
	if b.opts.Queues == nil {
		return nil
	}
	return b.opts.Queues.Names()
}

func (b *builtin) dlq(name string) (contracts.DeadLetterQueue, error) {
	q, err := b.queue(name)
	if err != nil {
		return nil, err
	}
	d, ok := q.(contracts.DeadLetterQueue)
	if !ok {
		return nil, notSupported(b.dep(), "dead letters", fmt.Sprintf("queue %q cannot list or redrive its dead letters", name))
	}
	return d, nil
}

func (b *builtin) hasSources(queue string) bool {
	return b.opts.Sources != nil && b.opts.Sources.Has(queue)
}

const defaultListLimit = 100

func view(dl contracts.DeadLetter, origin string) DeadLetterView {
	return DeadLetterView{ID: dl.Task.ID, Kind: dl.Task.Kind, Attempts: dl.Task.Attempt, Reason: dl.Reason, At: dl.At,
		Ref: dl.Task.Attr(contracts.AttrSourceRef), Origin: origin}
}

// deadLetters lists the queue's dead letters and then those only its
// sources still mark, without duplicates (a dead letter in both shows as
// the queue's).
func (b *builtin) deadLetters(ctx context.Context, queue string, limit int) ([]DeadLetterView, []contracts.DeadLetter, error) {
	q, qerr := b.dlq(queue)
	srcs := b.hasSources(queue)
	if qerr != nil && (!srcs || !errors.Is(qerr, contracts.ErrNotSupported)) {
		return nil, nil, qerr
	}
	var views []DeadLetterView
	var full []contracts.DeadLetter
	seen := map[string]bool{}
	if q != nil {
		list, err := q.DeadLetters(ctx, limit)
		if err != nil {
			return nil, nil, fmt.Errorf("queue %s: dead letters: %w", queue, err)
		}
		for _, dl := range list {
			views = append(views, view(dl, "queue"))
			full = append(full, dl)
			if ref := dl.Task.Attr(contracts.AttrSourceRef); ref != "" {
				seen[ref] = true
			}
		}
	}
	if srcs && len(views) < limit {
		list, err := b.opts.Sources.List(ctx, queue, limit-len(views))
		if err != nil {
			return nil, nil, err
		}
		for _, dl := range list {
			if ref := dl.Task.Attr(contracts.AttrSourceRef); ref != "" && seen[ref] {
				continue
			}
			views = append(views, view(dl.DeadLetter, "source:"+dl.Source))
			full = append(full, dl.DeadLetter)
		}
	}
	if views == nil {
		views = []DeadLetterView{}
	}
	return views, full, nil
}

func (b *builtin) dlqList(ctx context.Context, req QueueRequest) (DeadLettersResult, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	views, _, err := b.deadLetters(ctx, req.Queue, limit)
	if err != nil {
		return DeadLettersResult{}, err
	}
	return DeadLettersResult{Queue: req.Queue, DeadLetters: views}, nil
}

// Payload bounds for dlq.peek.
const (
	defaultPeekBytes = 4096
	maxPeekBytes     = 64 << 10
	// peekScan bounds how many dead letters peek looks through for an id.
	peekScan = 1000
)

func (b *builtin) dlqPeek(ctx context.Context, req PeekRequest) (PeekResult, error) {
	if req.ID == "" {
		return PeekResult{}, Errorf(CodeBadRequest, "name the dead letter (\"id\"); dlq.list shows the ids")
	}
	maxBytes := req.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultPeekBytes
	}
	maxBytes = min(maxBytes, maxPeekBytes)
	views, full, err := b.deadLetters(ctx, req.Queue, peekScan)
	if err != nil {
		return PeekResult{}, err
	}
	for i, dl := range full {
		if dl.Task.ID != req.ID {
			continue
		}
		return peek(views[i], dl.Task, maxBytes), nil
	}
	return PeekResult{}, Errorf(CodeNotFound, "no dead letter %q in queue %q", req.ID, req.Queue)
}

// secretish matches "key: value" and "key=value" pairs (also JSON's
// "key":"value") whose key names a secret; the value is redacted.
var secretish = regexp.MustCompile(`(?i)((?:password|passwd|secret|token|api[_-]?key|authorization|credential)[a-z_-]*"?\s*[:=]\s*"?)([^"\s,;&}]+)`)

var secretKey = regexp.MustCompile(`(?i)password|passwd|secret|token|api[_-]?key|authorization|credential`)

func peek(v DeadLetterView, t contracts.Task, maxBytes int) PeekResult {
	res := PeekResult{DeadLetterView: v, PayloadBytes: len(t.Payload)}
	if len(t.Attributes) > 0 {
		res.Attributes = make(map[string]string, len(t.Attributes))
		for k, val := range t.Attributes {
			if secretKey.MatchString(k) {
				val = contracts.Redacted
			}
			res.Attributes[k] = val
		}
	}
	p := t.Payload
	if len(p) > maxBytes {
		p, res.Truncated = p[:maxBytes], true
		// Do not cut a UTF-8 sequence in half.
		for len(p) > 0 && !utf8.Valid(p) && len(p) > maxBytes-utf8.UTFMax {
			p = p[:len(p)-1]
		}
	}
	if utf8.Valid(p) {
		res.Encoding = "text"
		res.Payload = secretish.ReplaceAllString(string(p), "${1}"+contracts.Redacted)
	} else {
		res.Encoding = "base64"
		res.Payload = base64.StdEncoding.EncodeToString(p)
	}
	return res
}

func (b *builtin) dlqRedrive(ctx context.Context, req QueueRequest) (RedriveResult, error) {
	q, qerr := b.dlq(req.Queue)
	srcs := b.hasSources(req.Queue)
	if qerr != nil && (!srcs || !errors.Is(qerr, contracts.ErrNotSupported)) {
		return RedriveResult{}, qerr
	}
	// The source-only dead letters are picked before the queue's move back:
	// a dead letter in both is redriven once, through the queue.
	var fromSource []DeadLetterView
	if srcs {
		views, _, err := b.deadLetters(ctx, req.Queue, peekScan)
		if err != nil {
			return RedriveResult{}, err
		}
		for _, v := range views {
			if strings.HasPrefix(v.Origin, "source:") {
				fromSource = append(fromSource, v)
			}
		}
	}
	res := RedriveResult{Queue: req.Queue}
	if q != nil {
		n, err := q.Redrive(ctx, req.Limit)
		res.Redriven = n
		if err != nil {
			return res, fmt.Errorf("queue %s: redrive: %w", req.Queue, err)
		}
	}
	if req.Limit > 0 {
		fromSource = fromSource[:min(len(fromSource), max(0, req.Limit-res.Redriven))]
	}
	if len(fromSource) > 0 {
		ids := map[string][]string{}
		for _, v := range fromSource {
			name := strings.TrimPrefix(v.Origin, "source:")
			ids[name] = append(ids[name], v.ID)
		}
		n, err := b.opts.Sources.Redrive(ctx, req.Queue, ids)
		res.FromSource = n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (b *builtin) dlqPurge(ctx context.Context, req QueueRequest) (PurgeResult, error) {
	q, err := b.queue(req.Queue)
	if err != nil {
		return PurgeResult{}, err
	}
	p, ok := q.(DeadLetterPurger)
	srcs := b.hasSources(req.Queue)
	if !ok && !srcs {
		return PurgeResult{}, notSupported(b.dep(), "dlq.purge", fmt.Sprintf("queue %q cannot drop its dead letters", req.Queue))
	}
	res := PurgeResult{Queue: req.Queue}
	if !ok {
		res.Note = fmt.Sprintf("queue %q cannot drop its own dead letters; only those its sources mark were settled", req.Queue)
	}
	if ok {
		n, err := p.PurgeDeadLetters(ctx)
		res.Purged = n
		if err != nil {
			return res, fmt.Errorf("queue %s: purge: %w", req.Queue, err)
		}
	}
	if srcs {
		n, err := b.opts.Sources.Purge(ctx, req.Queue)
		res.FromSource = n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (b *builtin) target(req TargetRequest) error {
	if strings.TrimSpace(req.Name) == "" {
		return Errorf(CodeBadRequest, "name a worker, source or pool (\"name\"); `workers` lists them")
	}
	return nil
}

func (b *builtin) pause(ctx context.Context, req TargetRequest) (PauseResult, error) {
	if err := b.target(req); err != nil {
		return PauseResult{}, err
	}
	switch {
	case b.opts.Runtime != nil:
		if err := b.opts.Runtime.Pause(ctx, req.Name); err != nil {
			return PauseResult{}, err
		}
		return PauseResult{Name: req.Name, State: "paused"}, nil
	case b.opts.Pauser != nil:
		return b.opts.Pauser.Pause(ctx, req.Name)
	}
	return PauseResult{}, notSupported(b.dep(), "pause", "no runtime and no AWS pauser configured")
}

func (b *builtin) resume(ctx context.Context, req TargetRequest) (PauseResult, error) {
	if err := b.target(req); err != nil {
		return PauseResult{}, err
	}
	switch {
	case b.opts.Runtime != nil:
		if err := b.opts.Runtime.Resume(ctx, req.Name); err != nil {
			return PauseResult{}, err
		}
		return PauseResult{Name: req.Name, State: "running"}, nil
	case b.opts.Pauser != nil:
		return b.opts.Pauser.Resume(ctx, req.Name)
	}
	return PauseResult{}, notSupported(b.dep(), "resume", "no runtime and no AWS pauser configured")
}

func (b *builtin) restart(ctx context.Context, req TargetRequest) (PauseResult, error) {
	if err := b.target(req); err != nil {
		return PauseResult{}, err
	}
	if b.opts.Runtime == nil {
		return PauseResult{}, notSupported(b.dep(), "restart", "Lambda starts a fresh instance for every cold start; there is no worker process to restart")
	}
	if err := b.opts.Runtime.Restart(ctx, req.Name); err != nil {
		return PauseResult{}, err
	}
	return PauseResult{Name: req.Name, State: "restarted"}, nil
}

func (b *builtin) outcomes(_ context.Context, req OutcomesRequest) (OutcomesResult, error) {
	if b.opts.Outcomes == nil {
		return OutcomesResult{}, notSupported(b.dep(), "outcomes", "the control function shares no memory with the worker function; outcomes are in its logs")
	}
	return OutcomesResult{Outcomes: b.opts.Outcomes.Recent(req.Queue, req.Limit)}, nil
}

func (b *builtin) metrics(ctx context.Context, _ struct{}) (MetricsResult, error) {
	if b.opts.Metrics == nil {
		if b.dep() == Split {
			return MetricsResult{}, notSupported(b.dep(), "metrics", "the control function shares no memory with the worker and poller functions; their metrics are in CloudWatch (EMF)")
		}
		return MetricsResult{}, notSupported(b.dep(), "metrics", "metrics are off (platform.telemetry.metrics.enabled: false)")
	}
	return b.opts.Metrics.Snapshot(ctx)
}
