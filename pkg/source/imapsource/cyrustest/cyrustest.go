// Package cyrustest gives tests a fresh mailbox on the project's test Cyrus
// IMAP server (scripts/services/cyrus.sh), and private instances for tests
// that stop and restart the server.
//
// The shared instance listens on 127.0.0.1:11143 (plain IMAP; see
// internal/testsvc). Cyrus authenticates against a sasldb of its own, so
// every test adds a user of its own (password "pass"), whose INBOX Cyrus
// creates at first login: a fresh user is a fresh, empty mailbox. When
// Cyrus is not running, tests skip (or fail under CI=true) with the command
// that starts it.
package cyrustest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// Password is every test user's password.
const Password = "pass"

// Cyrus returns the address of the shared test Cyrus and a user created
// for this test. Its mailboxes are emptied when the test ends.
func Cyrus(t testing.TB) (addr, user, pass string) {
	t.Helper()
	addr = testsvc.Require(t, testsvc.Cyrus)
	user = dovecottest.UserName(t)
	run(t, nil, "adduser", user)
	t.Cleanup(func() { empty(addr, user) })
	return addr, user, Password
}

// empty deletes the user's folders and expunges its INBOX (Cyrus keeps
// a user's INBOX; only an admin could remove it).
func empty(addr, user string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := imaptest.Login(ctx, addr, user, Password)
	if err != nil {
		return
	}
	defer c.Close()
	boxes, _ := c.List("", "*", nil).Collect()
	for i := len(boxes) - 1; i >= 0; i-- {
		if name := boxes[i].Mailbox; name != "INBOX" {
			_ = c.Delete(name).Wait()
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err == nil {
		all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
		_ = c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		_ = c.Expunge().Close()
	}
	_ = c.Logout().Wait()
}

// Instance is a private Cyrus started from the same script and config as
// the shared one, on a free port, for tests that stop it.
type Instance struct {
	Addr string
	Dir  string
	env  []string
}

// StartPrivate starts a private instance; it is stopped and removed when
// the test ends. It needs the shared Cyrus to run (the sign that the
// services are installed).
func StartPrivate(t testing.TB) *Instance { t.Helper(); return start(t, true) }

// StartPrivateWithoutIdled starts a private instance without idled, as
// Debian configures Cyrus by default: an idling client hears of new mail
// only when imapd polls, every 60 s.
func StartPrivateWithoutIdled(t testing.TB) *Instance { t.Helper(); return start(t, false) }

func start(t testing.TB, idled bool) *Instance {
	t.Helper()
	testsvc.Require(t, testsvc.Cyrus)
	base := filepath.Join(testsvc.Root(t), "var", "services", "cyrus-private")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "c")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755) // Cyrus runs as an unprivileged user
	port := freePort(t)
	in := &Instance{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:  dir,
		env:  []string{"PLBA_CYRUS_DIR=" + dir, "PLBA_CYRUS_PORT=" + strconv.Itoa(port), "PLBA_CYRUS_IDLED=" + map[bool]string{true: "1", false: "0"}[idled]},
	}
	t.Cleanup(func() {
		run(t, in.env, "stop")
		_ = os.RemoveAll(dir)
	})
	in.Start(t)
	return in
}

// User adds a user to the instance and returns its name.
func (in *Instance) User(t testing.TB) string {
	t.Helper()
	user := dovecottest.UserName(t)
	run(t, in.env, "adduser", user)
	return user
}

// Start starts the instance (again); it returns once the port accepts
// connections.
func (in *Instance) Start(t testing.TB) { t.Helper(); run(t, in.env, "start") }

// Stop stops the instance by its PID file (the whole process group, so
// open connections drop).
func (in *Instance) Stop(t testing.TB) { t.Helper(); run(t, in.env, "stop") }

func run(t testing.TB, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testsvc.Root(t), "scripts", "services", "cyrus.sh"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cyrustest: cyrus.sh %v: %v\n%s", args, err, out)
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
