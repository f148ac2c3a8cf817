package mailauth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/oauthtest"
)

func newTS(t *testing.T, as *oauthtest.Server, store mailauth.Store, opts ...mailauth.TokenOption) *mailauth.TokenSource {
	t.Helper()
	c := oauthConfig(as, mailauth.MechXOAUTH2, "").WithDefaults(mailauth.MechLogin)
	return mailauth.NewTokenSource(c.OAuth2, store, opts...)
}

func fileStore(t *testing.T, rt string) mailauth.FileStore {
	t.Helper()
	f := mailauth.FileStore(filepath.Join(t.TempDir(), "rt"))
	if err := f.Save(t.Context(), rt); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTokenRefreshSingleflight: many callers at once, one refresh.
func TestTokenRefreshSingleflight(t *testing.T) {
	as := oauthtest.New(t)
	as.RefreshDelay = 100 * time.Millisecond
	ts := newTS(t, as, fileStore(t, as.IssueRefreshToken("u")))
	var wg sync.WaitGroup
	toks := make([]string, 32)
	errs := make([]error, 32)
	for i := range toks {
		wg.Go(func() { toks[i], errs[i] = ts.Token(t.Context()) })
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] || !as.Valid(toks[i]) {
			t.Fatalf("caller %d: %q, %v", i, toks[i], errs[i])
		}
	}
	if n := as.Count("refresh"); n != 1 {
		t.Errorf("%d refreshes for 32 concurrent callers, want 1", n)
	}
	// A refused token is dropped only if it is still the current one.
	ts.Invalidate("some-older-token")
	if tok, _ := ts.Token(t.Context()); tok != toks[0] || as.Count("refresh") != 1 {
		t.Error("invalidating an old token dropped the current one")
	}
	ts.Invalidate(toks[0])
	if tok, _ := ts.Token(t.Context()); tok == toks[0] || as.Count("refresh") != 2 {
		t.Error("an invalidated token was not refreshed")
	}
}

// TestTokenRefreshedBeforeExpiry: the token is renewed RefreshBefore (2m)
// before it expires, not after.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	as := oauthtest.New(t)
	as.AccessTTL = 10 * time.Minute
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	ts := newTS(t, as, fileStore(t, as.IssueRefreshToken("u")), mailauth.WithClock(clock))
	first, err := ts.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now.Add(int64(7 * time.Minute))
	if tok, _ := ts.Token(t.Context()); tok != first {
		t.Error("refreshed 3 minutes before expiry; want 2")
	}
	now.Add(int64(90 * time.Second)) // 1m30s left
	tok, err := ts.Token(t.Context())
	if err != nil || tok == first || as.Count("refresh") != 2 {
		t.Errorf("not refreshed 90s before expiry: %v, %d refreshes", err, as.Count("refresh"))
	}
}

// TestRotationWrittenBack: a rotated refresh token replaces the stored
// one atomically, mode 0600, no temporary file left.
func TestRotationWrittenBack(t *testing.T) {
	as := oauthtest.New(t)
	as.Rotate = true
	rt := as.IssueRefreshToken("u")
	store := fileStore(t, rt)
	ts := newTS(t, as, store)
	if _, err := ts.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(t.Context())
	if err != nil || got == rt || as.RefreshUser(got) != "u" || ts.Rotations() != 1 {
		t.Fatalf("stored %v, rotations %d", err, ts.Rotations())
	}
	fi, _ := os.Stat(string(store))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(filepath.Dir(string(store)))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// TestRotationRaceBetweenProcesses: two processes (two TokenSources) share
// one token file under strict one-time rotation, the hardest case. The
// lock file and the re-read before each refresh keep every refresh valid.
func TestRotationRaceBetweenProcesses(t *testing.T) {
	as := oauthtest.New(t)
	as.Rotate, as.OneTime = true, true
	store := fileStore(t, as.IssueRefreshToken("u"))
	a, b := newTS(t, as, store), newTS(t, as, store)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for _, ts := range []*mailauth.TokenSource{a, b} {
		wg.Go(func() {
			for range 10 {
				tok, err := ts.Token(t.Context())
				if err != nil {
					failures.Add(1)
					t.Errorf("refresh: %v", err)
					return
				}
				ts.Invalidate(tok) // force the next call to refresh
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 || as.Count("refresh") != 20 {
		t.Errorf("%d failures, %d refreshes (want 0, 20)", failures.Load(), as.Count("refresh"))
	}
}

// staleStore returns an old token on its first Load, as a process that
// read the store just before another one rotated it would have.
type staleStore struct {
	mailauth.FileStore
	stale string
	once  sync.Once
}

func (s *staleStore) Load(ctx context.Context) (string, error) {
	v := ""
	s.once.Do(func() { v = s.stale })
	if v != "" {
		return v, nil
	}
	return s.FileStore.Load(ctx)
}

// TestInvalidGrantRereadsStore: refreshing with a token another process
// already used up (one-time rotation) fails with invalid_grant; the source
// re-reads the store, finds the newer token and succeeds.
func TestInvalidGrantRereadsStore(t *testing.T) {
	as := oauthtest.New(t)
	as.Rotate, as.OneTime = true, true
	old := as.IssueRefreshToken("u")
	f := fileStore(t, old)
	other := newTS(t, as, f)
	if _, err := other.Token(t.Context()); err != nil { // rotates old away
		t.Fatal(err)
	}
	ts := newTS(t, as, &staleStore{FileStore: f, stale: old})
	if _, err := ts.Token(t.Context()); err != nil {
		t.Fatalf("after a concurrent rotation: %v", err)
	}
}

func TestRevokedRefreshToken(t *testing.T) {
	as := oauthtest.New(t)
	rt := as.IssueRefreshToken("u")
	as.Revoke(rt)
	f := fileStore(t, rt)
	_, err := newTS(t, as, f).Token(t.Context())
	if !errors.Is(err, mailauth.ErrRefreshRejected) || !mailauth.IsAuthError(err) || strings.Contains(err.Error(), rt) {
		t.Fatalf("revoked: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), f.String()) {
		t.Errorf("error does not say what and where: %v", err)
	}
	_, err = newTS(t, as, mailauth.FileStore(filepath.Join(t.TempDir(), "none"))).Token(t.Context())
	if !errors.Is(err, mailauth.ErrNoRefreshToken) {
		t.Errorf("no token file: %v", err)
	}
}

func TestFileStoreLock(t *testing.T) {
	f := mailauth.FileStore(filepath.Join(t.TempDir(), "rt"))
	unlock, err := f.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: %v", err)
	}
	unlock()
	unlock2, err := f.Lock(t.Context())
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

// TestReadOnlyStoreKeepsRotatedToken: with a literal refresh token (or an
// env: store) a rotated token cannot be written back; the process uses the
// newest one from memory.
func TestReadOnlyStoreKeepsRotatedToken(t *testing.T) {
	as := oauthtest.New(t)
	as.Rotate, as.OneTime = true, true
	t.Setenv("PLBA_TEST_RT", as.IssueRefreshToken("u"))
	store, err := mailauth.OpenStore(t.Context(), "env:PLBA_TEST_RT")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTS(t, as, store)
	for i := range 3 {
		tok, err := ts.Token(t.Context())
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		ts.Invalidate(tok)
	}
}
