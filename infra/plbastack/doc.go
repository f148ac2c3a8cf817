// Package plbastack defines the AWS CDK stack of the PLBA split deployment:
// the mail order bot's poller, worker and control Lambda functions with the
// SQS queues, DynamoDB table, schedule, alarms and IAM roles around them.
//
// It lives in its own Go module (github.com/plba/plba/infra) so that the
// CDK and jsii never enter the module graph of the Lambda binaries.
//
// # Configuration
//
// A [Config] is read by [LoadConfig] from config/default.yaml, then
// config/<stage>.yaml, then an optional extra file; [ConfigFromContext]
// does the same from the CDK context (-c stage=prod, -c configFile=...,
// -c assetDir=..., -c account=..., -c region=...). Unknown keys are errors.
//
// # AWS rules checked at synth
//
// [New] calls [Config.Validate] before it constructs anything and fails
// with a [*ValidationError] listing every broken rule: queue visibility
// timeout at least 6 × the worker timeout, no batching window on FIFO
// queues, maximum concurrency 2..1000 and not above reserved concurrency,
// batch size 1..10 on FIFO and 1..10000 on standard queues (above 10 only
// with a batching window of at least 1s). Missing bootstrap binaries fail
// with [ErrAssetsMissing] and the hint to run `make lambdas`.
//
// # Least privilege
//
// Each function gets its own role with no managed policies: it may write
// to its own log group and touch only its own queue(s), the orders table
// and the IMAP password parameter (or secret), each by ARN, with the
// actions its job needs. The functions receive the password's name as a
// "${ssm:/plba/<stage>/imap-password}" reference, never its value.
//
// # Function environment
//
// The Env* constants are the contract with the Lambda mains; docs/deploy.md
// lists which function gets which variable.
package plbastack
