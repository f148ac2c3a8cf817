package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/v2"

	"github.com/plba/plba/pkg/contracts"
)

func decoderConfig(out any, md *mapstructure.Metadata) *mapstructure.DecoderConfig {
	return &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
			mapstructure.TextUnmarshallerHookFunc()),
		WeaklyTypedInput: true,
		Metadata:         md,
		Result:           out,
		TagName:          "koanf",
	}
}

// decodeInto decodes the subtree at path into out and validates it,
// returning problems with full key paths and sources.
func decodeInto(st *state, path string, out any) []Problem {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return []Problem{{Path: path, Rule: "type", Message: fmt.Sprintf("cannot decode into %T: want a non-nil pointer", out)}}
	}
	full := func(sub string) string {
		switch {
		case sub == "":
			return path
		case path == "":
			return sub
		case strings.HasPrefix(sub, "["):
			return path + sub
		}
		return path + "." + sub
	}
	var probs []Problem
	var md mapstructure.Metadata
	if st.k.Exists(path) || path == "" {
		err := st.k.UnmarshalWithConf(path, out, koanf.UnmarshalConf{DecoderConfig: decoderConfig(out, &md)})
		for _, e := range flattenErrs(err) {
			var de *mapstructure.DecodeError
			p := Problem{Rule: "type", Message: e.Error()}
			if errors.As(e, &de) {
				p.Path = full(de.Name())
				p.Message = de.Unwrap().Error()
			} else {
				p.Path = path
			}
			if st.secret[p.Path] {
				p.Message = "cannot decode the (secret) value into the field's type"
			}
			p.Source = st.sourceOf(p.Path)
			probs = append(probs, p)
		}
	}
	isStruct := rv.Elem().Kind() == reflect.Struct
	if isStruct {
		for _, u := range md.Unused {
			key := full(u)
			probs = append(probs, Problem{Path: key, Source: st.sourceOf(key), Rule: "unknown", Message: "unknown key"})
		}
		// A field that failed to decode kept its default: a rule broken
		// there would only repeat the type problem.
		typeBad := map[string]bool{}
		for _, p := range probs {
			if p.Rule == "type" {
				typeBad[p.Path] = true
			}
		}
		err := theValidator().Struct(out)
		var ves validator.ValidationErrors
		if errors.As(err, &ves) {
			for _, fe := range ves {
				ns := fe.Namespace()
				if i := strings.IndexByte(ns, '.'); i >= 0 {
					ns = ns[i+1:]
				} else {
					ns = ""
				}
				if strings.Contains(ns, squashSegment) {
					segs := strings.Split(ns, ".")
					segs = slices.DeleteFunc(segs, func(s string) bool { return s == squashSegment })
					ns = strings.Join(segs, ".")
				}
				key := full(ns)
				if typeBad[key] {
					continue
				}
				probs = append(probs, Problem{Path: key, Source: st.sourceOf(key), Rule: ruleOf(fe),
					Message: ruleMessage(fe, st.isSecretPath(key) || fe.Type() == secretType)})
			}
		} else if err != nil {
			probs = append(probs, Problem{Path: path, Rule: "validate", Message: err.Error()})
		}
	}
	if len(probs) == 0 {
		if vv, ok := out.(interface{ Validate() error }); ok {
			if err := vv.Validate(); err != nil {
				probs = append(probs, validateProblems(st, path, err)...)
			}
		}
	}
	return probs
}

func flattenErrs(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrs(e)...)
		}
		return out
	}
	return []error{err}
}

// sourceOf finds the source of a key path, using the nearest ancestor for
// a struct-level rule or a slice element ("hosts[2]").
func (st *state) sourceOf(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	for k := key; k != ""; {
		if s, ok := st.src[k]; ok {
			return s
		}
		// A struct-level rule: the subtree's first key's source.
		var first string
		for fk := range st.src {
			if strings.HasPrefix(fk, k+".") && (first == "" || fk < first) {
				first = fk
			}
		}
		if first != "" {
			return st.src[first]
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

func (st *state) isSecretPath(key string) bool {
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	if st.secret[key] {
		return true
	}
	for k := range st.secret {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// validateProblems reports a Validate method's error: each
// *contracts.ConfigError in it (through errors.Join and wrapping) at its
// key, with that key's source; anything else at path.
func validateProblems(st *state, path string, err error) []Problem {
	var probs []Problem
	for _, e := range flattenErrs(err) {
		var ce *contracts.ConfigError
		if errors.As(e, &ce) && ce.Key != "" {
			key := ce.Key
			if path != "" {
				key = path + "." + key
			}
			probs = append(probs, Problem{Path: key, Source: st.sourceOf(key), Rule: "validate", Message: ce.Message})
			continue
		}
		probs = append(probs, Problem{Path: path, Source: st.sourceOf(path), Rule: "validate", Message: e.Error()})
	}
	return probs
}
