// Command worker is the feed relay's worker Lambda function (provided.al2023,
// arm64, binary "bootstrap"): `make lambdas` builds it from plba.app.yaml
// into bin/lambda/feedrelay/worker/bootstrap.
package main

import (
	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/pkg/lambda"
)

func main() {
	lambda.Main(lambda.Worker, lambda.Options{}, feedrelay.New(feedrelay.Options{}))
}
