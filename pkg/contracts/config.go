package contracts

import "context"

// ConfigProvider supplies one layer of configuration as a nested map
// (file, environment, database, ...). Layers are merged by the
// configuration manager, later layers overriding earlier ones.
type ConfigProvider interface {
	// Name identifies the layer in error messages and `config show`.
	Name() string
	// Load reads the whole layer.
	Load(ctx context.Context) (map[string]any, error)
}

// ConfigWatcher is implemented by providers that can tell when their layer
// changed. Watch calls onChange (from any goroutine) until ctx is done.
type ConfigWatcher interface {
	Watch(ctx context.Context, onChange func()) error
}

// Config gives a module typed access to its configuration.
type Config interface {
	// Decode fills out (a pointer to a struct with `koanf` tags) from the
	// subtree at path, e.g. "apps.mailorderbot". Defaults already in out
	// are kept where the configuration is silent. Validation failures name
	// the key path.
	Decode(path string, out any) error
}
