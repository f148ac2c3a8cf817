package imapsource

import (
	"context"
	"errors"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/plba/plba/pkg/mailauth"
)

// authState is the source's login, built at the first connect (building
// it opens the token store, which may need AWS credentials).
type authState struct {
	mu    sync.Mutex
	login *mailauth.Login
}

// withAuthDefaults applies the auth section's defaults and a provider
// preset's IMAP server (imap.gmail.com:993, outlook.office365.com:993) when
// addr is empty.
func (c Config) withAuthDefaults() Config {
	c.Auth = c.Auth.WithDefaults(mailauth.MechLogin)
	if p, ok := mailauth.Presets(c.Auth.OAuth2.Provider, c.Auth.OAuth2.Tenant); ok && c.UsesPreset() {
		if c.Addr == "" {
			c.Addr = p.IMAPAddr
		}
		if c.TLS == "" {
			c.TLS = p.IMAPTLS
		}
	}
	return c
}

// UsesPreset reports whether the login is OAuth 2.0 with a provider preset.
// Defaults are applied first: a provider alone means xoauth2.
func (c Config) UsesPreset() bool {
	a := c.Auth.WithDefaults(mailauth.MechLogin)
	return a.OAuth2.Provider != "" && a.UsesOAuth2()
}

// login authenticates a new connection: LOGIN with the password, or
// AUTHENTICATE with the configured SASL mechanism. A bearer token the
// server refuses is refreshed and tried once more (mailauth.Login).
func (s *Source) login(ctx context.Context, c *imapclient.Client) error {
	if s.cfg.Auth.Mechanism == mailauth.MechLogin || s.cfg.Auth.Mechanism == "" {
		return c.Login(s.cfg.Username, s.cfg.Password.Reveal()).Wait()
	}
	l, err := s.authLogin(ctx)
	if err != nil {
		return err
	}
	return l.Authenticate(ctx, func(sc sasl.Client) error { return c.Authenticate(sc) }, isAuthFailed)
}

func (s *Source) authLogin(ctx context.Context) (*mailauth.Login, error) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	if s.auth.login != nil {
		return s.auth.login, nil
	}
	l, err := mailauth.NewLogin(ctx, s.cfg.Auth, mailauth.MechLogin, s.cfg.Addr, s.cfg.Username, s.cfg.Password,
		mailauth.WithLogger(s.log))
	if err != nil {
		return nil, err
	}
	s.auth.login = l
	return l, nil
}

// isAuthFailed: the server refused the credentials (NO [AUTHENTICATIONFAILED],
// or a NO without a code, which older servers send).
func isAuthFailed(err error) bool {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return false
	}
	return ie.Code == imap.ResponseCodeAuthenticationFailed || (ie.Type == imap.StatusResponseTypeNo && ie.Code == "")
}
