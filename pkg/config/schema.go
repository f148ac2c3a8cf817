package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/mitchellh/copystructure"

	"github.com/plba/plba/pkg/contracts"
)

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
		// map[string]Struct (e.g. named mailboxes): the struct's Secret
		// fields under every key, as patterns with a "*" segment, also
		// when the default map is empty.
		if et := fv.Type().Elem(); fv.Kind() == reflect.Map && fv.Type().Key().Kind() == reflect.String && et.Kind() == reflect.Struct && et != timeType {
			structToMap(reflect.New(et).Elem(), key+".*", secrets)
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
