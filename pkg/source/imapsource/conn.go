package imapsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Sentinel errors callers can branch on.
var (
	// ErrTimeout: an IMAP round trip took longer than CommandTimeout; the
	// connection was dropped.
	ErrTimeout = errors.New("imap: command timed out")
	// ErrClosed is returned after [Source.Close].
	ErrClosed = errors.New("imap: source closed")
	// ErrUIDValidityChanged is recorded (and logged) when a mailbox's
	// UIDVALIDITY differs from the one a task or an earlier cycle saw.
	ErrUIDValidityChanged = errors.New("imap: UIDVALIDITY changed")
	// ErrMessageNotFound is recorded (and logged) when Settle cannot find
	// the message a task came from (it was deleted, moved, or its UID became
	// invalid and it has no Message-ID).
	ErrMessageNotFound = errors.New("imap: message not found")
	// ErrNoBody is recorded (and logged) when the server answers a body
	// fetch with an empty or no BODY[]: the message is retried, never
	// published without its content.
	ErrNoBody = errors.New("imap: message fetched without its body")
)

// conn is one logged-in IMAP connection and what the source knows about it.
type conn struct {
	c       *imapclient.Client
	timeout time.Duration
	metrics *imapMetrics
	// events receives a signal when the server reports new messages
	// (EXISTS); the unilateral-data handler runs on the client's reader
	// goroutine, so it only does a non-blocking send.
	events chan struct{}

	selected string
	// continueUntil: the last cycle left messages for the next one (a
	// catch-up over a backlog); a cycle before this time reuses the
	// selection instead of selecting again.
	continueUntil time.Time
	uidValidity   uint32
	// keywords is true when PERMANENTFLAGS lets us store our keywords.
	keywords bool
	// nsPrefix is the personal namespace prefix (Courier: "INBOX."),
	// asked for once (nsKnown) when a folder is first needed.
	nsPrefix string
	nsKnown  bool
	// watch reads the server's tagged MODIFIED codes (claim.go); nil on
	// a STARTTLS connection.
	watch *modWatch
}

// dial connects, upgrades to TLS as configured and logs in.
func (s *Source) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()

	raw, err := s.dialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("imap: dial %s: %w", s.cfg.Addr, err)
	}
	cn := &conn{timeout: s.cfg.CommandTimeout, events: make(chan struct{}, 1), metrics: s.metrics}
	opts := &imapclient.Options{
		TLSConfig: s.tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case cn.events <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	// Until login finishes, ctx bounds the whole handshake by closing the
	// socket, which unblocks every step below.
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()

	switch s.cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(raw, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("imap: TLS handshake with %s: %w", s.cfg.Addr, tlsErr(ctx, err))
		}
		cn.watch = newModWatch()
		cn.c = imapclient.New(watchedConn{tc, cn.watch}, opts)
	case TLSStartTLS:
		c, err := imapclient.NewStartTLS(raw, opts)
		if err != nil {
			return nil, fmt.Errorf("imap: STARTTLS with %s: %w", s.cfg.Addr, tlsErr(ctx, err))
		}
		cn.c = c
	default:
		cn.watch = newModWatch()
		cn.c = imapclient.New(watchedConn{raw, cn.watch}, opts)
	}
	if err := cn.c.WaitGreeting(); err != nil {
		_ = cn.c.Close()
		return nil, fmt.Errorf("imap: greeting from %s: %w", s.cfg.Addr, ctxErr(ctx, err))
	}
	if err := s.login(ctx, cn.c); err != nil {
		err = loginErr(cn.c, ctxErr(ctx, err))
		_ = cn.c.Close()
		// The server's text never contains the password; ours neither.
		return nil, fmt.Errorf("imap: login as %q at %s: %w", s.cfg.Username, s.cfg.Addr, err)
	}
	if !stop() {
		_ = cn.c.Close()
		return nil, fmt.Errorf("imap: connect to %s: %w", s.cfg.Addr, ctx.Err())
	}
	return cn, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// buildTLSConfig prepares the TLS settings once, at New.
func buildTLSConfig(cfg Config) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(cfg.Addr)
	tc := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in, documented as tests only
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"imap"},
	}
	if cfg.ServerName != "" {
		tc.ServerName = cfg.ServerName
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca_file: no PEM certificates in %s", ErrInvalidConfig, cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// do runs one round trip f (which sends commands and waits for them),
// bounded by ctx and the command timeout. go-imap's Wait methods take no
// context, so on expiry the connection is closed, which makes f return; the
// connection is unusable afterwards.
func (cn *conn) do(ctx context.Context, what string, f func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("imap: %s: %w", what, err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f(); cn.metrics.command(what, time.Since(start)) }()
	t := time.NewTimer(cn.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("imap: %s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		_ = cn.c.Close()
		<-done
		return fmt.Errorf("imap: %s: %w", what, ctx.Err())
	case <-t.C:
		_ = cn.c.Close()
		<-done
		return fmt.Errorf("imap: %s: %w after %s", what, ErrTimeout, cn.timeout)
	}
}

// alive reports whether the connection has not been closed by either side.
func (cn *conn) alive() bool {
	select {
	case <-cn.c.Closed():
		return false
	default:
		return true
	}
}

func (cn *conn) close() {
	_ = cn.c.Close()
}

// selectMailbox SELECTs name and records UIDVALIDITY and whether our
// keywords are permanent. It re-selects even when name is selected: SELECT
// is how a cycle learns the current UIDVALIDITY.
func (cn *conn) selectMailbox(ctx context.Context, name string, keywords []imap.Flag) (*imap.SelectData, error) {
	var data *imap.SelectData
	err := cn.do(ctx, fmt.Sprintf("select %q", name), func() error {
		var err error
		data, err = cn.c.Select(name, nil).Wait()
		return err
	})
	if err != nil {
		cn.selected = ""
		return nil, cn.mailboxErr(ctx, name, err)
	}
	cn.selected = name
	cn.uidValidity = data.UIDValidity
	cn.keywords = permanent(data.PermanentFlags, keywords)
	return data, nil
}

// permanent reports whether every flag in want can be stored permanently:
// PERMANENTFLAGS lists \* (any new keyword) or each of them. Flags compare
// case-insensitively (imapmemserver lower-cases keywords).
func permanent(perm, want []imap.Flag) bool {
	for _, f := range perm {
		if f == imap.FlagWildcard {
			return true
		}
	}
	for _, w := range want {
		if !hasFlag(perm, w) {
			return false
		}
	}
	return true
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}
