package control

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
)

// ErrTokenRequired is returned by [Prepare] for a listen address that is
// not loopback when platform.control.token is empty. Runners exit 2 on it:
// it is the user's configuration to fix.
var ErrTokenRequired = errors.New("platform.control.token is required when platform.control.listen is not a loopback address")

// Prepared is platform.control settled for a start: the token to require
// and, if it was generated, where it was written.
type Prepared struct {
	HTTP HTTPOptions
	// Generated: the token was made at start and written to TokenFile.
	Generated bool
	TokenFile string
}

// IsLoopback reports whether a listen address binds only loopback
// interfaces ("127.0.0.1:8080", "[::1]:8080", "localhost:8080"). An empty
// host ("":8080") binds every interface.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Prepare checks platform.control before the runner listens and settles
// the token: a configured token is used as is; on a loopback listen
// without one, a random token is generated and written (mode 0600) to
// TokenFile for the CLI; a non-loopback listen without one fails with
// [ErrTokenRequired]. Disabled listens ("" or "off") need nothing.
func Prepare(c runtime.ControlConfig) (Prepared, error) {
	p := Prepared{TokenFile: c.TokenFile, HTTP: HTTPOptions{Listen: c.Listen, AllowedHosts: c.AllowedHosts,
		MaxBodyBytes: c.MaxBodyBytes, Rate: c.Rate, Burst: c.Burst, Token: c.Token}}
	if c.Listen == "" || c.Listen == "off" {
		return p, nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return p, fmt.Errorf("platform.control.listen: %q is not host:port: %w", c.Listen, err)
	}
	if !c.Token.IsZero() {
		return p, nil
	}
	if !IsLoopback(c.Listen) {
		return p, fmt.Errorf("%w (listen %q): set platform.control.token, e.g. to ${env:PLBA_CONTROL_TOKEN}", ErrTokenRequired, c.Listen)
	}
	if c.TokenFile == "" {
		return p, errors.New("platform.control.token_file: required to write a generated token")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return p, fmt.Errorf("control: generate token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	if err := WriteTokenFile(c.TokenFile, tok); err != nil {
		return p, err
	}
	p.HTTP.Token, p.Generated = contracts.Secret(tok), true
	return p, nil
}

// Cleanup removes a generated token file if it still holds this start's
// token (another process may have replaced it since).
func (p Prepared) Cleanup() {
	if !p.Generated {
		return
	}
	if b, err := os.ReadFile(p.TokenFile); err == nil && string(bytes.TrimSpace(b)) == p.HTTP.Token.Reveal() {
		_ = os.Remove(p.TokenFile)
	}
}

// WriteTokenFile writes tok to path with mode 0600 (the directory is made
// 0700 if missing), replacing the file atomically so a reader never sees
// half a token and a pre-existing file's wider mode is not kept.
func WriteTokenFile(path, tok string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("platform.control.token_file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".control-token-*")
	if err != nil {
		return fmt.Errorf("platform.control.token_file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("platform.control.token_file: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("platform.control.token_file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("platform.control.token_file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("platform.control.token_file: %w", err)
	}
	return nil
}

// ReadTokenFile reads a token written by [WriteTokenFile]. A file others
// can read is refused: the token would not be secret.
func ReadTokenFile(path string) (contracts.Secret, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("control token file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("control token file %s: mode %v lets others read it; chmod 600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("control token file: %w", err)
	}
	return contracts.Secret(strings.TrimSpace(string(b))), nil
}
