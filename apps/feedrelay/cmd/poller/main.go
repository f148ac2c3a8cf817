// Command poller is the feed relay's poller Lambda function (provided.al2023,
// arm64, binary "bootstrap"): `make lambdas` builds it from plba.app.yaml
// into bin/lambda/feedrelay/poller/bootstrap.
package main

import (
	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/pkg/lambda"
)

func main() {
	lambda.Main(lambda.Poller, lambda.Options{}, feedrelay.New(feedrelay.Options{}))
}
