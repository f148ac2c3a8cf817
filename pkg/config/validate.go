package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/v2"
	"github.com/mitchellh/copystructure"

	"github.com/plba/plba/pkg/contracts"
)

// ErrInvalid is matched (errors.Is) by every *[Error]: the configuration is
// wrong and a person has to fix it. The CLI exits with code 2 on it.
var ErrInvalid = errors.New("config: invalid configuration")

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Path is the key path, e.g. "apps.mailorderbot.workers" ("" for a
	// file that cannot be parsed).
	Path string
	// Source is where the value came from: "file.yaml:12",
	// "env PLBA_APPS__X__Y", "flag --set a.b", a provider's name,
	// "default", or "" when the key is not set at all.
	Source string
	// Rule is the broken rule: a validate tag ("min=1", "required"),
	// "type" (cannot decode), "unknown" (no such key), "yaml", "file",
	// "secret-ref" or "validate" (a Validate method).
	Rule string
	// Message says what is wrong in words. It never holds a secret value.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Path)
	if p.Source != "" {
		if p.Path != "" {
			b.WriteString(" ")
		}
		b.WriteString("(from " + p.Source + ")")
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found in one load; errors.Is(err, ErrInvalid)
// holds for it.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// under keeps the problems at or below path.
func (e *Error) under(path string) *Error {
	out := &Error{}
	for _, p := range e.Problems {
		if path == "" || p.Path == path || strings.HasPrefix(p.Path, path+".") || strings.HasPrefix(p.Path, path+"[") {
			out.Problems = append(out.Problems, p)
		}
	}
	return out
}

func asError(err error, e **Error) bool { return errors.As(err, e) }

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		return ps[i].Rule < ps[j].Rule
	})
}

// scrub replaces every secret value that made it into a message (a
// library error quoting its input) by the redaction marker.
func (st *state) scrub(e *Error) *Error {
	var secrets []string
	for key := range st.secret {
		if v, ok := st.flat[key]; ok {
			if s := fmt.Sprint(v); len(s) >= 3 {
				secrets = append(secrets, s)
			}
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for i := range e.Problems {
		for _, s := range secrets {
			e.Problems[i].Message = strings.ReplaceAll(e.Problems[i].Message, s, contracts.Redacted)
		}
	}
	return e
}

// decl is one declared configuration struct.
type decl struct {
	path        string
	typ         reflect.Type // the struct type (not the pointer)
	proto       reflect.Value
	defaults    map[string]any
	secretPaths map[string]bool // full key paths of Secret-typed fields
}

func newDecl(path string, schema any) (*decl, error) {
	v := reflect.ValueOf(schema)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: declare %q: want a non-nil pointer to a struct, got %T", path, schema)
	}
	cp, err := copystructure.Copy(v.Elem().Interface())
	if err != nil {
		return nil, fmt.Errorf("config: declare %q: copy defaults: %w", path, err)
	}
	d := &decl{path: path, typ: v.Elem().Type(), secretPaths: map[string]bool{}}
	d.proto = reflect.New(d.typ).Elem()
	d.proto.Set(reflect.ValueOf(cp))
	d.defaults = structToMap(d.proto, path, d.secretPaths)
	return d, nil
}

// copyValue returns a deep copy of the declared defaults (maps and slices
// in the declaration are never shared with a decoded value).
func (d *decl) copyValue() reflect.Value {
	cp, err := copystructure.Copy(d.proto.Interface())
	out := reflect.New(d.typ).Elem()
	if err == nil {
		out.Set(reflect.ValueOf(cp))
	}
	return out
}

func (d *decl) validate(st *state) []Problem {
	v := d.copyValue()
	return decodeInto(st, d.path, v.Addr().Interface())
}

// squashSegment names an embedded (squashed) struct in validator
// namespaces; it is dropped when turning a namespace into a key path.
const squashSegment = "\x00squash"

var secretType = reflect.TypeFor[contracts.Secret]()
var durationType = reflect.TypeFor[time.Duration]()
var timeType = reflect.TypeFor[time.Time]()

// fieldKey is the key a struct field decodes from, or "" to skip it, and
// whether it is squashed into its parent.
func fieldKey(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("koanf")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", false
	}
	squash := strings.Contains(","+opts+",", ",squash,") || (f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct)
	if squash {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// structToMap turns a struct's values into the nested map the defaults
// layer holds, recording Secret-typed fields' paths.
func structToMap(v reflect.Value, prefix string, secrets map[string]bool) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, squash := fieldKey(f)
		fv := v.Field(i)
		if squash {
			if fv.Kind() == reflect.Struct {
				for k, x := range structToMap(fv, prefix, secrets) {
					out[k] = x
				}
			}
			continue
		}
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if x, ok := valueToAny(fv, key, secrets); ok {
			out[name] = x
		}
	}
	return out
}

func valueToAny(fv reflect.Value, key string, secrets map[string]bool) (any, bool) {
	switch {
	case fv.Type() == secretType:
		secrets[key] = true
		return fv.String(), true
	case fv.Type() == durationType:
		return durationString(time.Duration(fv.Int())), true
	case fv.Type() == timeType:
		return fv.Interface(), true
	}
	switch fv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		if fv.Type().Elem() == secretType {
			if fv.Kind() == reflect.Map {
				secrets[key+".*"] = true
			} else {
				secrets[key] = true
			}
		}
	}
	switch fv.Kind() {
	case reflect.Struct:
		return structToMap(fv, key, secrets), true
	case reflect.Pointer:
		if fv.IsNil() {
			return nil, false
		}
		return valueToAny(fv.Elem(), key, secrets)
	case reflect.Map:
		if fv.IsNil() || fv.Len() == 0 {
			return nil, false
		}
		if fv.Type().Key().Kind() != reflect.String {
			return fv.Interface(), true
		}
		m := map[string]any{}
		iter := fv.MapRange()
		for iter.Next() {
			k := iter.Key().String()
			if x, ok := valueToAny(iter.Value(), key+"."+k, secrets); ok {
				m[k] = x
			}
		}
		return m, true
	case reflect.Interface:
		if fv.IsNil() {
			return nil, false
		}
		return fv.Interface(), true
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return nil, false
	}
	return fv.Interface(), true
}

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

func theValidator() *validator.Validate {
	validateOnce.Do(func() {
		validate = validator.New(validator.WithRequiredStructEnabled())
		validate.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, squash := fieldKey(f)
			if squash {
				return squashSegment
			}
			if name == "" {
				return f.Name
			}
			return name
		})
		// Validate a Secret by its value, never printing it.
		validate.RegisterCustomTypeFunc(func(v reflect.Value) any { return v.String() }, contracts.Secret(""))
	})
	return validate
}

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
				probs = append(probs, Problem{Path: path, Source: st.sourceOf(path), Rule: "validate", Message: err.Error()})
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

func ruleOf(fe validator.FieldError) string {
	if fe.Param() != "" {
		return fe.Tag() + "=" + fe.Param()
	}
	return fe.Tag()
}

// ruleMessage says what a broken rule means; the value is shown unless it
// is secret.
func ruleMessage(fe validator.FieldError, secret bool) string {
	val := contracts.Redacted
	if !secret {
		val = fmt.Sprintf("%q", fmt.Sprint(fe.Value()))
		if k := fe.Kind(); k != reflect.String {
			val = fmt.Sprint(fe.Value())
		}
	}
	var what string
	switch fe.Tag() {
	case "required":
		return fmt.Sprintf("is required but not set (rule %q)", ruleOf(fe))
	case "min", "gte":
		what = "must be at least " + fe.Param() + unit(fe.Kind())
	case "max", "lte":
		what = "must be at most " + fe.Param() + unit(fe.Kind())
	case "len":
		what = "must be exactly " + fe.Param() + unit(fe.Kind())
	case "gt":
		what = "must be greater than " + fe.Param()
	case "lt":
		what = "must be less than " + fe.Param()
	case "oneof":
		what = "must be one of [" + fe.Param() + "]"
	case "hostname_port":
		what = "must be host:port"
	case "url":
		what = "must be a URL"
	case "email":
		what = "must be an e-mail address"
	default:
		what = "breaks the rule"
	}
	return fmt.Sprintf("%s, got %s (rule %q)", what, val, ruleOf(fe))
}

// unit says what a length rule counts.
func unit(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return " characters long"
	case reflect.Slice, reflect.Map, reflect.Array:
		return " items"
	}
	return ""
}
