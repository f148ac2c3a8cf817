package reply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
)

// bearerServer is the server side of XOAUTH2 and OAUTHBEARER as Gmail and
// Microsoft run it: an invalid token gets a base64 JSON error challenge;
// after the client's dummy response (empty for XOAUTH2, %x01 for
// OAUTHBEARER) the server answers 535.
func bearerServer(s *session, mech string) sasl.Server {
	return &bearerSrv{s: s, mech: mech}
}

type bearerSrv struct {
	s      *session
	mech   string
	failed bool
}

var authFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

func (b *bearerSrv) Next(resp []byte) ([]byte, bool, error) {
	if b.failed {
		want := []byte{}
		if b.mech == sasl.OAuthBearer {
			want = []byte{0x01}
		}
		if !bytes.Equal(resp, want) {
			return nil, true, &smtp.SMTPError{Code: 501, Message: "bad dummy response"}
		}
		return nil, true, authFailed
	}
	if resp == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	var user, token string
	for f := range strings.SplitSeq(string(resp), "\x01") {
		switch {
		case strings.HasPrefix(f, "user="):
			user = strings.TrimPrefix(f, "user=")
		case strings.HasPrefix(f, "auth=Bearer "):
			token = strings.TrimPrefix(f, "auth=Bearer ")
		case strings.HasPrefix(f, "n,a="):
			user = strings.TrimSuffix(strings.TrimPrefix(f, "n,a="), ",")
		}
	}
	if b.s.s.bearer(user, token) {
		b.s.auth = true
		return nil, true, nil
	}
	b.failed = true
	ch, _ := json.Marshal(map[string]string{"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
	return ch, false, nil
}

// TestSMTPBearerAuth sends replies with XOAUTH2 and OAUTHBEARER tokens
// from the test OAuth server; a token the provider ended early is refused
// with the error challenge, refreshed, and the reply goes out.
func TestSMTPBearerAuth(t *testing.T) {
	as := oauthtest.New(t)
	srv := startSMTP(t, nil)
	const user = "bot@shop.example"
	srv.bearer = func(u, tok string) bool { return u == user && as.Valid(tok) }
	for _, mech := range []string{mailauth.MechXOAUTH2, mailauth.MechOAUTHBEARER} {
		t.Run(mech, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "smtp.token")
			if err := mailauth.FileStore(file).Save(t.Context(), as.IssueRefreshToken(user)); err != nil {
				t.Fatal(err)
			}
			s, err := reply.NewSMTPSender(reply.SMTPConfig{Addr: srv.addr, TLS: reply.TLSNone, Username: user,
				Auth: mailauth.Config{Mechanism: mech, OAuth2: mailauth.OAuth2Config{
					ClientID: oauthtest.ClientID, TokenURL: as.TokenURL(), TokenStore: "file:" + file}}})
			if err != nil {
				t.Fatal(err)
			}
			r, _ := reply.Compose(accepted(), "orders@shop.example", now)
			before := as.Count("refresh")
			if err := s.Send(context.Background(), *r); err != nil {
				t.Fatalf("send with %s: %v", mech, err)
			}
			as.ExpireAccessTokens()
			if err := s.Send(context.Background(), *r); err != nil {
				t.Fatalf("send with %s after the token expired early: %v", mech, err)
			}
			if n := as.Count("refresh") - before; n != 2 {
				t.Errorf("%d refreshes, want 2", n)
			}
			if err := s.Check(context.Background()); err != nil {
				t.Errorf("check: %v", err)
			}

			// A revoked refresh token: a clear error, not ErrRejected (the
			// reply stays in the outbox until someone logs in again).
			rt, _ := mailauth.FileStore(file).Load(t.Context())
			as.Revoke(rt)
			as.ExpireAccessTokens()
			err = s.Send(context.Background(), *r)
			if !errors.Is(err, mailauth.ErrRefreshRejected) || errors.Is(err, reply.ErrRejected) || strings.Contains(err.Error(), rt) {
				t.Fatalf("send with a revoked refresh token: %v", err)
			}
		})
	}
	if n := len(srv.deliveries()); n != 4 {
		t.Errorf("%d deliveries, want 4", n)
	}
}
