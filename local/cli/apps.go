package cli

import (
	"io"
	"os"
	"sort"
	"strings"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/ticker"
	"github.com/plba/plba/pkg/contracts"
)

// progressOut receives the bot's one-line-per-outcome progress.
var progressOut io.Writer = os.Stdout

// app is an application the runner knows.
type app struct {
	name string
	// modules returns fresh modules; bare is true when the user gave no
	// configuration at all (the app may then choose its demo).
	modules func(bare bool) []contracts.ApplicationModule
}

var apps = map[string]app{
	"mailorderbot": {name: "mailorderbot", modules: func(bare bool) []contracts.ApplicationModule {
		return []contracts.ApplicationModule{mailorderbot.New(mailorderbot.Options{Demo: bare, Progress: progressOut})}
	}},
	"ticker": {name: "ticker", modules: func(bool) []contracts.ApplicationModule {
		return []contracts.ApplicationModule{ticker.New()}
	}},
}

func lookupApp(name string) (app, bool) {
	a, ok := apps[name]
	return a, ok
}

func appNames() string {
	var n []string
	for k := range apps {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}
