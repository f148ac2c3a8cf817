package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Resolver resolves the reference part of a secret reference: "NAME" in
// ${env:NAME}, "/path" in ${ssm:/path}.
type Resolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

// ResolverFunc adapts a function to [Resolver].
type ResolverFunc func(ctx context.Context, ref string) (string, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, ref string) (string, error) { return f(ctx, ref) }

// ErrNotFound is returned (wrapped) by resolvers when a referenced secret
// does not exist.
var ErrNotFound = errors.New("secret not found")

// EnvResolver resolves ${env:NAME} from environ ("NAME=value" entries), or
// from the process environment at every call when environ is nil. An
// unset variable is an error; a set but empty one resolves to "".
func EnvResolver(environ []string) Resolver {
	return ResolverFunc(func(_ context.Context, name string) (string, error) {
		if environ == nil {
			if v, ok := os.LookupEnv(name); ok {
				return v, nil
			}
			return "", fmt.Errorf("env %s: %w", name, ErrNotFound)
		}
		for i := len(environ) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
				return v, nil
			}
		}
		return "", fmt.Errorf("env %s: %w", name, ErrNotFound)
	})
}

// refPattern matches ${scheme:ref}.
var refPattern = regexp.MustCompile(`\$\{([a-z][a-z0-9_]*):([^}]*)\}`)

// knownSchemes are treated as references (and fail loudly without a
// resolver); an unknown scheme is left as literal text.
var knownSchemes = map[string]bool{"env": true, "file": true, "ssm": true, "secretsmanager": true}

// FileResolver resolves ${file:PATH}: the file's content without trailing
// white space — a secret mounted as a file, or an OAuth refresh token file
// (package mailauth writes a rotated token back to it). A missing file is
// an error wrapping [ErrNotFound]; the error never quotes the content.
func FileResolver() Resolver {
	return ResolverFunc(func(_ context.Context, path string) (string, error) {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("file %s: %w", path, ErrNotFound)
		}
		if err != nil {
			return "", fmt.Errorf("file %s: %w", path, err)
		}
		return strings.TrimRight(string(b), " \t\r\n"), nil
	})
}

// resolve replaces every reference in s. isRef reports whether s held one
// (then the whole value is secret, resolved or not).
func (m *Manager) resolve(ctx context.Context, s string) (out string, isRef bool, err error) {
	out = refPattern.ReplaceAllStringFunc(s, func(match string) string {
		sub := refPattern.FindStringSubmatch(match)
		scheme, ref := sub[1], sub[2]
		r, ok := m.opts.Resolvers[scheme]
		if !ok {
			if knownSchemes[scheme] {
				isRef = true
				if err == nil {
					err = fmt.Errorf("cannot resolve ${%s:%s}: no resolver for %q configured", scheme, ref, scheme)
				}
			}
			return match
		}
		isRef = true
		if err != nil {
			return match
		}
		v, rerr := r.Resolve(ctx, ref)
		if rerr != nil {
			err = fmt.Errorf("cannot resolve ${%s:%s}: %w", scheme, ref, rerr)
			return match
		}
		return v
	})
	return out, isRef, err
}

// resolveValue resolves references in a string, or in the strings of a
// list or map value, recording what it resolved in st.resolved.
func (m *Manager) resolveValue(ctx context.Context, v any, st, reuse *state, depth int) (any, bool, error) {
	if depth > 32 {
		return v, false, nil
	}
	switch t := v.(type) {
	case string:
		if !strings.Contains(t, "${") {
			return t, false, nil
		}
		if reuse != nil {
			if r, ok := reuse.resolved[t]; ok {
				st.resolved[t] = r
				return r, true, nil
			}
		}
		r, isRef, err := m.resolve(ctx, t)
		if isRef && err == nil {
			st.resolved[t] = r
		}
		return r, isRef, err
	case []any:
		out := make([]any, len(t))
		found := false
		for i, x := range t {
			r, isRef, err := m.resolveValue(ctx, x, st, reuse, depth+1)
			if err != nil {
				return v, true, err
			}
			out[i], found = r, found || isRef
		}
		return out, found, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		found := false
		for k, x := range t {
			r, isRef, err := m.resolveValue(ctx, x, st, reuse, depth+1)
			if err != nil {
				return v, true, err
			}
			out[k], found = r, found || isRef
		}
		return out, found, nil
	}
	return v, false, nil
}

// Cache wraps a resolver so that each reference is fetched at most once
// per maxAge; failures are not cached. The AWS resolvers use it so that a
// reload does not call the service for every secret.
func Cache(r Resolver, maxAge time.Duration, now func() time.Time) Resolver {
	if now == nil {
		now = time.Now
	}
	c := &cache{r: r, maxAge: maxAge, now: now, m: map[string]cached{}}
	return c
}

type cached struct {
	val string
	at  time.Time
}

type cache struct {
	r      Resolver
	maxAge time.Duration
	now    func() time.Time
	mu     sync.Mutex
	m      map[string]cached
}

func (c *cache) Resolve(ctx context.Context, ref string) (string, error) {
	c.mu.Lock()
	e, ok := c.m[ref]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.maxAge {
		return e.val, nil
	}
	v, err := c.r.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.m[ref] = cached{val: v, at: c.now()}
	c.mu.Unlock()
	return v, nil
}
