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
	// Declare states a configuration requirement: schema is a pointer to a
	// struct holding the defaults, with `koanf` tags naming keys and
	// `validate` tags stating rules. Declared subtrees are validated on
	// load and reload, and keys no declaration covers are reported.
	Declare(path string, schema any) error
	// Decode fills out (a pointer to a struct with `koanf` tags) from the
	// subtree at path, e.g. "apps.mailorderbot". Defaults already in out
	// are kept where the configuration is silent. Validation failures name
	// the key path.
	Decode(path string, out any) error
}

// ConfigDeclarer is implemented by modules that declare their configuration
// before Register runs, so that `plba config check` can validate a file
// without registering (and so without opening stores or connections).
type ConfigDeclarer interface {
	DeclareConfig(cfg Config) error
}

// ConfigError is a problem a configuration struct's Validate method found
// at one key: Key is relative to the struct's own path ("imap.auth.mechanism"
// under apps.mailorderbot). The configuration manager reports it at that
// key, with the file and line the value came from, so the user sees which
// setting in which file is wrong. A Validate method may return several,
// joined with errors.Join.
type ConfigError struct {
	Key     string
	Message string
	// Err is an optional sentinel the error wraps (a package's
	// ErrInvalidConfig) for callers that branch with errors.Is.
	Err error
}

func (e *ConfigError) Error() string {
	if e.Err != nil {
		return e.Err.Error() + ": " + e.Key + ": " + e.Message
	}
	return e.Key + ": " + e.Message
}

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }
