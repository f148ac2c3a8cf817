package mailorderbot_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// TestSeveralMailboxes: two accounts (two servers) and a second folder of
// one of them, configured under mailboxes with the shared keys under imap:
// every mail of every mailbox gets its outcome, each mailbox is a source of
// its own with its own health, and `config check --connect` names the
// mailbox that cannot be opened.
func TestSeveralMailboxes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	de, err := imaptest.StartMemServer(ctx, "", "orders", "pw-shared")
	if err != nil {
		t.Fatal(err)
	}
	defer de.Close()
	fr, err := imaptest.StartMemServer(ctx, "", "orders", "pw-shared")
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	c, err := de.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Create("Returns", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	samples := demodata.Samples()
	for i, s := range samples[:6] {
		srv, box := de, "INBOX"
		switch i % 3 {
		case 1:
			box = "Returns"
		case 2:
			srv = fr
		}
		if err := srv.Append(ctx, box, s.Raw); err != nil {
			t.Fatal(err)
		}
	}
	flags := map[string]string{
		"apps.mailorderbot.imap.tls":                     "none",
		"apps.mailorderbot.imap.username":                "orders",
		"apps.mailorderbot.imap.password":                "pw-shared",
		"apps.mailorderbot.imap.mode":                    "poll",
		"apps.mailorderbot.imap.poll_interval":           "50ms",
		"apps.mailorderbot.imap.addr":                    de.Addr,
		"apps.mailorderbot.mailboxes.de.mailbox":         "INBOX",
		"apps.mailorderbot.mailboxes.de-returns.mailbox": "Returns",
		"apps.mailorderbot.mailboxes.fr.addr":            fr.Addr,
		"apps.mailorderbot.store.path":                   filepath.Join(t.TempDir(), "orders.db"),
	}
	newCfg := func(extra map[string]string, declare bool) *config.Manager {
		t.Helper()
		all := map[string]string{}
		for k, v := range flags {
			all[k] = v
		}
		for k, v := range extra {
			all[k] = v
		}
		cfg, err := config.New(ctx, config.Options{Flags: all, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if declare { // as `config check` does; the runtime declares itself
			if err := mailorderbot.New(mailorderbot.Options{}).DeclareConfig(cfg); err != nil {
				t.Fatal(err)
			}
		}
		return cfg
	}

	// config check --connect: every mailbox opens; a missing folder is
	// named with its cause.
	bot := mailorderbot.New(mailorderbot.Options{Parts: parts.All})
	if err := bot.CheckConnections(ctx, newCfg(nil, true)); err != nil {
		t.Fatalf("CheckConnections = %v", err)
	}
	err = bot.CheckConnections(ctx, newCfg(map[string]string{"apps.mailorderbot.mailboxes.de-returns.mailbox": "Retours"}, true))
	if !errors.Is(err, imapsource.ErrMailboxNotFound) || !strings.Contains(err.Error(), "mailbox de-returns") {
		t.Fatalf("CheckConnections with a missing folder = %v", err)
	}

	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Config: newCfg(nil, false), Logging: logging})
	if err := m.Register(bot); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background(), true) }()
	for total := 0; total < 6; {
		total = 0
		for _, n := range bot.Counts() {
			total += n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of 6 outcomes", total)
		case <-time.After(10 * time.Millisecond):
		}
	}
	comps := m.Snapshot(ctx).Health.Components
	for _, name := range []string{"de", "de-returns", "fr"} {
		h, ok := comps[name]
		if !ok || h.State != contracts.HealthUp || h.Details["settled"] != "2" {
			t.Errorf("health of mailbox %s = %v %v (present %v)", name, h.State, h.Details, ok)
		}
	}
	if _, ok := comps[imapsource.DefaultName]; ok {
		t.Errorf("the single-mailbox source runs next to the list")
	}
	if err := m.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// TestMailboxesValidate: names are plain tokens, two entries may not read
// the same mailbox, and every entry is checked with imap's keys inherited.
func TestMailboxesValidate(t *testing.T) {
	base := mailorderbot.DefaultConfig()
	base.IMAP.Addr = "imap.example.com:993"
	base.IMAP.Username = "orders"
	for name, mailboxes := range map[string]map[string]imapsource.Config{
		"mailboxes.a b":  {"a b": {}},
		"reads the same": {"a": {}, "b": {Mailbox: "INBOX"}},
		"mailboxes.bad":  {"bad": {Mode: "push"}},
	} {
		c := base
		c.Mailboxes = mailboxes
		if err := c.Validate(); !errors.Is(err, mailorderbot.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	c := base
	c.Mailboxes = map[string]imapsource.Config{"de": {}, "returns": {Mailbox: "Returns"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Sources(); len(got) != 2 || got[1].IMAP.Mailbox != "Returns" || got[1].IMAP.Addr != base.IMAP.Addr || got[0].IMAP.Mailbox != "INBOX" {
		t.Errorf("Sources = %+v", got)
	}
	if got := base.Sources(); len(got) != 1 || got[0].Name != imapsource.DefaultName {
		t.Errorf("single mailbox Sources = %+v", got)
	}
}

// A mailbox that sets one OAuth key keeps the rest of imap's auth section
// (inheritance goes into nested sections), and a preset alone is checked:
// a provider means xoauth2, which needs a client id and a refresh token.
func TestMailboxAuthInheritsAndPresetValidates(t *testing.T) {
	base := mailorderbot.DefaultConfig()
	base.IMAP.Username = "orders@example.com"
	base.IMAP.Auth.OAuth2.Provider = "gmail"
	if err := base.Validate(); err == nil || !strings.Contains(err.Error(), "client_id") {
		t.Errorf("preset without client_id: Validate = %v", err)
	}
	base.IMAP.Auth.OAuth2.ClientID = "client"
	base.IMAP.Auth.OAuth2.RefreshToken = contracts.Secret("rt")
	base.Mailboxes = map[string]imapsource.Config{"fr": {Username: "fr@example.com"}}
	base.Mailboxes["fr"] = func(c imapsource.Config) imapsource.Config {
		c.Auth.OAuth2.TokenStore = "file:/tmp/fr-token"
		return c
	}(base.Mailboxes["fr"])
	got := base.Sources()
	if len(got) != 1 {
		t.Fatalf("Sources = %+v", got)
	}
	a := got[0].IMAP.Auth
	if a.OAuth2.Provider != "gmail" || a.OAuth2.ClientID != "client" || a.OAuth2.TokenStore != "file:/tmp/fr-token" {
		t.Errorf("mailbox auth = %+v", a.OAuth2)
	}
}
