package mailauth_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
)

// TestLoopbackRefusesForgedState: a redirect with another state (a forged
// request from another page) ends the flow with an error and no token.
func TestLoopbackRefusesForgedState(t *testing.T) {
	as := oauthtest.New(t)
	c := oauthConfig(as, mailauth.MechXOAUTH2, "").WithDefaults(mailauth.MechLogin)
	var out bytes.Buffer
	f := &mailauth.Flow{Config: c.OAuth2, Out: &out, Open: func(authURL string) error {
		u, _ := url.Parse(authURL)
		redirect := u.Query().Get("redirect_uri")
		resp, err := http.Get(redirect + "?code=stolen&state=forged")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}}
	_, err := f.Loopback(t.Context())
	if err == nil || !strings.Contains(err.Error(), "state does not match") {
		t.Fatalf("forged state: %v", err)
	}
	if as.Count("authorization_code") != 0 {
		t.Error("a code was exchanged after a forged redirect")
	}
}

// TestLoopbackPKCE: the server sees an S256 challenge and accepts the
// verifier (oauthtest refuses the exchange otherwise).
func TestLoopbackPKCE(t *testing.T) {
	as := oauthtest.New(t)
	as.AuthorizeUser = "someone"
	c := oauthConfig(as, mailauth.MechXOAUTH2, "").WithDefaults(mailauth.MechLogin)
	f := &mailauth.Flow{Config: c.OAuth2, Open: func(u string) error {
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}}
	rt, err := f.Loopback(t.Context())
	if err != nil || as.RefreshUser(rt) != "someone" || len(as.LastChallenge()) != 43 {
		t.Fatalf("loopback: %v, challenge %q", err, as.LastChallenge())
	}
}
