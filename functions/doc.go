// Package functions holds nothing but the tests of the Lambda builds; the
// functions themselves are the commands in its subdirectories (poller,
// worker, control), built by `make lambdas` with the tags plba_lambda and
// validator_novalidatefn (see docs/serverless.md, "Building").
package functions
