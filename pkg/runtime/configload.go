package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// LoadConfig builds the configuration for a deployment of modules: the
// platform section and every module's declared section (modules that are
// contracts.ConfigDeclarer) are collected first, so one load validates the
// whole file and reports every problem at once, then keys no declaration
// covers are reported too. opts.Schemas is filled in; callers set files,
// flags, resolvers and logger. Pass ConfigDeclared: true to the Manager or
// Assemble afterwards.
func LoadConfig(ctx context.Context, opts config.Options, modules ...contracts.ApplicationModule) (*config.Manager, error) {
	platform := DefaultPlatformConfig()
	decl := declarations{"platform": &platform}
	for k, v := range opts.Schemas {
		if err := decl.Declare(k, v); err != nil {
			return nil, err
		}
	}
	if err := DeclareConfig(decl, modules...); err != nil {
		return nil, err
	}
	opts.Schemas = decl
	opts.Complete = true
	return config.New(ctx, opts)
}

// declarations records what modules declare before the manager exists.
type declarations map[string]any

func (d declarations) Declare(path string, schema any) error {
	if _, dup := d[path]; dup {
		return fmt.Errorf("config: %q declared twice", path)
	}
	d[path] = schema
	return nil
}

func (declarations) Decode(string, any) error {
	return errors.New("config: Decode called while declaring")
}
