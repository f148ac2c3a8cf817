package mailauth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

// TestDovecotBearerMechanisms logs in to Dovecot's oauth2 passdb with both
// mechanisms, and checks that a refused token yields the server's error
// challenge (answered as the mechanism requires) and a NO
// [AUTHENTICATIONFAILED], not a hung or aborted command.
func TestDovecotBearerMechanisms(t *testing.T) {
	as := oauthtest.New(t)
	dc := dovecottest.StartPrivateOAuth2(t, as.IntrospectionURL())
	user := dovecottest.UserName(t)
	tok := accessToken(t, as, as.IssueRefreshToken(user))

	for _, mech := range []string{mailauth.XOAUTH2, mailauth.OAUTHBEARER} {
		t.Run(mech, func(t *testing.T) {
			c := dial(t, dc.Addr)
			sc := saslClient(mech, user, tok, dc.Addr)
			if err := c.Authenticate(sc); err != nil {
				t.Fatalf("%s login: %v", mech, err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatalf("select after %s login: %v", mech, err)
			}

			// A token the server does not accept.
			c2 := dial(t, dc.Addr)
			bad := saslClient(mech, user, "at-not-a-token", dc.Addr)
			start := time.Now()
			err := c2.Authenticate(bad)
			t.Logf("refusal took %s", time.Since(start))
			// OAUTHBEARER: NO [AUTHENTICATIONFAILED]. XOAUTH2: go-imap
			// sends the empty response as "=" (RFC 4959's empty initial
			// response), which Dovecot refuses with BAD; either way the
			// command ends and the connection stays usable.
			var ie *imap.Error
			if !errors.As(err, &ie) || (ie.Code != imap.ResponseCodeAuthenticationFailed && !(mech == mailauth.XOAUTH2 && ie.Type == imap.StatusResponseTypeBad)) {
				t.Fatalf("%s with a bad token: %v, want NO [AUTHENTICATIONFAILED]", mech, err)
			}
			if se := bad.(mailauth.ErrorReporter).ServerError(); se == nil || se.Status == "" {
				t.Errorf("%s: the server's error challenge was not recorded: %+v", mech, se)
			} else {
				t.Logf("%s error challenge: %v", mech, se)
			}
			// The connection is still usable after the refusal.
			// (Dovecot delays a second attempt on a connection by ~4 s.)
			if err := c2.Authenticate(saslClient(mech, user, tok, dc.Addr)); err != nil {
				t.Fatalf("%s login after a refusal on the same connection: %v", mech, err)
			}
		})
	}
}

func dial(t *testing.T, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
