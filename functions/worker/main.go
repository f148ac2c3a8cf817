// Command worker is the mail order bot's worker Lambda function (provided.al2023,
// arm64, binary "bootstrap"). Everything is in package lambda; see
// docs/serverless.md for its environment and `make lambdas` for the build.
package main

import (
	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/pkg/lambda"
)

// The worker runs the order routine and the IMAP source, whose Settle
// marks a processed mail \Seen.
func main() {
	lambda.Main(lambda.Worker, lambda.Options{}, mailorderbot.New(mailorderbot.Options{Parts: parts.All}))
}
