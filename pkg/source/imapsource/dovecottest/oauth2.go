package dovecottest

import "testing"

// StartPrivateOAuth2 starts a private instance like [StartPrivate] whose
// oauth2 passdb validates XOAUTH2 and OAUTHBEARER bearer tokens by token
// introspection (RFC 7662, POST) at introspectionURL — in tests the
// endpoint of package oauthtest's server. Password logins work as on the
// shared instance.
func StartPrivateOAuth2(t testing.TB, introspectionURL string) *Instance {
	t.Helper()
	return startPrivate(t, "PLBA_DOVECOT_OAUTH2_URL="+introspectionURL)
}
