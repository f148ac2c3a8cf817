// Package mailorderbot is the mail order bot application: it reads order
// e-mails from an IMAP mailbox, parses and prices them, stores one outcome
// per message and answers the customer. See docs/mailorderbot.md.
//
// The pieces live in subpackages: domain (values), mailparse (e-mail to
// order request), catalog (prices), store with sqlitestore and dynamostore
// (idempotent persistence and outbox), reply (compose and send answers),
// handler (the routine) and demodata (sample e-mails for the demo).
package mailorderbot

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/source/imapsource"
)

// ConfigPath is where the bot's configuration lives.
const ConfigPath = "apps.mailorderbot"

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverDynamoDB = "dynamodb"
)

// Config is the bot's configuration under apps.mailorderbot.
type Config struct {
	// IMAP is the mailbox to read — and, when Mailboxes is set, the
	// settings every mailbox there shares.
	IMAP imapsource.Config `koanf:"imap"`
	// Mailboxes, when set, are read instead of IMAP alone: several
	// accounts, or several folders of one. Each entry is its own source,
	// named by its key (task attribute plba.source, health, status), with
	// its own connections; keys it leaves unset come from imap (see
	// [imapsource.Config.Inherit]). Empty: the one mailbox imap names,
	// as source "imap".
	Mailboxes map[string]imapsource.Config `koanf:"mailboxes"`
	// Workers is the routine's pool size; default 8.
	Workers int `koanf:"workers" validate:"min=1,max=1024"`
	// Store selects and configures the order store.
	Store StoreConfig `koanf:"store"`
	// Catalog is the path of a CSV or YAML catalog; empty uses the
	// embedded demo catalog.
	Catalog string `koanf:"catalog"`
	// MaxLines is the most order lines one e-mail may have; more is a
	// rejection. Default 50.
	MaxLines int `koanf:"max_lines" validate:"min=1,max=10000"`
	// SMTP, when Addr is set, sends replies; otherwise they stay in the
	// store's outbox.
	SMTP SMTPConfig `koanf:"smtp"`
	// ShopAddresses are the shop's own addresses or "@domain"s (besides
	// smtp.from): a forward from one of them is an order of the forwarded
	// sender (any other forward is review), and mail from them is never
	// answered.
	ShopAddresses []string `koanf:"shop_addresses"`
	// RawRetention is how long the raw message of mail in review is kept
	// in the store for a person to read (the mailbox keeps the original
	// regardless); 0 keeps none. Default 720h (30 days).
	RawRetention time.Duration `koanf:"raw_retention" validate:"min=0"`
	// AckReview answers mail that goes to review with an acknowledgement
	// ("a person will look at it"; never a confirmation). Default false.
	AckReview bool `koanf:"ack_review"`
	// SKUPattern is the regular expression one SKU matches (unanchored);
	// lines with such a token are order-line candidates. Default the
	// catalog's shape, [A-Za-z]{2,5}-[0-9]{3,6}.
	SKUPattern string `koanf:"sku_pattern"`
	// SKUHeaders and QtyHeaders add table/CSV header words for the SKU
	// and quantity columns to the built-in ones (en, de, fr, es, it, nl, pt,
	// ru, ja).
	SKUHeaders []string `koanf:"sku_headers"`
	QtyHeaders []string `koanf:"qty_headers"`
}

// StoreConfig selects the order store.
type StoreConfig struct {
	// Driver is sqlite (default) or dynamodb.
	Driver string `koanf:"driver" validate:"oneof=sqlite dynamodb"`
	// Path is the SQLite file; default var/orders.db.
	Path string `koanf:"path"`
	// Table is the DynamoDB table; default orders.
	Table string `koanf:"table"`
	// Endpoint points at a DynamoDB-compatible local server
	// (e.g. http://127.0.0.1:18000); empty means AWS.
	Endpoint string `koanf:"endpoint" validate:"omitempty,url"`
	// Region is the AWS region; empty uses the SDK's default chain.
	Region string `koanf:"region"`
}

// SMTPConfig configures reply delivery.
type SMTPConfig struct {
	// Addr is host:port; empty disables sending.
	Addr string `koanf:"addr" validate:"omitempty,hostname_port"`
	// TLS is none, starttls (default) or implicit.
	TLS      string           `koanf:"tls" validate:"omitempty,oneof=none starttls implicit"`
	Username string           `koanf:"username"`
	Password contracts.Secret `koanf:"password"`
	// Auth: PLAIN with the password (default) or OAuth 2.0 (xoauth2,
	// oauthbearer; see docs/imap.md). An oauth2 section equal to the IMAP
	// one shares its token.
	Auth mailauth.Config `koanf:"auth"`
	// From is the replies' From address, e.g. "Shop <orders@shop.example>".
	// Default orders@localhost.
	From string `koanf:"from"`
}

// DefaultFrom is the replies' From address when none is configured.
const DefaultFrom = "Mail Order Bot <orders@localhost>"

// DefaultConfig returns the defaults; decode the configuration over it.
func DefaultConfig() Config {
	return Config{
		IMAP:     imapsource.DefaultConfig(),
		Workers:  8,
		Store:    StoreConfig{Driver: DriverSQLite, Path: "var/orders.db", Table: "orders"},
		MaxLines: 50,
		// RawRetention: 30 days, long enough for a person to get to it.
		RawRetention: 30 * 24 * time.Hour,
		// SKUPattern "" means mailparse.DefaultSKUPattern (one owner).
		SMTP: SMTPConfig{TLS: reply.TLSStartTLS, From: DefaultFrom},
	}
}

// ErrInvalidConfig is wrapped by every validation error.
var ErrInvalidConfig = errors.New("mailorderbot: invalid configuration")

// Validate checks what the validate tags cannot. The IMAP section is
// checked only when an address is configured: demo mode supplies its own
// in-process server.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s.%s: %s", ErrInvalidConfig, ConfigPath, key, fmt.Sprintf(format, args...)))
	}
	if c.Workers < 1 {
		bad("workers", "must be at least 1")
	}
	if c.MaxLines < 1 {
		bad("max_lines", "must be at least 1")
	}
	if c.RawRetention < 0 {
		bad("raw_retention", "must not be negative")
	}
	if _, err := c.SKURegexp(); err != nil {
		bad("sku_pattern", "%v", err)
	}
	switch c.Store.Driver {
	case DriverSQLite:
		if c.Store.Path == "" {
			bad("store.path", "required for the sqlite driver")
		}
	case DriverDynamoDB:
		if c.Store.Table == "" {
			bad("store.table", "required for the dynamodb driver")
		}
	default:
		bad("store.driver", "%q is not one of sqlite, dynamodb", c.Store.Driver)
	}
	if c.SMTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.SMTP.Addr); err != nil {
			bad("smtp.addr", "%q is not host:port", c.SMTP.Addr)
		}
		if probs := c.SMTP.Auth.Problems(mailauth.MechPlain); len(probs) > 0 {
			for _, p := range probs {
				errs = append(errs, &contracts.ConfigError{Key: "smtp.auth." + p.Key, Message: p.Message, Err: ErrInvalidConfig})
			}
		} else if _, err := reply.NewSMTPSender(c.SMTPSenderConfig()); err != nil {
			bad("smtp", "%v", err)
		}
	}
	if len(c.Mailboxes) == 0 {
		if c.readsMail() {
			if err := c.IMAP.Validate(); err != nil {
				errs = append(errs, under("imap", err)...)
			}
		}
		return errors.Join(errs...)
	}
	seen := map[string]string{}
	for _, mb := range c.Sources() {
		key := "mailboxes." + mb.Name
		if !validSourceName(mb.Name) {
			bad(key, "the name must be letters, digits, '-', '_' or '.'")
		}
		if err := mb.IMAP.Validate(); err != nil {
			errs = append(errs, under(key, err)...)
		}
		where := mb.IMAP.Username + "@" + mb.IMAP.Addr + "/" + mb.IMAP.Mailbox
		if other, dup := seen[where]; dup {
			bad(key, "reads the same mailbox as mailboxes.%s (%s)", other, where)
		}
		seen[where] = mb.Name
	}
	return errors.Join(errs...)
}

// under reports a section's keyed problems (contracts.ConfigError) at
// section.key, so that the configuration manager names the key and the
// file it came from; other errors are wrapped as they are.
func under(section string, err error) []error {
	var out []error
	for _, e := range joined(err) {
		var ce *contracts.ConfigError
		if errors.As(e, &ce) {
			out = append(out, &contracts.ConfigError{Key: section + "." + ce.Key, Message: ce.Message, Err: ErrInvalidConfig})
			continue
		}
		out = append(out, fmt.Errorf("%w: %s.%s: %w", ErrInvalidConfig, ConfigPath, section, e))
	}
	return out
}

func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// readsMail reports whether the configuration names a mailbox to read
// (the demo serves its own, and a config for commands may name none).
func (c Config) readsMail() bool {
	return c.IMAP.Addr != "" || c.IMAP.UsesPreset() || len(c.Mailboxes) > 0
}

// bindTokenStores points every OAuth section whose refresh token is a
// reference (${ssm:...}, ${file:...}) at that reference, so a rotated
// token is written back there: imap, smtp and each mailbox.
func (c *Config) bindTokenStores(cc contracts.Config) {
	mailauth.BindStore(cc, ConfigPath+".imap.auth", &c.IMAP.Auth)
	mailauth.BindStore(cc, ConfigPath+".smtp.auth", &c.SMTP.Auth)
	for name, mb := range c.Mailboxes {
		mailauth.BindStore(cc, ConfigPath+".mailboxes."+name+".auth", &mb.Auth)
		c.Mailboxes[name] = mb
	}
}

// Mailbox is one mailbox the bot reads: a source of its own.
type Mailbox struct {
	// Name is the source's name.
	Name string
	// IMAP is the mailbox's complete configuration (imap's keys inherited).
	IMAP imapsource.Config
}

// Sources lists the mailboxes to read, by name: those of Mailboxes, each
// completed from IMAP, or else the one IMAP names, as source "imap" (the
// name tasks of a single-mailbox deployment always carried).
func (c Config) Sources() []Mailbox {
	if len(c.Mailboxes) == 0 {
		return []Mailbox{{Name: imapsource.DefaultName, IMAP: c.IMAP}}
	}
	out := make([]Mailbox, 0, len(c.Mailboxes))
	for name, mc := range c.Mailboxes {
		out = append(out, Mailbox{Name: name, IMAP: mc.Inherit(c.IMAP)})
	}
	slices.SortFunc(out, func(a, b Mailbox) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// validSourceName: a mailbox's key becomes a source name and part of task
// IDs; keep it to a plain token.
func validSourceName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return false
		}
	}
	return true
}

// SMTPSenderConfig converts the smtp section for [reply.NewSMTPSender].
func (c Config) SMTPSenderConfig() reply.SMTPConfig {
	return reply.SMTPConfig{Addr: c.SMTP.Addr, TLS: c.SMTP.TLS, Username: c.SMTP.Username,
		Password: c.SMTP.Password, Auth: c.SMTP.Auth, Timeout: 30 * time.Second}
}

// SKURegexp compiles sku_pattern (nil when empty: the parser's default).
func (c Config) SKURegexp() (*regexp.Regexp, error) {
	if c.SKUPattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(c.SKUPattern)
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("%q matches the empty string", c.SKUPattern)
	}
	return re, nil
}
