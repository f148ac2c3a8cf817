package imapsource_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

func dovecotAccount(t testing.TB) account {
	t.Helper()
	addr, user, pass := dovecottest.Dovecot(t)
	return account{addr, user, pass}
}

func TestDovecotTLS(t *testing.T) {
	acc := dovecotAccount(t)
	tlsAddr, ca := dovecottest.TLS(t)
	acc.seed(t, "INBOX", "m", 1)
	for name, mutate := range map[string]func(*imapsource.Config){
		"implicit": func(c *imapsource.Config) { c.TLS = imapsource.TLSImplicit; c.Addr = tlsAddr; c.CAFile = ca },
		"starttls": func(c *imapsource.Config) { c.TLS = imapsource.TLSStartTLS; c.CAFile = ca },
	} {
		t.Run(name, func(t *testing.T) {
			src := newSource(t, acc.config(mutate, func(c *imapsource.Config) { c.InFlightKeyword = "$Q" + name }))
			if n, err := src.Poll(t.Context(), newCollector()); n != 1 || err != nil {
				t.Fatalf("Poll = %d, %v", n, err)
			}
		})
	}
	// The same through WithTLSConfig.
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	viaOpt := newSource(t, acc.config(func(c *imapsource.Config) {
		c.TLS = imapsource.TLSImplicit
		c.Addr = tlsAddr
		c.InFlightKeyword = "$Qopt"
	}),
		imapsource.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if n, err := viaOpt.Poll(t.Context(), newCollector()); n != 1 || err != nil {
		t.Fatalf("Poll with WithTLSConfig = %d, %v", n, err)
	}
	// Without the private CA the certificate is refused.
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.TLS = imapsource.TLSImplicit; c.Addr = tlsAddr }))
	if _, err := src.Poll(t.Context(), newCollector()); !errors.Is(err, imapsource.ErrTLS) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Poll without CA = %v; want ErrTLS, a certificate error", err)
	}
}

// deliverToMaildir writes a message the way a local delivery agent does:
// into tmp/, then renamed into new/, owned like the maildir.
func deliverToMaildir(t testing.TB, maildir string, i int, raw []byte) {
	t.Helper()
	st, err := os.Stat(maildir)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%d.P%dQ%d.plbatest", time.Now().Unix(), os.Getpid(), i)
	tmp := filepath.Join(maildir, "tmp", name)
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(tmp, int(sys.Uid), int(sys.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(maildir, "new", name)); err != nil {
		t.Fatal(err)
	}
}

// Settlements that arrive together are coalesced into shared UID STOREs
// (group commit): 200 concurrent successes on Dovecot take far fewer
// commands than one STORE pair each, every message ends \Seen without its
// in-flight mark, and one settlement of a message that no longer exists
// among them is answered on its own, without failing the others.
func TestDovecotSettlementsCoalesce(t *testing.T) {
	acc := dovecotAccount(t)
	const n = 200
	acc.seed(t, "INBOX", "co", n)
	src := newSource(t, acc.config())
	pub := newCollector()
	if got, err := src.Poll(t.Context(), pub); got != n || err != nil {
		t.Fatalf("Poll = %d, %v", got, err)
	}
	tasks := pub.all()
	var cnt counter
	worker := newSource(t, acc.config(), imapsource.WithDialContext(cnt.dial))
	gone := tasks[0].WithAttr(imapsource.AttrUID, "999999")
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for _, task := range append(tasks, gone) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker.Settle(t.Context(), task, contracts.OutcomeSucceeded, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fl := acc.flags(t, "INBOX")
	if countFlag(fl, `\Seen`) != n || countFlag(fl, queued) != 0 {
		t.Fatalf("after settling: %d seen, %d marked; want %d and 0", countFlag(fl, `\Seen`), countFlag(fl, queued), n)
	}
	// One pair per message would be 2*n+; coalesced rounds take a few.
	if c := cnt.cmds.Load(); c > n/2 {
		t.Fatalf("%d IMAP commands for %d settlements: not coalesced", c, n)
	} else {
		t.Logf("%d IMAP commands for %d concurrent settlements", c, n+1)
	}
	if h := worker.Health(t.Context()); h.Details["unsettled"] != "1" {
		t.Errorf("the missing message was not counted as unsettled: %v", h.Details)
	}
}
