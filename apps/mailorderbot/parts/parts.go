// Package parts holds the mail order bot's order routine (parser, catalog,
// replies) apart from the module itself, so that each binary links only the
// pieces it runs:
//
//	local runner, worker function   mailorderbot.Options{Parts: parts.All}
//	poller function                 mailorderbot.Options{Parts: mailorderbot.Parts{Source: imapsource.Open}}
//	control function                mailorderbot.Options{}
//
// Importing this package links the parser (its package initialisation runs
// even when no function of it is called), so the poller's main names
// imapsource.Open itself rather than parts.Source. The worker needs the
// source too: its Settle marks a processed mail \Seen.
package parts

import (
	"context"
	"errors"
	"fmt"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/catalog"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/handler"
	"github.com/plba/plba/apps/mailorderbot/mailparse"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
)

// All is every part: what the local runner and the worker function use.
var All = mailorderbot.Parts{Source: imapsource.Open, Check: imapsource.CheckConfig, Routine: Routine, Review: Review}

// Review resolves an order in review with handler.Resolve (the routine's
// catalog, sender and From address, from the same configuration).
func Review(ctx context.Context, env mailorderbot.RoutineEnv, key domain.MessageKey, d mailorderbot.ReviewDecision) (domain.Order, error) {
	deps, err := HandlerDeps(env.Config, env.Store)
	if err != nil {
		return domain.Order{}, err
	}
	if env.Logger != nil {
		deps.Logger = env.Logger
	}
	h, err := handler.New(deps)
	if err != nil {
		return domain.Order{}, err
	}
	o, err := h.Resolve(ctx, key, handler.Decision{Accept: d.Accept, Lines: d.Lines, Reason: d.Reason})
	if errors.Is(err, handler.ErrInvalidDecision) {
		// The module cannot import handler (the control function links
		// no parser): it branches on its own sentinel.
		err = fmt.Errorf("%w: %w", mailorderbot.ErrInvalidReview, err)
	}
	return o, err
}

// Routine builds the order routine (handler.Handler) from the module's
// configuration and store.
func Routine(_ context.Context, env mailorderbot.RoutineEnv) (contracts.Routine, error) {
	deps, err := HandlerDeps(env.Config, env.Store)
	if err != nil {
		return nil, err
	}
	deps.Logger = env.Logger
	if env.OnOutcome != nil {
		deps.OnOutcome = func(o handler.Outcome) { env.OnOutcome(o.Order, o.Duplicate) }
	}
	return handler.New(deps)
}

// HandlerDeps fills the routine's dependencies from the configuration:
// catalog, sender, From address and line limit. The caller adds OnOutcome,
// Logger and the like before handler.New.
func HandlerDeps(c mailorderbot.Config, st store.OrderStore) (handler.Deps, error) {
	cat, err := catalog.Load(c.Catalog)
	if err != nil {
		return handler.Deps{}, fmt.Errorf("%s.catalog: %w", mailorderbot.ConfigPath, err)
	}
	sender, err := c.Sender()
	if err != nil {
		return handler.Deps{}, fmt.Errorf("%s.smtp: %w", mailorderbot.ConfigPath, err)
	}
	from := c.SMTP.From
	if from == "" {
		from = mailorderbot.DefaultFrom
	}
	sku, err := c.SKURegexp()
	if err != nil {
		return handler.Deps{}, fmt.Errorf("%s.sku_pattern: %w", mailorderbot.ConfigPath, err)
	}
	return handler.Deps{Store: st, Catalog: cat, Sender: sender, From: from, MaxLines: c.MaxLines,
		ShopAddresses: c.ShopAddresses, AckReview: c.AckReview, KeepRaw: c.RawRetention > 0,
		Parse: mailparse.Options{SKU: sku, SKUHeaders: c.SKUHeaders, QtyHeaders: c.QtyHeaders}}, nil
}
