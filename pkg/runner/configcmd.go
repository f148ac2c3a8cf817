package runner

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/plba/plba/pkg/contracts"
)

func (a *App) configCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") {
		fmt.Fprintf(errw, `Usage:
  %[1]s config check [--config FILE]... [--set key=value]... [--demo] [--connect]
      validate the configuration without running anything; exit 2 when invalid;
      --connect also logs in where the configuration points (mailboxes, ...) and
      exits 2 with the reason when that fails
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
	connect := false
	if sub == "show" {
		fs.StringVar(&format, "format", "yaml", "output `format`: yaml, json or text")
	} else {
		fs.BoolVar(&connect, "connect", false, "also connect and log in where the configuration points")
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
		if connect {
			return checkConnections(ctx, l, out, errw, a.name())
		}
		return ExitOK
	}
	if err := l.cfg.WriteEffective(out, format); err != nil {
		return exitFor(errw, a.name(), configError{err})
	}
	return ExitOK
}

// checkConnections runs every module's contracts.ConnectionChecker; a
// failure is the configuration's (it points somewhere unusable): exit 2.
func checkConnections(ctx context.Context, l *loaded, out, errw io.Writer, name string) int {
	code := ExitOK
	for _, m := range l.modules {
		cc, ok := m.(contracts.ConnectionChecker)
		if !ok {
			continue
		}
		if err := cc.CheckConnections(ctx, l.cfg); err != nil {
			fmt.Fprintf(errw, "%s: connection check of module %s failed:\n%v\n", name, m.Name(), err)
			code = ExitUsage
			continue
		}
		fmt.Fprintf(out, "connections of module %s: ok\n", m.Name())
	}
	return code
}
