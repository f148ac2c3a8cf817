// Command control is the mail order bot's control Lambda function (provided.al2023,
// arm64, binary "bootstrap"). Everything is in package lambda; see
// docs/serverless.md for its environment and `make lambdas` for the build.
package main

import (
	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/pkg/lambda"
	"github.com/plba/plba/pkg/lambda/controlfn/awspause"
)

// The control function runs no part: it links neither the IMAP client nor
// the order parser, yet sees the bot's queues and routines.
func main() {
	lambda.Main(lambda.Control, lambda.Options{ControlPauser: awspause.FromEnv}, mailorderbot.New(mailorderbot.Options{}))
}
