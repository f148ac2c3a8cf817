package mailauth

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Target is one login the auth command acts on (the bot's IMAP mailbox,
// its SMTP sender).
type Target struct {
	// Name is what --for selects: "imap", "smtp".
	Name string
	// Key is the auth section's configuration key, for messages.
	Key string
	// Username is the mailbox account.
	Username string
	// Auth is the section, with the store bound ([BindStore]).
	Auth Config
	// PasswordMech is the protocol's password mechanism.
	PasswordMech string
	// Check connects and logs in for real, then logs out.
	Check func(ctx context.Context) error
}

// Targets loads the configuration (with env.Config) and returns the
// logins it configures.
type Targets func(ctx context.Context, env contracts.CommandEnv) ([]Target, error)

// CommandOptions are for tests.
type CommandOptions struct {
	// Open is passed to [Flow.Open].
	Open func(url string) error
	// HTTPClient is passed to [Flow.HTTPClient].
	HTTPClient *http.Client
}

// Command returns `auth`, which an application contributes to its runner
// ([contracts.CommandProvider]):
//
//	auth login [--for imap|smtp] [--provider P] [--device] [--port N]
//	auth check [--for imap|smtp]
func Command(targets Targets, opts CommandOptions) contracts.Command {
	return contracts.Command{
		Name:    "auth",
		Summary: "OAuth 2.0 mailbox login: auth login (store a refresh token) | auth check (log in for real)",
		Run: func(ctx context.Context, env contracts.CommandEnv, args []string) int {
			return runAuth(ctx, env, args, targets, opts)
		},
	}
}

const authUsage = `Usage:
  auth login [--for imap|smtp] [--provider gmail|microsoft365] [--device] [--port N] [--config FILE]... [--set key=value]...
      sign in to the mailbox's OAuth 2.0 provider in a browser (authorization code with PKCE on a
      loopback redirect, or --device for the device code flow where the provider allows it) and store
      the refresh token where auth.oauth2.token_store (or the refresh_token reference) says
  auth check [--for imap|smtp|all] [--config FILE]... [--set key=value]...
      connect and log in as configured (refreshing the access token), then log out

See docs/imap.md for the Gmail and Microsoft 365 setup.
`

func runAuth(ctx context.Context, env contracts.CommandEnv, args []string, targets Targets, opts CommandOptions) int {
	errw := env.Stderr()
	if len(args) == 0 || (args[0] != "login" && args[0] != "check") {
		fmt.Fprint(errw, authUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return contracts.ExitOK
		}
		return contracts.ExitUsage
	}
	sub := args[0]
	fs := env.FlagSet("auth " + sub)
	forName := fs.String("for", "", "the login: imap or smtp (default imap; check: every configured one)")
	provider := fs.String("provider", "", "login: the provider preset, overriding auth.oauth2.provider: gmail or microsoft365")
	device := fs.Bool("device", false, "login: use the device code flow instead of the browser redirect")
	port := fs.Int("port", 0, "login: the loopback redirect `port` (default: any free port)")
	timeout := fs.Duration("timeout", 5*time.Minute, "login: how long to wait for the sign-in")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return contracts.ExitOK
		}
		return contracts.ExitUsage
	}
	ts, err := targets(ctx, env)
	if err != nil {
		return env.Fail(err)
	}
	var chosen []Target
	for _, t := range ts {
		if *forName == "" && sub == "login" && t.Name != "imap" {
			continue
		}
		if *forName == "" || *forName == "all" || *forName == t.Name {
			chosen = append(chosen, t)
		}
	}
	if len(chosen) == 0 {
		fmt.Fprintf(errw, "auth %s: no %q login is configured\n", sub, *forName)
		return contracts.ExitUsage
	}
	if sub == "check" {
		return check(ctx, env, chosen)
	}
	t := chosen[0]
	c := t.Auth
	if *provider != "" {
		c.OAuth2.Provider = *provider
		c.Mechanism = ""
	}
	c = c.WithDefaults(t.PasswordMech)
	if !c.UsesOAuth2() {
		c.Mechanism = MechXOAUTH2 // logging in makes sense only for OAuth; check the rest
	}
	var probs []string
	for _, p := range c.Problems(t.PasswordMech) {
		if p.Key == "oauth2.refresh_token" {
			continue // that is what we are here to get
		}
		probs = append(probs, fmt.Sprintf("%s.%s: %s", t.Key, p.Key, p.Message))
	}
	if c.OAuth2.TokenStore == "" {
		probs = append(probs, fmt.Sprintf("%s.oauth2.token_store: required to store the refresh token (file:PATH, ssm:NAME or secretsmanager:ID), or give refresh_token as a ${ssm:...} or ${secretsmanager:...} reference", t.Key))
	}
	if len(probs) > 0 {
		for _, p := range probs {
			fmt.Fprintf(errw, "invalid configuration: %s\n", p)
		}
		return contracts.ExitUsage
	}
	store, err := OpenStore(ctx, c.OAuth2.TokenStore)
	if err != nil {
		fmt.Fprintf(errw, "invalid configuration: %s.oauth2.token_store: %v\n", t.Key, err)
		return contracts.ExitUsage
	}
	if _, isEnv := store.(envStore); isEnv {
		fmt.Fprintf(errw, "invalid configuration: %s.oauth2.token_store: %s cannot be written; use file:, ssm: or secretsmanager:\n", t.Key, store)
		return contracts.ExitUsage
	}
	lctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	lctx, stop := signal.NotifyContext(lctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f := &Flow{Config: c.OAuth2, Provider: c.OAuth2.Provider, LoginHint: t.Username, Port: *port,
		Open: opts.Open, Out: errw, HTTPClient: opts.HTTPClient}
	var rt string
	if *device {
		rt, err = f.Device(lctx)
	} else {
		rt, err = f.Loopback(lctx)
	}
	if err != nil {
		return env.Fail(err)
	}
	unlock, err := store.Lock(ctx)
	if err != nil {
		return env.Fail(err)
	}
	err = store.Save(ctx, rt)
	unlock()
	if err != nil {
		return env.Fail(fmt.Errorf("store the refresh token in %s: %w", store, err))
	}
	fmt.Fprintf(env.Stdout(), "%s: refresh token stored in %s\n", t.Name, store)
	if t.Check != nil {
		if err := t.Check(ctx); err != nil {
			fmt.Fprintf(errw, "%s: stored, but logging in failed: %v\n", t.Name, err)
			return contracts.ExitFailure
		}
		fmt.Fprintf(env.Stdout(), "%s: login as %s works\n", t.Name, t.Username)
	}
	return contracts.ExitOK
}

func check(ctx context.Context, env contracts.CommandEnv, ts []Target) int {
	code := contracts.ExitOK
	for _, t := range ts {
		if t.Check == nil {
			continue
		}
		mech := t.Auth.WithDefaults(t.PasswordMech).Mechanism
		if err := t.Check(ctx); err != nil {
			fmt.Fprintf(env.Stderr(), "%s: login as %s (%s) failed: %v\n", t.Name, t.Username, mech, err)
			code = contracts.ExitFailure
			continue
		}
		fmt.Fprintf(env.Stdout(), "%s: login as %s (%s) ok\n", t.Name, t.Username, mech)
	}
	return code
}
