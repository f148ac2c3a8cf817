// Package mailauth logs mail clients in: the SASL mechanisms XOAUTH2 and
// OAUTHBEARER (RFC 7628) with OAuth 2.0 access tokens, besides passwords;
// provider presets for Gmail and Microsoft 365; access tokens refreshed
// with golang.org/x/oauth2 before they expire and when a server refuses
// one; refresh tokens kept in a [Store] (a local file, an SSM parameter, a
// Secrets Manager secret, an environment variable) and written back there
// when the provider rotates them; and the `plba auth login` and
// `plba auth check` commands.
//
// # Configuration
//
// [Config] is the "auth" section of an IMAP or SMTP configuration.
// [Config.WithDefaults] is the one place its defaults (the preset's
// endpoints and scopes, the mechanism) are applied, [Config.Validate] the
// one place it is checked.
//
// # Tokens
//
// [NewLogin] returns the login of one account; for the bearer mechanisms
// it shares the process's [TokenSource] of that account ([Shared]), so the
// IMAP source's connections and the SMTP sender refresh once, and a warm
// Lambda container keeps its token. See [TokenSource] for how a rotated
// refresh token is written back and why concurrent processes do not lock
// the account out. Tokens are never logged, never in an error.
//
// # Error challenges
//
// A server that refuses a bearer token sends a JSON error as a SASL
// challenge and waits for a dummy response before it fails the command;
// this package's clients answer it (empty for XOAUTH2, %x01 for
// OAUTHBEARER) and keep the JSON ([ErrorReporter]). go-imap v2 sends an
// empty continuation response as "=", which Dovecot answers with BAD
// instead of NO [AUTHENTICATIONFAILED]; the exchange still ends cleanly.
package mailauth
