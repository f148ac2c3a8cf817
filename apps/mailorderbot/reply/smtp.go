package reply

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
)

// Sender delivers a composed reply.
type Sender interface {
	Send(ctx context.Context, r domain.Reply) error
}

// TLS modes for [SMTPConfig].
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
)

// SMTPConfig says how to reach the SMTP submission server.
type SMTPConfig struct {
	// Addr is host:port.
	Addr string
	// TLS is none, starttls (default) or implicit.
	TLS string
	// Username and Password enable AUTH PLAIN when Username is set.
	Username string
	Password contracts.Secret
	// Auth chooses another mechanism: xoauth2 or oauthbearer with an
	// OAuth 2.0 token (Gmail, Microsoft 365); see package mailauth.
	Auth mailauth.Config
	// Timeout bounds one delivery; default 30s.
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (tests use it to trust a test CA).
	TLSConfig *tls.Config
}

// SMTPSender sends replies with the go-smtp client, one connection per reply.
type SMTPSender struct {
	cfg SMTPConfig

	// login is built at the first send (it may open a token store).
	mu    sync.Mutex
	login *mailauth.Login
}

// NewSMTPSender validates cfg and returns a sender.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	switch cfg.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("reply: smtp tls %q: want none, starttls or implicit", cfg.TLS)
	}
	cfg.Auth = cfg.Auth.WithDefaults(mailauth.MechPlain)
	if err := cfg.Auth.Validate("auth.", mailauth.MechPlain); err != nil {
		return nil, fmt.Errorf("reply: smtp %w", err)
	}
	if cfg.Auth.UsesOAuth2() && cfg.Username == "" {
		return nil, fmt.Errorf("reply: smtp auth.mechanism %s needs a username", cfg.Auth.Mechanism)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("reply: smtp addr %q: %w", cfg.Addr, err)
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return &SMTPSender{cfg: cfg}, nil
}

// String describes the sender without its credentials. (fmt cannot reach
// the Secret's own redaction inside an unexported field.)
func (s *SMTPSender) String() string {
	return fmt.Sprintf("smtp sender %s (tls %s, user %q)", s.cfg.Addr, s.cfg.TLS, s.cfg.Username)
}

// GoString is String, for %#v.
func (s *SMTPSender) GoString() string { return s.String() }

// ErrRejected wraps a permanent (5xx) SMTP refusal: sending again will not help.
var ErrRejected = errors.New("reply: smtp server refused the message")

// Send implements [Sender].
func (s *SMTPSender) Send(ctx context.Context, r domain.Reply) error {
	return s.session(ctx, func(c *smtp.Client) error {
		if err := c.SendMail(r.From, r.To, bytes.NewReader(r.Raw)); err != nil {
			return s.wrap("send "+string(r.Key), err)
		}
		return nil
	})
}

// Check connects, logs in as configured and quits (plba auth check).
func (s *SMTPSender) Check(ctx context.Context) error {
	return s.session(ctx, func(*smtp.Client) error { return nil })
}

// session connects, starts TLS, logs in, runs f and quits.
func (s *SMTPSender) session(ctx context.Context, f func(*smtp.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("reply: smtp dial %s: %w", s.cfg.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the connection is what unblocks the client when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	var c *smtp.Client
	switch s.cfg.TLS {
	case TLSImplicit:
		c = smtp.NewClient(tls.Client(conn, s.cfg.TLSConfig))
	case TLSStartTLS:
		c, err = smtp.NewClientStartTLS(conn, s.cfg.TLSConfig)
	default:
		c = smtp.NewClient(conn)
	}
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("reply: smtp %s: starttls: %w", s.cfg.Addr, err)
	}
	defer c.Close()
	if s.cfg.Username != "" {
		if err := s.authenticate(ctx, c); err != nil {
			return s.wrap("auth", err)
		}
	}
	if err := f(c); err != nil {
		return err
	}
	if err := c.Quit(); err != nil {
		slog.Default().DebugContext(ctx, "smtp quit failed after the message was accepted", "err", err)
	}
	return nil
}

// authenticate logs in with PLAIN, or with a bearer token that is
// refreshed and tried once more when the server answers 535.
func (s *SMTPSender) authenticate(ctx context.Context, c *smtp.Client) error {
	s.mu.Lock()
	if s.login == nil {
		l, err := mailauth.NewLogin(ctx, s.cfg.Auth, mailauth.MechPlain, s.cfg.Addr, s.cfg.Username, s.cfg.Password)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.login = l
	}
	l := s.login
	s.mu.Unlock()
	return l.Authenticate(ctx, c.Auth, func(err error) bool {
		var se *smtp.SMTPError
		return errors.As(err, &se) && (se.Code == 535 || se.Code == 534)
	})
}

func (s *SMTPSender) wrap(op string, err error) error {
	if mailauth.IsAuthError(err) {
		// A refused token or refresh token: sending again will not help
		// until someone runs plba auth login, but the reply must stay in
		// the outbox, so it is not ErrRejected.
		return fmt.Errorf("reply: smtp %s: %s: %w", s.cfg.Addr, op, err)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return fmt.Errorf("%w: smtp %s: %s: %w", ErrRejected, s.cfg.Addr, op, err)
	}
	return fmt.Errorf("reply: smtp %s: %s: %w", s.cfg.Addr, op, err)
}

// Flush sends up to limit pending replies from st and marks each one sent.
// It stops at the first transient failure (the server is likely down) and
// skips replies the server refused permanently, so one bad address does not
// block the rest; those stay pending for an operator. It returns how many
// were sent.
func Flush(ctx context.Context, st store.OrderStore, s Sender, limit int) (int, error) {
	pending, err := st.PendingReplies(ctx, limit)
	if err != nil {
		return 0, fmt.Errorf("reply: flush: %w", err)
	}
	sent := 0
	var rejected []error
	for _, r := range pending {
		if err := Deliver(ctx, st, s, r, time.Now()); err != nil {
			if errors.Is(err, store.ErrAttempted) {
				continue // another sender (the routine) holds it
			}
			if errors.Is(err, ErrRejected) {
				rejected = append(rejected, err)
				continue
			}
			return sent, fmt.Errorf("reply: flush: %w", err)
		}
		sent++
	}
	return sent, errors.Join(rejected...)
}

// ErrNotMarked is wrapped by Deliver's error when the reply went out but
// recording that failed: it stays unconfirmed and is not sent again.
var ErrNotMarked = errors.New("reply: sent, but not marked sent")

// Deliver sends r at most once across crashes and concurrent senders: the
// attempt is recorded first, as a claim (store.ErrAttempted when another
// sender holds it or has sent it meanwhile: nothing is sent), so a process
// that dies during the send leaves the reply
// unconfirmed (domain.Reply.Unconfirmed) instead of sending it again on
// redelivery; a send that fails clears the attempt, so the outbox retries
// it; a send that succeeds is marked sent.
func Deliver(ctx context.Context, st store.OrderStore, s Sender, r domain.Reply, now time.Time) error {
	if err := st.MarkAttempt(ctx, r.Key, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// No pending reply any more: the sender that held the claim has
			// sent it since this one read it (the outbox flush lists
			// replies while routines send them). The same as a held claim.
			return fmt.Errorf("reply %s: sent by another sender: %w", r.Key, store.ErrAttempted)
		}
		return fmt.Errorf("reply %s: record the attempt: %w", r.Key, err)
	}
	if err := s.Send(ctx, r); err != nil {
		// Not delivered: back to pending. A failure to clear leaves it
		// unconfirmed, which errs on the side of one confirmation.
		if cerr := st.ClearAttempt(context.WithoutCancel(ctx), r.Key); cerr != nil {
			return errors.Join(err, fmt.Errorf("reply %s: clear the attempt: %w", r.Key, cerr))
		}
		return err
	}
	if err := st.MarkSent(context.WithoutCancel(ctx), r.Key, now); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotMarked, r.Key, err)
	}
	return nil
}
