package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

func configCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") {
		fmt.Fprint(errw, `Usage:
  plba config check [--app NAME] [--config FILE]... [--set key=value]...
      validate the configuration without running anything; exit 2 when invalid
  plba config show  [--app NAME] [--config FILE]... [--set key=value]... [--format yaml|json|text]
      print the effective configuration, secrets redacted, with the source of each value
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("plba config "+sub, flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	format := "yaml"
	if sub == "show" {
		fs.StringVar(&format, "format", "yaml", "output `format`: yaml, json or text")
	}
	if code, ok := parse(fs, args[1:], errw); !ok {
		return code
	}
	l, err := loadConfig(ctx, &cf, nil, slog.New(slog.NewTextHandler(errw, nil)))
	if err != nil {
		return exitFor(errw, err)
	}
	if sub == "check" {
		fmt.Fprintf(out, "configuration is valid (version %s)\n", l.cfg.Version())
		return ExitOK
	}
	if err := l.cfg.WriteEffective(out, format); err != nil {
		return exitFor(errw, configError{err})
	}
	return ExitOK
}
