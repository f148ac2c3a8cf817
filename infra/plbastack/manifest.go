package plbastack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ManifestFile is the name of an application's manifest in its folder
// (apps/<name>/plba.app.yaml).
const ManifestFile = "plba.app.yaml"

// Manifest is what an application declares it needs from the stack: its
// functions and their main packages, the variables and secrets they get,
// its table and the deployment defaults it wants. It lives in the
// application's folder, next to its code, so a new application deploys
// with the same stack and no edit of infra/.
type Manifest struct {
	// Name is the application's name, as in apps/<name>; it fills {app}.
	Name string `yaml:"name"`
	// Description of the stack (CloudFormation shows it).
	Description string `yaml:"description"`
	// StackName is the default stack name pattern: {app} and {stage} are
	// replaced. Default "{app}-{stage}". A stage config's stack_name wins.
	StackName string `yaml:"stack_name"`
	// Functions maps poller, worker and control to their Go main packages
	// (paths relative to the repository root). All three are required:
	// the poller runs the sources on the schedule, the worker the routines
	// on the queue, control answers status and redrives dead letters.
	Functions map[string]FunctionSpec `yaml:"functions"`
	// Environment is set on every function (fixed values of the
	// application's configuration, e.g. PLBA_APPS__X__MODE: poll).
	Environment map[string]string `yaml:"environment"`
	// Settings are values a deployment gives in its stage config
	// (settings: {name: value}), each passed to every function in one
	// variable and checked at synth.
	Settings map[string]SettingSpec `yaml:"settings"`
	// Secrets the functions read at start, by name (the name is part of
	// the IAM statement ids: ReadNAME, DecryptNAME). A stage config can
	// move one (secrets: {NAME: {secret: ...}}) or change who reads it.
	Secrets map[string]SecretRef `yaml:"secrets"`
	// Table is the application's DynamoDB table, if it has one.
	Table *TableSpec `yaml:"table"`
	// Defaults are stage-config keys (queue, poller, worker, ...) this
	// application wants unless a stage config says otherwise, e.g. a
	// poller.schedule or a longer worker.timeout.
	Defaults yaml.Node `yaml:"defaults"`

	// Dir is the folder the manifest was read from.
	Dir string `yaml:"-"`
}

// FunctionSpec is one function of an application.
type FunctionSpec struct {
	// Main is the Go main package, relative to the repository root
	// (./apps/<name>/cmd/worker); `make lambdas` builds it into
	// bin/lambda/<app>/<fn>/bootstrap.
	Main string `yaml:"main"`
}

// SettingSpec declares one deployment setting.
type SettingSpec struct {
	// Env is the variable the functions get the value in.
	Env string `yaml:"env"`
	// Default is used when the stage config gives no value.
	Default string `yaml:"default"`
	// Required rejects an empty value.
	Required bool `yaml:"required"`
	// Pattern, if set, is a regular expression the value must match.
	Pattern string `yaml:"pattern"`
	// OneOf, if set, lists the accepted values.
	OneOf []string `yaml:"one_of"`
	// Doc says what the setting is, for the error message.
	Doc string `yaml:"doc"`
}

// KeyAttr is a table key attribute: its name and type (S, N or B).
type KeyAttr struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// IndexSpec is a global secondary index (projection ALL).
type IndexSpec struct {
	Name         string   `yaml:"name"`
	PartitionKey KeyAttr  `yaml:"partition_key"`
	SortKey      *KeyAttr `yaml:"sort_key"`
}

// TableSpec is the application's DynamoDB table (on demand, encrypted,
// point-in-time recovery on).
type TableSpec struct {
	// Name is the table's role in the application ("orders"): its
	// construct id is the name with a capital first letter ("Orders"),
	// its stack output <Id>TableName. Changing it replaces the table.
	Name         string      `yaml:"name"`
	PartitionKey KeyAttr     `yaml:"partition_key"`
	SortKey      *KeyAttr    `yaml:"sort_key"`
	Indexes      []IndexSpec `yaml:"indexes"`
	// Env lists variables that get the table's name (besides
	// PLBA_STORE_TABLE), on the functions that may access it.
	Env []string `yaml:"env"`
	// Environment is set on the functions that may access the table
	// (e.g. the store driver).
	Environment map[string]string `yaml:"environment"`
	// Access maps functions to "read" or "write" (write includes read);
	// a function not listed gets no access and no table variables.
	Access map[string]string `yaml:"access"`
}

// ID is the table's construct id.
func (t *TableSpec) ID() string {
	if t.Name == "" {
		return ""
	}
	return strings.ToUpper(t.Name[:1]) + t.Name[1:]
}

var (
	appNameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)
	secretIDRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)
	attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)
	mainRE     = regexp.MustCompile(`^\./[A-Za-z0-9_./-]+$`)
)

// LoadManifest reads dir/plba.app.yaml. Unknown keys are errors; it does
// not validate (see [Manifest.Validate]).
func LoadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: application manifest: %w", ErrInvalidConfig, err)
	}
	m := &Manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, p, err)
	}
	m.Dir = dir
	return m, nil
}

// Apps lists the applications under appsDir: every folder with a
// plba.app.yaml, by name.
func Apps(appsDir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(appsDir, "*", ManifestFile))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(names)
	return names, nil
}

// reservedEnv reports whether the stack sets name itself, so that no
// manifest or stage config may.
func reservedEnv(name string) bool {
	return stackEnv[name] || strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "LAMBDA_")
}

// appEnv lists every variable the manifest sets, with what sets it.
func (m *Manifest) appEnv() map[string]string {
	out := map[string]string{}
	for k := range m.Environment {
		out[k] = "environment"
	}
	for n, s := range m.Settings {
		out[s.Env] = "settings." + n
	}
	for n, s := range m.Secrets {
		out[s.Env] = "secrets." + n
	}
	if t := m.Table; t != nil {
		for _, e := range t.Env {
			out[e] = "table.env"
		}
		for k := range t.Environment {
			out[k] = "table.environment"
		}
	}
	return out
}

// validate appends the manifest's problems to add.
func (m *Manifest) validate(add func(string, ...any)) {
	if !appNameRE.MatchString(m.Name) {
		add("manifest: name %q must be 1-30 characters of a-z, 0-9 and '-', starting with a letter", m.Name)
	} else if m.Dir != "" && filepath.Base(m.Dir) != m.Name {
		add("manifest: name %q differs from its folder %s", m.Name, m.Dir)
	}
	for _, fn := range []string{Poller, Worker, Control} {
		f, ok := m.Functions[fn]
		if !ok {
			add("manifest: functions.%s must be declared (main: the Go main package)", fn)
		} else if !mainRE.MatchString(f.Main) {
			add("manifest: functions.%s.main %q must be a package path like ./apps/%s/cmd/%s", fn, f.Main, m.Name, fn)
		}
	}
	for fn := range m.Functions {
		if fn != Poller && fn != Worker && fn != Control {
			add("manifest: functions.%s: the stack knows poller, worker and control", fn)
		}
	}
	seen := map[string]string{}
	env := func(where, name string) {
		switch {
		case !envNameRE.MatchString(name):
			add("manifest: %s: %q is not a valid variable name", where, name)
		case reservedEnv(name):
			add("manifest: %s: %s is set by the stack or by Lambda", where, name)
		case seen[name] != "":
			add("manifest: %s: %s is already set by %s", where, name, seen[name])
		}
		seen[name] = where
	}
	for _, k := range slices.Sorted(maps.Keys(m.Environment)) {
		env("environment", k)
	}
	for _, n := range slices.Sorted(maps.Keys(m.Settings)) {
		s := m.Settings[n]
		env("settings."+n+".env", s.Env)
		if s.Pattern != "" {
			if _, err := regexp.Compile(s.Pattern); err != nil {
				add("manifest: settings.%s.pattern: %v", n, err)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(m.Secrets)) {
		if !secretIDRE.MatchString(n) {
			add("manifest: secrets.%s: the name must be letters and digits (it names IAM statements)", n)
		}
		env("secrets."+n+".env", m.Secrets[n].Env)
	}
	if t := m.Table; t != nil {
		if !appNameRE.MatchString(t.Name) {
			add("manifest: table.name %q must be a-z, 0-9 and '-', starting with a letter", t.Name)
		}
		key := func(where string, k KeyAttr) {
			if !attrNameRE.MatchString(k.Name) {
				add("manifest: %s.name %q is not a valid attribute name", where, k.Name)
			}
			if k.Type != "S" && k.Type != "N" && k.Type != "B" {
				add("manifest: %s.type %q must be S, N or B", where, k.Type)
			}
		}
		key("table.partition_key", t.PartitionKey)
		if t.SortKey != nil {
			key("table.sort_key", *t.SortKey)
		}
		names := map[string]bool{}
		for i, ix := range t.Indexes {
			w := fmt.Sprintf("table.indexes[%d]", i)
			if !attrNameRE.MatchString(ix.Name) || names[ix.Name] {
				add("manifest: %s.name %q must be a unique index name", w, ix.Name)
			}
			names[ix.Name] = true
			key(w+".partition_key", ix.PartitionKey)
			if ix.SortKey != nil {
				key(w+".sort_key", *ix.SortKey)
			}
		}
		for _, e := range t.Env {
			env("table.env", e)
		}
		for _, k := range slices.Sorted(maps.Keys(t.Environment)) {
			env("table.environment", k)
		}
		if len(t.Access) == 0 {
			add("manifest: table.access must give at least one function read or write")
		}
		for fn, a := range t.Access {
			if fn != Poller && fn != Worker && fn != Control {
				add("manifest: table.access: %q is not poller, worker or control", fn)
			}
			if a != "read" && a != "write" {
				add("manifest: table.access.%s %q must be read or write", fn, a)
			}
		}
	}
}
