// Command feedrelay runs the feed relay on the PLBA runner, as one
// long-lived process:
//
//	feedrelay run --set apps.feedrelay.feeds=https://example.org/feed.xml \
//	    --set apps.feedrelay.webhook.url=https://hooks.example.org/in
//
// `feedrelay --help` lists the runner's commands (run, config, invoke,
// version).
package main

import (
	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

func app() runner.App {
	return runner.App{
		Name:    "feedrelay",
		Deploy:  "feedrelay",
		Summary: "RSS/Atom feeds to a webhook, on the PLBA runner",
		Modules: func(runner.ModuleEnv) []contracts.ApplicationModule {
			return []contracts.ApplicationModule{feedrelay.New(feedrelay.Options{})}
		},
	}
}

func main() { runner.Main(app()) }
