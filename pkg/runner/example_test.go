package runner_test

import (
	"context"
	"fmt"
	"os"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

// An application's main is one call; runner.Run is the same without
// os.Exit, for tests.
func ExampleRun() {
	app := runner.App{
		Name:    "counter",
		Version: "1.0.0",
		Modules: func(runner.ModuleEnv) []contracts.ApplicationModule {
			return []contracts.ApplicationModule{newCounter()}
		},
	}
	code := runner.Run(context.Background(), app, []string{"greet", "--set", "apps.counter.greeting=hi"}, os.Stdout, os.Stderr)
	fmt.Println("exit", code)
	// Output:
	// hi
	// exit 0
}
