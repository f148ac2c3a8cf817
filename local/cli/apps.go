package cli

import (
	"sort"
	"strings"

	"github.com/plba/plba/apps/ticker"
	"github.com/plba/plba/pkg/contracts"
)

// app is an application the runner knows.
type app struct {
	name string
	// modules returns fresh modules; bare is true when the user gave no
	// configuration at all (the app may then choose its demo).
	modules func(bare bool) []contracts.ApplicationModule
}

var apps = map[string]app{
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
