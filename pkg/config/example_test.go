package config_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// MailConfig is what an application declares: defaults in the value,
// keys in koanf tags, rules in validate tags.
type MailConfig struct {
	Workers  int           `koanf:"workers" validate:"min=1,max=64"`
	Interval time.Duration `koanf:"interval" validate:"gte=1s"`
	IMAP     struct {
		Addr     string           `koanf:"addr" validate:"required,hostname_port"`
		Password contracts.Secret `koanf:"password" validate:"required"`
	} `koanf:"imap"`
}

func ExampleNew() {
	ctx := context.Background()
	m, err := config.New(ctx, config.Options{
		Files: []string{"testdata/example.yaml"},
		Environ: []string{
			"PLBA_APPS__MAILORDERBOT__INTERVAL=1m", // env overrides the file
			"IMAP_PASSWORD=s3cret",                 // read by ${env:IMAP_PASSWORD}
		},
		Flags: map[string]string{"apps.mailorderbot.workers": "8"}, // --set wins over all
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The module declares its config (defaults + rules) at registration.
	if err := m.Declare("apps.mailorderbot", &MailConfig{Workers: 1, Interval: 30 * time.Second}); err != nil {
		var inv *config.Error
		fmt.Println(errors.As(err, &inv), err) // the CLI exits 2 here
		return
	}
	cfg, err := config.Get[MailConfig](m, "apps.mailorderbot")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Workers, cfg.Interval, cfg.IMAP.Addr, cfg.IMAP.Password)
	// plba config show:
	_ = m.WriteEffective(os.Stdout, "text")
	// Output:
	// 8 1m0s imap.example.org:993 [REDACTED]
	// apps.mailorderbot.imap.addr = "imap.example.org:993"  # testdata/example.yaml:5
	// apps.mailorderbot.imap.password = "[REDACTED]"  # testdata/example.yaml:6
	// apps.mailorderbot.interval = "1m"  # env PLBA_APPS__MAILORDERBOT__INTERVAL
	// apps.mailorderbot.workers = "8"  # flag --set apps.mailorderbot.workers
}

func ExampleManager_Declare_invalid() {
	m, _ := config.New(context.Background(), config.Options{
		Environ: []string{"PLBA_APPS__MAILORDERBOT__WORKERS=0", "PLBA_APPS__MAILORDERBOT__WROKERS=2"},
	})
	err := m.Declare("apps.mailorderbot", &MailConfig{Workers: 1, Interval: time.Minute})
	fmt.Println(errors.Is(err, config.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// invalid configuration (4 problems):
	//   apps.mailorderbot.imap.addr (from default): is required but not set (rule "required")
	//   apps.mailorderbot.imap.password (from default): is required but not set (rule "required")
	//   apps.mailorderbot.workers (from env PLBA_APPS__MAILORDERBOT__WORKERS): must be at least 1, got 0 (rule "min=1")
	//   apps.mailorderbot.wrokers (from env PLBA_APPS__MAILORDERBOT__WROKERS): unknown key
}
