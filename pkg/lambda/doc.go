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
//   - controlfn: the control actions of package control, by direct invoke
//     ({"action":"status"}) or Function URL.
//   - emulator: a Lambda Runtime API emulator that runs a bootstrap binary
//     as a child process and invokes it over HTTP, like the AWS RIE.
//
// This package holds what the three functions share: SQS clients, the
// configuration, and the mapping from the module's logical queue names to
// SQS queue URLs, built once per cold start.
//
// # Configuration
//
// A function reads the same validated configuration as `plba run`
// ([LoadConfig]: declared defaults, PLBA_CONFIG_FILES, PLBA_A__B
// environment variables, ${ssm:...} references). The settings it uses:
//
//	platform.queue.sqs.urls.<name>, .dlq_urls.<name>  queue and dead-letter URL per logical queue
//	platform.queue.sqs.url, .dlq_url                  for every queue not listed (one-queue stacks)
//	platform.queue.max_attempts     the redrive policy's maxReceiveCount (attempts before dead letter)
//	platform.queue.sqs.ready_counts_in_flight         for local-aws-sqs (see sqsqueue)
//	platform.lambda.worker.queue    the logical queue the worker consumes (default: the only one)
//	platform.lambda.worker.concurrency                records run in parallel (standard queues)
//	platform.routines.timeout, .backoff_min, .backoff_max
//
// each settable as an environment variable (platform.queue.max_attempts is
// PLBA_PLATFORM__QUEUE__MAX_ATTEMPTS). The names earlier stacks set still
// work and count as those keys: PLBA_QUEUE_<NAME>_URL, PLBA_QUEUE_<NAME>_DLQ_URL,
// PLBA_QUEUE_URL, PLBA_DLQ_URL, PLBA_MAX_RECEIVE_COUNT, PLBA_WORKER_QUEUE,
// PLBA_WORKER_CONCURRENCY, PLBA_SQS_READY_COUNTS_IN_FLIGHT (NAME is the
// queue name upper-cased with every character outside A-Z and 0-9 replaced
// by "_"). PLBA_BUILD is the build version control status shows;
// AWS_ENDPOINT_URL_SQS (AWS SDK) points at an SQS-compatible endpoint.
//
// # Custom workers
//
// A custom worker that is a contracts.Step (workers.Every) runs once per
// poller invocation, on the poller's schedule; any other custom worker
// makes [Build] fail with [ErrWorkerNotSupported], naming it.
//
// The AWS configuration comes from [github.com/plba/plba/pkg/config/awsconfig.Load]: in the bootstraps
// `make lambdas` builds (tag plba_lambda) only from the environment Lambda
// sets — AWS_REGION and the role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN, plus AWS_ENDPOINT_URL_<SERVICE> overrides — which
// keeps the SDK's other credential providers out of the binary; in other
// builds from the SDK's default chain.
package lambda
