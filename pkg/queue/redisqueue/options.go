package redisqueue

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/queue/driver"
)

// AttrMalformed marks, in dead letters, an entry that was not a task
// envelope; its Payload is the raw entry. It is [driver.AttrMalformed].
const AttrMalformed = driver.AttrMalformed

// ErrMalformed is wrapped when a stored entry is not a task envelope; it is
// [driver.ErrMalformed], the same for every backend.
var ErrMalformed = driver.ErrMalformed

// Options configure a [Queue].
type Options struct {
	// Client talks to Redis: a *redis.Client, *redis.ClusterClient or
	// *redis.Ring... any redis.UniversalClient. Required. The caller owns
	// it: [Queue.Close] does not close it. Its ReadTimeout (go-redis default
	// 3s) must exceed 1s: waits shorter than a second are sent with it as
	// their read deadline.
	Client redis.UniversalClient
	// Name names the queue; its keys are Prefix:{Name}:… Letters, digits
	// and ._:- only (braces would break the cluster hash tag). Required.
	Name string
	// Prefix starts every key; default "plba".
	Prefix string
	// Capacity bounds the tasks held (ready + in flight + delayed); Publish
	// blocks while it is reached. 0 means unbounded. Every process using
	// the queue should set the same value.
	Capacity int
	// MaxAttempts is the number of deliveries after which Nack (or an
	// expired lease) dead-letters a task. Default 5; negative means never.
	MaxAttempts int
	// Lease is how long a delivery stays in flight before it is handed to
	// another consumer, unless extended ([Queue.Extend]). Default 30s.
	Lease time.Duration
	// BlockTimeout bounds one blocking wait for ready tasks (with a
	// *redis.Ring: how late Close is noticed). Default 1s.
	BlockTimeout time.Duration
	// MoverInterval is how often the mover looks for due delayed tasks and
	// expired leases when it knows of none sooner (tasks nacked by other
	// processes). Default 1s.
	MoverInterval time.Duration
	// MoverBatch bounds the tasks one mover step moves. Default 256.
	MoverBatch int
	// ReadAhead is how many tasks a queue claims ahead of its waiting
	// consumers in one script (its consumer capacity). Their leases run
	// while they wait, and Close hands back those never taken. Default 16.
	ReadAhead int
	// BatchSize bounds one claim, send or settle script; concurrent acks
	// and nacks are combined into one script up to it. Default 64.
	BatchSize int
	// MaxTaskBytes bounds one encoded task; Publish rejects larger ones with
	// [contracts.ErrTooLarge]. Default 1 MiB.
	MaxTaskBytes int
	// Logger reports malformed entries and mover errors; default
	// slog.Default().
	Logger *slog.Logger
}

// ErrInvalidOptions is wrapped by [Options.Validate] and [New].
var ErrInvalidOptions = errors.New("redisqueue: invalid options")

var validName = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "plba"
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.Lease == 0 {
		o.Lease = 30 * time.Second
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = time.Second
	}
	if o.MoverInterval == 0 {
		o.MoverInterval = time.Second
	}
	if o.MoverBatch == 0 {
		o.MoverBatch = 256
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = 16
	}
	if o.BatchSize == 0 {
		o.BatchSize = 64
	}
	if o.MaxTaskBytes == 0 {
		o.MaxTaskBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports every invalid option, after defaults are applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	var problems []string
	if o.Client == nil {
		problems = append(problems, "Client is required")
	}
	if !validName.MatchString(o.Name) {
		problems = append(problems, fmt.Sprintf("Name %q: must be non-empty letters, digits and ._:-", o.Name))
	}
	if !validName.MatchString(o.Prefix) {
		problems = append(problems, fmt.Sprintf("Prefix %q: must be letters, digits and ._:-", o.Prefix))
	}
	if o.Capacity < 0 {
		problems = append(problems, "Capacity must be ≥ 0")
	}
	if o.Lease < time.Millisecond {
		problems = append(problems, fmt.Sprintf("Lease %s: must be ≥ 1ms", o.Lease))
	}
	if o.BlockTimeout < time.Millisecond {
		problems = append(problems, fmt.Sprintf("BlockTimeout %s: must be ≥ 1ms", o.BlockTimeout))
	}
	if o.MoverInterval < time.Millisecond {
		problems = append(problems, fmt.Sprintf("MoverInterval %s: must be ≥ 1ms", o.MoverInterval))
	}
	if o.MoverBatch < 1 {
		problems = append(problems, "MoverBatch must be ≥ 1")
	}
	if o.ReadAhead < 1 {
		problems = append(problems, "ReadAhead must be ≥ 1")
	}
	if o.BatchSize < 1 {
		problems = append(problems, "BatchSize must be ≥ 1")
	}
	if o.MaxTaskBytes < 1 {
		problems = append(problems, "MaxTaskBytes must be ≥ 1")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	return nil
}
