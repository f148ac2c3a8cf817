// Package plbastack defines the AWS CDK stack of a PLBA split deployment,
// generic over the application: an application's poller, worker and
// control Lambda functions with the SQS queues, its DynamoDB table,
// schedule, alarms and IAM roles around them.
//
// It lives in its own Go module (github.com/plba/plba/infra) so that the
// CDK and jsii never enter the module graph of the Lambda binaries.
//
// # The application's manifest
//
// An application declares what it needs in apps/<name>/plba.app.yaml
// ([Manifest]): its three functions' main packages, fixed environment,
// settings a deployment must give (checked at synth), secrets (references,
// never values), its table with keys, indexes and which function may read
// or write it, and stage-config defaults. The stack reads it; a new
// application deploys with no edit here.
//
// # Configuration
//
// A [Config] is read by [LoadConfig]: built-in defaults, the manifest's
// defaults, apps/<name>/deploy/default.yaml, deploy/<stage>.yaml, then an
// optional extra file; [ConfigFromContext] does the same from the CDK
// context (-c app=NAME, -c stage=prod, -c configFile=..., -c assetDir=...,
// -c account=..., -c region=...). Unknown keys are errors.
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
// to its own log group and touch only its own queue(s), the table (as the
// manifest's table.access says) and the secrets listed for it, each by
// ARN, with the actions its job needs. The functions receive a secret's
// name as a "${ssm:/plba/<stage>/imap-password}" reference, never its
// value.
//
// # Function environment
//
// The Env* constants are the contract with the Lambda mains; docs/deploy.md
// lists which function gets which variable.
package plbastack
