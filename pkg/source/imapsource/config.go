package imapsource

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
)

// TLS modes for [Config.TLS].
const (
	TLSNone     = "none"     // plain TCP; only for loopback test servers
	TLSStartTLS = "starttls" // plain connect, then STARTTLS before login
	TLSImplicit = "implicit" // TLS from the first byte (port 993)
)

// Modes for [Config.Mode].
const (
	ModeIdle = "idle" // push: IMAP IDLE, see [Source.Run]
	ModePoll = "poll" // interval polling, see [Source.Poll]
)

// Dead-letter actions for [Config.OnDeadLetter]. "move:<folder>" moves the
// message to that folder (created when missing).
const (
	DeadLetterFlag       = "flag"
	DeadLetterMovePrefix = "move:"
)

// Config configures a [Source]. The zero value is not usable; start from
// [DefaultConfig]. The koanf tags are the keys under the application's
// configuration path (the mail order bot uses apps.mailorderbot.imap).
type Config struct {
	// Addr is host:port of the IMAP server.
	Addr string `koanf:"addr" validate:"required,hostname_port"`
	// TLS is none, starttls or implicit. Default implicit: a password must
	// not cross the network in clear text unless the config says so.
	TLS string `koanf:"tls" validate:"omitempty,oneof=none starttls implicit"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system pool (for servers with a private CA).
	CAFile string `koanf:"ca_file"`
	// ServerName overrides the name checked in the server certificate
	// (default: the host of Addr).
	ServerName string `koanf:"server_name"`
	// InsecureSkipVerify disables certificate checks. Tests only.
	InsecureSkipVerify bool `koanf:"insecure_skip_verify"`

	Username string           `koanf:"username" validate:"required"`
	Password contracts.Secret `koanf:"password"`
	// Auth chooses the login: LOGIN with Password (default), or OAuth 2.0
	// (xoauth2, oauthbearer) with a provider preset; see auth.go.
	Auth mailauth.Config `koanf:"auth"`

	// Mailbox to read; default INBOX.
	Mailbox string `koanf:"mailbox"`
	// Mode is idle (push) or poll; the application passes
	// [Config.SourceMode] to the runtime. Lambda always polls.
	Mode string `koanf:"mode" validate:"omitempty,oneof=idle poll"`
	// PollInterval is the interval in poll mode; default 30s.
	PollInterval time.Duration `koanf:"poll_interval"`

	// InFlightKeyword marks messages whose task is queued; default $Queued.
	// Four generation keywords (<keyword>G0..G3) record when it was set.
	InFlightKeyword string `koanf:"in_flight_keyword"`
	// StaleAfter is how long an in-flight mark protects a message from being
	// published again; after 2*StaleAfter at the latest it is published
	// anew. It must exceed the queue's total retry time. Default 30m.
	StaleAfter time.Duration `koanf:"stale_after"`
	// RecoverAfter is how long a mark must stay unchanged, with the queue
	// holding no task for it, before it is taken as lost (its publisher
	// stopped between marking and publishing) and the message published
	// again. It applies only with a queue that tells which tasks it holds
	// (Redis) and a server with CONDSTORE; otherwise StaleAfter rules. A
	// cycle publishes its batch within RecoverAfter/2 of marking it.
	// Default 10s.
	RecoverAfter time.Duration `koanf:"recover_after"`
	// OnDeadLetter is "flag" (leave unseen, set \Flagged and
	// DeadLetterKeyword) or "move:<folder>". Default flag.
	OnDeadLetter string `koanf:"on_dead_letter"`
	// DeadLetterKeyword marks dead-lettered messages so they are not polled
	// again; default $DeadLetter.
	DeadLetterKeyword string `koanf:"dead_letter_keyword"`
	// BatchSize caps the messages fetched per cycle; default 500. Run
	// repeats cycles at once while a cycle is full.
	BatchSize int `koanf:"batch_size" validate:"omitempty,min=1"`

	// IdleRestart is the IDLE watchdog period: IDLE is stopped, a poll cycle
	// runs (which proves the connection alive and catches anything missed)
	// and IDLE restarts. Default 5m (servers drop IDLE after 30m).
	IdleRestart time.Duration `koanf:"idle_restart"`
	// IdleCheck bounds the time from new mail to its task on servers that
	// do not push during IDLE (Cyrus without idled and Courier without
	// IMAP_ENHANCEDIDLE notify only every ~60 s, Mailutils never): every
	// IdleCheck the source leaves IDLE, sends NOOP (whose answer reports
	// new messages on every server) and idles again. Default 30s (or
	// IdleRestart when that is shorter); a value above IdleRestart has no
	// effect (the watchdog's cycle comes first).
	IdleCheck time.Duration `koanf:"idle_check"`
	// CommandTimeout bounds each IMAP round trip; the connection is dropped
	// when it expires. Default 30s.
	CommandTimeout time.Duration `koanf:"command_timeout"`
	// DialTimeout bounds connect + TLS + login; default 15s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// BackoffMin and BackoffMax bound the jittered exponential reconnect
	// delay; default 500ms and 1m.
	BackoffMin time.Duration `koanf:"backoff_min"`
	BackoffMax time.Duration `koanf:"backoff_max"`
}

// DefaultConfig returns a Config with every default set; Addr, Username and
// Password are left to the caller.
func DefaultConfig() Config {
	return Config{
		TLS:               TLSImplicit,
		Mailbox:           "INBOX",
		Mode:              ModeIdle,
		PollInterval:      30 * time.Second,
		InFlightKeyword:   "$Queued",
		StaleAfter:        30 * time.Minute,
		RecoverAfter:      10 * time.Second,
		OnDeadLetter:      DeadLetterFlag,
		DeadLetterKeyword: "$DeadLetter",
		BatchSize:         500,
		IdleRestart:       5 * time.Minute,
		IdleCheck:         30 * time.Second,
		CommandTimeout:    30 * time.Second,
		DialTimeout:       15 * time.Second,
		BackoffMin:        500 * time.Millisecond,
		BackoffMax:        time.Minute,
	}
}

// ErrInvalidConfig is wrapped by every error [Config.Validate] returns.
var ErrInvalidConfig = errors.New("imap: invalid config")

// withDefaults fills zero fields from DefaultConfig, so a partly filled
// Config works too.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(dst *string, def string) {
		if *dst == "" {
			*dst = def
		}
	}
	setD := func(dst *time.Duration, def time.Duration) {
		if *dst == 0 {
			*dst = def
		}
	}
	c = c.withAuthDefaults()
	set(&c.TLS, d.TLS)
	set(&c.Mailbox, d.Mailbox)
	set(&c.Mode, d.Mode)
	set(&c.InFlightKeyword, d.InFlightKeyword)
	set(&c.OnDeadLetter, d.OnDeadLetter)
	set(&c.DeadLetterKeyword, d.DeadLetterKeyword)
	setD(&c.PollInterval, d.PollInterval)
	setD(&c.StaleAfter, d.StaleAfter)
	setD(&c.RecoverAfter, d.RecoverAfter)
	setD(&c.IdleRestart, d.IdleRestart)
	// A shorter watchdog than the default check makes the check moot.
	setD(&c.IdleCheck, min(d.IdleCheck, c.IdleRestart))
	setD(&c.CommandTimeout, d.CommandTimeout)
	setD(&c.DialTimeout, d.DialTimeout)
	setD(&c.BackoffMin, d.BackoffMin)
	setD(&c.BackoffMax, d.BackoffMax)
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	return c
}

// Validate checks c after defaults are applied. Errors name the koanf key
// and wrap [ErrInvalidConfig]; they never contain the password.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &contracts.ConfigError{Key: key, Message: fmt.Sprintf(format, args...), Err: ErrInvalidConfig})
	}
	if c.Addr == "" {
		bad("addr", "required")
	} else if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		bad("addr", "%q is not host:port", c.Addr)
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		bad("tls", "%q is not one of none, starttls, implicit", c.TLS)
	}
	if c.Username == "" {
		bad("username", "required")
	}
	for _, p := range c.Auth.Problems(mailauth.MechLogin) {
		bad("auth."+p.Key, "%s", p.Message)
	}
	switch c.Mode {
	case ModeIdle, ModePoll:
	default:
		bad("mode", "%q is not one of idle, poll", c.Mode)
	}
	if !isAtom(c.InFlightKeyword) {
		bad("in_flight_keyword", "%q is not an IMAP keyword", c.InFlightKeyword)
	}
	if !isAtom(c.DeadLetterKeyword) {
		bad("dead_letter_keyword", "%q is not an IMAP keyword", c.DeadLetterKeyword)
	}
	if c.OnDeadLetter != DeadLetterFlag {
		if f, ok := strings.CutPrefix(c.OnDeadLetter, DeadLetterMovePrefix); !ok || f == "" {
			bad("on_dead_letter", "%q is neither flag nor move:<folder>", c.OnDeadLetter)
		}
	}
	for key, d := range map[string]time.Duration{
		"poll_interval": c.PollInterval, "stale_after": c.StaleAfter, "idle_restart": c.IdleRestart,
		"idle_check":      c.IdleCheck,
		"command_timeout": c.CommandTimeout, "dial_timeout": c.DialTimeout,
		"backoff_min": c.BackoffMin, "backoff_max": c.BackoffMax,
	} {
		if d < 0 {
			bad(key, "negative duration %s", d)
		}
	}
	if c.RecoverAfter < 0 {
		bad("recover_after", "negative duration %s", c.RecoverAfter)
	} else if c.RecoverAfter >= c.StaleAfter {
		bad("recover_after", "%s must be below stale_after %s", c.RecoverAfter, c.StaleAfter)
	}
	if c.BackoffMax < c.BackoffMin {
		bad("backoff_max", "%s is below backoff_min %s", c.BackoffMax, c.BackoffMin)
	}
	if c.BatchSize < 1 {
		bad("batch_size", "must be at least 1")
	}
	return errors.Join(errs...)
}

// Inherit returns c with every field it leaves unset (zero) taken from
// base: an application's list of mailboxes names only what differs from its
// common IMAP settings (another folder, another account). A boolean set to
// true in base cannot be turned off this way.
func (c Config) Inherit(base Config) Config {
	inherit(reflect.ValueOf(&c).Elem(), reflect.ValueOf(base))
	return c
}

// inherit sets every zero field of c to base's, field by field inside
// structs (auth.oauth2.token_store set on a mailbox keeps imap's
// provider and client id).
func inherit(c, base reflect.Value) {
	for i := range c.NumField() {
		f := c.Field(i)
		switch {
		case f.Kind() == reflect.Struct && !f.IsZero():
			inherit(f, base.Field(i))
		case f.IsZero():
			f.Set(base.Field(i))
		}
	}
}

// SourceMode maps Mode to the runtime's source mode.
func (c Config) SourceMode() contracts.SourceMode {
	if c.withDefaults().Mode == ModePoll {
		return contracts.SourcePoll
	}
	return contracts.SourcePush
}

// moveFolder returns the dead-letter folder, or "" in flag mode.
func (c Config) moveFolder() string {
	f, _ := strings.CutPrefix(c.OnDeadLetter, DeadLetterMovePrefix)
	if f == c.OnDeadLetter {
		return ""
	}
	return f
}

// isAtom reports whether s is a valid IMAP flag keyword (RFC 3501 atom).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) {
			return false
		}
	}
	return true
}
