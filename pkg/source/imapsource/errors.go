package imapsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Causes that reconnecting alone does not cure: each is a distinct
// sentinel (errors.Is) in the error, the log line, Health's last_error_kind
// and `plba config check --connect`.
var (
	// ErrMailboxNotFound: the configured mailbox does not exist (SELECT
	// answered NO [NONEXISTENT], or NO and LIST does not know it).
	ErrMailboxNotFound = errors.New("imap: mailbox not found")
	// ErrLoginRefused: the server refused the credentials (LOGIN answered
	// NO or BAD).
	ErrLoginRefused = errors.New("imap: login refused")
	// ErrTLS: the TLS handshake failed (certificate not trusted, wrong
	// name, a server that does not speak TLS on that port).
	ErrTLS = errors.New("imap: TLS failure")
	// ErrUnsupported: the server lacks a capability the configuration
	// needs (STARTTLS; LOGIN where it says LOGINDISABLED).
	ErrUnsupported = errors.New("imap: unsupported by the server")
)

// errorKind names the cause of err for logs and health, "" for causes
// reconnecting may cure (a dropped connection, a timeout).
func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrMailboxNotFound):
		return "mailbox_not_found"
	case errors.Is(err, ErrLoginRefused):
		return "login_refused"
	case errors.Is(err, ErrTLS):
		return "tls"
	case errors.Is(err, ErrUnsupported):
		return "unsupported"
	}
	return ""
}

// tlsErr classifies a failed TLS setup: the server refusing STARTTLS is
// ErrUnsupported, a failed handshake ErrTLS; an expired ctx stays a
// timeout.
func tlsErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxErr(ctx, err)
	}
	var ierr *imap.Error
	if errors.As(err, &ierr) {
		return fmt.Errorf("%w: STARTTLS: %w", ErrUnsupported, err)
	}
	return fmt.Errorf("%w: %w", ErrTLS, err)
}

// loginErr classifies a failed LOGIN: the server's NO or BAD is
// ErrLoginRefused, or ErrUnsupported where the server disables LOGIN on
// this connection (LOGINDISABLED: it wants TLS first). Call it before the
// client is closed.
func loginErr(c *imapclient.Client, err error) error {
	var ierr *imap.Error
	if !errors.As(err, &ierr) {
		return err
	}
	if c.Caps().Has(imap.CapLoginDisabled) {
		return fmt.Errorf("%w: LOGIN is disabled on this connection (LOGINDISABLED; use tls starttls or implicit): %w", ErrUnsupported, err)
	}
	return fmt.Errorf("%w: %w", ErrLoginRefused, err)
}

// mailboxErr classifies a failed SELECT of name: NO [NONEXISTENT], or a
// bare NO (Dovecot) for a name LIST does not know, is ErrMailboxNotFound.
func (cn *conn) mailboxErr(ctx context.Context, name string, err error) error {
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo {
		return err
	}
	if ierr.Code != imap.ResponseCodeNonExistent {
		var found bool
		if lerr := cn.do(ctx, fmt.Sprintf("list %q", name), func() error {
			boxes, err := cn.c.List("", name, nil).Collect()
			found = len(boxes) > 0
			return err
		}); lerr != nil || found {
			return err
		}
	}
	return fmt.Errorf("%w: %q: %w", ErrMailboxNotFound, name, err)
}

// Check connects, logs in and selects the mailbox, then logs out: what
// `plba config check --connect` runs. Its error wraps one of
// ErrMailboxNotFound, ErrLoginRefused, ErrTLS, ErrUnsupported or
// ErrTimeout where that is the cause.
func (s *Source) Check(ctx context.Context) error {
	cn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer cn.close()
	if _, err := cn.selectMailbox(ctx, s.cfg.Mailbox, s.keywordFlags()); err != nil {
		return err
	}
	return cn.do(ctx, "logout", func() error { return cn.c.Logout().Wait() })
}

// CheckConfig is [Source.Check] for a configuration: New, Check, Close. A
// module's contracts.ConnectionChecker calls it (through a function value,
// so binaries that leave the IMAP client out do not link it).
func CheckConfig(ctx context.Context, cfg Config, opts ...Option) error {
	s, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Check(ctx)
}
