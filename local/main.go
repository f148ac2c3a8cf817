// Command plba is PLBA's local runner: it runs application modules in one
// long-lived process (sources, queues, worker pools, control plane) and
// offers the tools around them. Run `plba --help` for the commands.
package main

import (
	"context"
	"os"

	"github.com/plba/plba/local/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
