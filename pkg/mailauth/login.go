package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/emersion/go-sasl"

	"github.com/plba/plba/pkg/contracts"
)

// Login logs one account in with its configured mechanism. Build it with
// [NewLogin]; it is safe for concurrent use.
type Login struct {
	mech     string
	username string
	password contracts.Secret
	host     string
	port     int
	tokens   *TokenSource
}

// NewLogin prepares the login of username at addr (host:port, for
// OAUTHBEARER's host and port fields) as c says; passwordMech is the
// protocol's password mechanism (login or plain). For the bearer
// mechanisms it opens the token store and takes the process's shared
// [TokenSource] of the account; it does not contact the provider.
func NewLogin(ctx context.Context, c Config, passwordMech, addr, username string, password contracts.Secret, opts ...TokenOption) (*Login, error) {
	c = c.WithDefaults(passwordMech)
	l := &Login{mech: c.Mechanism, username: username, password: password}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		l.host = h
		l.port, _ = strconv.Atoi(p)
	}
	if !c.UsesOAuth2() {
		return l, nil
	}
	store, err := c.OAuth2.openStore(ctx)
	if err != nil {
		return nil, err
	}
	o := c.OAuth2
	key := o.TokenURL + "\x00" + o.ClientID + "\x00" + username + "\x00" + store.String()
	l.tokens = Shared(key, func() *TokenSource { return NewTokenSource(o, store, opts...) })
	return l, nil
}

// openStore opens TokenStore, or holds the literal refresh token.
func (o OAuth2Config) openStore(ctx context.Context) (Store, error) {
	if o.TokenStore != "" {
		s, err := OpenStore(ctx, o.TokenStore)
		if err != nil {
			return nil, fmt.Errorf("mail auth: oauth2.token_store: %w", err)
		}
		return s, nil
	}
	return staticStore(o.RefreshToken.Reveal()), nil
}

// Mechanism returns the configured mechanism (login, plain, xoauth2,
// oauthbearer).
func (l *Login) Mechanism() string { return l.mech }

// Authenticate runs auth (which sends AUTHENTICATE or AUTH with the SASL
// client it is given and waits for the result). For password mechanisms
// it runs once with PLAIN. For bearer mechanisms it fetches a token
// (refreshing it when it expires soon); when the server refuses it —
// authFailed(err) reports that (IMAP AUTHENTICATIONFAILED, SMTP 535), or
// the server sent an error challenge — it invalidates that token, fetches
// a new one and tries once more. The error of a second refusal wraps
// [ErrTokenRefused]; a refused refresh token wraps [ErrRefreshRejected].
func (l *Login) Authenticate(ctx context.Context, auth func(sasl.Client) error, authFailed func(error) bool) error {
	if l.tokens == nil {
		return auth(sasl.NewPlainClient("", l.username, l.password.Reveal()))
	}
	var last error
	for attempt := 0; attempt < 2; attempt++ {
		tok, err := l.tokens.Token(ctx)
		if err != nil {
			return err
		}
		c := l.client(tok)
		err = auth(c)
		if err == nil {
			return nil
		}
		se := c.(ErrorReporter).ServerError()
		if se == nil && !authFailed(err) {
			return err // not a refusal of the token: a broken connection
		}
		l.tokens.Invalidate(tok)
		last = err
		if se != nil {
			last = fmt.Errorf("%w (%w)", err, se)
		}
	}
	return fmt.Errorf("%w: %s as %q (after a token refresh): %w", ErrTokenRefused, l.mech, l.username, last)
}

func (l *Login) client(tok string) sasl.Client {
	if l.mech == MechOAUTHBEARER {
		return NewOAUTHBEARERClient(l.username, tok, l.host, l.port)
	}
	return NewXOAUTH2Client(l.username, tok)
}

// IsAuthError reports whether err says that the credentials were refused
// (as opposed to a network or server failure).
func IsAuthError(err error) bool {
	return errors.Is(err, ErrTokenRefused) || errors.Is(err, ErrRefreshRejected) || errors.Is(err, ErrNoRefreshToken)
}
