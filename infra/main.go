// Command infra is the CDK app of the PLBA split deployment. The CDK CLI
// runs it (see cdk.json); `make synth`, `make diff`, `make deploy` and
// `make destroy` wrap the CLI. See docs/deploy.md.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/plba/plba/infra/plbastack"
)

func main() {
	os.Exit(run())
}

func run() int {
	// Close stops the jsii node process and removes its temp files, also
	// when synth fails.
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := plbastack.ConfigFromContext(app)
	if err == nil {
		_, err = plbastack.New(app, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app.Synth(nil)
	return 0
}
