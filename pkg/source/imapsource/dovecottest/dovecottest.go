// Package dovecottest gives tests a fresh mailbox on the project's test
// Dovecot (scripts/services/dovecot.sh), and private Dovecot instances for
// tests that kill and restart the server.
//
// The shared instance listens on 127.0.0.1:10143 (plain, STARTTLS offered)
// and 127.0.0.1:10993 (implicit TLS); see internal/testsvc. Any user name
// logs in with password "pass" and gets its own maildir, so a fresh user per
// test is a fresh, independent mailbox. When Dovecot is not running, tests
// skip (or fail under CI=true) with the command that starts it.
package dovecottest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/internal/testsvc"
)

// Password is every test user's password.
const Password = "pass"

// Dovecot returns the plain-IMAP address of the shared test Dovecot and a
// user name unique to this test run.
func Dovecot(t testing.TB) (addr, user, pass string) {
	t.Helper()
	addr = testsvc.Require(t, testsvc.Dovecot)
	user = UserName(t)
	if os.Getenv(testsvc.Dovecot.Env) == "" {
		// Our own instance: drop the user's maildir afterwards (sources
		// and clients are closed by then; cleanups run last-in first-out).
		maildir := filepath.Join(testsvc.Root(t), "var", "services", "dovecot", "mail", user)
		t.Cleanup(func() { _ = os.RemoveAll(maildir) })
	}
	return addr, user, Password
}

// TLS returns the implicit-TLS address of the shared test Dovecot and the
// CA file that verifies its certificate.
func TLS(t testing.TB) (addr, caFile string) {
	t.Helper()
	addr = testsvc.Require(t, testsvc.DovecotTLS)
	caFile = filepath.Join(testsvc.Root(t), "var", "services", "dovecot", "ca.pem")
	if _, err := os.Stat(caFile); err != nil {
		t.Fatalf("dovecottest: %v (is the test Dovecot from scripts/services/dovecot.sh running?)", err)
	}
	return addr, caFile
}

// UserName returns a valid IMAP user name derived from the test name plus a
// random suffix.
func UserName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[:40]
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return name + "_" + hex.EncodeToString(rnd[:])
}

// Instance is a private Dovecot started from the same script and config
// template as the shared one, on free ports, for tests that stop it.
type Instance struct {
	Addr    string // plain IMAP
	TLSAddr string // implicit TLS
	Dir     string
	script  string
	env     []string
}

// StartPrivate starts a private instance; it is stopped and removed when
// the test ends. It needs the shared Dovecot to be installed (it checks that
// the shared one runs, as the sign that the services are set up).
func StartPrivate(t testing.TB) *Instance {
	t.Helper()
	return startPrivate(t)
}

// startPrivate starts a private instance with extra script settings
// (NAME=value) beside its directory and ports.
func startPrivate(t testing.TB, extra ...string) *Instance {
	t.Helper()
	testsvc.Require(t, testsvc.Dovecot)
	root := testsvc.Root(t)
	base := filepath.Join(root, "var", "services", "dovecot-private")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "d")
	if err != nil {
		t.Fatal(err)
	}
	// Dovecot runs as an unprivileged user that must reach the directory.
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
			"PLBA_DOVECOT_TLS_PORT="+strconv.Itoa(tlsPort)),
	}
	in.env = append(in.env, extra...)
	t.Cleanup(func() {
		in.run(t, "stop")
		_ = os.RemoveAll(dir)
	})
	in.Start(t)
	return in
}

// Start starts the instance (again); it returns once the ports accept
// connections.
func (in *Instance) Start(t testing.TB) { t.Helper(); in.run(t, "start") }

// Stop stops the instance by its PID file and waits until it is gone; open
// connections are dropped.
func (in *Instance) Stop(t testing.TB) { t.Helper(); in.run(t, "stop") }

func (in *Instance) run(t testing.TB, action string) {
	t.Helper()
	cmd := exec.Command(in.script, action)
	cmd.Env = in.env
	// Should a daemon keep the output pipe open, do not wait for it.
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dovecottest: dovecot.sh %s: %v\n%s", action, err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
