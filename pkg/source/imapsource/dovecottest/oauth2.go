package dovecottest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/plba/plba/internal/testsvc"
)

// StartPrivateOAuth2 starts a private instance like [StartPrivate] whose
// oauth2 passdb validates XOAUTH2 and OAUTHBEARER bearer tokens by token
// introspection (RFC 7662, POST) at introspectionURL — in tests the
// endpoint of package oauthtest's server. Password logins work as on the
// shared instance.
func StartPrivateOAuth2(t testing.TB, introspectionURL string) *Instance {
	t.Helper()
	testsvc.Require(t, testsvc.Dovecot)
	root := testsvc.Root(t)
	base := filepath.Join(root, "var", "services", "dovecot-private")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "o")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	port, tlsPort := freePort(t), freePort(t)
	in := &Instance{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		TLSAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)),
		Dir:     dir,
		script:  filepath.Join(root, "scripts", "services", "dovecot.sh"),
		env: append(os.Environ(),
			"PLBA_DOVECOT_DIR="+dir,
			"PLBA_DOVECOT_PORT="+strconv.Itoa(port),
			"PLBA_DOVECOT_TLS_PORT="+strconv.Itoa(tlsPort),
			"PLBA_DOVECOT_OAUTH2_URL="+introspectionURL),
	}
	t.Cleanup(func() {
		in.run(t, "stop")
		_ = os.RemoveAll(dir)
	})
	in.Start(t)
	return in
}
