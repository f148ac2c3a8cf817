package mailorderbot

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
)

// Commands implements contracts.CommandProvider: the bot adds `orders` to
// its runner's command line.
func (m *Module) Commands() []contracts.Command {
	return []contracts.Command{{
		Name:    "orders",
		Summary: "list or show stored orders: orders list|show",
		// Listing orders needs the store section only; the demo defaults
		// stand in for an IMAP section the file may not have.
		Demo: true,
		Run:  ordersCmd,
	}}
}

func ordersCmd(ctx context.Context, env contracts.CommandEnv, args []string) int {
	out, errw := env.Stdout(), env.Stderr()
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		fmt.Fprint(errw, `Usage:
  orders list [--status accepted|rejected|ignored] [--limit N] [--json] [--config FILE]... [--set key=value]...
      stored outcomes, newest first (JSON lines with --json)
  orders show KEY [--config FILE]... [--set key=value]...
      one stored outcome with its lines, total, reasons and reply, as JSON

The store is the one apps.mailorderbot.store configures (default: SQLite var/orders.db).
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return contracts.ExitOK
		}
		return contracts.ExitUsage
	}
	sub := args[0]
	fs := env.FlagSet("orders " + sub)
	status := fs.String("status", "", "only outcomes with this `status`: accepted, rejected or ignored")
	limit := fs.Int("limit", 0, "at most `N` orders (0: the store default, 100)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	rest := args[1:]
	var key string
	if sub == "show" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		key, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return contracts.ExitOK
		}
		return contracts.ExitUsage
	}
	if sub == "show" && key == "" {
		if fs.NArg() != 1 {
			fmt.Fprintln(errw, "plba orders show: give exactly one message KEY")
			return contracts.ExitUsage
		}
		key = fs.Arg(0)
	}
	var st domain.Status
	if *status != "" {
		s, err := domain.ParseStatus(*status)
		if err != nil {
			fmt.Fprintf(errw, "plba orders list: --status: %v\n", err)
			return contracts.ExitUsage
		}
		st = s
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return env.Fail(err)
	}
	bot := DefaultConfig()
	if err := cfg.Decode(ConfigPath, &bot); err != nil {
		return env.Fail(err)
	}
	s, err := OpenStore(ctx, bot.Store)
	if err != nil {
		return env.Fail(err)
	}
	defer s.Close()
	if sub == "show" {
		o, err := s.Get(ctx, domain.MessageKey(key))
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(errw, "plba orders show: no order with key %q\n", key)
			return contracts.ExitFailure
		}
		if err != nil {
			return env.Fail(err)
		}
		view := map[string]any{"order": o}
		if r, err := s.Reply(ctx, o.Key); err == nil {
			view["reply"] = map[string]any{"to": r.To, "sent_at": r.SentAt, "pending": r.Pending()}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(view)
		return contracts.ExitOK
	}
	orders, err := s.List(ctx, store.Filter{Status: st, Limit: *limit})
	if err != nil {
		return env.Fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		for _, o := range orders {
			if err := enc.Encode(o); err != nil {
				return env.Fail(err)
			}
		}
		return contracts.ExitOK
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
	return contracts.ExitOK
}
