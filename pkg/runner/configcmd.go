package runner

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func (a *App) configCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") {
		fmt.Fprintf(errw, `Usage:
  %[1]s config check [--config FILE]... [--set key=value]... [--demo]
      validate the configuration without running anything; exit 2 when invalid
  %[1]s config show  [--config FILE]... [--set key=value]... [--demo] [--format yaml|json|text]
      print the effective configuration, secrets redacted, with the source of each value
`, a.name())
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet(a.name()+" config "+sub, flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	format := "yaml"
	if sub == "show" {
		fs.StringVar(&format, "format", "yaml", "output `format`: yaml, json or text")
	}
	if code, ok := parse(fs, args[1:], errw); !ok {
		return code
	}
	l, err := a.loadConfig(ctx, &cf, nil, newBootLogger(errw), io.Discard)
	if err != nil {
		return exitFor(errw, a.name(), err)
	}
	defer l.cfg.Close()
	if sub == "check" {
		fmt.Fprintf(out, "configuration is valid (version %s)\n", l.cfg.Version())
		return ExitOK
	}
	if err := l.cfg.WriteEffective(out, format); err != nil {
		return exitFor(errw, a.name(), configError{err})
	}
	return ExitOK
}
