package mailauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// Flow runs an installed-app authorization (plba auth login) and returns
// the refresh token. The token never reaches Out.
type Flow struct {
	// Config is the OAuth2 client (after [Config.WithDefaults]).
	Config OAuth2Config
	// Provider decides provider-specific request parameters (Google needs
	// access_type=offline and prompt=consent for a refresh token).
	Provider string
	// LoginHint pre-fills the account in the provider's sign-in page.
	LoginHint string
	// Port is the loopback port for the redirect; 0 picks a free one
	// (Google and Microsoft accept any port for loopback redirects).
	Port int
	// Open is called with the URL the user must visit (default: none; the
	// URL is printed to Out). Tests follow it with an HTTP client.
	Open func(url string) error
	// Out receives the instructions for the user.
	Out io.Writer
	// HTTPClient talks to the token endpoint (default http.DefaultClient).
	HTTPClient *http.Client
}

// ErrNoRefreshTokenIssued: the provider answered without a refresh token
// (the scopes lack offline_access, or Google's consent was not forced).
var ErrNoRefreshTokenIssued = errors.New("mail auth: the provider issued no refresh token")

func (f *Flow) ctx(ctx context.Context) context.Context {
	if f.HTTPClient != nil {
		return context.WithValue(ctx, oauth2.HTTPClient, f.HTTPClient)
	}
	return ctx
}

// Loopback runs the authorization code flow with PKCE (S256) and a random
// state, receiving the code on http://127.0.0.1:PORT/ (RFC 8252).
func (f *Flow) Loopback(ctx context.Context) (string, error) {
	if f.Config.AuthURL == "" {
		return "", errors.New("mail auth: no authorization endpoint (oauth2.auth_url)")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.Port)))
	if err != nil {
		return "", fmt.Errorf("mail auth: loopback listener: %w", err)
	}
	redirect := "http://" + ln.Addr().String() + "/"
	oc := oauthConfig(f.Config, redirect)
	verifier := oauth2.GenerateVerifier()
	state := randomState()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if f.Provider == ProviderGmail {
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	if f.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", f.LoginHint))
	}
	authURL := oc.AuthCodeURL(state, opts...)

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") == "" && q.Get("code") == "" && q.Get("error") == "" {
			http.NotFound(w, r) // a favicon request, say
			return
		}
		var res result
		switch {
		case q.Get("state") != state:
			res.err = errors.New("mail auth: the redirect's state does not match (a forged or stale request)")
		case q.Get("error") != "":
			res.err = fmt.Errorf("mail auth: authorization refused: %s %s", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			res.err = errors.New("mail auth: the redirect carries no code")
		default:
			res.code = q.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<p>Login failed: %s</p>", html.EscapeString(res.err.Error()))
		} else {
			fmt.Fprint(w, "<p>Login complete. You can close this window and return to the terminal.</p>")
		}
		select {
		case got <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	fmt.Fprintf(f.out(), "Open this URL in a browser on this machine and sign in:\n\n  %s\n\nWaiting for the redirect to %s ...\n", authURL, redirect)
	if f.Open != nil {
		if err := f.Open(authURL); err != nil {
			return "", fmt.Errorf("mail auth: open the browser: %w", err)
		}
	}
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return "", fmt.Errorf("mail auth: waiting for the browser: %w", ctx.Err())
	}
	if res.err != nil {
		return "", res.err
	}
	tok, err := oc.Exchange(f.ctx(ctx), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("mail auth: exchanging the code: %w", safeErr(err))
	}
	if tok.RefreshToken == "" {
		return "", ErrNoRefreshTokenIssued
	}
	return tok.RefreshToken, nil
}

// Device runs the device authorization flow (RFC 8628): the user opens
// a URL on any device and types a code. Microsoft allows it for the mail
// scopes; Google does not.
func (f *Flow) Device(ctx context.Context) (string, error) {
	if f.Config.DeviceAuthURL == "" {
		return "", errors.New("mail auth: this provider has no device flow for mail (oauth2.device_auth_url); use the browser flow")
	}
	oc := oauthConfig(f.Config, "")
	da, err := oc.DeviceAuth(f.ctx(ctx))
	if err != nil {
		return "", fmt.Errorf("mail auth: device authorization: %w", safeErr(err))
	}
	uri := da.VerificationURIComplete
	if uri == "" {
		uri = da.VerificationURI
	}
	fmt.Fprintf(f.out(), "On any device, open %s and enter the code %s\n\nWaiting for the sign-in ...\n", uri, da.UserCode)
	tok, err := oc.DeviceAccessToken(f.ctx(ctx), da)
	if err != nil {
		return "", fmt.Errorf("mail auth: device flow: %w", safeErr(err))
	}
	if tok.RefreshToken == "" {
		return "", ErrNoRefreshTokenIssued
	}
	return tok.RefreshToken, nil
}

func (f *Flow) out() io.Writer {
	if f.Out == nil {
		return io.Discard
	}
	return f.Out
}

func randomState() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// safeErr drops the response body x/oauth2 quotes in errors without an
// error code.
func safeErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Errorf("%s: %s", re.ErrorCode, truncate(re.ErrorDescription, 200))
		}
		if re.Response != nil {
			return fmt.Errorf("token endpoint answered %s", re.Response.Status)
		}
	}
	return err
}
