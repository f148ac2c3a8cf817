// Package contracts holds the small interfaces and value types an application
// is written against. They know nothing about any business domain: the runtime
// knows that a worker started or stopped and that a routine succeeded or
// failed, never what the routine meant.
//
// # Shape of an application
//
// An [ApplicationModule] registers, through a [Registry]:
//
//   - task sources ([TaskSource], optionally [PushSource] and [Settler]) that
//     turn outside events into [Task] values;
//   - routines ([Routine]) that do the business work for one task kind;
//   - custom workers ([Worker]) and health contributors ([HealthContributor]).
//
// A module may also offer commands ([CommandProvider]), control actions
// ([ActionProvider]) and status page panels over those actions
// ([PanelProvider]).
//
// The deployment decides how those pieces run: the local runner puts a source
// worker and a consumer pool around a [TaskQueue]; the Lambda adapters run the
// sources once per scheduled invocation and the routines once per SQS record.
// The module does not change between the two.
//
// # Outcomes
//
// A routine returns nil (the task is acknowledged), an error (the task is
// retried after the default backoff), [Retry] (retried after the given delay)
// or [Permanent] (dead-lettered at once). A panic is recovered by the worker
// and treated like an error.
package contracts
