package lambda_test

import (
	"context"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda"
)

type myModule struct{}

func (myModule) Name() string                                       { return "my" }
func (myModule) Register(context.Context, contracts.Registry) error { return nil }

// The whole main of a function: build it from the module once per cold
// start and serve it (poller, worker or control).
func ExampleMain() {
	lambda.Main(lambda.Worker, lambda.Options{}, myModule{})
}
