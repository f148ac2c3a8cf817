package mailauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// SASL mechanism names.
const (
	// XOAUTH2 is Google's and Microsoft's pre-standard bearer token
	// mechanism (https://developers.google.com/gmail/imap/xoauth2-protocol).
	XOAUTH2 = "XOAUTH2"
	// OAUTHBEARER is RFC 7628's mechanism.
	OAUTHBEARER = "OAUTHBEARER"
)

// ServerError is the error a server reports in the SASL challenge after it
// refused a bearer token (RFC 7628 section 3.2.2; XOAUTH2 uses the same
// JSON). It never contains the token.
type ServerError struct {
	Mechanism string
	Status    string `json:"status"`
	Schemes   string `json:"schemes,omitempty"`
	Scope     string `json:"scope,omitempty"`
}

func (e *ServerError) Error() string {
	s := fmt.Sprintf("%s: server refused the access token (status %q", e.Mechanism, e.Status)
	if e.Scope != "" {
		s += fmt.Sprintf(", scope %q", e.Scope)
	}
	return s + ")"
}

// ErrorReporter is implemented by the SASL clients of this package: after
// a failed exchange it returns the server's error challenge, if it sent
// one.
type ErrorReporter interface {
	ServerError() *ServerError
}

// NewXOAUTH2Client returns a SASL client for XOAUTH2. The initial response
// is "user=" user ^A "auth=Bearer " token ^A ^A. When the server refuses the
// token it sends a base64 JSON error as a challenge and expects an empty
// response, after which it fails the command; the client answers with the
// empty response (so the server's final NO/535 with its response code
// arrives), and records the JSON for [ErrorReporter].
//
// go-sasl has no XOAUTH2 client.
func NewXOAUTH2Client(username, token string) sasl.Client {
	return &bearerClient{mech: XOAUTH2, user: username, token: token}
}

// NewOAUTHBEARERClient returns a SASL client for OAUTHBEARER (RFC 7628):
// a GS2 header with the authorization identity (escaped per RFC 5801),
// optional host and port, and the bearer token. On an error challenge it
// answers with the single byte %x01, as RFC 7628 section 3.2.3 requires,
// and records the error for [ErrorReporter].
//
// go-sasl's own client fails the exchange on the error challenge instead
// of sending %x01 (go-imap then leaves the AUTHENTICATE command waiting for
// a response, go-smtp sends "*") and does not escape ',' and '=' in the
// user name, so this package has its own.
func NewOAUTHBEARERClient(username, token, host string, port int) sasl.Client {
	return &bearerClient{mech: OAUTHBEARER, user: username, token: token, host: host, port: port}
}

type bearerClient struct {
	mech       string
	user       string
	token      string
	host       string
	port       int
	serverErr  *ServerError
	challenges int
}

var _ ErrorReporter = (*bearerClient)(nil)

func (c *bearerClient) Start() (string, []byte, error) {
	if c.token == "" {
		return "", nil, errors.New("mailauth: empty access token")
	}
	if strings.ContainsAny(c.user, "\x01") || strings.ContainsAny(c.token, "\x01 ") {
		return "", nil, errors.New("mailauth: user name or token contains a forbidden character")
	}
	var b strings.Builder
	switch c.mech {
	case XOAUTH2:
		b.WriteString("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01")
	default:
		b.WriteString("n,")
		if c.user != "" {
			b.WriteString("a=" + gs2Escape(c.user))
		}
		b.WriteString(",")
		if c.host != "" {
			b.WriteString("\x01host=" + c.host)
		}
		if c.port != 0 {
			b.WriteString("\x01port=" + strconv.Itoa(c.port))
		}
		b.WriteString("\x01auth=Bearer " + c.token + "\x01\x01")
	}
	return c.mech, []byte(b.String()), nil
}

func (c *bearerClient) Next(challenge []byte) ([]byte, error) {
	c.challenges++
	if c.challenges > 1 {
		// A server that keeps challenging after the error answer is
		// broken; do not loop.
		return nil, fmt.Errorf("mailauth: %s: unexpected second challenge", c.mech)
	}
	e := &ServerError{Mechanism: c.mech}
	if err := json.Unmarshal(challenge, e); err != nil || e.Status == "" {
		// Not the JSON error: still answer as the error case requires,
		// the server decides.
		e.Status = "unknown"
	}
	c.serverErr = e
	if c.mech == OAUTHBEARER {
		return []byte{0x01}, nil
	}
	// Empty but not nil: go-smtp stops the exchange on a nil response.
	return []byte{}, nil
}

func (c *bearerClient) ServerError() *ServerError { return c.serverErr }

// gs2Escape escapes ',' and '=' in a GS2 authzid (RFC 5801 section 4).
func gs2Escape(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}
