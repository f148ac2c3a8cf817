// Command poller is the mail order bot's poller Lambda function (provided.al2023,
// arm64, binary "bootstrap"). Everything is in package lambda; see
// docs/serverless.md for its environment and `make lambdas` for the build.
package main

import (
	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/pkg/lambda"
	"github.com/plba/plba/pkg/source/imapsource"
)

// The poller runs the IMAP source only: it links no order parser.
func main() {
	lambda.Main(lambda.Poller, lambda.Options{}, mailorderbot.New(mailorderbot.Options{Parts: mailorderbot.Parts{Source: imapsource.Open}}))
}
