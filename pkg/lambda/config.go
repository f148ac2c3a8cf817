package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
)

// LoadConfig builds the modules' configuration as a function gets it:
// declared defaults (the platform's and each module's), the YAML files in
// PLBA_CONFIG_FILES (comma-separated; relative paths are under
// LAMBDA_TASK_ROOT, so a config.yaml can ship next to the bootstrap),
// PLBA_A__B=value environment variables, and ${ssm:/path} or
// ${secretsmanager:name} references resolved with the function's role —
// secrets never sit in plain environment variables. The variables earlier
// stacks set (PLBA_QUEUE_URL, PLBA_MAX_RECEIVE_COUNT, ...; see the package
// documentation) count as the keys they stand for. environ nil means
// os.Environ().
func LoadConfig(ctx context.Context, environ []string, log *slog.Logger, modules ...contracts.ApplicationModule) (*config.Manager, error) {
	environ = legacyEnv(environOrOS(environ))
	getenv := getenvFrom(environ)
	var files []string
	for f := range strings.SplitSeq(getenv("PLBA_CONFIG_FILES"), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(getenv("LAMBDA_TASK_ROOT"), f)
		}
		files = append(files, f)
	}
	resolvers := map[string]config.Resolver{}
	if c, err := awsconfig.Load(ctx, ""); err == nil {
		resolvers = awsconfig.Resolvers(c, 5*time.Minute)
	}
	m, err := runtime.LoadConfig(ctx, config.Options{Files: files, Environ: environ, Resolvers: resolvers, Logger: log}, modules...)
	if err != nil {
		return nil, fmt.Errorf("lambda: config: %w", err)
	}
	return m, nil
}
