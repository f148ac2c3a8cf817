package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// LogConfig is the platform.log section.
type LogConfig struct {
	// Format is "text" (default) or "json". It is fixed at start; a reload
	// changes levels only.
	Format string `koanf:"format" json:"format" validate:"omitempty,oneof=text json"`
	// Level is the default level: debug, info (default), warn, error.
	Level string `koanf:"level" json:"level" validate:"omitempty,oneof=debug info warn error"`
	// Levels overrides the level per component, e.g. {imap: debug}.
	// Levels apply again on every configuration reload.
	Levels map[string]string `koanf:"levels" json:"levels,omitempty"`
}

// Logging builds component loggers sharing one output. Each component's
// level is a slog.LevelVar, so [Logging.Apply] changes the level of
// loggers already handed out (a configuration reload).
type Logging struct {
	base slog.Handler

	mu    sync.Mutex
	cfg   levels
	comps map[string]*slog.LevelVar
}

type levels struct {
	def   slog.Level
	comps map[string]slog.Level
}

// NewLogging returns loggers writing to w as cfg says. Records logged with
// a context carry the trace and task fields of [ContextHandler].
func NewLogging(w io.Writer, cfg LogConfig) (*Logging, error) {
	// The base handler lets everything through; component handlers filter.
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler
	switch cfg.Format {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("platform.log.format: %q is not text or json", cfg.Format)
	}
	return NewLoggingHandler(h, cfg)
}

// NewLoggingHandler is NewLogging over a handler the caller made (the
// Lambda functions' JSON handler with the invocation's request id);
// cfg.Format is not used.
func NewLoggingHandler(h slog.Handler, cfg LogConfig) (*Logging, error) {
	lv, err := parseLevels(cfg)
	if err != nil {
		return nil, err
	}
	return &Logging{base: ContextHandler(h), cfg: lv, comps: map[string]*slog.LevelVar{}}, nil
}

func parseLevels(cfg LogConfig) (levels, error) {
	def, err := parseLevel(cfg.Level)
	if err != nil {
		return levels{}, fmt.Errorf("platform.log.level: %w", err)
	}
	lv := levels{def: def, comps: map[string]slog.Level{}}
	for comp, s := range cfg.Levels {
		cl, err := parseLevel(s)
		if err != nil {
			return levels{}, fmt.Errorf("platform.log.levels.%s: %w", comp, err)
		}
		lv.comps[comp] = cl
	}
	return lv, nil
}

// Apply sets the levels of cfg on every component logger, those handed
// out already included; the format stays what it was.
func (l *Logging) Apply(cfg LogConfig) error {
	lv, err := parseLevels(cfg)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = lv
	for comp, v := range l.comps {
		v.Set(lv.of(comp))
	}
	return nil
}

func (lv levels) of(comp string) slog.Level {
	if c, ok := lv.comps[comp]; ok {
		return c
	}
	return lv.def
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
	l.mu.Lock()
	v, ok := l.comps[component]
	if !ok {
		v = new(slog.LevelVar)
		v.Set(l.cfg.of(component))
		l.comps[component] = v
	}
	l.mu.Unlock()
	return slog.New(levelHandler{level: v, h: l.base}).With("component", component)
}

type levelHandler struct {
	level *slog.LevelVar
	h     slog.Handler
}

func (h levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }
func (h levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.h.Handle(ctx, r)
}
func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{level: h.level, h: h.h.WithAttrs(a)}
}
func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{level: h.level, h: h.h.WithGroup(n)}
}
