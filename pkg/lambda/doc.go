// Package lambda turns an application module into AWS Lambda functions:
// the same [contracts.ApplicationModule] that runs in the local process runs
// split into a scheduled poller, an SQS-triggered worker and a control
// function, with the same semantics.
//
// # Packages
//
//   - pollerfn: per invocation, Poll each source once into a batching SQS
//     publisher, flush, return a JSON summary.
//   - workerfn: events.SQSEvent → events.SQSEventResponse with
//     BatchItemFailures; routines run through routine.Executor exactly as
//     in local mode.
//   - controlfn: JSON actions ({"action":"status"}, {"action":"redrive-dlq"}).
//   - emulator: a Lambda Runtime API emulator that runs a bootstrap binary
//     as a child process and invokes it over HTTP, like the AWS RIE.
//
// This package holds what the three functions share: SQS clients and the
// mapping from the module's logical queue names to SQS queue URLs, read
// from the environment once per cold start.
//
// # Environment
//
//	PLBA_QUEUE_<NAME>_URL       URL of the SQS queue behind logical queue NAME
//	PLBA_QUEUE_<NAME>_DLQ_URL   its dead-letter queue
//	PLBA_QUEUE_URL, PLBA_DLQ_URL  fallback for every name
//	PLBA_MAX_RECEIVE_COUNT      the redrive policy's maxReceiveCount
//	PLBA_WORKER_QUEUE           the logical queue the worker consumes
//	                            (default: the only queue routines use)
//	PLBA_WORKER_CONCURRENCY     records run in parallel (standard queues)
//	PLBA_BUILD                  build version shown by control status
//	PLBA_SQS_READY_COUNTS_IN_FLIGHT=true  for local-aws-sqs (see sqsqueue)
//	AWS_ENDPOINT_URL_SQS        (AWS SDK) an SQS-compatible endpoint, e.g. local
//
// The AWS configuration comes from [github.com/plba/plba/pkg/config/awsconfig.Load]: in the bootstraps
// `make lambdas` builds (tag plba_lambda) only from the environment Lambda
// sets — AWS_REGION and the role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN, plus AWS_ENDPOINT_URL_<SERVICE> overrides — which
// keeps the SDK's other credential providers out of the binary; in other
// builds from the SDK's default chain.
//
// NAME is the logical queue name upper-cased with every character outside
// A-Z and 0-9 replaced by "_".
package lambda
