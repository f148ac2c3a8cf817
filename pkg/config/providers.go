package config

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// ProviderSpec is one entry of platform.config.providers: a configuration
// layer a user turns on from the configuration itself. Which fields apply
// depends on Type.
type ProviderSpec struct {
	// Type names a registered provider: "postgres" (package pgconfig),
	// "ssm" (package awsconfig).
	Type string `koanf:"type" json:"type" validate:"required"`
	// DSN is the PostgreSQL connection string (postgres), usually a
	// ${env:...} or ${ssm:...} reference.
	DSN contracts.Secret `koanf:"dsn" json:"dsn,omitempty"`
	// Table holds the rows (postgres); default plba_config.
	Table string `koanf:"table" json:"table,omitempty"`
	// Path is the Parameter Store prefix (ssm), e.g. /plba/prod.
	Path string `koanf:"path" json:"path,omitempty"`
	// PollInterval is how often the provider checks for changes where it
	// polls (postgres; 0: its default).
	PollInterval time.Duration `koanf:"poll_interval" json:"poll_interval,omitempty" validate:"gte=0"`
}

// ProvidersConfig is platform.config.
type ProvidersConfig struct {
	// Providers are layers between the environment and --set flags, lowest
	// first.
	Providers []ProviderSpec `koanf:"providers" json:"providers,omitempty" validate:"dive"`
}

// ProvidersPath is where [ProvidersConfig] lives.
const ProvidersPath = "platform.config"

// ProviderFactory opens the provider a spec describes; close releases
// what it holds (a connection pool) and may be nil.
type ProviderFactory func(ctx context.Context, spec ProviderSpec) (p contracts.ConfigProvider, close func(), err error)

var (
	factoriesMu sync.RWMutex
	factories   = map[string]ProviderFactory{}
)

// RegisterProvider makes a provider type available to
// platform.config.providers. Provider packages call it from init, so a
// binary offers the providers it imports (a Lambda function links only
// those its main imports). It panics on a duplicate type, like
// database/sql.Register, since that is a programming error at init time.
func RegisterProvider(typ string, f ProviderFactory) {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	if _, dup := factories[typ]; dup || f == nil {
		panic("config: RegisterProvider called twice or with nil for " + typ)
	}
	factories[typ] = f
}

// ProviderTypes lists the registered provider types.
func ProviderTypes() []string {
	factoriesMu.RLock()
	defer factoriesMu.RUnlock()
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownProvider is wrapped when a spec names a type no package
// registered in this binary.
var ErrUnknownProvider = errors.New("config: unknown provider type")

// OpenProviders opens the providers specs describe, in order. On error
// the ones already open are closed. The returned close closes them all.
func OpenProviders(ctx context.Context, specs []ProviderSpec) ([]contracts.ConfigProvider, func(), error) {
	var out []contracts.ConfigProvider
	var closers []func()
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	for i, s := range specs {
		factoriesMu.RLock()
		f := factories[s.Type]
		factoriesMu.RUnlock()
		key := fmt.Sprintf("%s.providers[%d]", ProvidersPath, i)
		if f == nil {
			closeAll()
			return nil, nil, &Error{Problems: []Problem{{Path: key + ".type", Rule: "provider",
				Message: fmt.Sprintf("%v %q (this binary has: %s)", ErrUnknownProvider, s.Type, strings.Join(ProviderTypes(), ", "))}}}
		}
		p, c, err := f(ctx, s)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%s (%s): %w", key, s.Type, err)
		}
		out = append(out, p)
		if c != nil {
			closers = append(closers, c)
		}
	}
	return out, closeAll, nil
}
