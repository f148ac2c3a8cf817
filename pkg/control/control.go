// Package control is PLBA's ControlPlaneService: one registry of control
// actions with typed requests and responses, and the transports that serve
// it — the local runner's HTTP JSON API (this package), the Lambda control
// function's direct invoke and Function URL (package
// pkg/lambda/controlfn) and the CLI (package controlcli, local or
// against a deployed function). Every transport calls [Service.Do], so an
// action gives the same typed result, or the same typed error, on each.
//
// # Actions
//
// Call an action with a JSON object: {"action":"dlq.list","queue":"orders"}.
// Over HTTP the action is the path (POST /api/v1/dlq.list with the object
// as body; read actions also answer GET with query parameters). Every
// answer is a [Response]: {"action","ok","result"} or {"action","ok":false,
// "error":{"code","message"}}; code "not_supported" is the one answer for
// an action the deployment cannot offer.
//
//	action       access          local                         split (control function)
//	status       read            runtime, health, workers,     build, config version, health of
//	                             queues                        contributors, queue depths
//	health       read            health registry               module contributors
//	workers      read            supervisor                    not supported (no shared memory)
//	queues       read            queue stats                   SQS depths (queue and DLQ)
//	config       read            redacted configuration        redacted configuration of the function
//	reload       mutate          config reload                 not supported (cold start loads it)
//	dlq.list     read            queue + source-marked         SQS DLQ
//	dlq.peek     read-sensitive  one dead letter, payload      same
//	                             bounded and redacted
//	dlq.redrive  mutate          queue + source-marked         SQS DLQ
//	dlq.purge    mutate          queues with PurgeDeadLetters  queues with PurgeDeadLetters
//	                             and source-marked
//	pause        mutate          stop a source/pool worker     awspause: event source mapping or
//	resume       mutate          start it again                schedule rule; else not supported
//	restart      mutate          fresh worker instance         not supported
//	outcomes     read            ring of recent outcomes       not supported (no shared memory)
//	actions      read            this table                    this table
//	panels       read            modules' status page panels   same
//
// Modules add actions by implementing [contracts.ActionProvider], and
// status page panels over them with [contracts.PanelProvider].
//
// # Security
//
// Any web page the user opens can send requests to 127.0.0.1, so the HTTP
// transport checks, on every request, the Host header against loopback
// names, the listen host and platform.control.allowed_hosts (DNS
// rebinding), and a per-client rate limit. POST requests must pass
// net/http's cross-origin protection (Sec-Fetch-Site, Origin) and carry an
// application/json body of at most platform.control.max_body_bytes.
// Actions marked mutate or read-sensitive need Authorization: Bearer
// TOKEN, compared in constant time; each of them writes one audit line
// (who, action, result; never parameters or secrets). [Prepare] settles
// the token: platform.control.token if set; else, on a loopback listen, a
// generated one written 0600 to platform.control.token_file (default
// var/control.token) where the CLI reads it; a non-loopback listen without
// a token is refused ([ErrTokenRequired], exit 2). The Lambda transports
// are authenticated by IAM (lambda:InvokeFunction, Function URL auth type
// AWS_IAM).
//
// # Endpoints
//
//	GET  /healthz              200 when live, 503 otherwise
//	GET  /readyz               200 when ready, 503 otherwise (health result)
//	GET  /status, /config      the status or config result, without envelope
//	GET  /                     the live status page: static HTML, CSS and
//	                           script (embedded; hash-based CSP) that
//	                           call the actions below
//	GET  /api/v1/ACTION        read actions, parameters from the query
//	POST /api/v1/ACTION        any action, parameters as a JSON object body
package control
