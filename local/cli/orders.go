package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/config"
)

func ordersCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		fmt.Fprint(errw, `Usage:
  plba orders list [--status accepted|rejected|ignored] [--limit N] [--json] [--config FILE]... [--set key=value]...
      stored outcomes, newest first (JSON lines with --json)
  plba orders show KEY [--config FILE]... [--set key=value]...
      one stored outcome with its lines, total, reasons and reply, as JSON

The store is the one apps.mailorderbot.store configures (default: SQLite var/orders.db).
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("plba orders "+sub, flag.ContinueOnError)
	var cf configFlags
	fs.Var(&cf.files, "config", "YAML config `file` (repeatable)")
	fs.Var(&cf.sets, "set", "override one key, `key.path=value` (repeatable)")
	cf.app = "mailorderbot"
	// Listing orders needs the store section only; the demo defaults stand
	// in for an IMAP section the file may not have.
	cf.demo = true
	status := fs.String("status", "", "only outcomes with this `status`: accepted, rejected or ignored")
	limit := fs.Int("limit", 0, "at most `N` orders (0: the store default, 100)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	rest := args[1:]
	var key string
	if sub == "show" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		key, rest = rest[0], rest[1:]
	}
	if code, ok := parse(fs, rest, errw); !ok {
		return code
	}
	if sub == "show" && key == "" {
		if fs.NArg() != 1 {
			fmt.Fprintln(errw, "plba orders show: give exactly one message KEY")
			return ExitUsage
		}
		key = fs.Arg(0)
	}
	var st domain.Status
	if *status != "" {
		s, err := domain.ParseStatus(*status)
		if err != nil {
			fmt.Fprintf(errw, "plba orders list: --status: %v\n", err)
			return ExitUsage
		}
		st = s
	}
	l, err := loadConfig(ctx, &cf, nil, slog.New(slog.NewTextHandler(errw, nil)))
	if err != nil {
		return exitFor(errw, err)
	}
	bot, err := config.Get[mailorderbot.Config](l.cfg, mailorderbot.ConfigPath)
	if err != nil {
		return exitFor(errw, configError{err})
	}
	s, err := mailorderbot.OpenStore(ctx, bot.Store)
	if err != nil {
		return exitFor(errw, err)
	}
	defer s.Close()
	if sub == "show" {
		o, err := s.Get(ctx, domain.MessageKey(key))
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(errw, "plba orders show: no order with key %q\n", key)
			return ExitFailure
		}
		if err != nil {
			return exitFor(errw, err)
		}
		view := map[string]any{"order": o}
		if r, err := s.Reply(ctx, o.Key); err == nil {
			view["reply"] = map[string]any{"to": r.To, "sent_at": r.SentAt, "pending": r.Pending()}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(view)
		return ExitOK
	}
	orders, err := s.List(ctx, store.Filter{Status: st, Limit: *limit})
	if err != nil {
		return exitFor(errw, err)
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		for _, o := range orders {
			if err := enc.Encode(o); err != nil {
				return exitFor(errw, err)
			}
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tKEY\tCUSTOMER\tLINES\tTOTAL\tREASONS")
	for _, o := range orders {
		total := ""
		if o.Status == domain.StatusAccepted {
			total = o.Total.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", o.Status, o.Key, o.Customer, len(o.Lines), total, strings.Join(o.Reasons, "; "))
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "%d order(s)\n", len(orders))
	return ExitOK
}
