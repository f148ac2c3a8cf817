package mailauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store errors.
var (
	// ErrReadOnly is returned by Save of a store that cannot be written
	// (env:NAME, a literal refresh token in the configuration).
	ErrReadOnly = errors.New("mail auth: token store is read only")
	// ErrNoRefreshToken: the store holds no refresh token (yet); run
	// plba auth login.
	ErrNoRefreshToken = errors.New("mail auth: no refresh token stored (run plba auth login)")
)

// Store holds one account's refresh token. Implementations never put the
// token in an error or a log line.
type Store interface {
	// Load returns the current refresh token; [ErrNoRefreshToken] when
	// there is none.
	Load(ctx context.Context) (string, error)
	// Save replaces it; [ErrReadOnly] when the store cannot be written.
	Save(ctx context.Context, token string) error
	// Lock takes a lock other processes using the same store respect, for
	// the read-refresh-write sequence; stores without one return a no-op.
	Lock(ctx context.Context) (unlock func(), err error)
	// String is the location (file:/path, ssm:/name), never the token.
	String() string
}

// ParseStore splits a store location "scheme:ref"; the reference form
// "${scheme:ref}" is accepted too, so a secret reference can name its
// store.
func ParseStore(loc string) (scheme, ref string, err error) {
	s := strings.TrimSpace(loc)
	if strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") {
		s = s[2 : len(s)-1]
	}
	scheme, ref, ok := strings.Cut(s, ":")
	if !ok || ref == "" {
		return "", "", fmt.Errorf("%q is not scheme:reference (file:PATH, ssm:NAME, secretsmanager:ID or env:NAME)", loc)
	}
	switch scheme {
	case "file", "ssm", "secretsmanager", "env":
		return scheme, ref, nil
	}
	return "", "", fmt.Errorf("%q: unknown scheme %q (want file, ssm, secretsmanager or env)", loc, scheme)
}

// StoreOpener opens the store of a scheme; see [RegisterStore].
type StoreOpener func(ctx context.Context, ref string) (Store, error)

var openers = map[string]StoreOpener{
	"file": func(_ context.Context, ref string) (Store, error) { return FileStore(ref), nil },
	"env":  func(_ context.Context, ref string) (Store, error) { return envStore(ref), nil },
}

// RegisterStore makes OpenStore handle scheme; the AWS stores (ssm,
// secretsmanager) register themselves from package mailauth/awsstore, so
// that binaries without AWS do not link its client. Call it from init.
func RegisterStore(scheme string, open StoreOpener) { openers[scheme] = open }

// OpenStore opens the store at loc (see [ParseStore]).
func OpenStore(ctx context.Context, loc string) (Store, error) {
	scheme, ref, err := ParseStore(loc)
	if err != nil {
		return nil, err
	}
	open, ok := openers[scheme]
	if !ok {
		return nil, fmt.Errorf("token store %s: this binary does not include the %s store (import github.com/plba/plba/pkg/mailauth/awsstore)", loc, scheme)
	}
	return open(ctx, ref)
}

// FileStore is a refresh token in a local file: one line, mode 0600,
// replaced atomically (write a temporary file, fsync, rename), guarded by
// an advisory lock on PATH.lock while a process refreshes.
type FileStore string

// Load implements [Store].
func (f FileStore) Load(context.Context) (string, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("token file %s: %w", string(f), ErrNoRefreshToken)
	}
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty: %w", string(f), ErrNoRefreshToken)
	}
	return t, nil
}

// Save implements [Store].
func (f FileStore) Save(_ context.Context, token string) error {
	path := string(f)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod states it.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		return fmt.Errorf("token file %s: write: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("token file %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("token file %s: rename: %w", path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable
		_ = d.Close()
	}
	return nil
}

// Lock implements [Store] with an exclusive advisory lock on PATH.lock,
// waited for until ctx ends.
func (f FileStore) Lock(ctx context.Context) (func(), error) {
	path := string(f) + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("token file lock: %w", err)
	}
	lf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("token file lock: %w", err)
	}
	for {
		ok, err := tryLock(lf)
		if err != nil {
			_ = lf.Close()
			return nil, fmt.Errorf("token file lock %s: %w", path, err)
		}
		if ok {
			return func() { unlock(lf); _ = lf.Close() }, nil
		}
		// Another process refreshes: it holds the lock for one HTTP round
		// trip. Polling keeps the wait cancellable.
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = lf.Close()
			return nil, fmt.Errorf("token file lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}

func (f FileStore) String() string { return "file:" + string(f) }

// envStore reads an environment variable; it cannot be written.
type envStore string

func (e envStore) Load(context.Context) (string, error) {
	v, ok := os.LookupEnv(string(e))
	if !ok || strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("env %s: %w", string(e), ErrNoRefreshToken)
	}
	return strings.TrimSpace(v), nil
}
func (e envStore) Save(context.Context, string) error   { return ErrReadOnly }
func (e envStore) Lock(context.Context) (func(), error) { return func() {}, nil }
func (e envStore) String() string                       { return "env:" + string(e) }

// staticStore is a refresh token given as a literal configuration value.
type staticStore string

func (s staticStore) Load(context.Context) (string, error) {
	if s == "" {
		return "", ErrNoRefreshToken
	}
	return string(s), nil
}
func (s staticStore) Save(context.Context, string) error   { return ErrReadOnly }
func (s staticStore) Lock(context.Context) (func(), error) { return func() {}, nil }
func (s staticStore) String() string                       { return "configuration value" }
