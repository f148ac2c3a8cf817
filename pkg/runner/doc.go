// Package runner is PLBA's local runner as a library: the command line an
// application's main gets in one call, the local counterpart of
// pkg/lambda's Main.
//
//	func main() {
//		runner.Main(runner.App{
//			Name:    "shop",
//			Modules: func(runner.ModuleEnv) []contracts.ApplicationModule { return []contracts.ApplicationModule{shop.New()} },
//		})
//	}
//
// # Commands
//
//	run      load and validate the configuration, start the modules under
//	         runtime.Manager, serve the control plane, and stop gracefully on
//	         SIGINT/SIGTERM (a second signal forces), reload on SIGHUP
//	config   check|show the configuration (exit 2 naming key, file and line)
//	invoke   run a Lambda bootstrap under the Runtime API emulator
//	version  print the version
//
// plus the commands the modules contribute (contracts.CommandProvider; the
// mail order bot adds `orders`) and those in App.Commands. A contributed
// command gets the runner's --config/--set flags and the same validated
// configuration `run` uses through contracts.CommandEnv.
//
// # What the runner owns
//
// Configuration loading (runtime.LoadConfig: defaults, files, PLBA_
// environment, platform.config.providers, --set), the queue backend
// (platform.queue.backend or --queue), tracing (platform.tracing), the
// control plane (platform.control), signals and exit codes (0 success, 1
// runtime failure, 2 bad usage or invalid configuration). An application
// needs no edit outside its own folder to use any of it.
package runner
