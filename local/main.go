// Command plba is the mail order bot's runner: the PLBA runner library
// (pkg/runner) with the bot's module, so `plba run` runs the bot (its demo
// without configuration) and `plba orders` lists its outcomes. Run
// `plba --help` for the commands.
package main

import (
	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

// app is the bot as the runner sees it; tests run it with runner.Run.
func app() runner.App {
	return runner.App{
		Name:    "plba",
		Deploy:  "mailorderbot", // apps/mailorderbot: `plba invoke` builds its functions
		Summary: "the mail order bot on the PLBA runner",
		Modules: func(env runner.ModuleEnv) []contracts.ApplicationModule {
			return []contracts.ApplicationModule{mailorderbot.New(mailorderbot.Options{Demo: env.Demo, Progress: env.Stdout, Parts: parts.All})}
		},
	}
}

func main() { runner.Main(app()) }
