package config

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"time"

	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
	yaml "go.yaml.in/yaml/v3"

	"github.com/plba/plba/pkg/contracts"
)

// layer is one source of configuration, already parsed.
type layer struct {
	name   string
	data   map[string]any    // nested
	src    map[string]string // flat key → source
	secret map[string]bool   // flat keys the provider marked secret
}

func mapProvider(m map[string]any) koanf.Provider { return confmap.Provider(m, "") }

// newLayer flattens data through koanf (so the flat keys match the merged
// view's) and gives every key the source src(key).
func newLayer(name string, data map[string]any, src func(key string) string) layer {
	l := layer{name: name, src: map[string]string{}, secret: map[string]bool{}}
	data = unwrapSecrets(data, "", l.secret)
	k := koanf.New(".")
	_ = k.Load(mapProvider(data), nil)
	l.data = k.Raw()
	for key := range k.All() {
		l.src[key] = src(key)
	}
	return l
}

// unwrapSecrets replaces contracts.Secret values by plain strings (the
// decoder and the resolver work on strings) and remembers their keys.
func unwrapSecrets(data map[string]any, prefix string, secret map[string]bool) map[string]any {
	out := make(map[string]any, len(data))
	for k, v := range data {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch t := v.(type) {
		case contracts.Secret:
			secret[key] = true
			out[k] = t.Reveal()
		case map[string]any:
			out[k] = unwrapSecrets(t, key, secret)
		default:
			out[k] = v
		}
	}
	return out
}

// fileLayer parses one YAML file; the source of each key is file:line.
func fileLayer(name string, b []byte) (layer, *Problem) {
	data, err := kyaml.Parser().Unmarshal(b)
	if err != nil {
		p := &Problem{Source: name, Rule: "yaml", Message: yamlMessage(err)}
		if m := yamlLine.FindStringSubmatch(p.Message); m != nil {
			p.Source, p.Message = name+":"+m[1], p.Message[len(m[0]):]
		}
		return layer{}, p
	}
	lines := map[string]int{}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) > 0 {
		keyLines(doc.Content[0], "", lines, 0)
	}
	return newLayer("file "+name, data, func(key string) string {
		// A key from a merge (<<) or alias has no line of its own: use the
		// nearest ancestor's.
		for k := key; ; {
			if n, ok := lines[k]; ok {
				return fmt.Sprintf("%s:%d", name, n)
			}
			i := strings.LastIndexByte(k, '.')
			if i < 0 {
				return name
			}
			k = k[:i]
		}
	}), nil
}

// yamlLine finds the line the YAML parser names ("line 3: did not find
// expected node content").
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

func yamlMessage(err error) string {
	// yaml errors carry "line N:" already; drop the library prefix.
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// keyLines records the line of every mapping key under n.
func keyLines(n *yaml.Node, prefix string, lines map[string]int, depth int) {
	if depth > 64 {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Value == "<<" {
			continue
		}
		key := kn.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		lines[key] = kn.Line
		keyLines(vn, key, lines, depth+1)
	}
}

// envLayer reads PREFIX_A__B__C=value as a.b.c=value. Names without a
// double underscore are not configuration.
func envLayer(prefix string, environ []string) layer {
	flat := map[string]any{}
	vars := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		key, ok := envKey(name[len(prefix):])
		if !ok {
			continue
		}
		flat[key] = val
		vars[key] = name
	}
	return flatLayer("environment", flat, func(key string) string { return "env " + vars[key] })
}

// envKey maps the part of a variable name after the prefix to a key path.
func envKey(rest string) (string, bool) {
	if !strings.Contains(rest, "__") {
		return "", false
	}
	for _, c := range rest {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", false // not a portable variable name
		}
	}
	parts := strings.Split(strings.ToLower(rest), "__")
	for _, p := range parts {
		if p == "" {
			return "", false
		}
	}
	return strings.Join(parts, "."), true
}

// EnvName returns the environment variable that sets key path under
// prefix (default [DefaultEnvPrefix]), e.g. "apps.bot.workers" →
// "PLBA_APPS__BOT__WORKERS".
func EnvName(prefix, path string) string {
	if prefix == "" {
		prefix = DefaultEnvPrefix
	}
	return prefix + strings.ToUpper(strings.ReplaceAll(path, ".", "__"))
}

func flagLayer(flags map[string]string) layer {
	flat := map[string]any{}
	for k, v := range flags {
		k = strings.Trim(k, ".")
		if k == "" || strings.Contains(k, "..") {
			continue
		}
		flat[k] = v
	}
	return flatLayer("flags", flat, func(key string) string { return "flag --set " + key })
}

// flatLayer builds a layer from dotted keys, set in sorted order so that a
// map and a scalar at the same path resolve the same way every time.
func flatLayer(name string, flat map[string]any, src func(string) string) layer {
	return newLayer(name, unflatten(flat), src)
}

// unflatten turns dotted keys into nested maps. Keys are applied in sorted
// order, so where "a" and "a.b" both exist the deeper key wins every time
// (koanf's own Unflatten depends on map order there).
func unflatten(flat map[string]any) map[string]any {
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]any{}
	for _, key := range keys {
		parts := strings.Split(key, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = flat[key]
	}
	return out
}

// mapLayer wraps a provider's nested map.
func mapLayer(name string, data map[string]any) layer {
	if data == nil {
		data = map[string]any{}
	}
	return newLayer(name, data, func(string) string { return name })
}

// defaultsLayer holds the declared structs' values.
func defaultsLayer(decls []*decl) layer {
	k := koanf.New(".")
	for _, d := range decls {
		if d.path == "" {
			_ = k.Load(mapProvider(d.defaults), nil)
			continue
		}
		_ = k.Set(d.path, d.defaults)
	}
	return newLayer("defaults", k.Raw(), func(string) string { return "default" })
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// durationString is how defaults show durations: the way people write
// them in YAML.
func durationString(d time.Duration) string { return d.String() }

// ParseSets turns the CLI's repeated `--set key.path=value` arguments into
// [Options.Flags]. A later setting of the same key wins.
func ParseSets(sets []string) (map[string]string, error) {
	out := make(map[string]string, len(sets))
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			return nil, &Error{Problems: []Problem{{Source: "flag --set " + k, Rule: "flag",
				Message: fmt.Sprintf("want --set key.path=value, got %q", k)}}}
		}
		out[k] = v
	}
	return out, nil
}
