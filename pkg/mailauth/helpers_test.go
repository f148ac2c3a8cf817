package mailauth_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/emersion/go-sasl"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// accessToken refreshes rt at the test server directly.
func accessToken(t *testing.T, as *oauthtest.Server, rt string) string {
	t.Helper()
	oc := &oauth2.Config{ClientID: oauthtest.ClientID, Endpoint: oauth2.Endpoint{TokenURL: as.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := oc.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func saslClient(mech, user, tok, addr string) sasl.Client {
	if mech == mailauth.OAUTHBEARER {
		h, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		return mailauth.NewOAUTHBEARERClient(user, tok, h, port)
	}
	return mailauth.NewXOAUTH2Client(user, tok)
}

// oauthConfig is the client configuration for the test server.
func oauthConfig(as *oauthtest.Server, mech, store string) mailauth.Config {
	return mailauth.Config{Mechanism: mech, OAuth2: mailauth.OAuth2Config{
		ClientID: oauthtest.ClientID, TokenURL: as.TokenURL(), AuthURL: as.AuthURL(),
		DeviceAuthURL: as.DeviceAuthURL(), Scopes: []string{"mail"}, TokenStore: store}}
}
