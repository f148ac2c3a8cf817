package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knadh/koanf/v2"

	"github.com/plba/plba/pkg/contracts"
)

// DefaultEnvPrefix is the environment prefix used when [Options.EnvPrefix]
// is empty.
const DefaultEnvPrefix = "PLBA_"

// Options configures [New].
type Options struct {
	// Files are YAML files, lowest first. May be empty (defaults and
	// environment only).
	Files []string
	// EnvPrefix selects the environment variables that override keys;
	// default [DefaultEnvPrefix]. See the package documentation for the
	// nesting rule.
	EnvPrefix string
	// Environ is the environment to read ("NAME=value" entries); nil means
	// os.Environ() at every load.
	Environ []string
	// Flags is the highest layer: key path → value (from --set key=value).
	Flags map[string]string
	// Providers are extra layers between the environment and the flags, in
	// order. Providers implementing [contracts.ConfigWatcher] are watched by
	// [Manager.Watch].
	Providers []contracts.ConfigProvider
	// Resolvers resolve secret references by scheme ("ssm" in
	// ${ssm:/path}). "env" is added when missing, reading Environ, and
	// "file" ([FileResolver]).
	Resolvers map[string]Resolver
	// Schemas are declarations made before the first load, path → pointer
	// to a struct with defaults; the same as calling [Manager.Declare].
	Schemas map[string]any
	// Cleanup runs once on [Manager.Close] (providers' connection pools).
	Cleanup func()
	// Complete says Schemas declare everything: keys no schema covers are
	// reported by New together with every other problem, as [Manager.Check]
	// would report them afterwards.
	Complete bool
	// WatchInterval is how often [Manager.Watch] polls the files; default
	// 1s.
	WatchInterval time.Duration
	// Logger receives reload and rejection messages; default
	// slog.Default().
	Logger *slog.Logger
}

// Manager holds the effective configuration. It implements
// [contracts.Config]; every method is safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger

	// mu serialises everything that builds a new state (load, reload,
	// declare, check) so that subscribers see changes in order.
	mu     sync.Mutex
	strict bool

	cleanup   func()
	closeOnce sync.Once
	layers    []layer // the layers of the current state, for re-merging

	// declMu guards decls apart from mu, so that subscribers (called with
	// mu held) can still use Get.
	declMu sync.RWMutex
	decls  []*decl

	cur atomic.Pointer[state]

	subMu  sync.Mutex
	subs   map[int]*subscriber
	nextID int
}

var _ contracts.Config = (*Manager)(nil)

// state is one immutable effective configuration.
type state struct {
	k        *koanf.Koanf      // resolved values
	flat     map[string]any    // k.All()
	src      map[string]string // flat key → where its value came from
	secret   map[string]bool   // flat key → secret
	version  string            // public: reveals nothing about secret values
	full     string            // internal: changes with any value, secrets included
	refs     map[string]any    // flat key → value before resolving references
	resolved map[string]string // reference text → resolved value
	filesFP  string            // fingerprint of the files' contents when loaded
}

// New loads every layer, resolves secret references and validates the
// declarations in [Options.Schemas]. A configuration the user has to fix
// (YAML syntax, broken rule, unknown key, unresolvable reference) is
// reported as *[Error]; an I/O failure of a provider is wrapped as is.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.EnvPrefix == "" {
		opts.EnvPrefix = DefaultEnvPrefix
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = time.Second
	}
	m := &Manager{opts: opts, log: opts.Logger, subs: map[int]*subscriber{}, cleanup: opts.Cleanup}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.opts.Resolvers = map[string]Resolver{}
	for k, v := range opts.Resolvers {
		m.opts.Resolvers[k] = v
	}
	if _, ok := m.opts.Resolvers["env"]; !ok {
		m.opts.Resolvers["env"] = EnvResolver(opts.Environ)
	}
	if _, ok := m.opts.Resolvers["file"]; !ok {
		m.opts.Resolvers["file"] = FileResolver()
	}
	paths := make([]string, 0, len(opts.Schemas))
	for p := range opts.Schemas {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		d, err := newDecl(p, opts.Schemas[p])
		if err != nil {
			return nil, err
		}
		m.decls = append(m.decls, d)
	}
	layers, fp, err := m.loadLayers(ctx)
	if err != nil {
		return nil, err
	}
	m.strict = opts.Complete
	st, err := m.build(ctx, layers, m.decls, m.strict, nil)
	if err != nil {
		return nil, err
	}
	st.filesFP = fp
	m.layers = layers
	m.cur.Store(st)
	return m, nil
}

// Close releases what the configuration's providers hold (Options.Cleanup),
// once. The manager keeps serving the last configuration.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		if m.cleanup != nil {
			m.cleanup()
		}
	})
	return nil
}

// Version identifies the effective configuration for people and status
// pages: a hash that changes when a value or a secret reference changes.
// It is computed without secret values (so it reveals nothing about
// them); a secret rotated behind the same reference therefore keeps the
// version, though subscribers still see the new value.
func (m *Manager) Version() string { return m.cur.Load().version }

// Source returns where the value at a leaf key path came from ("app.yaml:12",
// "env PLBA_APPS__BOT__WORKERS", "flag --set apps.bot.workers", "default",
// or a provider's name), or "" when the key is not set.
func (m *Manager) Source(path string) string { return m.cur.Load().src[path] }

// IsSecret reports whether the value at a leaf key path is redacted.
func (m *Manager) IsSecret(path string) bool { return m.cur.Load().secret[path] }

// Keys returns the effective leaf key paths, sorted.
func (m *Manager) Keys() []string {
	st := m.cur.Load()
	keys := make([]string, 0, len(st.flat))
	for k := range st.flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SecretRef returns the reference text a leaf key's value was resolved
// from ("${ssm:/plba/prod/imap-refresh-token}"), or false when the value
// was not a reference. It lets a module write a rotated secret back where
// it came from (package mailauth does, for OAuth refresh tokens).
func (m *Manager) SecretRef(path string) (string, bool) {
	v, ok := m.cur.Load().refs[path].(string)
	return v, ok && v != ""
}

// Raw returns a copy of the effective configuration at path (a nested map,
// a scalar or nil), secrets included. Use [Manager.Redacted] for anything
// that is shown to people.
func (m *Manager) Raw(path string) any { return m.cur.Load().get(path) }

// Declare registers a module's configuration: schema is a pointer to a
// struct holding the defaults, with `koanf` and `validate` tags. Its values
// become the defaults layer under path, its [contracts.Secret] fields are
// redacted, and the subtree at path is validated now and on every reload.
// Declare returns the subtree's problems as *[Error]; the declaration stays
// registered either way (so [Manager.Check] reports everything at once).
func (m *Manager) Declare(path string, schema any) error {
	d, err := newDecl(path, schema)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.declMu.Lock()
	for _, o := range m.decls {
		if o.path == path {
			m.declMu.Unlock()
			return fmt.Errorf("config: %q declared twice", path)
		}
	}
	m.decls = append(m.decls, d)
	decls := m.decls
	m.declMu.Unlock()
	old := m.cur.Load()
	// Declare has no context of its own: references already resolved are
	// reused (no I/O); only a reference new with this declaration's
	// defaults is resolved, without a deadline.
	st, verr := m.build(context.Background(), m.layers, decls, false, old)
	if st == nil {
		// Building failed before validation (a provider value could not be
		// resolved); keep the current state, report.
		return verr
	}
	st.filesFP = old.filesFP
	m.cur.Store(st)
	m.notify(old, st)
	if verr != nil {
		var e *Error
		if asError(verr, &e) {
			mine := e.under(path)
			if len(mine.Problems) == 0 {
				return nil
			}
			return mine
		}
		return verr
	}
	return nil
}

// Check validates the whole configuration against every declaration and
// also reports keys no declaration covers. Call it once every module has
// declared its configuration; from then on reloads reject uncovered keys
// too.
func (m *Manager) Check() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.strict = true
	_, err := m.build(context.Background(), m.layers, m.declarations(), true, m.cur.Load())
	return err
}

// Reload reads every layer again and validates the whole new
// configuration. Only a valid configuration replaces the current one
// (subscribers are then notified); otherwise the error is logged and
// returned and the current configuration stays.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	layers, fp, err := m.loadLayers(ctx)
	if err == nil {
		var st *state
		st, err = m.build(ctx, layers, m.declarations(), m.strict, nil)
		if err == nil {
			st.filesFP = fp
			old := m.cur.Load()
			m.layers = layers
			m.cur.Store(st)
			if old.full != st.full {
				m.log.Info("config: reloaded", "version", st.version, "previous", old.version)
			}
			m.notify(old, st)
			return nil
		}
	}
	m.log.Error("config: reload rejected, keeping the current configuration",
		"version", m.cur.Load().version, "error", err.Error())
	return err
}

// loadLayers reads files, environment, providers and flags (not the
// defaults, which come from the declarations).
func (m *Manager) loadLayers(ctx context.Context) ([]layer, string, error) {
	var layers []layer
	var probs []Problem
	h := sha256.New()
	for _, f := range m.opts.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			probs = append(probs, Problem{Source: f, Rule: "file", Message: fmt.Sprintf("cannot read: %v", unwrapPathErr(err))})
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
		l, p := fileLayer(f, b)
		if p != nil {
			probs = append(probs, *p)
			continue
		}
		layers = append(layers, l)
	}
	if len(probs) > 0 {
		return nil, "", &Error{Problems: probs}
	}
	env := m.opts.Environ
	if env == nil {
		env = os.Environ()
	}
	layers = append(layers, envLayer(m.opts.EnvPrefix, env))
	for _, p := range m.opts.Providers {
		data, err := p.Load(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("config: provider %s: %w", p.Name(), err)
		}
		layers = append(layers, mapLayer(p.Name(), data))
	}
	if len(m.opts.Flags) > 0 {
		layers = append(layers, flagLayer(m.opts.Flags))
	}
	return layers, hex.EncodeToString(h.Sum(nil)), nil
}

// filesFingerprint hashes the files' contents the way loadLayers does.
func (m *Manager) filesFingerprint() string {
	h := sha256.New()
	for _, f := range m.opts.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(h, "%s\x00missing\x00", f)
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// build merges defaults and layers, resolves secret references and
// validates. It returns the state together with an *Error when only
// validation failed (Declare still wants the state), and a nil state when
// merging or resolving failed.
//
// Reference values are taken from reuse (the current state) where it has
// them, so that Declare and Check need no I/O; Reload passes nil and
// relies on the resolvers' own caches.
func (m *Manager) build(ctx context.Context, layers []layer, decls []*decl, strict bool, reuse *state) (*state, error) {
	all := make([]layer, 0, len(layers)+1)
	all = append(all, defaultsLayer(decls))
	all = append(all, layers...)

	k := koanf.New(".")
	for _, l := range all {
		if err := k.Load(mapProvider(l.data), nil); err != nil {
			return nil, fmt.Errorf("config: merge %s: %w", l.name, err)
		}
	}
	flat := k.All()
	st := &state{src: make(map[string]string, len(flat)), secret: map[string]bool{},
		refs: map[string]any{}, resolved: map[string]string{}}
	for key := range flat {
		for i := len(all) - 1; i >= 0; i-- {
			if s, ok := all[i].src[key]; ok {
				st.src[key] = s
				if all[i].secret[key] {
					st.secret[key] = true
				}
				break
			}
		}
	}
	for _, d := range decls {
		for p := range d.secretPaths {
			if pre, ok := strings.CutSuffix(p, ".*"); ok {
				// map[string]Secret: every key below.
				for key := range flat {
					if strings.HasPrefix(key, pre+".") {
						st.secret[key] = true
					}
				}
				continue
			}
			st.secret[p] = true
		}
	}
	var probs []Problem
	for key, v := range flat {
		res, isRef, err := m.resolveValue(ctx, v, st, reuse, 0)
		if !isRef {
			continue
		}
		st.secret[key] = true
		st.refs[key] = v
		if err != nil {
			probs = append(probs, Problem{Path: key, Source: st.src[key], Rule: "secret-ref", Message: err.Error()})
			continue
		}
		flat[key] = res
	}
	if len(probs) > 0 {
		return nil, st.scrub(&Error{Problems: probs})
	}
	st.k = koanf.New(".")
	if err := st.k.Load(mapProvider(unflatten(flat)), nil); err != nil {
		return nil, fmt.Errorf("config: merge: %w", err)
	}
	st.flat = st.k.All()
	st.full = hashFlat(st.flat)
	// The public version hashes what `config show` prints plus the
	// reference texts: a published hash over secret values would let
	// anyone who sees it and the rest of the config guess a weak secret
	// offline.
	pub := make(map[string]any, len(st.flat))
	for key, v := range st.flat {
		switch {
		case st.refs[key] != nil:
			pub[key] = st.refs[key]
		case st.secret[key]:
			pub[key] = contracts.Redacted
		default:
			pub[key] = v
		}
	}
	st.version = hashFlat(pub)

	for _, d := range decls {
		probs = append(probs, d.validate(st)...)
	}
	if strict {
		probs = append(probs, uncovered(st, decls)...)
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return st, st.scrub(&Error{Problems: probs})
	}
	return st, nil
}

func hashFlat(flat map[string]any) string {
	b, err := json.Marshal(flat) // map keys come out sorted
	if err != nil {
		b = fmt.Appendf(nil, "%#v", flat)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// uncovered reports keys under no declared path.
func uncovered(st *state, decls []*decl) []Problem {
	var probs []Problem
	for key := range st.flat {
		covered := false
		for _, d := range decls {
			if d.path == "" || key == d.path || strings.HasPrefix(key, d.path+".") {
				covered = true
				break
			}
		}
		if !covered {
			probs = append(probs, Problem{Path: key, Source: st.src[key], Rule: "unknown", Message: "unknown key (no module declares it)"})
		}
	}
	return probs
}

// Decode fills out (a pointer) from the subtree at path, keeping the values
// already in out where the configuration is silent, then validates it
// (validate tags and a Validate() error method). Unknown keys under path
// are errors when out is a struct. Errors are *[Error].
func (m *Manager) Decode(path string, out any) error {
	st := m.cur.Load()
	probs := decodeInto(st, path, out)
	if len(probs) > 0 {
		sortProblems(probs)
		return st.scrub(&Error{Problems: probs})
	}
	return nil
}

// Get returns the typed value at path: it starts from the declared struct
// when path was declared with a *T, else from T's Defaults (a method
// `Defaults() T` on T or `Defaults()` on *T filling it in), else from T's
// zero value, then decodes and validates like [Manager.Decode].
func Get[T any](m *Manager, path string) (T, error) {
	var v T
	if d := m.declared(path); d != nil && d.typ == reflect.TypeOf(v) {
		v = d.copyValue().Interface().(T)
	} else if dv, ok := any(v).(interface{ Defaults() T }); ok {
		v = dv.Defaults()
	} else if dp, ok := any(&v).(interface{ Defaults() }); ok {
		dp.Defaults()
	}
	err := m.Decode(path, &v)
	return v, err
}

func (m *Manager) declarations() []*decl {
	m.declMu.RLock()
	defer m.declMu.RUnlock()
	return m.decls
}

func (m *Manager) declared(path string) *decl {
	m.declMu.RLock()
	defer m.declMu.RUnlock()
	for _, d := range m.decls {
		if d.path == path {
			return d
		}
	}
	return nil
}
