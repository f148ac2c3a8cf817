package feedrelay

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/schedule"
)

// ConfigPath is the application's configuration section.
const ConfigPath = "apps.feedrelay"

// State drivers.
const (
	// DriverFile keeps the state in one JSON file (local runs).
	DriverFile = "file"
	// DriverMemory forgets it when the process ends (tests, trials).
	DriverMemory = "memory"
	// DriverDynamoDB keeps it in a DynamoDB table (Lambda: the poller
	// writes, control reads the feeds' health from it).
	DriverDynamoDB = "dynamodb"
)

// Config is apps.feedrelay.
type Config struct {
	// Feeds are the RSS or Atom feed URLs, separated by spaces, commas or
	// newlines (one string, so that a single variable or --set carries
	// them all).
	Feeds string `koanf:"feeds"`
	// Interval between polls in a long-lived process; on AWS the
	// EventBridge schedule (poller.schedule) drives the poller instead.
	Interval time.Duration `koanf:"interval"`
	// Schedule, if set, is a cron expression in UTC ("0 8-18 * * mon-fri",
	// "@hourly"): the feeds are fetched only at its ticks, whatever the
	// interval or the EventBridge schedule (pkg/source/schedule). Empty:
	// at every poll.
	Schedule string `koanf:"schedule"`
	// CatchUp is how late a tick may still be fetched (a Lambda cold start,
	// a restart); it must cover the poll period (interval locally, the
	// EventBridge schedule on AWS).
	CatchUp time.Duration `koanf:"catch_up"`
	// SkipExisting: on the first fetch of a feed, record what it holds as
	// seen without delivering it; only entries that appear later are
	// delivered.
	SkipExisting bool `koanf:"skip_existing"`
	// FetchTimeout bounds one feed request.
	FetchTimeout time.Duration `koanf:"fetch_timeout"`
	// MaxFeedBytes caps a feed document.
	MaxFeedBytes int64 `koanf:"max_feed_bytes"`
	// Webhook receives each new entry.
	Webhook WebhookConfig `koanf:"webhook"`
	// Workers deliver entries in parallel (local pool size).
	Workers int `koanf:"workers"`
	// State remembers, per feed, the entries already published and the
	// validators (ETag, Last-Modified) of the last response.
	State StateConfig `koanf:"state"`
}

// WebhookConfig is where entries go.
type WebhookConfig struct {
	// URL gets one POST per entry (JSON, see [Entry]) with an
	// Idempotency-Key header: delivery is at least once.
	URL string `koanf:"url"`
	// Token, if set, is sent as "Authorization: Bearer <token>".
	Token contracts.Secret `koanf:"token"`
	// Timeout bounds one delivery.
	Timeout time.Duration `koanf:"timeout"`
	// RetryAfter is the delay before a failed delivery is tried again,
	// unless the endpoint's Retry-After says otherwise.
	RetryAfter time.Duration `koanf:"retry_after"`
}

// StateConfig selects where the state lives.
type StateConfig struct {
	Driver string `koanf:"driver"`
	// Path of the JSON file (driver file).
	Path string `koanf:"path"`
	// Table (driver dynamodb); its partition key is "pk" (S).
	Table string `koanf:"table"`
	// Endpoint points the DynamoDB client at a compatible local server.
	Endpoint string `koanf:"endpoint"`
	// Region of the table; default the environment's.
	Region string `koanf:"region"`
}

// DefaultConfig returns the defaults; the one place they are set.
func DefaultConfig() Config {
	return Config{
		Interval:     5 * time.Minute,
		CatchUp:      10 * time.Minute,
		FetchTimeout: 20 * time.Second,
		MaxFeedBytes: 5 << 20,
		Webhook:      WebhookConfig{Timeout: 10 * time.Second, RetryAfter: 30 * time.Second},
		Workers:      4,
		State:        StateConfig{Driver: DriverFile, Path: "var/feedrelay/state.json"},
	}
}

// ErrInvalidConfig is wrapped by every problem [Config.Validate] reports.
var ErrInvalidConfig = errors.New("feedrelay: invalid configuration")

// FeedURLs splits Feeds.
func (c Config) FeedURLs() []string {
	return strings.FieldsFunc(c.Feeds, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}

// Validate reports every problem, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s.%s: %s", ErrInvalidConfig, ConfigPath, key, fmt.Sprintf(format, args...)))
	}
	httpURL := func(key, s string) {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", s)
		}
	}
	feeds := c.FeedURLs()
	if len(feeds) == 0 {
		bad("feeds", "must list at least one feed URL")
	}
	seen := map[string]bool{}
	for _, f := range feeds {
		httpURL("feeds", f)
		if seen[f] {
			bad("feeds", "%q is listed twice", f)
		}
		seen[f] = true
	}
	if c.Webhook.URL == "" {
		bad("webhook.url", "must be set")
	} else {
		httpURL("webhook.url", c.Webhook.URL)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"interval", c.Interval}, {"catch_up", c.CatchUp}, {"fetch_timeout", c.FetchTimeout}, {"webhook.timeout", c.Webhook.Timeout}, {"webhook.retry_after", c.Webhook.RetryAfter}} {
		if d.v < time.Second {
			bad(d.key, "%s must be at least 1s", d.v)
		}
	}
	if c.Schedule != "" {
		if _, err := schedule.Parse(c.Schedule, nil); err != nil {
			bad("schedule", "%v", err)
		}
		if c.Interval > c.CatchUp {
			bad("interval", "%s must not exceed catch_up (%s) with a schedule, or its ticks are missed", c.Interval, c.CatchUp)
		}
	}
	if c.MaxFeedBytes < 1024 {
		bad("max_feed_bytes", "%d must be at least 1024", c.MaxFeedBytes)
	}
	if c.Workers < 1 || c.Workers > 256 {
		bad("workers", "%d must be between 1 and 256", c.Workers)
	}
	switch c.State.Driver {
	case DriverFile:
		if c.State.Path == "" {
			bad("state.path", "required for the file driver")
		}
	case DriverMemory:
	case DriverDynamoDB:
		if c.State.Table == "" {
			bad("state.table", "required for the dynamodb driver")
		}
	default:
		bad("state.driver", "%q is not one of file, memory, dynamodb", c.State.Driver)
	}
	return errors.Join(errs...)
}
