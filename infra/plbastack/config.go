package plbastack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrInvalidConfig is wrapped by every configuration error, including the
// AWS rule violations reported by [Config.Validate].
var ErrInvalidConfig = errors.New("plba infra: invalid configuration")

// Duration is a time.Duration that reads from YAML as a Go duration string
// ("30s", "4m", "96h").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration: %w", n.Line, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: %w", n.Line, s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) seconds() float64 { return time.Duration(d).Seconds() }

// Config is the whole deployment configuration of one stage. It is read
// from config/default.yaml, then config/<stage>.yaml, then any extra file,
// each later file overriding the keys it sets. See docs/deploy.md.
type Config struct {
	// Stage names the deployment ("dev", "prod"); it is part of the stack
	// name, the function names and the default SSM parameter name.
	Stage string `yaml:"-"`
	// Account and Region pin the stack's environment. Empty means the CLI's
	// defaults (CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION) and, when those are
	// unset too, an environment-agnostic template.
	Account string `yaml:"account"`
	Region  string `yaml:"region"`
	// StackName defaults to the manifest's stack_name, else
	// "{app}-{stage}"; {app} and {stage} are replaced.
	StackName string `yaml:"stack_name"`
	// AssetDir holds <poller|worker|control>/bootstrap as built by
	// `make lambdas` ({app} is replaced). Relative paths are relative to
	// the working directory (infra/ when run through the CDK CLI).
	AssetDir string            `yaml:"asset_dir"`
	Tags     map[string]string `yaml:"tags"`
	// Environment adds variables to every function, e.g. configuration
	// overrides like PLBA_APPS__MAILORDERBOT__WORKERS. Never put a secret
	// value here: it would be readable in the function configuration.
	// Variables the stack or the manifest set cannot be overridden.
	Environment map[string]string `yaml:"environment"`

	// Settings give the values of the manifest's settings, by name.
	Settings map[string]string `yaml:"settings"`

	// Secrets, by name: for a secret the manifest declares, the keys given
	// here replace its location (ssm_parameter or secret, kms_key_arn) or
	// who reads it (functions); any other name adds a secret (env
	// required). Each function listed gets the variable as a
	// "${ssm:NAME}" or "${secretsmanager:NAME}" reference and permission
	// to read that one parameter or secret.
	Secrets map[string]SecretRef `yaml:"secrets"`

	Queue   QueueConfig   `yaml:"queue"`
	Poller  PollerConfig  `yaml:"poller"`
	Worker  WorkerConfig  `yaml:"worker"`
	Control ControlConfig `yaml:"control"`
	Table   TableConfig   `yaml:"table"`
	Logs    LogsConfig    `yaml:"logs"`
	Alarms  AlarmsConfig  `yaml:"alarms"`
	// Tracing turns on Lambda active tracing (X-Ray) where it helps.
	Tracing TracingConfig `yaml:"tracing"`
	// Dashboard adds a CloudWatch dashboard of the main metrics.
	Dashboard DashboardConfig `yaml:"dashboard"`

	// App is the application's manifest ([LoadConfig] reads it).
	App *Manifest `yaml:"-"`
}

// QueueConfig shapes the task queue and its dead-letter queue.
type QueueConfig struct {
	// FIFO makes both queues FIFO queues (ordered per message group).
	FIFO bool `yaml:"fifo"`
	// ContentBasedDeduplication applies to FIFO queues only.
	ContentBasedDeduplication bool `yaml:"content_based_deduplication"`
	// VisibilityTimeout must be at least 6 × Worker.Timeout.
	VisibilityTimeout Duration `yaml:"visibility_timeout"`
	// Retention of the task queue (60s..336h).
	Retention Duration `yaml:"retention"`
	// MaxReceiveCount is how often a task is received before SQS moves it
	// to the dead-letter queue (1..1000).
	MaxReceiveCount int `yaml:"max_receive_count"`
	// DLQRetention of the dead-letter queue (60s..336h).
	DLQRetention Duration `yaml:"dlq_retention"`
}

// FunctionConfig holds the settings every function has.
type FunctionConfig struct {
	Timeout  Duration `yaml:"timeout"`
	MemoryMB int      `yaml:"memory_mb"`
	// ReservedConcurrency caps the function's concurrency; 0 means none.
	ReservedConcurrency int `yaml:"reserved_concurrency"`
}

// PollerConfig configures the scheduled poller function.
type PollerConfig struct {
	FunctionConfig `yaml:",inline"`
	// Schedule is an EventBridge schedule expression: "rate(1 minute)",
	// "rate(5 minutes)" or "cron(0/5 * * * ? *)".
	Schedule string `yaml:"schedule"`
}

// WorkerConfig configures the worker function and its SQS event source.
type WorkerConfig struct {
	FunctionConfig `yaml:",inline"`
	// BatchSize is the number of records per invocation: 1..10 on FIFO,
	// 1..10000 on standard queues (above 10 needs a batching window).
	BatchSize int `yaml:"batch_size"`
	// BatchingWindow is how long Lambda gathers records (0..300s; must be
	// 0 on FIFO queues).
	BatchingWindow Duration `yaml:"batching_window"`
	// MaxConcurrency caps concurrent invocations by the event source
	// (2..1000, at most ReservedConcurrency when that is set); 0 means no cap.
	MaxConcurrency int `yaml:"max_concurrency"`
}

// ControlConfig configures the control function.
type ControlConfig struct {
	FunctionConfig `yaml:",inline"`
	// FunctionURL adds a Function URL with AWS_IAM auth.
	FunctionURL bool `yaml:"function_url"`
}

// TableConfig configures the application's table (its layout is the
// manifest's).
type TableConfig struct {
	// Retain keeps the table (and its data) when the stack is destroyed.
	Retain bool `yaml:"retain"`
	// DeletionProtection blocks deleting the table by any means.
	DeletionProtection bool `yaml:"deletion_protection"`
}

// SecretRef is one secret a function reads at start. Exactly one of
// SSMParameter and Secret is set; "{stage}" and "{app}" in either are
// replaced.
type SecretRef struct {
	// Env is the variable that carries the reference, e.g.
	// PLBA_APPS__MAILORDERBOT__SMTP__PASSWORD.
	Env          string `yaml:"env"`
	SSMParameter string `yaml:"ssm_parameter"`
	Secret       string `yaml:"secret"`
	// KMSKeyARN is the customer managed key, if any.
	KMSKeyARN string `yaml:"kms_key_arn"`
	// Functions lists who may read it: poller, worker and/or control.
	Functions []string `yaml:"functions"`
	// Writable lets those functions also replace the value: an OAuth
	// refresh token the provider rotates is written back
	// (ssm:PutParameter or secretsmanager:PutSecretValue on that one
	// parameter or secret, kms:Encrypt with a customer managed key).
	Writable bool `yaml:"writable"`
}

// overlay returns r with the keys o sets: a location given in o replaces
// r's (setting secret drops ssm_parameter and the other way round).
func (r SecretRef) overlay(o SecretRef) SecretRef {
	if o.Env != "" {
		r.Env = o.Env
	}
	if o.SSMParameter != "" {
		r.SSMParameter, r.Secret = o.SSMParameter, ""
	}
	if o.Secret != "" {
		r.Secret, r.SSMParameter = o.Secret, ""
	}
	if o.KMSKeyARN != "" {
		r.KMSKeyARN = o.KMSKeyARN
	}
	if o.Functions != nil {
		r.Functions = o.Functions
	}
	if o.Writable {
		r.Writable = true
	}
	return r
}

func (c Config) expand(s string) string {
	s = strings.ReplaceAll(s, "{stage}", c.Stage)
	if c.App != nil {
		s = strings.ReplaceAll(s, "{app}", c.App.Name)
	}
	return s
}

// AppName is the manifest's name ("" without one).
func (c Config) AppName() string {
	if c.App == nil {
		return ""
	}
	return c.App.Name
}

// ResolvedSecrets are the manifest's secrets with the stage config's
// changes, and the stage config's own secrets, by name.
func (c Config) ResolvedSecrets() map[string]SecretRef {
	out := map[string]SecretRef{}
	if c.App != nil {
		for n, r := range c.App.Secrets {
			out[n] = r
		}
	}
	for n, o := range c.Secrets {
		out[n] = out[n].overlay(o)
	}
	return out
}

// ResolvedSettings are the manifest's settings' values: the stage
// config's, else the declared default; by variable name.
func (c Config) ResolvedSettings() map[string]string {
	out := map[string]string{}
	if c.App == nil {
		return out
	}
	for n, s := range c.App.Settings {
		v, ok := c.Settings[n]
		if !ok {
			v = s.Default
		}
		out[s.Env] = v
	}
	return out
}

func (c Config) secretReference(r SecretRef) string {
	if r.Secret != "" {
		return "${secretsmanager:" + c.expand(r.Secret) + "}"
	}
	return "${ssm:" + c.expand(r.SSMParameter) + "}"
}

// LogsConfig configures the functions' log groups.
type LogsConfig struct {
	// RetentionDays must be a value CloudWatch Logs accepts (1, 3, 5, 7,
	// 14, 30, 60, 90, ...); 0 means never expire.
	RetentionDays int `yaml:"retention_days"`
}

// AlarmsConfig configures the alarms and where they notify.
type AlarmsConfig struct {
	// TopicARN, when set, receives alarm and OK notifications.
	TopicARN string `yaml:"topic_arn"`
	// CreateTopic adds an SNS topic to the stack for the notifications
	// (instead of TopicARN); Emails are subscribed to it (each confirms
	// by mail).
	CreateTopic bool     `yaml:"create_topic"`
	Emails      []string `yaml:"emails"`
	// OldestMessageAge: the task queue's oldest message older than this
	// for 5 minutes raises an alarm (the workers fall behind or fail).
	OldestMessageAge Duration `yaml:"oldest_message_age"`
	// QueueDepth: more visible messages than this in the task queue for 5
	// minutes raises an alarm.
	QueueDepth int `yaml:"queue_depth"`
	// DeadLetterExpiryWarning: an alarm is raised when the oldest dead
	// letter is this close to queue.dlq_retention, before SQS deletes it.
	DeadLetterExpiryWarning Duration `yaml:"dead_letter_expiry_warning"`
}

// TracingConfig is Lambda active tracing.
type TracingConfig struct {
	// Active turns on X-Ray active tracing for the poller and the worker:
	// X-Ray then traces invocations and the SQS hop between them
	// (AWSTraceHeader), which the worker's batch span links
	// (docs/observability.md). The control function is left out: its
	// calls are short reads and admin actions.
	Active bool `yaml:"active"`
}

// DashboardConfig is the CloudWatch dashboard.
type DashboardConfig struct {
	Enabled bool `yaml:"enabled"`
}

// DefaultStage is used when no stage is given.
const DefaultStage = "dev"

// DefaultConfig returns the built-in defaults; config files override them.
func DefaultConfig() Config {
	return Config{
		Stage:    DefaultStage,
		AssetDir: "../bin/lambda/{app}",
		Queue: QueueConfig{
			VisibilityTimeout: Duration(180 * time.Second),
			Retention:         Duration(96 * time.Hour),
			MaxReceiveCount:   5,
			DLQRetention:      Duration(336 * time.Hour),
		},
		Poller: PollerConfig{
			// Shorter than the default schedule's minute, and alone: one
			// poll of a mailbox at a time.
			FunctionConfig: FunctionConfig{Timeout: Duration(50 * time.Second), MemoryMB: 256, ReservedConcurrency: 1},
			Schedule:       "rate(1 minute)",
		},
		Worker: WorkerConfig{
			FunctionConfig: FunctionConfig{Timeout: Duration(30 * time.Second), MemoryMB: 256},
			BatchSize:      10,
			MaxConcurrency: 10,
		},
		Control: ControlConfig{
			FunctionConfig: FunctionConfig{Timeout: Duration(30 * time.Second), MemoryMB: 256},
			FunctionURL:    true,
		},
		Table: TableConfig{Retain: true},
		Logs:  LogsConfig{RetentionDays: 30},
		Alarms: AlarmsConfig{OldestMessageAge: Duration(15 * time.Minute), QueueDepth: 1000,
			DeadLetterExpiryWarning: Duration(48 * time.Hour)},
		Tracing:   TracingConfig{Active: true},
		Dashboard: DashboardConfig{Enabled: true},
	}
}

// DeployDir is the folder of an application's stage configs
// (apps/<name>/deploy/default.yaml, <stage>.yaml).
const DeployDir = "deploy"

// LoadConfig returns the configuration of stage for the application in
// appDir: [DefaultConfig], overlaid by the manifest's defaults
// (appDir/plba.app.yaml), then appDir/deploy/default.yaml and
// appDir/deploy/<stage>.yaml (each optional) and then the extra files
// (required), in that order. Unknown keys are errors.
func LoadConfig(appDir, stage string, extra ...string) (Config, error) {
	return LoadConfigFrom(appDir, filepath.Join(appDir, DeployDir), stage, extra...)
}

// LoadConfigFrom is [LoadConfig] with the stage configs in configDir
// instead of appDir/deploy.
func LoadConfigFrom(appDir, configDir, stage string, extra ...string) (Config, error) {
	if stage == "" {
		stage = DefaultStage
	}
	app, err := LoadManifest(appDir)
	if err != nil {
		return Config{}, err
	}
	cfg := DefaultConfig()
	cfg.Stage = stage
	if app.Defaults.Kind != 0 {
		// Decode the node through YAML again so unknown keys fail as in
		// the stage files.
		b, err := yaml.Marshal(&app.Defaults)
		if err == nil {
			err = decodeInto(&cfg, b)
		}
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s: defaults: %w", ErrInvalidConfig, filepath.Join(appDir, ManifestFile), err)
		}
	}
	files := []struct {
		path     string
		optional bool
	}{{filepath.Join(configDir, "default.yaml"), true}, {filepath.Join(configDir, stage+".yaml"), true}}
	for _, f := range extra {
		files = append(files, struct {
			path     string
			optional bool
		}{f, false})
	}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) && f.optional {
			continue
		}
		if err != nil {
			return Config{}, fmt.Errorf("%w: read %s: %w", ErrInvalidConfig, f.path, err)
		}
		if err := decodeInto(&cfg, b); err != nil {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, f.path, err)
		}
	}
	cfg.Stage = stage
	cfg.App = app
	cfg.AssetDir = cfg.expand(cfg.AssetDir)
	return cfg, nil
}

// decodeInto overlays the YAML document b onto cfg: keys the document sets
// replace the current values, the rest stay.
func decodeInto(cfg *Config, b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ResolvedStackName is StackName, else the manifest's stack_name, else
// "{app}-{stage}", with {app} and {stage} replaced.
func (c Config) ResolvedStackName() string {
	n := c.StackName
	if n == "" && c.App != nil {
		n = c.App.StackName
	}
	if n == "" {
		n = "{app}-{stage}"
	}
	return c.expand(n)
}

// ValidationError lists every problem found by [Config.Validate].
type ValidationError struct {
	Stage    string
	Problems []string
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("plba infra: invalid configuration for stage %q:\n  - %s",
		e.Stage, strings.Join(e.Problems, "\n  - "))
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidConfig }

var (
	stageRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
	stackNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,55}$`)
	rateRE      = regexp.MustCompile(`^rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)$`)
	cronRE      = regexp.MustCompile(`^cron\(\S+( \S+){5}\)$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	stackEnv    = map[string]bool{EnvStage: true, EnvQueueURL: true, EnvDLQURL: true, EnvQueueFIFO: true,
		EnvStoreTable: true, EnvMaxReceiveCount: true, EnvMetricsNamespace: true}
	logDaysSet = map[int]bool{0: true, 1: true, 3: true, 5: true, 7: true, 14: true, 30: true, 60: true,
		90: true, 120: true, 150: true, 180: true, 365: true, 400: true, 545: true, 731: true,
		1096: true, 1827: true, 2192: true, 2557: true, 2922: true, 3288: true, 3653: true}
)

// Messages of the AWS rules, documented in docs/deploy.md. Tests match them.
const (
	msgVisibility6x = "queue.visibility_timeout (%s) must be at least 6 × worker.timeout (%s) + worker.batching_window (%s) = %s " +
		"(AWS: a message must not become visible again while a worker invocation may still gather, run or retry it)"
	msgPollerConcurrency = "poller.reserved_concurrency (%d) must be 1: polls of one mailbox must not overlap (two would publish the same mail)"
	msgPollerTimeout     = "poller.timeout (%s) must be shorter than the schedule's rate (%s), or one poll runs into the next"
	msgFIFOWindow        = "worker.batching_window (%s) must be 0 on a FIFO queue (Lambda has no batching window for FIFO event sources)"
	msgMaxConcRange      = "worker.max_concurrency (%d) must be between 2 and 1000 (0 = no limit)"
	msgMaxConcReserved   = "worker.max_concurrency (%d) must not exceed worker.reserved_concurrency (%d)"
	msgBatchFIFO         = "worker.batch_size (%d) must be between 1 and 10 on a FIFO queue"
	msgBatchStd          = "worker.batch_size (%d) must be between 1 and 10000"
	msgBatchWindow       = "worker.batch_size (%d) above 10 requires worker.batching_window of at least 1s (is %s)"
)

// Validate checks the configuration, including the AWS rules that would
// otherwise only fail at deploy time or silently misbehave:
//
//   - queue.visibility_timeout ≥ 6 × worker.timeout;
//   - no batching window on a FIFO queue;
//   - worker.max_concurrency in 2..1000 and ≤ worker.reserved_concurrency;
//   - worker.batch_size 1..10 on FIFO, 1..10000 on standard queues, and a
//     batching window of at least 1s above 10.
//
// It reports every problem at once in a [*ValidationError].
func (c Config) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if !stageRE.MatchString(c.Stage) {
		add("stage %q must be 1-20 characters of a-z, 0-9 and '-', starting with a letter", c.Stage)
	}
	if c.StackName != "" && !stackNameRE.MatchString(c.StackName) {
		add("stack_name %q must be 1-56 characters of A-Z, a-z, 0-9 and '-', starting with a letter (it prefixes the function names, at most 64 characters)", c.StackName)
	}
	if c.AssetDir == "" {
		add("asset_dir must be set (the directory `make lambdas` writes, normally ../bin/lambda)")
	}

	// Queues.
	q := c.Queue
	if q.VisibilityTimeout < 0 || time.Duration(q.VisibilityTimeout) > 12*time.Hour {
		add("queue.visibility_timeout (%s) must be between 0s and 12h", q.VisibilityTimeout)
	}
	if need := 6*c.Worker.Timeout + c.Worker.BatchingWindow; q.VisibilityTimeout < need {
		add(msgVisibility6x, q.VisibilityTimeout, c.Worker.Timeout, c.Worker.BatchingWindow, need)
	}
	for _, r := range []struct {
		key string
		v   Duration
	}{{"queue.retention", q.Retention}, {"queue.dlq_retention", q.DLQRetention}} {
		if time.Duration(r.v) < time.Minute || time.Duration(r.v) > 14*24*time.Hour {
			add("%s (%s) must be between 1m and 336h (14 days)", r.key, r.v)
		}
	}
	if q.DLQRetention < q.Retention {
		add("queue.dlq_retention (%s) must not be shorter than queue.retention (%s): SQS keeps a message's original enqueue time when it is dead-lettered", q.DLQRetention, q.Retention)
	}
	if q.MaxReceiveCount < 1 || q.MaxReceiveCount > 1000 {
		add("queue.max_receive_count (%d) must be between 1 and 1000", q.MaxReceiveCount)
	}
	if q.ContentBasedDeduplication && !q.FIFO {
		add("queue.content_based_deduplication needs queue.fifo: true")
	}

	// Functions.
	for _, f := range []struct {
		name string
		fc   FunctionConfig
	}{{"poller", c.Poller.FunctionConfig}, {"worker", c.Worker.FunctionConfig}, {"control", c.Control.FunctionConfig}} {
		if f.fc.Timeout < Duration(time.Second) || f.fc.Timeout > Duration(900*time.Second) ||
			time.Duration(f.fc.Timeout)%time.Second != 0 {
			add("%s.timeout (%s) must be whole seconds between 1s and 15m", f.name, f.fc.Timeout)
		}
		if f.fc.MemoryMB < 128 || f.fc.MemoryMB > 10240 {
			add("%s.memory_mb (%d) must be between 128 and 10240", f.name, f.fc.MemoryMB)
		}
		if f.fc.ReservedConcurrency < 0 {
			add("%s.reserved_concurrency (%d) must not be negative (0 = none)", f.name, f.fc.ReservedConcurrency)
		}
	}
	if c.Poller.ReservedConcurrency != 1 {
		add(msgPollerConcurrency, c.Poller.ReservedConcurrency)
	}
	if m := rateRE.FindStringSubmatch(c.Poller.Schedule); m != nil {
		if m[1] == "0" || (m[1] == "1") != !strings.HasSuffix(m[2], "s") {
			add("poller.schedule %q: use a positive rate, singular unit for 1 (\"rate(1 minute)\") and plural otherwise (\"rate(5 minutes)\")", c.Poller.Schedule)
		} else if n, _ := strconv.Atoi(m[1]); n > 0 {
			unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
			if rate := time.Duration(n) * unit; time.Duration(c.Poller.Timeout) >= rate {
				add(msgPollerTimeout, c.Poller.Timeout, rate)
			}
		}
	} else if !cronRE.MatchString(c.Poller.Schedule) {
		add("poller.schedule %q must be an EventBridge expression like \"rate(1 minute)\" or \"cron(0/5 * * * ? *)\"", c.Poller.Schedule)
	}

	// Worker event source.
	w := c.Worker
	if q.FIFO {
		if w.BatchingWindow != 0 {
			add(msgFIFOWindow, w.BatchingWindow)
		}
		if w.BatchSize < 1 || w.BatchSize > 10 {
			add(msgBatchFIFO, w.BatchSize)
		}
	} else {
		if w.BatchSize < 1 || w.BatchSize > 10000 {
			add(msgBatchStd, w.BatchSize)
		} else if w.BatchSize > 10 && w.BatchingWindow < Duration(time.Second) {
			add(msgBatchWindow, w.BatchSize, w.BatchingWindow)
		}
	}
	if w.BatchingWindow < 0 || w.BatchingWindow > Duration(300*time.Second) ||
		time.Duration(w.BatchingWindow)%time.Second != 0 {
		add("worker.batching_window (%s) must be whole seconds between 0s and 5m", w.BatchingWindow)
	}
	if w.MaxConcurrency != 0 {
		if w.MaxConcurrency < 2 || w.MaxConcurrency > 1000 {
			add(msgMaxConcRange, w.MaxConcurrency)
		}
		if w.ReservedConcurrency > 0 && w.MaxConcurrency > w.ReservedConcurrency {
			add(msgMaxConcReserved, w.MaxConcurrency, w.ReservedConcurrency)
		}
	}

	// The application.
	if c.App == nil {
		add("no application manifest (%s): LoadConfig reads it", ManifestFile)
	} else {
		c.App.validate(add)
		for _, n := range slices.Sorted(maps.Keys(c.App.Settings)) {
			spec := c.App.Settings[n]
			v, ok := c.Settings[n]
			if !ok {
				v = spec.Default
			}
			doc := ""
			if spec.Doc != "" {
				doc = " (" + spec.Doc + ")"
			}
			switch {
			case v == "" && spec.Required:
				add("settings.%s must be set%s", n, doc)
			case v == "":
			case len(spec.OneOf) > 0 && !slices.Contains(spec.OneOf, v):
				add("settings.%s %q must be one of %s%s", n, v, strings.Join(spec.OneOf, ", "), doc)
			case spec.Pattern != "":
				// validate above reports a pattern that does not compile.
				if re, err := regexp.Compile(spec.Pattern); err == nil && !re.MatchString(v) {
					add("settings.%s %q must match %s%s", n, v, spec.Pattern, doc)
				}
			}
		}
		for _, n := range slices.Sorted(maps.Keys(c.Settings)) {
			if _, ok := c.App.Settings[n]; !ok {
				add("settings.%s: application %s declares no such setting (it has: %s)", n, c.App.Name,
					strings.Join(slices.Sorted(maps.Keys(c.App.Settings)), ", "))
			}
		}
	}

	appEnv := map[string]string{}
	if c.App != nil {
		appEnv = c.App.appEnv()
	}
	for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
		switch {
		case !envNameRE.MatchString(k):
			add("environment: %q is not a valid variable name", k)
		case reservedEnv(k):
			add("environment: %s is set by the stack or by Lambda and cannot be overridden", k)
		case appEnv[k] != "":
			add("environment: %s is set by the application's manifest (%s) and cannot be overridden", k, appEnv[k])
		}
	}

	secrets := c.ResolvedSecrets()
	envOf := map[string]string{}
	for _, n := range slices.Sorted(maps.Keys(secrets)) {
		r := secrets[n]
		key := "secrets." + n
		declared := c.App != nil && c.App.Secrets[n].Env != ""
		if !declared {
			// The manifest checked its own; these are the stage's.
			if !secretIDRE.MatchString(n) {
				add("%s: the name must be letters and digits (it names IAM statements)", key)
			}
			switch {
			case !envNameRE.MatchString(r.Env):
				add("%s.env %q is not a valid variable name", key, r.Env)
			case reservedEnv(r.Env) || c.Environment[r.Env] != "" || appEnv[r.Env] != "":
				add("%s.env %s is already set by the stack, the manifest or environment", key, r.Env)
			}
		}
		if other := envOf[r.Env]; other != "" {
			add("%s.env %s is also the variable of secrets.%s", key, r.Env, other)
		}
		envOf[r.Env] = n
		if (r.SSMParameter == "") == (r.Secret == "") {
			add("%s: set exactly one of ssm_parameter and secret", key)
		} else if r.SSMParameter != "" && (!strings.HasPrefix(r.SSMParameter, "/") || strings.ContainsAny(c.expand(r.SSMParameter), " {}")) {
			add("%s.ssm_parameter %q must be an absolute SSM parameter name like /%s/{stage}/password", key, r.SSMParameter, c.AppName())
		} else if strings.ContainsAny(c.expand(r.Secret), " {}*") {
			add("%s.secret %q is not a valid secret name", key, r.Secret)
		}
		if r.KMSKeyARN != "" && !strings.HasPrefix(r.KMSKeyARN, "arn:") {
			add("%s.kms_key_arn %q must be a key ARN", key, r.KMSKeyARN)
		}
		if len(r.Functions) == 0 {
			add("%s.functions must name at least one of poller, worker, control", key)
		}
		for j, fn := range r.Functions {
			if fn != Poller && fn != Worker && fn != Control {
				add("%s.functions: %q is not poller, worker or control", key, fn)
			} else if slices.Contains(r.Functions[:j], fn) {
				add("%s.functions: %s is listed twice", key, fn)
			}
		}
	}

	if !logDaysSet[c.Logs.RetentionDays] {
		add("logs.retention_days (%d) must be one of 0 (never expire), 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653", c.Logs.RetentionDays)
	}
	if c.Alarms.TopicARN != "" && !strings.HasPrefix(c.Alarms.TopicARN, "arn:") {
		add("alarms.topic_arn %q must be an SNS topic ARN", c.Alarms.TopicARN)
	}
	if c.Alarms.TopicARN != "" && c.Alarms.CreateTopic {
		add("alarms.topic_arn and alarms.create_topic exclude each other: notify an existing topic or create one")
	}
	if len(c.Alarms.Emails) > 0 && !c.Alarms.CreateTopic {
		add("alarms.emails needs alarms.create_topic: true (subscribe to an existing topic where it is managed)")
	}
	for _, e := range c.Alarms.Emails {
		if !strings.Contains(e, "@") {
			add("alarms.emails: %q is not an e-mail address", e)
		}
	}
	if c.Alarms.OldestMessageAge < Duration(time.Minute) {
		add("alarms.oldest_message_age (%s) must be at least 1m", c.Alarms.OldestMessageAge)
	}
	if c.Alarms.QueueDepth < 1 {
		add("alarms.queue_depth (%d) must be at least 1", c.Alarms.QueueDepth)
	}
	if w := c.Alarms.DeadLetterExpiryWarning; w < Duration(time.Hour) || w >= q.DLQRetention {
		add("alarms.dead_letter_expiry_warning (%s) must be at least 1h and below queue.dlq_retention (%s)", w, q.DLQRetention)
	}

	if len(p) > 0 {
		return &ValidationError{Stage: c.Stage, Problems: p}
	}
	return nil
}
