package mailorderbot

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
)

// Commands implements contracts.CommandProvider: the bot adds `orders` and
// `auth` (OAuth 2.0 login of its mailbox, auth.go) to its runner's command
// line.
func (m *Module) Commands() []contracts.Command {
	return []contracts.Command{{
		Name:    "orders",
		Summary: "list, show or resolve stored orders: orders list|show|review|unconfirmed|resend",
		// Listing orders needs the store section only; the demo defaults
		// stand in for an IMAP section the file may not have.
		Demo: true,
		Run:  m.ordersCmd,
	}, mailauth.Command(m.authTargets, m.opts.Auth)}
}

func (m *Module) ordersCmd(ctx context.Context, env contracts.CommandEnv, args []string) int {
	out, errw := env.Stdout(), env.Stderr()
	if len(args) == 0 || (args[0] != "list" && args[0] != "show" && args[0] != "review" && args[0] != "unconfirmed" && args[0] != "resend") {
		fmt.Fprint(errw, `Usage:
  orders list [--status accepted|rejected|ignored|review] [--limit N] [--page P] [--json] [--config FILE]... [--set key=value]...
      stored outcomes, newest first (JSON lines with --json)
  orders show KEY [--config FILE]... [--set key=value]...
      one stored outcome with its lines, candidate lines, total, reasons and reply, as JSON
  orders review KEY --accept|--reject [--line SKU:QTY]... [--reason TEXT] [--config FILE]... [--set key=value]...
      resolve an order in review: --accept with the lines a person confirmed (default: the lines
      read from the mail), --reject with the reason the customer is told; the confirmation or
      rejection is stored and then sent (when smtp is configured; else it stays in the outbox)
  orders unconfirmed [--config FILE]... [--set key=value]...
      replies whose send a crash interrupted: the customer may or may not have them, and they
      are not sent again by themselves
  orders resend KEY [--config FILE]... [--set key=value]...
      put an unconfirmed reply back in the outbox, once you decided the customer lacks it: the
      running bot sends it within 30 s (or at its next start)

The store is the one apps.mailorderbot.store configures (default: SQLite var/orders.db).
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return contracts.ExitOK
		}
		return contracts.ExitUsage
	}
	sub := args[0]
	fs := env.FlagSet("orders " + sub)
	status := fs.String("status", "", "only outcomes with this `status`: accepted, rejected, ignored or review")
	accept := fs.Bool("accept", false, "review: accept the order")
	reject := fs.Bool("reject", false, "review: reject the order")
	reason := fs.String("reason", "", "review: the reason (told to the customer on --reject)")
	var lines lineFlags
	fs.Var(&lines, "line", "review: a confirmed line `SKU:QTY` (repeatable; default the lines read from the mail)")
	limit := fs.Int("limit", store.DefaultLimit, "show at most `N` orders")
	page := fs.Int("page", 1, "show page `P` of the listing (pages of --limit orders, newest first)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	rest := args[1:]
	var key string
	keyed := sub == "show" || sub == "review" || sub == "resend"
	if keyed && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		key, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return contracts.ExitOK
		}
		return contracts.ExitUsage
	}
	if keyed && key == "" {
		if fs.NArg() != 1 {
			fmt.Fprintf(errw, "plba orders %s: give exactly one message KEY\n", sub)
			return contracts.ExitUsage
		}
		key = fs.Arg(0)
	}
	if sub == "review" && *accept == *reject {
		fmt.Fprintln(errw, "plba orders review: give exactly one of --accept and --reject")
		return contracts.ExitUsage
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
	if sub == "review" {
		return m.reviewCmd(ctx, env, bot, s, domain.MessageKey(key), ReviewDecision{Accept: *accept, Lines: lines.lines, Reason: *reason})
	}
	if sub == "unconfirmed" {
		res, err := listUnconfirmed(ctx, s)
		if err != nil {
			return env.Fail(err)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tATTEMPTED\tSTORED")
		for _, r := range res.Replies {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Key, r.AttemptedAt.UTC().Format(time.RFC3339), r.CreatedAt.UTC().Format(time.RFC3339))
		}
		_ = tw.Flush()
		fmt.Fprintf(out, "%s unconfirmed reply(ies)\n", countText(len(res.Replies), res.More))
		return contracts.ExitOK
	}
	if sub == "resend" {
		if err := resend(ctx, s, domain.MessageKey(key)); err != nil {
			fmt.Fprintf(errw, "plba orders resend: %v\n", err)
			return contracts.ExitFailure
		}
		fmt.Fprintf(out, "reply %s is back in the outbox; the running bot sends it within %v (or at its next start)\n", key, outboxEvery)
		return contracts.ExitOK
	}
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
		if _, err := s.Raw(ctx, o.Key); err == nil {
			view["raw_kept"] = true
		}
		if r, err := s.Reply(ctx, o.Key); err == nil {
			view["reply"] = map[string]any{"to": r.To, "sent_at": r.SentAt, "pending": r.Sendable(), "unconfirmed": r.Unconfirmed(), "attempted_at": r.AttemptedAt}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(view)
		return contracts.ExitOK
	}
	if *limit < 1 || *page < 1 {
		fmt.Fprintln(errw, "orders list: --limit and --page must be at least 1")
		return contracts.ExitUsage
	}
	total, err := s.Count(ctx, store.Filter{Status: st})
	if err != nil {
		return env.Fail(err)
	}
	// Stores list newest first from the start: fetch up to the page's end
	// and cut (a CLI listing, not a hot path).
	skip := (*page - 1) * *limit
	orders, err := s.List(ctx, store.Filter{Status: st, Limit: skip + *limit})
	if err != nil {
		return env.Fail(err)
	}
	orders = orders[min(skip, len(orders)):]
	defer warnUnconfirmed(ctx, s, errw)
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
	switch {
	case total == len(orders):
		fmt.Fprintf(out, "%d order(s)\n", total)
	case len(orders) == 0:
		fmt.Fprintf(out, "no orders on page %d; %d order(s) in all\n", *page, total)
	default:
		fmt.Fprintf(out, "%d-%d of %d order(s) shown, newest first", skip+1, skip+len(orders), total)
		if skip+len(orders) < total {
			fmt.Fprintf(out, "; next: --page %d", *page+1)
		}
		fmt.Fprintln(out)
	}
	return contracts.ExitOK
}

// lineFlags collects --line SKU:QTY.
type lineFlags struct{ lines []domain.Line }

func (l *lineFlags) String() string { return fmt.Sprint(l.lines) }

func (l *lineFlags) Set(v string) error {
	sku, qty, ok := strings.Cut(v, ":")
	n, err := strconv.ParseInt(strings.TrimSpace(qty), 10, 64)
	if !ok || err != nil || n < 1 || strings.TrimSpace(sku) == "" {
		return fmt.Errorf("%q is not SKU:QTY with a positive quantity", v)
	}
	l.lines = append(l.lines, domain.Line{SKU: strings.ToUpper(strings.TrimSpace(sku)), Qty: n})
	return nil
}

// reviewCmd resolves one review through Parts.Review (handler.Resolve,
// the function the control plane calls too).
func (m *Module) reviewCmd(ctx context.Context, env contracts.CommandEnv, bot Config, s store.OrderStore, key domain.MessageKey, d ReviewDecision) int {
	out, errw := env.Stdout(), env.Stderr()
	if m.opts.Parts.Review == nil {
		return env.Fail(fmt.Errorf("orders review: %w", ErrPartNotLinked))
	}
	log := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o, err := m.opts.Parts.Review(ctx, RoutineEnv{Config: bot, Store: s, Logger: log}, key, d)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(errw, "plba orders review: no order with key %q\n", key)
		return contracts.ExitFailure
	case errors.Is(err, store.ErrNotReview):
		fmt.Fprintf(errw, "plba orders review: %v\n", err)
		return contracts.ExitFailure
	case err != nil:
		fmt.Fprintf(errw, "plba orders review: %v\n", err)
		return contracts.ExitFailure
	}
	sent := "stored in the outbox"
	if r, err := s.Reply(ctx, key); err == nil && !r.Pending() {
		sent = "sent"
	}
	total := ""
	if o.Status == domain.StatusAccepted {
		total = ", total " + o.Total.String()
	}
	fmt.Fprintf(out, "%s: %s (%d line(s)%s); reply %s\n", key, o.Status, len(o.Lines), total, sent)
	return contracts.ExitOK
}

// warnUnconfirmed tells the person listing orders that replies wait for a
// decision (on stderr, after the listing).
func warnUnconfirmed(ctx context.Context, s store.OrderStore, w io.Writer) {
	n, more, err := countUnconfirmed(ctx, s)
	if err != nil || n == 0 {
		return
	}
	fmt.Fprintf(w, "warning: %s reply(ies) unconfirmed: a send was interrupted and is not repeated by itself; "+
		"see `plba orders unconfirmed`, resend with `plba orders resend KEY`\n", countText(n, more))
}
