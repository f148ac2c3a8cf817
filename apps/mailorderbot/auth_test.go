package mailorderbot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
	"github.com/plba/plba/pkg/runner"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// TestAuthLoginAndCheck runs `plba auth login` against the test OAuth
// server (the browser is an HTTP client following the redirects; the
// server checks PKCE), then `plba auth check` against Dovecot's oauth2
// passdb, then the same after the refresh token was revoked.
func TestAuthLoginAndCheck(t *testing.T) {
	as := oauthtest.New(t)
	dc := dovecottest.StartPrivateOAuth2(t, as.IntrospectionURL())
	user := dovecottest.UserName(t)
	as.AuthorizeUser = user
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "state", "imap.token")
	cfgFile := filepath.Join(dir, "plba.yaml")
	yaml := fmt.Sprintf(`apps:
  mailorderbot:
    store: { path: %s }
    imap:
      addr: %s
      tls: none
      username: %s
      auth:
        mechanism: oauthbearer
        oauth2:
          client_id: %s
          auth_url: %s
          token_url: %s
          device_auth_url: %s
          token_store: file:%s
`, filepath.Join(dir, "orders.db"), dc.Addr, user, oauthtest.ClientID, as.AuthURL(), as.TokenURL(), as.DeviceAuthURL(), tokenFile)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	browser := func(u string) error {
		// The user's browser: follow the authorization endpoint's redirect
		// to the loopback listener.
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("redirect answered %s: %s", resp.Status, body)
		}
		return nil
	}
	app := runner.App{Name: "plba", Modules: func(env runner.ModuleEnv) []contracts.ApplicationModule {
		return []contracts.ApplicationModule{mailorderbot.New(mailorderbot.Options{Parts: parts.All,
			Auth: mailauth.CommandOptions{Open: browser}})}
	}}
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := runner.Run(context.Background(), app, append(args, "--config", cfgFile), &out, &errw)
		return code, out.String(), errw.String()
	}

	code, out, errw := run("auth", "login")
	if code != contracts.ExitOK {
		t.Fatalf("auth login: exit %d\n%s\n%s", code, out, errw)
	}
	if !strings.Contains(out, "refresh token stored in file:"+tokenFile) || !strings.Contains(out, "login as "+user+" works") {
		t.Errorf("auth login output:\n%s", out)
	}
	if as.Count("authorize") != 1 || as.Count("authorization_code") != 1 || as.LastChallenge() == "" {
		t.Errorf("authorize %d, code exchanges %d, PKCE challenge %q", as.Count("authorize"), as.Count("authorization_code"), as.LastChallenge())
	}
	rt, err := mailauth.FileStore(tokenFile).Load(context.Background())
	if err != nil || as.RefreshUser(rt) != user {
		t.Fatalf("stored refresh token: %v (user %q)", err, as.RefreshUser(rt))
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", fi, err)
	}
	if strings.Contains(out+errw, rt) {
		t.Error("the refresh token was printed")
	}

	if code, out, errw := run("auth", "check"); code != contracts.ExitOK || !strings.Contains(out, "imap: login as "+user+" (oauthbearer) ok") {
		t.Fatalf("auth check: exit %d\n%s\n%s", code, out, errw)
	}

	// The device flow stores a new token too.
	if code, out, errw := run("auth", "login", "--device"); code != contracts.ExitOK || !strings.Contains(errw, "enter the code ABCD-EFGH") {
		t.Fatalf("auth login --device: exit %d\n%s\n%s", code, out, errw)
	}
	rt2, _ := mailauth.FileStore(tokenFile).Load(context.Background())
	if rt2 == rt || as.RefreshUser(rt2) != user {
		t.Error("the device flow did not store its refresh token")
	}

	// Revoke both grants: the access token of the first check is still
	// cached in this process (one test process runs every command).
	as.Revoke(rt)
	as.Revoke(rt2)
	code, _, errw = run("auth", "check")
	if code != contracts.ExitFailure || !strings.Contains(errw, "refresh token rejected") || strings.Contains(errw, rt2) {
		t.Fatalf("auth check with a revoked token: exit %d\n%s", code, errw)
	}

	// Bad configuration: exit 2 naming the key.
	code, _, errw = run("auth", "check", "--set", "apps.mailorderbot.imap.auth.mechanism=xoauth3")
	if code != contracts.ExitUsage || !strings.Contains(errw, "imap.auth.mechanism") {
		t.Fatalf("bad mechanism: exit %d\n%s", code, errw)
	}
	t.Logf("bad config says: %s", strings.TrimSpace(errw))
	bad := strings.Replace(yaml, "token_store: file:", "token_store: vault:", 1)
	if err := os.WriteFile(cfgFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errw = run("auth", "check")
	if code != contracts.ExitUsage || !strings.Contains(errw, "apps.mailorderbot.imap.auth.oauth2.token_store (from "+cfgFile+":15)") {
		t.Fatalf("bad token_store in the file: exit %d\n%s", code, errw)
	}
}

// TestBotOAuth2ThroughRuntime runs the bot through the runtime on Dovecot's
// oauth2 passdb with the refresh token as a ${file:…} reference: the mail
// is processed, the provider rotates the refresh token on every refresh,
// and the new one is written back to the file the reference names.
func TestBotOAuth2ThroughRuntime(t *testing.T) {
	as := oauthtest.New(t)
	as.Rotate = true
	dc := dovecottest.StartPrivateOAuth2(t, as.IntrospectionURL())
	user := dovecottest.UserName(t)
	tokenFile := filepath.Join(t.TempDir(), "rt")
	rt := as.IssueRefreshToken(user)
	if err := os.WriteFile(tokenFile, []byte(rt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := imaptest.Login(ctx, dc.Addr, user, dovecottest.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	samples := demodata.Samples()[:3]
	for _, s := range samples {
		if _, err := imaptest.AppendMessages(ctx, c, "INBOX", [][]byte{s.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	flags := map[string]string{
		"apps.mailorderbot.imap.addr":                      dc.Addr,
		"apps.mailorderbot.imap.tls":                       "none",
		"apps.mailorderbot.imap.username":                  user,
		"apps.mailorderbot.imap.mode":                      "poll",
		"apps.mailorderbot.imap.poll_interval":             "100ms",
		"apps.mailorderbot.imap.auth.mechanism":            "xoauth2",
		"apps.mailorderbot.imap.auth.oauth2.client_id":     oauthtest.ClientID,
		"apps.mailorderbot.imap.auth.oauth2.token_url":     as.TokenURL(),
		"apps.mailorderbot.imap.auth.oauth2.refresh_token": "${file:" + tokenFile + "}",
		"apps.mailorderbot.store.path":                     filepath.Join(t.TempDir(), "orders.db"),
	}
	bot := mailorderbot.New(mailorderbot.Options{Parts: parts.All})
	cfg, err := config.New(ctx, config.Options{Flags: flags, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logging, _ := runtime.NewLogging(&syncWriter{w: &logs}, runtime.LogConfig{Level: "debug"})
	m := runtime.NewManager(runtime.Options{Config: cfg, Logging: logging})
	if err := m.Register(bot); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for total := 0; total < len(samples); {
		total = 0
		for _, n := range bot.Counts() {
			total += n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d outcomes", total, len(samples))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := m.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if now := strings.TrimSpace(string(got)); now == rt || as.RefreshUser(now) != user {
		t.Errorf("the rotated refresh token was not written back to the referenced file")
	}
	if strings.Contains(logs.String(), rt) || strings.Contains(logs.String(), "at-") {
		t.Error("a token appears in the logs")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
