// Package imapsource is a task source that turns the unseen messages of an
// IMAP mailbox into tasks, and marks a message \Seen only after its task
// succeeded. It implements [contracts.TaskSource], [contracts.PushSource],
// [contracts.Settler] and [contracts.HealthContributor] on
// github.com/emersion/go-imap/v2.
//
// # Modes
//
// The configuration alone chooses the mode; queue and routines stay the same.
// [Source.Poll] runs one cycle (the Lambda poller calls it once per
// invocation, the local runner on an interval). [Source.Run] is the push
// mode: it keeps a connection in IMAP IDLE and runs the same cycle whenever
// the server reports new mail, after every reconnect (catch-up by search)
// and every IdleRestart (a watchdog that also detects silently dead
// connections). With Mode "poll", Run polls every PollInterval instead.
//
// # One cycle
//
// SELECT (which yields UIDVALIDITY and PERMANENTFLAGS), one UID SEARCH for
// unseen messages that are neither in flight nor dead-lettered, one batched
// UID FETCH of up to BatchSize messages with BODY.PEEK[] (never sets \Seen),
// ENVELOPE and FLAGS, one UID STORE that marks them in flight (pipelined with
// a second one when recovered messages carry an old generation keyword), then
// one task per message. Only when publishing fails does one more UID STORE
// follow. The number of round trips never depends on the number of messages
// (measured: 4 commands per cycle, SELECT, SEARCH, FETCH and STORE, for 10
// and for 1,000 messages). A cycle that continues a catch-up (the previous
// cycle on the same connection, less than a second ago, left messages)
// reuses that selection and skips its SELECT.
//
// A task's Payload is the raw RFC 822 message. Its ID is derived from
// mailbox, UIDVALIDITY and UID ([TaskID]), so a message published again has
// the same ID. Its attributes: [contracts.AttrSource] (the source name),
// [contracts.AttrSourceRef] (an RFC 5092 IMAP URL such as
// imap://user@host:993/INBOX;UIDVALIDITY=123/;UID=45, never with a
// password), [AttrMailbox], [AttrUIDValidity], [AttrUID] and
// [AttrMessageID].
//
// # In flight, and what is guaranteed
//
// When PERMANENTFLAGS allows it (it lists \* or our keywords), a queued
// message carries the keyword InFlightKeyword ($Queued) plus one of four
// generation keywords ($QueuedG0..G3, the generation being
// now/StaleAfter mod 4). The search skips messages whose mark is of the
// current or the previous generation; an older mark is stale (the task was
// lost, e.g. a crash between publish and settle, or a queue purge) and the
// message is published again. So a mark protects a message for at least
// StaleAfter and at most 2*StaleAfter, provided a cycle runs at least every
// StaleAfter. The mark lives on the server, so it holds across processes
// (Lambda poller and worker).
//
// Order in a cycle: mark, then publish, then unmark what failed to publish.
// Marking first means a consumer can never settle a task before its mark is
// stored (a later mark would resurrect it). A message whose Publish fails is
// unmarked at once and picked up by the next cycle; if even the unmark fails
// (connection lost), stale recovery picks it up later. Nothing is lost, and
// no message is published twice while its mark is fresh. A message the queue
// refuses as too large ([contracts.ErrTooLarge]) is dead-lettered at once
// instead of being retried forever.
//
// When the server refuses keywords (PERMANENTFLAGS without \*), the source
// falls back to an in-process record of what it published, with the same
// StaleAfter expiry. That record protects against duplicates only within one
// process; across processes, delivery is at-least-once and the routine's
// idempotency (by Message-ID) carries the guarantee. In that mode a
// dead-lettered message is only \Flagged, and flagged messages are not
// polled (with OnDeadLetter "flag").
//
// # Settlement
//
// [Source.Settle] needs only the task's attributes and its own connection.
// Successes that arrive while a settlement is on the wire are coalesced:
// the next round sets \Seen on all of them with one pipelined pair of UID
// STOREs (a consumer pool that settles off its workers makes these rounds
// large).
// Success sets \Seen; a dead letter is flagged (\Flagged plus
// DeadLetterKeyword, left unseen) or moved to a folder; both clear the
// in-flight mark. The source never sets \Seen before a task succeeded: the
// fetch uses PEEK, and nothing else stores \Seen. A message the server
// returns without its body is not published ([ErrNoBody]; the next cycle
// retries it). Moves never lose a message: MOVE where offered, else COPY
// and, only after its OK, UID STORE \Deleted + UID EXPUNGE of those UIDs
// (UIDPLUS); without UIDPLUS the original stays, marked like a dead letter.
//
// UIDVALIDITY: every cycle compares it with the last one seen; after a change
// all messages are published again under their new UIDs (the routine's
// Message-ID idempotency absorbs the repeat). Settle compares the task's
// UIDVALIDITY with the mailbox's; if they differ it finds the message by
// Message-ID, and reports ([ErrMessageNotFound], Health "unsettled") when it
// cannot, rather than marking a message the old UID might now name.
//
// # Connections
//
// TLS is none, starttls or implicit, with an optional private CA (CAFile).
// The password is a [contracts.Secret] and appears in no log, error or
// health detail. Poll and Settle each keep one connection (so a Poll blocked
// in a full queue's Publish never holds up the Settle calls that drain it),
// redialled when found dead; Run has its own. A server without IDLE is
// polled every PollInterval on Run's connection. Every round trip is bounded by CommandTimeout
// (go-imap's Wait takes no context, so the connection is closed to unblock
// it). Run reconnects with jittered exponential backoff
// (cenkalti/backoff/v5) between BackoffMin and BackoffMax, re-checks
// UIDVALIDITY and catches up by search before it re-enters IDLE. While
// idling it sends NOOP every IdleCheck, which bounds the time to new mail on
// servers that do not push during IDLE. Causes reconnecting does not cure
// are distinct errors: [ErrMailboxNotFound], [ErrLoginRefused], [ErrTLS],
// [ErrUnsupported]; [Source.Check] tests a configuration.
//
// # Testing
//
// Package imaptest starts an in-process imapmemserver for fast tests and the
// demo (with options imitating servers without MOVE, UIDPLUS or IDLE
// notifications); packages dovecottest and cyrustest give a fresh user on
// the project's Dovecot and Cyrus (scripts/services/{dovecot,cyrus}.sh).
package imapsource
