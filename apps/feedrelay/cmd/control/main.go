// Command control is the feed relay's control Lambda function (provided.al2023,
// arm64, binary "bootstrap"): `make lambdas` builds it from plba.app.yaml
// into bin/lambda/feedrelay/control/bootstrap.
package main

import (
	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/pkg/lambda"
)

func main() {
	lambda.Main(lambda.Control, lambda.Options{}, feedrelay.New(feedrelay.Options{}))
}
