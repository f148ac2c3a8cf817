package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogConfig is the platform.log section.
type LogConfig struct {
	// Format is "text" (default) or "json".
	Format string `koanf:"format" json:"format" validate:"omitempty,oneof=text json"`
	// Level is the default level: debug, info (default), warn, error.
	Level string `koanf:"level" json:"level" validate:"omitempty,oneof=debug info warn error"`
	// Levels overrides the level per component, e.g. {imap: debug}.
	Levels map[string]string `koanf:"levels" json:"levels,omitempty"`
}

// Logging builds component loggers sharing one output.
type Logging struct {
	base   slog.Handler
	level  slog.Level
	levels map[string]slog.Level
}

// NewLogging returns loggers writing to w as cfg says.
func NewLogging(w io.Writer, cfg LogConfig) (*Logging, error) {
	lvl, err := parseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("platform.log.level: %w", err)
	}
	l := &Logging{level: lvl, levels: map[string]slog.Level{}}
	for comp, s := range cfg.Levels {
		cl, err := parseLevel(s)
		if err != nil {
			return nil, fmt.Errorf("platform.log.levels.%s: %w", comp, err)
		}
		l.levels[comp] = cl
	}
	// The base handler lets everything through; component handlers filter.
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	switch cfg.Format {
	case "", "text":
		l.base = slog.NewTextHandler(w, opts)
	case "json":
		l.base = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("platform.log.format: %q is not text or json", cfg.Format)
	}
	return l, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// Logger returns the logger for a component ("runtime", "imap", a module
// name); records carry component=name and honour its level.
func (l *Logging) Logger(component string) *slog.Logger {
	lvl, ok := l.levels[component]
	if !ok {
		lvl = l.level
	}
	return slog.New(levelHandler{level: lvl, h: l.base}).With("component", component)
}

type levelHandler struct {
	level slog.Level
	h     slog.Handler
}

func (h levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.h.Handle(ctx, r)
}
func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{level: h.level, h: h.h.WithAttrs(a)}
}
func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{level: h.level, h: h.h.WithGroup(n)}
}
