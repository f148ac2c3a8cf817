// Package appmanifest reads the part of the applications' manifests
// (apps/<name>/plba.app.yaml) that the build needs: each application's
// Lambda functions and their main packages. `make lambdas` (through
// ./list) and functions/size_test.go build what the manifests declare, so a
// new application needs no Makefile edit.
//
// The whole manifest (settings, secrets, table, ...) is read and checked by
// the CDK stack, github.com/plba/plba/infra/plbastack, in its own module;
// this package ignores those keys.
package appmanifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"gopkg.in/yaml.v3"
)

// File is the manifest's name in an application's folder.
const File = "plba.app.yaml"

// LambdaTags are the build tags of every Lambda bootstrap (the Makefile's
// LAMBDA_TAGS; functions/size_test.go checks that they agree): no net/rpc
// runtime (provided.al2023), no SQLite or demo IMAP server, AWS
// configuration from the environment only, and the validator's method
// pruning kept (see docs/serverless.md).
const LambdaTags = "lambda.norpc,plba_lambda,validator_novalidatefn"

// Functions are the function kinds a manifest declares, in build order.
var Functions = []string{"poller", "worker", "control"}

// ErrInvalid is wrapped by every manifest error.
var ErrInvalid = errors.New("appmanifest: invalid manifest")

// App is one application's build declaration.
type App struct {
	Name string
	// Dir is the application's folder.
	Dir string
	// Mains maps poller, worker and control to their Go main packages,
	// relative to the repository root ("./apps/feedrelay/cmd/worker").
	Mains map[string]string
}

type doc struct {
	Name      string `yaml:"name"`
	Functions map[string]struct {
		Main string `yaml:"main"`
	} `yaml:"functions"`
}

var mainRE = regexp.MustCompile(`^\./[A-Za-z0-9_./-]+$`)

// Read reads dir/plba.app.yaml.
func Read(dir string) (App, error) {
	p := filepath.Join(dir, File)
	b, err := os.ReadFile(p)
	if err != nil {
		return App{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var d doc
	if err := yaml.Unmarshal(b, &d); err != nil {
		return App{}, fmt.Errorf("%w: %s: %w", ErrInvalid, p, err)
	}
	if d.Name != filepath.Base(dir) {
		return App{}, fmt.Errorf("%w: %s: name %q differs from its folder", ErrInvalid, p, d.Name)
	}
	a := App{Name: d.Name, Dir: dir, Mains: map[string]string{}}
	for _, fn := range Functions {
		f, ok := d.Functions[fn]
		if !ok || !mainRE.MatchString(f.Main) {
			return App{}, fmt.Errorf("%w: %s: functions.%s.main must be a package path like ./apps/%s/cmd/%s (got %q)", ErrInvalid, p, fn, d.Name, fn, f.Main)
		}
		a.Mains[fn] = f.Main
	}
	for fn := range d.Functions {
		if !slices.Contains(Functions, fn) {
			return App{}, fmt.Errorf("%w: %s: functions.%s: want poller, worker and control", ErrInvalid, p, fn)
		}
	}
	return a, nil
}

// List reads every application under root/apps that has a manifest,
// sorted by name.
func List(root string) ([]App, error) {
	matches, err := filepath.Glob(filepath.Join(root, "apps", "*", File))
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	var apps []App
	for _, m := range matches {
		a, err := Read(filepath.Dir(m))
		if err != nil {
			return nil, err
		}
		apps = append(apps, a)
	}
	return apps, nil
}

// Find returns the application called name under root/apps.
func Find(root, name string) (App, error) {
	apps, err := List(root)
	if err != nil {
		return App{}, err
	}
	var names []string
	for _, a := range apps {
		if a.Name == name {
			return a, nil
		}
		names = append(names, a.Name)
	}
	return App{}, fmt.Errorf("%w: no application %q (apps with a %s: %v)", ErrInvalid, name, File, names)
}
