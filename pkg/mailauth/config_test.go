package mailauth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/plba/plba/pkg/mailauth"
)

func TestPresetDefaults(t *testing.T) {
	c := mailauth.Config{OAuth2: mailauth.OAuth2Config{Provider: "microsoft365", Tenant: "contoso.onmicrosoft.com", ClientID: "id",
		TokenStore: "file:/tmp/x"}}.WithDefaults(mailauth.MechLogin)
	o := c.OAuth2
	if c.Mechanism != mailauth.MechXOAUTH2 ||
		o.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		o.DeviceAuthURL == "" || len(o.Scopes) != 3 || o.RefreshBefore != mailauth.DefaultRefreshBefore {
		t.Fatalf("microsoft365 defaults: %+v", c)
	}
	if err := c.Validate("", mailauth.MechLogin); err != nil {
		t.Fatal(err)
	}
	g := mailauth.Config{OAuth2: mailauth.OAuth2Config{Provider: "gmail", Scopes: []string{"custom"}}}.WithDefaults(mailauth.MechPlain)
	if g.OAuth2.TokenURL != "https://oauth2.googleapis.com/token" || g.OAuth2.DeviceAuthURL != "" || g.OAuth2.Scopes[0] != "custom" {
		t.Fatalf("gmail defaults (scopes overridden): %+v", g)
	}
	if p := (mailauth.Config{}).WithDefaults(mailauth.MechPlain); p.Mechanism != mailauth.MechPlain || p.UsesOAuth2() {
		t.Fatalf("no auth section: %+v", p)
	}
}

func TestValidateNamesKeys(t *testing.T) {
	for _, tc := range []struct {
		c    mailauth.Config
		key  string
		want string
	}{
		{mailauth.Config{Mechanism: "cram-md5"}, "mechanism", "not one of"},
		{mailauth.Config{Mechanism: "xoauth2", OAuth2: mailauth.OAuth2Config{TokenURL: "https://x/t", TokenStore: "file:/x"}}, "oauth2.client_id", "required"},
		{mailauth.Config{Mechanism: "xoauth2", OAuth2: mailauth.OAuth2Config{ClientID: "c", TokenStore: "file:/x"}}, "oauth2.token_url", "required"},
		{mailauth.Config{Mechanism: "xoauth2", OAuth2: mailauth.OAuth2Config{ClientID: "c", TokenURL: "http://idp.example/t", TokenStore: "file:/x"}}, "oauth2.token_url", "loopback"},
		{mailauth.Config{OAuth2: mailauth.OAuth2Config{Provider: "yahoo"}}, "oauth2.provider", "gmail, microsoft365"},
		{mailauth.Config{OAuth2: mailauth.OAuth2Config{Provider: "gmail", ClientID: "c", TokenStore: "s3:bucket"}}, "oauth2.token_store", "unknown scheme"},
		{mailauth.Config{OAuth2: mailauth.OAuth2Config{Provider: "gmail", ClientID: "c"}}, "oauth2.refresh_token", "plba auth login"},
	} {
		err := tc.c.Validate("apps.bot.imap.auth.", mailauth.MechLogin)
		if !errors.Is(err, mailauth.ErrInvalidConfig) || !strings.Contains(err.Error(), "apps.bot.imap.auth."+tc.key+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %s ... %s", tc.c, err, tc.key, tc.want)
		}
	}
}

func TestParseStore(t *testing.T) {
	for in, want := range map[string]string{
		"file:/var/lib/plba/t": "file /var/lib/plba/t", "${ssm:/plba/prod/rt}": "ssm /plba/prod/rt",
		"secretsmanager:prod/mail#refresh": "secretsmanager prod/mail#refresh", "env:RT": "env RT",
	} {
		s, r, err := mailauth.ParseStore(in)
		if err != nil || s+" "+r != want {
			t.Errorf("ParseStore(%q) = %q %q %v", in, s, r, err)
		}
	}
	for _, bad := range []string{"", "file:", "/path", "vault:x"} {
		if _, _, err := mailauth.ParseStore(bad); err == nil {
			t.Errorf("ParseStore(%q) accepted", bad)
		}
	}
}
