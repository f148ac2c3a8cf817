package mailauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Token errors callers branch on.
var (
	// ErrRefreshRejected: the token endpoint refused the refresh token
	// (invalid_grant: revoked, expired, password changed, consent
	// withdrawn). Only a new plba auth login helps.
	ErrRefreshRejected = errors.New("mail auth: refresh token rejected")
	// ErrTokenRefused: the mail server refused a freshly issued access
	// token (wrong scopes, wrong user, IMAP/SMTP AUTH disabled for the
	// mailbox).
	ErrTokenRefused = errors.New("mail auth: server refused the access token")
)

// TokenSource hands out access tokens for one account and refreshes them:
// shortly before they expire, and when a server refuses one
// ([TokenSource.Invalidate]). It is safe for concurrent use; one refresh
// runs at a time per account and callers waiting for it get its token
// (the IMAP poll and settle connections and the SMTP sender of one process
// share one TokenSource through [Shared]).
//
// # Refresh-token rotation
//
// Microsoft (and others) may return a new refresh token with every
// refresh. The new one is written back to the [Store] it came from. Several
// processes (the local runner and a `plba auth check`; the Lambda poller
// and worker) may share one stored token, so a refresh is:
//
//  1. take the store's lock (a lock file for file:; none for ssm: and
//     secretsmanager:),
//  2. re-read the stored token (another process may have rotated it since
//     this one last looked),
//  3. refresh with it; on invalid_grant re-read once more and, if the
//     stored token changed meanwhile, retry with the new one,
//  4. write a rotated token back, then release the lock.
//
// Without a lock (Parameter Store) two processes can refresh with the same
// token at once. Microsoft keeps a refresh token valid after it rotated
// (rotation is not single-use), so both results work and the last write
// wins; step 3 covers a process that read the token just before another
// wrote a new one. A provider with strict one-time refresh tokens and
// reuse detection needs the writers serialised (one function refreshes,
// or a file store on one host).
type TokenSource struct {
	oc     *oauth2.Config
	store  Store
	before time.Duration
	hc     *http.Client
	log    *slog.Logger
	now    func() time.Time

	// sem is held for a refresh; a channel so that waiting honours ctx.
	sem chan struct{}

	mu      sync.Mutex
	access  *oauth2.Token
	refresh string // the refresh token last read or written
	// readOnly: the store refused a write-back; the rotated token in
	// memory is then newer than the stored one.
	readOnly bool

	refreshes atomic.Int64
	rotations atomic.Int64
}

// TokenOption configures a TokenSource.
type TokenOption func(*TokenSource)

// WithHTTPClient sets the client for the token endpoint.
func WithHTTPClient(c *http.Client) TokenOption { return func(t *TokenSource) { t.hc = c } }

// WithLogger sets the logger (refreshes and rotations at debug and info;
// never a token).
func WithLogger(l *slog.Logger) TokenOption { return func(t *TokenSource) { t.log = l } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) TokenOption { return func(t *TokenSource) { t.now = now } }

// NewTokenSource returns a token source for the OAuth2 client in c (after
// [Config.WithDefaults]) and the refresh token in store.
func NewTokenSource(c OAuth2Config, store Store, opts ...TokenOption) *TokenSource {
	ts := &TokenSource{
		oc:     oauthConfig(c, ""),
		store:  store,
		before: c.RefreshBefore,
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		sem:    make(chan struct{}, 1),
	}
	if ts.before <= 0 {
		ts.before = DefaultRefreshBefore
	}
	for _, o := range opts {
		o(ts)
	}
	return ts
}

// oauthConfig converts c for golang.org/x/oauth2.
func oauthConfig(c OAuth2Config, redirect string) *oauth2.Config {
	// Client credentials in the form body: public clients (Microsoft's
	// "mobile and desktop" platform) must not send an Authorization
	// header, and Google and Microsoft accept a secret there too; no
	// auto-detection round trip.
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret.Reveal(),
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthURL, TokenURL: c.TokenURL,
			DeviceAuthURL: c.DeviceAuthURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:      c.Scopes,
		RedirectURL: redirect,
	}
}

// Store returns where the refresh token lives.
func (ts *TokenSource) Store() Store { return ts.store }

// Refreshes returns how many refreshes reached the token endpoint.
func (ts *TokenSource) Refreshes() int64 { return ts.refreshes.Load() }

// Rotations returns how many refreshes returned a new refresh token.
func (ts *TokenSource) Rotations() int64 { return ts.rotations.Load() }

// Token returns an access token valid for at least RefreshBefore,
// refreshing it when needed.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	if t := ts.cached(); t != "" {
		return t, nil
	}
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("mail auth: waiting for a token refresh: %w", ctx.Err())
	}
	defer func() { <-ts.sem }()
	// Whoever held sem before us may have refreshed already.
	if t := ts.cached(); t != "" {
		return t, nil
	}
	tok, err := ts.doRefresh(ctx)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

func (ts *TokenSource) cached() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.access == nil || ts.access.AccessToken == "" {
		return ""
	}
	if !ts.access.Expiry.IsZero() && !ts.now().Add(ts.before).Before(ts.access.Expiry) {
		return ""
	}
	return ts.access.AccessToken
}

// Invalidate forgets token if it is still the current access token, so
// the next Token refreshes. Call it when a server refused token
// (AUTHENTICATIONFAILED): the provider may have revoked it early.
func (ts *TokenSource) Invalidate(token string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.access != nil && ts.access.AccessToken == token {
		ts.access = nil
	}
}

func (ts *TokenSource) doRefresh(ctx context.Context) (*oauth2.Token, error) {
	unlock, err := ts.store.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rt, err := ts.current(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := ts.exchange(ctx, rt)
	if isInvalidGrant(err) {
		// Another process may have rotated the token between our read and
		// our refresh: the stored one is then newer than ours.
		if again, lerr := ts.store.Load(ctx); lerr == nil && again != rt {
			ts.log.InfoContext(ctx, "refresh token changed in the store during a refresh; retrying with the stored one", "store", ts.store.String())
			rt = again
			tok, err = ts.exchange(ctx, rt)
		}
	}
	if err != nil {
		return nil, ts.describe(err)
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		ts.rotations.Add(1)
		if serr := ts.store.Save(ctx, tok.RefreshToken); errors.Is(serr, ErrReadOnly) {
			ts.mu.Lock()
			first := !ts.readOnly
			ts.readOnly = true
			ts.mu.Unlock()
			if first {
				ts.log.InfoContext(ctx, "the provider rotates the refresh token but the store is read only; this process keeps the new one in memory",
					"store", ts.store.String())
			}
		} else if serr != nil {
			// The new token still works from memory, and the old one
			// usually stays valid (Microsoft); say so loudly, never the
			// token.
			ts.log.WarnContext(ctx, "the provider rotated the refresh token but writing it back failed; the stored one may stop working",
				"store", ts.store.String(), "err", serr)
		} else {
			ts.log.InfoContext(ctx, "refresh token rotated and written back", "store", ts.store.String())
		}
		rt = tok.RefreshToken
	}
	ts.mu.Lock()
	ts.access, ts.refresh = tok, rt
	ts.mu.Unlock()
	ts.log.DebugContext(ctx, "access token refreshed", "expires", tok.Expiry)
	return tok, nil
}

// current is the refresh token to use: the store's, else the last one
// this process knew.
func (ts *TokenSource) current(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.readOnly && ts.refresh != "" {
		defer ts.mu.Unlock()
		return ts.refresh, nil
	}
	ts.mu.Unlock()
	rt, err := ts.store.Load(ctx)
	if err == nil {
		return rt, nil
	}
	ts.mu.Lock()
	mem := ts.refresh
	ts.mu.Unlock()
	if mem != "" {
		ts.log.WarnContext(ctx, "reading the refresh token failed; using the one in memory", "store", ts.store.String(), "err", err)
		return mem, nil
	}
	return "", fmt.Errorf("mail auth: refresh token from %s: %w", ts.store.String(), err)
}

func (ts *TokenSource) exchange(ctx context.Context, rt string) (*oauth2.Token, error) {
	ts.refreshes.Add(1)
	if ts.hc != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, ts.hc)
	}
	tok, err := ts.oc.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, errors.New("token endpoint returned no access token")
	}
	return tok, nil
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// describe turns a token endpoint error into one that names the endpoint
// and RFC 6749's error code but quotes no response body (which could echo
// a token).
func (ts *TokenSource) describe(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := ""
		if re.Response != nil {
			status = re.Response.Status
		}
		code := re.ErrorCode
		if code == "" {
			code = "no error code"
		}
		msg := fmt.Sprintf("token endpoint %s answered %s (%s", ts.oc.Endpoint.TokenURL, status, code)
		if re.ErrorDescription != "" {
			msg += ": " + truncate(re.ErrorDescription, 200)
		}
		msg += ")"
		if code == "invalid_grant" {
			return fmt.Errorf("%w for %s: %s; run plba auth login", ErrRefreshRejected, ts.store.String(), msg)
		}
		return fmt.Errorf("mail auth: refresh failed: %s", msg)
	}
	return fmt.Errorf("mail auth: refresh at %s: %w", ts.oc.Endpoint.TokenURL, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// shared holds the process's token sources, one per account.
var shared sync.Map

// Shared returns the process's TokenSource for key, creating it with
// newTS the first time: the IMAP connections and the SMTP sender of one
// account share one token and one refresh, and a warm Lambda container
// keeps its access token between invocations.
func Shared(key string, newTS func() *TokenSource) *TokenSource {
	if v, ok := shared.Load(key); ok {
		return v.(*TokenSource)
	}
	v, _ := shared.LoadOrStore(key, newTS())
	return v.(*TokenSource)
}
