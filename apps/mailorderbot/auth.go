package mailorderbot

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/source/imapsource"
)

// authTargets are the logins `plba auth` acts on: the IMAP mailbox, and the
// SMTP sender when smtp.addr is set.
func (m *Module) authTargets(ctx context.Context, env contracts.CommandEnv) ([]mailauth.Target, error) {
	cc, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	cfg := DefaultConfig()
	if err := cc.Decode(ConfigPath, &cfg); err != nil {
		return nil, err
	}
	cfg.bindTokenStores(cc)
	quiet := slog.New(slog.DiscardHandler)
	imapCfg := cfg.IMAP
	targets := []mailauth.Target{{
		Name: "imap", Key: ConfigPath + ".imap.auth", Username: imapCfg.Username, Auth: imapCfg.Auth,
		PasswordMech: mailauth.MechLogin,
		Check: func(ctx context.Context) error {
			if m.opts.Parts.Check == nil {
				return fmt.Errorf("IMAP login check: %w", ErrPartNotLinked)
			}
			return m.opts.Parts.Check(ctx, imapCfg, imapsource.WithLogger(quiet))
		},
	}}
	if cfg.SMTP.Addr != "" {
		sc := cfg.SMTPSenderConfig()
		targets = append(targets, mailauth.Target{
			Name: "smtp", Key: ConfigPath + ".smtp.auth", Username: sc.Username, Auth: sc.Auth,
			PasswordMech: mailauth.MechPlain,
			Check: func(ctx context.Context) error {
				s, err := reply.NewSMTPSender(sc)
				if err != nil {
					return err
				}
				return s.Check(ctx)
			},
		})
	}
	return targets, nil
}
