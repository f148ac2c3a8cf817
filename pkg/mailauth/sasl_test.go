package mailauth_test

import (
	"bytes"
	"testing"

	"github.com/plba/plba/pkg/mailauth"
)

func TestXOAUTH2Wire(t *testing.T) {
	c := mailauth.NewXOAUTH2Client("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	mech, ir, err := c.Start()
	// The example of https://developers.google.com/gmail/imap/xoauth2-protocol.
	want := "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
	if err != nil || mech != "XOAUTH2" || string(ir) != want {
		t.Fatalf("Start = %q %q %v", mech, ir, err)
	}
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	if err != nil || resp == nil || len(resp) != 0 {
		t.Fatalf("answer to the error challenge = %q (nil %v), %v; want empty, not nil", resp, resp == nil, err)
	}
	se := c.(mailauth.ErrorReporter).ServerError()
	if se == nil || se.Status != "401" || se.Scope != "https://mail.google.com/" {
		t.Fatalf("server error %+v", se)
	}
	if _, err := c.Next([]byte("again")); err == nil {
		t.Error("a second challenge should fail the exchange")
	}
}

func TestOAUTHBEARERWire(t *testing.T) {
	c := mailauth.NewOAUTHBEARERClient("user,name=x@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143)
	mech, ir, err := c.Start()
	// RFC 7628 section 4.1, with the authzid escaped as RFC 5801 requires.
	want := "n,a=user=2Cname=3Dx@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
	if err != nil || mech != "OAUTHBEARER" || string(ir) != want {
		t.Fatalf("Start = %q %q %v", mech, ir, err)
	}
	resp, err := c.Next([]byte(`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`))
	if err != nil || !bytes.Equal(resp, []byte{0x01}) {
		t.Fatalf("answer to the error challenge = %q, %v; want %%x01", resp, err)
	}
	if se := c.(mailauth.ErrorReporter).ServerError(); se == nil || se.Status != "invalid_token" {
		t.Fatalf("server error %+v", se)
	}
}

func TestSASLRefusesBadInput(t *testing.T) {
	if _, _, err := mailauth.NewXOAUTH2Client("u", "").Start(); err == nil {
		t.Error("empty token accepted")
	}
	if _, _, err := mailauth.NewXOAUTH2Client("u", "a\x01b").Start(); err == nil {
		t.Error("token with ^A accepted")
	}
}
