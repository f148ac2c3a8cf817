package plbastack_test

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/plba/plba/infra/plbastack"
)

// A CDK app with the mail order bot's stack of stage "dev" (what main.go
// does, minus reading the CLI's context).
func ExampleNew() {
	cfg, err := plbastack.LoadConfig("../../apps/mailorderbot", "dev")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.AssetDir = assetDir // normally ../bin/lambda/mailorderbot, from `make lambdas`
	out, _ := os.MkdirTemp("", "cdk.out-")
	defer os.RemoveAll(out)

	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	stack, err := plbastack.New(app, cfg)
	if err != nil {
		fmt.Println(err) // e.g. a broken AWS rule, or `make lambdas` not run
		return
	}
	app.Synth(nil)

	fmt.Println(*stack.StackName())
	tmpl := assertions.Template_FromStack(stack.Stack, nil)
	fmt.Println(len(*tmpl.FindResources(jsii.String("AWS::Lambda::Function"), nil)), "functions")
	// Output:
	// plba-dev
	// 3 functions
}
