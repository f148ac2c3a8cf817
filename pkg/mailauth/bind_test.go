package mailauth_test

import (
	"errors"
	"testing"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/mailauth"
)

type authSection struct {
	Auth mailauth.Config `koanf:"auth"`
}

// TestSecretRefBindsTokenStore: the reference a secret was resolved from
// stays known, so a rotated OAuth refresh token can be written back there.
func TestSecretRefBindsTokenStore(t *testing.T) {
	m, err := config.New(t.Context(), config.Options{
		Environ: []string{"PLBA_APP__AUTH__OAUTH2__REFRESH_TOKEN=${env:RT}", "RT=rt-value"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var s authSection
	if err := m.Decode("app", &s); err != nil {
		t.Fatal(err)
	}
	if s.Auth.OAuth2.RefreshToken.Reveal() != "rt-value" {
		t.Fatalf("resolved %q", s.Auth.OAuth2.RefreshToken.Reveal())
	}
	if ref, ok := m.SecretRef("app.auth.oauth2.refresh_token"); !ok || ref != "${env:RT}" {
		t.Fatalf("SecretRef = %q, %v", ref, ok)
	}
	if _, ok := m.SecretRef("app.auth.mechanism"); ok {
		t.Error("a plain value has no reference")
	}
	mailauth.BindStore(m, "app.auth", &s.Auth)
	if s.Auth.OAuth2.TokenStore != "${env:RT}" {
		t.Fatalf("bound store %q", s.Auth.OAuth2.TokenStore)
	}
	st, err := mailauth.OpenStore(t.Context(), s.Auth.OAuth2.TokenStore)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(t.Context(), "x"); !errors.Is(err, mailauth.ErrReadOnly) {
		t.Errorf("env store save: %v", err)
	}
}

// The runner and the Lambda functions hand modules a *config.Manager.
var _ mailauth.SecretRefs = (*config.Manager)(nil)
