package runtime

import (
	"fmt"
	"time"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// PlatformConfig is the `platform` section: the runtime's own settings.
type PlatformConfig struct {
	Log      LogConfig     `koanf:"log" json:"log"`
	Control  ControlConfig `koanf:"control" json:"control"`
	Startup  TimeoutConfig `koanf:"startup" json:"startup"`
	Shutdown TimeoutConfig `koanf:"shutdown" json:"shutdown"`
	Queue    QueueConfig   `koanf:"queue" json:"queue"`
	Routines RoutineConfig `koanf:"routines" json:"routines"`
	Restart  RestartConfig `koanf:"restart" json:"restart"`
	Tracing  TracingConfig `koanf:"tracing" json:"tracing"`
	// Telemetry holds the metrics (and, later, OTLP) settings.
	Telemetry TelemetryConfig `koanf:"telemetry" json:"telemetry"`
	// Config turns on configuration providers (PostgreSQL, SSM).
	Config config.ProvidersConfig `koanf:"config" json:"config"`
	// Lambda holds what only the Lambda functions read.
	Lambda LambdaConfig `koanf:"lambda" json:"lambda"`
}

// LambdaConfig is platform.lambda.
type LambdaConfig struct {
	Worker LambdaWorkerConfig `koanf:"worker" json:"worker"`
	// Reserve is how long before an invocation's deadline the worker and
	// the poller stop starting work and return what they have (AWS drops
	// the response of an invocation that times out). 0: a tenth of the time
	// left, between 100ms and 3s (lambda/reserve.Default).
	Reserve time.Duration `koanf:"reserve" json:"reserve" validate:"gte=0"`
}

// LambdaWorkerConfig is platform.lambda.worker.
type LambdaWorkerConfig struct {
	// Queue is the logical queue the worker function consumes; default the
	// only queue the routines use.
	Queue string `koanf:"queue" json:"queue,omitempty"`
	// Concurrency is how many records of a standard queue's batch run in
	// parallel; 0 means the worker's default (10).
	Concurrency int `koanf:"concurrency" json:"concurrency" validate:"gte=0,lte=1000"`
}

// ControlConfig is platform.control: the local control plane. Its
// defaults live in [DefaultPlatformConfig]; the rules that need the listen
// address (a token for a non-loopback listen) are checked by
// control.Prepare, which the runner calls before it listens.
type ControlConfig struct {
	// Listen is the control plane's address; "" or "off" disables it.
	// Loopback by default: the control plane has admin actions.
	Listen string `koanf:"listen" json:"listen"`
	// Token guards mutating (and payload-revealing) actions. Required for a
	// non-loopback Listen; on loopback, when empty, the runner generates
	// one at start and writes it to TokenFile.
	Token contracts.Secret `koanf:"token" json:"token"`
	// TokenFile is where a generated token is written (mode 0600) and
	// where the CLI reads it; default var/control.token.
	TokenFile string `koanf:"token_file" json:"token_file" validate:"required"`
	// AllowedHosts are host names (without port) the control plane answers
	// to besides the loopback names (localhost, 127.0.0.1, ::1) and the
	// listen address's own host: the defence against DNS rebinding.
	AllowedHosts []string `koanf:"allowed_hosts" json:"allowed_hosts,omitempty"`
	// MaxBodyBytes bounds a request body; default 64 KiB.
	MaxBodyBytes int64 `koanf:"max_body_bytes" json:"max_body_bytes" validate:"gte=1"`
	// Rate is the steady request rate per client address (requests per
	// second) and Burst what it may exceed it by; defaults 20 and 40.
	Rate  float64 `koanf:"rate" json:"rate" validate:"gt=0"`
	Burst int     `koanf:"burst" json:"burst" validate:"gte=1"`
}

// DefaultControlTokenFile is platform.control.token_file's default,
// relative to the working directory like the demo's var/orders.db.
const DefaultControlTokenFile = "var/control.token"

// TimeoutConfig is platform.startup / platform.shutdown.
type TimeoutConfig struct {
	Timeout time.Duration `koanf:"timeout" json:"timeout" validate:"gte=0"`
}

// QueueConfig is platform.queue.
type QueueConfig struct {
	// Backend names a registered queue backend (queue.Register): memory
	// (default), sqs, redis, or any other linked into the binary. The
	// runner checks the name against the registry.
	Backend  string `koanf:"backend" json:"backend" validate:"required"`
	Capacity int    `koanf:"capacity" json:"capacity" validate:"gte=1"`
	// MaxAttempts is how many deliveries a task gets before it is
	// dead-lettered, for every queue and every routine that sets no
	// RoutineSpec.MaxAttempts of its own; on SQS it is the redrive
	// policy's maxReceiveCount. The queue owns it: executors ask the queue.
	MaxAttempts int `koanf:"max_attempts" json:"max_attempts" validate:"gte=1"`
	// ReadAhead: a source publishes into an in-memory queue no more than
	// ReadAhead × the consuming pool's size ahead of the consumers (what a
	// crash or a stop leaves in flight). Durable queues are bounded by the
	// sources' batch size per cycle instead.
	ReadAhead int `koanf:"read_ahead" json:"read_ahead" validate:"gte=1,lte=1000"`
	// Lease for backends with leases (SQS visibility, Redis): extended
	// while a routine runs.
	Lease time.Duration `koanf:"lease" json:"lease" validate:"gte=0"`
	// Backends holds the backends' own sections, platform.queue.<backend>
	// (e.g. platform.queue.sqs, platform.queue.redis). Each backend owns
	// and validates its section's type (sqsqueue.Config,
	// redisqueue.Config); the runner decodes the selected one.
	Backends map[string]any `koanf:",remain" json:"backends,omitempty"`
}

// RoutineConfig is platform.routines: defaults for every routine.
type RoutineConfig struct {
	// Timeout for one routine run when the routine sets none.
	Timeout time.Duration `koanf:"timeout" json:"timeout" validate:"gte=0"`
	// BackoffMin/BackoffMax bound the retry backoff for plain errors.
	BackoffMin time.Duration `koanf:"backoff_min" json:"backoff_min" validate:"gt=0"`
	BackoffMax time.Duration `koanf:"backoff_max" json:"backoff_max" validate:"gt=0"`
}

// RestartConfig is platform.restart: the supervisor's restart intensity.
// MaxRestarts 0 means a failed worker is not restarted.
type RestartConfig struct {
	MaxRestarts int           `koanf:"max_restarts" json:"max_restarts" validate:"gte=0"`
	Window      time.Duration `koanf:"window" json:"window" validate:"gt=0"`
}

// TracingConfig is platform.tracing.
type TracingConfig struct {
	// Exporter: none (default), stdout, or otlp (OTLP over HTTP to
	// platform.telemetry.otlp.endpoint).
	Exporter string `koanf:"exporter" json:"exporter" validate:"oneof=none stdout otlp"`
}

// TelemetryConfig is platform.telemetry.
type TelemetryConfig struct {
	Metrics MetricsConfig `koanf:"metrics" json:"metrics"`
	OTLP    OTLPConfig    `koanf:"otlp" json:"otlp"`
}

// OTLPConfig is platform.telemetry.otlp: OTLP over HTTP (protobuf) to a
// collector, for `plba run`. The Lambda functions do not link it (it
// would grow a bootstrap past its size budget): they write metrics as EMF
// and traces go through X-Ray or an ADOT layer (docs/observability.md).
type OTLPConfig struct {
	// Endpoint is the collector's base URL, e.g. http://127.0.0.1:4318;
	// traces go to /v1/traces (with platform.tracing.exporter: otlp),
	// metrics to /v1/metrics. Empty: no OTLP.
	Endpoint string `koanf:"endpoint" json:"endpoint,omitempty" validate:"omitempty,url"`
	// Headers are sent with every export (an API key); secrets, redacted
	// everywhere they are shown.
	Headers map[string]contracts.Secret `koanf:"headers" json:"headers,omitempty"`
	// Metrics exports the metrics too when Endpoint is set (default true).
	Metrics bool `koanf:"metrics" json:"metrics"`
	// Interval between metric exports; default 30s.
	Interval time.Duration `koanf:"interval" json:"interval" validate:"gt=0"`
}

// MetricsConfig is platform.telemetry.metrics (see pkg/telemetry for the
// names).
type MetricsConfig struct {
	// Enabled turns metrics on (default true): task outcomes, routine
	// durations and queue gauges, shown by the control plane's `metrics`
	// action. Off, no observer is installed and the task path is the one
	// without telemetry.
	Enabled bool `koanf:"enabled" json:"enabled"`
	// DurationBuckets are plba.routine.duration's bucket bounds in
	// seconds, ascending; empty means telemetry.DefaultDurationBuckets
	// (1ms to 5 minutes).
	DurationBuckets []float64 `koanf:"duration_buckets" json:"duration_buckets,omitempty" validate:"omitempty,dive,gt=0"`
	// Prometheus serves the metrics at /metrics on the local control plane
	// (platform.control.listen) in the Prometheus text format (default
	// true when metrics are on).
	Prometheus bool `koanf:"prometheus" json:"prometheus"`
	// Namespace is the CloudWatch namespace the Lambda functions write
	// their metrics to (Embedded Metric Format on stdout); empty means
	// emf.DefaultNamespace, "PLBA".
	Namespace string `koanf:"namespace" json:"namespace,omitempty" validate:"omitempty,max=255"`
}

// DefaultPlatformConfig returns the defaults every deployment starts from.
func DefaultPlatformConfig() PlatformConfig {
	return PlatformConfig{
		Log: LogConfig{Format: "text", Level: "info"},
		Control: ControlConfig{Listen: "127.0.0.1:8080", TokenFile: DefaultControlTokenFile,
			MaxBodyBytes: 64 << 10, Rate: 20, Burst: 40},
		Startup:  TimeoutConfig{Timeout: 30 * time.Second},
		Shutdown: TimeoutConfig{Timeout: 30 * time.Second},
		Queue:    QueueConfig{Backend: "memory", Capacity: 1024, MaxAttempts: 5, ReadAhead: 32},
		Routines: RoutineConfig{Timeout: 5 * time.Minute, BackoffMin: time.Second, BackoffMax: 5 * time.Minute},
		Restart:  RestartConfig{MaxRestarts: DefaultSupervisorOptions().MaxRestarts, Window: DefaultSupervisorOptions().Window},
		Tracing:  TracingConfig{Exporter: "none"},

		Telemetry: TelemetryConfig{Metrics: MetricsConfig{Enabled: true, Prometheus: true},
			OTLP: OTLPConfig{Metrics: true, Interval: 30 * time.Second}},
	}
}

// Validate checks rules that span fields.
func (c PlatformConfig) Validate() error {
	if c.Routines.BackoffMax < c.Routines.BackoffMin {
		return fmt.Errorf("platform.routines.backoff_max (%s) is below backoff_min (%s)", c.Routines.BackoffMax, c.Routines.BackoffMin)
	}
	if c.Tracing.Exporter == "otlp" && c.Telemetry.OTLP.Endpoint == "" {
		return fmt.Errorf("platform.tracing.exporter is otlp but platform.telemetry.otlp.endpoint is not set")
	}
	for i, b := range c.Telemetry.Metrics.DurationBuckets {
		if i > 0 && b <= c.Telemetry.Metrics.DurationBuckets[i-1] {
			return fmt.Errorf("platform.telemetry.metrics.duration_buckets: %v is not ascending", c.Telemetry.Metrics.DurationBuckets)
		}
	}
	return nil
}
