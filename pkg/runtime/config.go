package runtime

import (
	"fmt"
	"time"
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
}

// ControlConfig is platform.control.
type ControlConfig struct {
	// Listen is the control plane's address; "" or "off" disables it.
	// Loopback by default: the control plane has admin actions.
	Listen string `koanf:"listen" json:"listen"`
}

// TimeoutConfig is platform.startup / platform.shutdown.
type TimeoutConfig struct {
	Timeout time.Duration `koanf:"timeout" json:"timeout" validate:"gte=0"`
}

// QueueConfig is platform.queue.
type QueueConfig struct {
	// Backend: memory (default) or sqs.
	Backend     string `koanf:"backend" json:"backend" validate:"oneof=memory sqs redis"`
	Capacity    int    `koanf:"capacity" json:"capacity" validate:"gte=1"`
	MaxAttempts int    `koanf:"max_attempts" json:"max_attempts" validate:"gte=1"`
	// Lease for backends with leases (SQS visibility, Redis): extended
	// while a routine runs.
	Lease time.Duration `koanf:"lease" json:"lease" validate:"gte=0"`
	// SQS holds queue URLs by queue name, for backend sqs.
	SQS SQSQueueConfig `koanf:"sqs" json:"sqs"`
	// Redis address for backend redis.
	Redis RedisQueueConfig `koanf:"redis" json:"redis"`
}

// SQSQueueConfig configures SQS queues for the local runner.
type SQSQueueConfig struct {
	// URLs maps a module's queue name to its SQS queue URL.
	URLs map[string]string `koanf:"urls" json:"urls,omitempty"`
	// DLQURLs maps a queue name to its dead-letter queue URL.
	DLQURLs map[string]string `koanf:"dlq_urls" json:"dlq_urls,omitempty"`
	// Endpoint overrides the SQS endpoint (SQS-compatible servers).
	Endpoint string `koanf:"endpoint" json:"endpoint,omitempty"`
	Region   string `koanf:"region" json:"region,omitempty"`
	// WaitTime for long polls (0–20s).
	WaitTime time.Duration `koanf:"wait_time" json:"wait_time" validate:"gte=0,lte=20s"`
}

// RedisQueueConfig configures Redis queues.
type RedisQueueConfig struct {
	Addr string `koanf:"addr" json:"addr,omitempty"`
	// Prefix starts every key, so several deployments share one Redis.
	Prefix string `koanf:"prefix" json:"prefix,omitempty"`
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
type RestartConfig struct {
	MaxRestarts int           `koanf:"max_restarts" json:"max_restarts" validate:"gte=0"`
	Window      time.Duration `koanf:"window" json:"window" validate:"gt=0"`
}

// TracingConfig is platform.tracing.
type TracingConfig struct {
	// Exporter: none (default), stdout.
	Exporter string `koanf:"exporter" json:"exporter" validate:"oneof=none stdout"`
}

// DefaultPlatformConfig returns the defaults every deployment starts from.
func DefaultPlatformConfig() PlatformConfig {
	return PlatformConfig{
		Log:      LogConfig{Format: "text", Level: "info"},
		Control:  ControlConfig{Listen: "127.0.0.1:8080"},
		Startup:  TimeoutConfig{Timeout: 30 * time.Second},
		Shutdown: TimeoutConfig{Timeout: 30 * time.Second},
		Queue:    QueueConfig{Backend: "memory", Capacity: 1024, MaxAttempts: 5, SQS: SQSQueueConfig{WaitTime: 20 * time.Second}},
		Routines: RoutineConfig{Timeout: 5 * time.Minute, BackoffMin: time.Second, BackoffMax: 5 * time.Minute},
		Restart:  RestartConfig{MaxRestarts: 5, Window: time.Minute},
		Tracing:  TracingConfig{Exporter: "none"},
	}
}

// Validate checks rules that span fields.
func (c PlatformConfig) Validate() error {
	if c.Routines.BackoffMax < c.Routines.BackoffMin {
		return fmt.Errorf("platform.routines.backoff_max (%s) is below backoff_min (%s)", c.Routines.BackoffMax, c.Routines.BackoffMin)
	}
	return nil
}
