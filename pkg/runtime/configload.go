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
//
// Providers listed in platform.config.providers (see config.ProviderSpec)
// are opened from a first read of the same layers and added after
// opts.Providers; the manager's Close closes them.
func LoadConfig(ctx context.Context, opts config.Options, modules ...contracts.ApplicationModule) (*config.Manager, error) {
	enabled, closeProviders, err := enabledProviders(ctx, opts)
	if err != nil {
		return nil, err
	}
	opts.Providers = append(append([]contracts.ConfigProvider(nil), opts.Providers...), enabled...)
	opts.Cleanup = joinCleanup(opts.Cleanup, closeProviders)
	m, err := loadDeclared(ctx, opts, modules...)
	if err != nil {
		opts.Cleanup()
		return nil, err
	}
	return m, nil
}

// enabledProviders reads platform.config alone from the layers opts names
// and opens the providers it lists.
func enabledProviders(ctx context.Context, opts config.Options) ([]contracts.ConfigProvider, func(), error) {
	var pc config.ProvidersConfig
	first := opts
	first.Schemas = map[string]any{config.ProvidersPath: &pc}
	first.Complete, first.Cleanup = false, nil
	m, err := config.New(ctx, first)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Decode(config.ProvidersPath, &pc); err != nil {
		return nil, nil, err
	}
	if len(pc.Providers) == 0 {
		return nil, func() {}, nil
	}
	return config.OpenProviders(ctx, pc.Providers)
}

func joinCleanup(fs ...func()) func() {
	return func() {
		for _, f := range fs {
			if f != nil {
				f()
			}
		}
	}
}

func loadDeclared(ctx context.Context, opts config.Options, modules ...contracts.ApplicationModule) (*config.Manager, error) {
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
