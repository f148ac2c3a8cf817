package config_test

import (
	"fmt"
	"testing"

	"github.com/plba/plba/pkg/config"
)

// benchManager is a realistic size: a platform section and two apps, about
// 60 leaf keys, from a file, the environment and a flag.
func benchManager(b *testing.B) *config.Manager {
	b.Helper()
	body := "platform:\n  log:\n    level: info\n  control:\n    addr: 127.0.0.1:8080\napps:\n"
	for a := range 2 {
		body += fmt.Sprintf("  app%d:\n    workers: 4\n    imap:\n      addr: imap.example.org:993\n      user: bot\n      password: long-enough-%d\n", a, a)
		body += "    extra:\n"
		for i := range 25 {
			body += fmt.Sprintf("      k%d: v%d\n", i, i)
		}
	}
	f := writeFile(b, b.TempDir(), "c.yaml", body)
	m, err := config.New(b.Context(), config.Options{Files: []string{f},
		Environ: []string{"PLBA_APPS__APP0__WORKERS=8"}, Flags: map[string]string{"apps.app1.workers": "2"},
		Schemas: map[string]any{"apps.app0": botDefaultsWithExtra(), "apps.app1": botDefaultsWithExtra()},
		Logger:  quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

type botWithExtra struct {
	BotConfig `koanf:",squash"`
	Extra     map[string]string `koanf:"extra"`
}

func botDefaultsWithExtra() *botWithExtra { return &botWithExtra{BotConfig: *botDefaults()} }

// BenchmarkGet is a typed, validated read of one app's section.
func BenchmarkGet(b *testing.B) {
	m := benchManager(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Get[botWithExtra](m, "apps.app0"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReload is a full reload: read and parse the file, merge every
// layer, resolve, validate both declarations, compare.
func BenchmarkReload(b *testing.B) {
	m := benchManager(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Reload(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
