// Command ticker runs the ticker example application on the PLBA runner:
// `ticker run --set apps.ticker.interval=1s`.
package main

import (
	"github.com/plba/plba/apps/ticker"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

func main() {
	runner.Main(runner.App{
		Name:    "ticker",
		Summary: "the PLBA ticker example",
		Modules: func(runner.ModuleEnv) []contracts.ApplicationModule {
			return []contracts.ApplicationModule{ticker.New()}
		},
	})
}
