package config

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/knadh/koanf/v2"
	yaml "go.yaml.in/yaml/v3"

	"github.com/plba/plba/pkg/contracts"
)

// Redacted returns the effective configuration as a nested map with every
// secret value replaced by [contracts.Redacted], for status pages.
func (m *Manager) Redacted() map[string]any {
	return m.cur.Load().redactedKoanf().Raw()
}

func (st *state) redactedKoanf() *koanf.Koanf {
	flat := make(map[string]any, len(st.flat))
	for key, v := range st.flat {
		if st.secret[key] {
			v = contracts.Redacted
		}
		flat[key] = v
	}
	k := koanf.New(".")
	_ = k.Load(mapProvider(unflatten(flat)), nil)
	return k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Entry is one effective value as [Manager.WriteEffective] prints it in
// the "json" format.
type Entry struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`
	Secret bool   `json:"secret,omitempty"`
}

// Entries returns every effective leaf value with its source, sorted by
// key, secrets redacted.
func (m *Manager) Entries() []Entry {
	st := m.cur.Load()
	out := make([]Entry, 0, len(st.flat))
	for _, key := range sortedKeys(st.flat) {
		e := Entry{Key: key, Value: st.flat[key], Source: st.src[key], Secret: st.secret[key]}
		if e.Secret {
			e.Value = contracts.Redacted
		}
		out = append(out, e)
	}
	return out
}

// WriteEffective writes the effective configuration with secrets redacted
// and the source of each value (`plba config show`). Formats:
//
//   - "yaml" (or ""): the nested configuration, each value followed by a
//     comment naming its source;
//   - "json": an array of [Entry];
//   - "text": one "key = value  # source" line per value.
func (m *Manager) WriteEffective(w io.Writer, format string) (err error) {
	st := m.cur.Load()
	// The YAML encoder panics on some inputs (it is fuzzed here); a
	// display command must fail with an error instead.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("config: show: %v", r)
		}
	}()
	switch format {
	case "", "yaml":
		var doc yaml.Node
		if err := doc.Encode(st.redactedKoanf().Raw()); err != nil {
			return fmt.Errorf("config: show: %w", err)
		}
		annotate(&doc, "", st)
		fmt.Fprintf(w, "# version %s\n", st.version)
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return fmt.Errorf("config: show: %w", err)
		}
		return enc.Close()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m.Entries()); err != nil {
			return fmt.Errorf("config: show: %w", err)
		}
		return nil
	case "text":
		for _, e := range m.Entries() {
			v, _ := json.Marshal(e.Value)
			if _, err := fmt.Fprintf(w, "%s = %s  # %s\n", e.Key, v, e.Source); err != nil {
				return fmt.Errorf("config: show: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("config: show: unknown format %q (want yaml, json or text)", format)
}

// annotate puts each leaf's source in a line comment.
func annotate(n *yaml.Node, prefix string, st *state) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			annotate(c, prefix, st)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if vn.Kind == yaml.MappingNode && len(vn.Content) > 0 {
			annotate(vn, key, st)
			continue
		}
		src := st.src[key]
		if st.secret[key] {
			src = strings.TrimSpace(src + " (secret)")
		}
		src = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r < 0x20 {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(src, "?"))
		if src != "" {
			if vn.Kind == yaml.ScalarNode {
				vn.LineComment = src
			} else {
				kn.LineComment = src
			}
		}
	}
}
