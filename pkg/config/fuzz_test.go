package config

import (
	"bytes"
	"context"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

type fuzzSchema struct {
	Workers int               `koanf:"workers" validate:"min=0"`
	Name    string            `koanf:"name"`
	Tags    []string          `koanf:"tags"`
	Sub     map[string]string `koanf:"sub"`
}

// FuzzMerge merges an arbitrary YAML document with an arbitrary
// environment override and uses the result every way a caller can. It
// must never panic; a single override must win at its key.
func FuzzMerge(f *testing.F) {
	f.Add("apps:\n  bot:\n    workers: 3\n", "PLBA_APPS__BOT__WORKERS", "8")
	f.Add("apps: {bot: {workers: [1, 2]}}\n", "PLBA_APPS__BOT__WORKERS__X", "y")
	f.Add("a: &x {b: 1}\nc: *x\n<<: *x\n", "PLBA_C__B", "2")
	f.Add("", "PLBA___", "")
	f.Add("apps:\n  bot: 5\n", "PLBA_APPS__BOT__NAME", "${env:PLBA_APPS__BOT__NAME}")
	f.Add("1: {2: 3}\n? [a]\n: b\n", "PLBA_1__2", "x")
	f.Fuzz(func(t *testing.T, doc, name, value string) {
		m := &Manager{opts: Options{EnvPrefix: DefaultEnvPrefix, Resolvers: map[string]Resolver{}}, subs: map[int]*subscriber{}}
		env := []string{name + "=" + value}
		m.opts.Resolvers["env"] = EnvResolver(env)
		var layers []layer
		if l, p := fileLayer("fuzz.yaml", []byte(doc)); p == nil {
			layers = append(layers, l)
		}
		layers = append(layers, envLayer(DefaultEnvPrefix, env))
		d, err := newDecl("apps.bot", &fuzzSchema{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := m.build(context.Background(), layers, []*decl{d}, true, nil)
		if st == nil {
			return // an unresolvable reference: reported, not merged
		}
		m.cur.Store(st)
		var out fuzzSchema
		_ = m.Decode("apps.bot", &out)
		_, _ = Get[map[string]any](m, "")
		_ = m.Redacted()
		var b bytes.Buffer
		if err := m.WriteEffective(&b, "yaml"); err != nil {
			t.Fatalf("show: %v", err)
		}
		var back any
		if err := yaml.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("show wrote YAML that does not parse: %v\n%s", err, b.String())
		}
		_ = m.WriteEffective(&b, "json")
		_ = m.WriteEffective(&b, "text")

		if key, ok := envKey(strings.TrimPrefix(name, DefaultEnvPrefix)); ok && strings.HasPrefix(name, DefaultEnvPrefix) &&
			!strings.Contains(value, "${") && !strings.Contains(name, "=") {
			if got, ok := st.flat[key]; !ok || got != value {
				t.Fatalf("override %s=%q: effective %q = %#v", name, value, key, got)
			}
			if st.src[key] != "env "+name {
				t.Fatalf("source of %s = %q", key, st.src[key])
			}
		}
	})
}
