package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
	// The PostgreSQL configuration provider for platform.config.providers.
	_ "github.com/plba/plba/pkg/config/pgconfig"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
)

// configFlags are the flags every config-reading command shares.
type configFlags struct {
	files multiFlag
	sets  multiFlag
	demo  bool
}

// registerFiles adds --config and --set.
func (c *configFlags) registerFiles(fs *flag.FlagSet) {
	fs.Var(&c.files, "config", "YAML config `file` (repeatable; later files override earlier ones)")
	fs.Var(&c.sets, "set", "override one key, `key.path=value` (repeatable; highest precedence)")
}

// register adds --config, --set and --demo.
func (c *configFlags) register(fs *flag.FlagSet) {
	c.registerFiles(fs)
	fs.BoolVar(&c.demo, "demo", false, "run the application's demo (the default when neither --config nor --set is given)")
}

// bare reports that the user gave no configuration at all.
func (c *configFlags) bare() bool { return len(c.files) == 0 && len(c.sets) == 0 }

// loaded is a validated configuration with the modules it was checked for.
type loaded struct {
	cfg      *config.Manager
	platform runtime.PlatformConfig
	modules  []contracts.ApplicationModule
}

// configError marks errors that are the user's to fix (exit code 2).
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func newBootLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// loadConfig builds the configuration manager, lets the modules declare
// their sections and checks the whole file: unknown keys, rules, secrets.
// Modules are built with demo when the flags ask for it; progress is
// their standard output.
func (a *App) loadConfig(ctx context.Context, cf *configFlags, extra map[string]string, logger *slog.Logger, progress io.Writer) (*loaded, error) {
	if a.Modules == nil {
		return nil, fmt.Errorf("%s: the application has no modules (App.Modules is nil)", a.name())
	}
	sets, err := config.ParseSets(cf.sets)
	if err != nil {
		return nil, configError{err}
	}
	for k, v := range extra {
		if _, given := sets[k]; !given {
			sets[k] = v
		}
	}
	// The AWS SDK's default configuration reads only the environment and
	// files here; SSM or Secrets Manager are called only for references.
	resolvers := map[string]config.Resolver{}
	if awsCfg, err := awsconfig.Load(ctx, ""); err == nil {
		resolvers = awsconfig.Resolvers(awsCfg, 5*time.Minute)
	}
	modules := a.Modules(ModuleEnv{Demo: cf.demo, Stdout: progress})
	m, err := runtime.LoadConfig(ctx, config.Options{
		Files:     cf.files,
		Flags:     sets,
		Resolvers: resolvers,
		Logger:    logger,
	}, modules...)
	if err != nil {
		return nil, wrapConfigErr(err)
	}
	p, err := config.Get[runtime.PlatformConfig](m, "platform")
	if err != nil {
		return nil, wrapConfigErr(err)
	}
	return &loaded{cfg: m, platform: p, modules: modules}, nil
}

func wrapConfigErr(err error) error {
	if errors.Is(err, config.ErrInvalid) || errors.Is(err, config.ErrNotFound) {
		return configError{err}
	}
	return err
}

// exitFor prints err and returns its exit code.
func exitFor(errw io.Writer, name string, err error) int {
	var ce configError
	if errors.As(err, &ce) {
		fmt.Fprintf(errw, "%s: invalid configuration:\n%v\n", name, err)
		return ExitUsage
	}
	fmt.Fprintf(errw, "%s: %v\n", name, err)
	return ExitFailure
}
