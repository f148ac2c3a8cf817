package imapsource_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

// oauthEnv is a private Dovecot whose oauth2 passdb asks a test OAuth
// server, and an account there with a refresh token in a token file.
type oauthEnv struct {
	as        *oauthtest.Server
	dc        *dovecottest.Instance
	acc       account
	rt        string
	tokenFile string
}

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	as := oauthtest.New(t)
	dc := dovecottest.StartPrivateOAuth2(t, as.IntrospectionURL())
	user := dovecottest.UserName(t)
	e := &oauthEnv{as: as, dc: dc, acc: account{dc.Addr, user, dovecottest.Password},
		rt: as.IssueRefreshToken(user), tokenFile: filepath.Join(t.TempDir(), "imap.token")}
	if err := mailauth.FileStore(e.tokenFile).Save(t.Context(), e.rt); err != nil {
		t.Fatal(err)
	}
	return e
}

// config logs in with mech and no password at all.
func (e *oauthEnv) config(mech string) imapsource.Config {
	return e.acc.config(func(c *imapsource.Config) {
		c.Password = ""
		c.Auth = mailauth.Config{Mechanism: mech, OAuth2: mailauth.OAuth2Config{
			ClientID: oauthtest.ClientID, TokenURL: e.as.TokenURL(), TokenStore: "file:" + e.tokenFile}}
	})
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDovecotOAuth2Mechanisms(t *testing.T) {
	for _, mech := range []string{mailauth.MechXOAUTH2, mailauth.MechOAUTHBEARER} {
		t.Run(mech, func(t *testing.T) {
			e := newOAuthEnv(t)
			e.acc.seed(t, "INBOX", "m", 2)
			src := newSource(t, e.config(mech))
			pub := newCollector()
			if n, err := src.Poll(t.Context(), pub); n != 2 || err != nil {
				t.Fatalf("Poll with %s = %d, %v", mech, n, err)
			}
			// The settle connection logs in with the same token: one
			// refresh for the account.
			for _, task := range pub.all() {
				if err := src.Settle(t.Context(), task, contracts.OutcomeSucceeded, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := countFlag(e.acc.flags(t, "INBOX"), `\Seen`); got != 2 {
				t.Errorf("%d messages \\Seen, want 2", got)
			}
			if n := e.as.Count("refresh"); n != 1 {
				t.Errorf("%d refreshes for two connections, want 1", n)
			}
			if h := src.Health(t.Context()); h.State != contracts.HealthUp {
				t.Errorf("health %v", h)
			}
		})
	}
}

// TestDovecotOAuth2TokenExpiresMidRun: the provider ends the access token's
// life early while the source runs; at the next connect the server refuses
// it, the source refreshes (the provider rotates the refresh token, which
// is written back to the token file) and keeps working.
func TestDovecotOAuth2TokenExpiresMidRun(t *testing.T) {
	e := newOAuthEnv(t)
	e.as.Rotate = true
	e.acc.seed(t, "INBOX", "before", 1)
	var logs syncBuffer
	src := newSource(t, e.config(mailauth.MechXOAUTH2),
		imapsource.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	pub := newCollector()
	if n, err := src.Poll(t.Context(), pub); n != 1 || err != nil {
		t.Fatalf("first Poll = %d, %v", n, err)
	}
	first, err := mailauth.FileStore(e.tokenFile).Load(t.Context())
	if err != nil || first == e.rt {
		t.Fatalf("after the first refresh the token file should hold the rotated token (err %v)", err)
	}

	e.as.ExpireAccessTokens()
	e.dc.Stop(t) // drops the connections: the next poll logs in again
	e.dc.Start(t)
	e.acc.seed(t, "INBOX", "after", 1)
	if n, err := src.Poll(t.Context(), pub); n != 1 || err != nil {
		t.Fatalf("Poll after the token expired = %d, %v", n, err)
	}
	if n := e.as.Count("refresh"); n != 2 {
		t.Errorf("%d refreshes, want 2 (start, and after the server refused the expired token)", n)
	}
	second, err := mailauth.FileStore(e.tokenFile).Load(t.Context())
	if err != nil || second == first || e.as.RefreshUser(second) != e.acc.user {
		t.Errorf("the second rotation was not written back (err %v)", err)
	}
	fi, err := os.Stat(e.tokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, %v; want 0600", fi.Mode(), err)
	}
	assertNoSecrets(t, logs.String(), e.rt, first, second)
	if !strings.Contains(logs.String(), "refresh token rotated and written back") {
		t.Errorf("no log line for the rotation:\n%s", logs.String())
	}
}

// TestDovecotOAuth2RevokedRefreshToken: the refresh token is revoked while
// the source runs. The next login fails with a clear error, health is
// down, and neither logs, error nor health show a token.
func TestDovecotOAuth2RevokedRefreshToken(t *testing.T) {
	e := newOAuthEnv(t)
	var logs syncBuffer
	src := newSource(t, e.config(mailauth.MechOAUTHBEARER),
		imapsource.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	pub := newCollector()
	if _, err := src.Poll(t.Context(), pub); err != nil {
		t.Fatal(err)
	}
	e.as.Revoke(e.rt)
	e.as.ExpireAccessTokens()
	e.dc.Stop(t)
	e.dc.Start(t)
	_, err := src.Poll(t.Context(), pub)
	if !errors.Is(err, mailauth.ErrRefreshRejected) {
		t.Fatalf("Poll with a revoked refresh token: %v, want ErrRefreshRejected", err)
	}
	for _, want := range []string{"invalid_grant", "file:" + e.tokenFile, "plba auth login"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	h := src.Health(t.Context())
	if h.State != contracts.HealthDown || !strings.Contains(h.Details["last_error"], "refresh token rejected") {
		t.Errorf("health %s %q, details %v; want down with the reason", h.State, h.Message, h.Details)
	}
	t.Logf("error: %v", err)
	t.Logf("health: %s: %s", h.State, h.Message)
	assertNoSecrets(t, logs.String()+err.Error()+h.Message+strings.Join(mapValues(h.Details), " "), e.rt)

	// A new login (what plba auth login stores) heals it without a restart.
	if err := mailauth.FileStore(e.tokenFile).Save(t.Context(), e.as.IssueRefreshToken(e.acc.user)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Poll(t.Context(), pub); err != nil {
		t.Fatalf("Poll after a new login: %v", err)
	}
	if h := src.Health(t.Context()); h.State != contracts.HealthUp {
		t.Errorf("health after a new login: %v", h)
	}
}

func assertNoSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a refresh token appears in logs or errors")
		}
	}
	if strings.Contains(text, "at-") {
		t.Errorf("an access token appears in logs or errors:\n%s", text)
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
