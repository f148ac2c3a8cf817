package mailauth

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Mechanisms for [Config.Mechanism].
const (
	MechLogin       = "login"       // IMAP LOGIN with the password (default)
	MechPlain       = "plain"       // SASL PLAIN with the password (SMTP's default)
	MechXOAUTH2     = "xoauth2"     // bearer token, XOAUTH2
	MechOAUTHBEARER = "oauthbearer" // bearer token, RFC 7628
)

// Provider presets for [OAuth2Config.Provider].
const (
	ProviderGmail        = "gmail"
	ProviderMicrosoft365 = "microsoft365"
)

// ErrInvalidConfig is wrapped by every error [Config.Validate] returns.
var ErrInvalidConfig = errors.New("mail auth: invalid config")

// Config says how a mail client logs in. It is a section of the IMAP and
// SMTP configurations ("auth"); the zero value logs in with the password.
//
//	auth:
//	  mechanism: xoauth2
//	  oauth2:
//	    provider: microsoft365
//	    tenant: contoso.onmicrosoft.com
//	    client_id: 00000000-0000-0000-0000-000000000000
//	    token_store: file:/var/lib/plba/orders.token
type Config struct {
	// Mechanism is login, plain, xoauth2 or oauthbearer. Default: the
	// protocol's password mechanism (login for IMAP, plain for SMTP), or
	// xoauth2 when oauth2.provider is set.
	Mechanism string `koanf:"mechanism"`
	// OAuth2 is used by xoauth2 and oauthbearer.
	OAuth2 OAuth2Config `koanf:"oauth2"`
}

// OAuth2Config is an OAuth 2.0 client with a refresh token. A provider
// preset fills the endpoints and scopes; every preset field can be
// overridden, and without a provider the endpoints are required.
type OAuth2Config struct {
	// Provider is gmail, microsoft365 or empty (generic: give the URLs).
	Provider string `koanf:"provider"`
	// Tenant is the Microsoft Entra tenant (ID or domain) in the endpoint
	// URLs; default "organizations" (any work or school account).
	Tenant string `koanf:"tenant"`
	// ClientID is the application (client) ID of the app registration.
	ClientID string `koanf:"client_id"`
	// ClientSecret, when the provider issued one. Google's "Desktop app"
	// clients have a secret that is not secret; Microsoft public clients
	// have none.
	ClientSecret contracts.Secret `koanf:"client_secret"`
	// AuthURL is the authorization endpoint (plba auth login).
	AuthURL string `koanf:"auth_url"`
	// TokenURL is the token endpoint.
	TokenURL string `koanf:"token_url"`
	// DeviceAuthURL is the device authorization endpoint (RFC 8628), for
	// providers that allow the device flow for mail scopes (Microsoft).
	DeviceAuthURL string `koanf:"device_auth_url"`
	// Scopes requested by plba auth login and on refresh.
	Scopes []string `koanf:"scopes"`
	// RefreshToken is the refresh token, usually a reference
	// (${ssm:/plba/prod/imap-refresh-token}); its reference is where a
	// rotated refresh token is written back unless TokenStore says
	// otherwise.
	RefreshToken contracts.Secret `koanf:"refresh_token"`
	// TokenStore is where the refresh token lives: file:PATH (0600,
	// written atomically, locked while refreshing), ssm:NAME,
	// secretsmanager:ID or env:NAME (read only). It is read at the first
	// login, re-read before every refresh, written back when the provider
	// rotates the token, and written by plba auth login. Default: the
	// reference refresh_token was resolved from.
	TokenStore string `koanf:"token_store"`
	// RefreshBefore refreshes the access token this long before it
	// expires; default 2m.
	RefreshBefore time.Duration `koanf:"refresh_before"`
}

// Preset is what a provider preset gives.
type Preset struct {
	IMAPAddr, SMTPAddr string
	IMAPTLS, SMTPTLS   string
	AuthURL, TokenURL  string
	DeviceAuthURL      string
	Scopes             []string
	// Mechanism is the SASL mechanism the provider supports for both IMAP
	// and SMTP.
	Mechanism string
}

// Presets returns the preset of provider (tenant only matters for
// microsoft365), or false.
func Presets(provider, tenant string) (Preset, bool) {
	switch provider {
	case ProviderGmail:
		// Google's device flow does not allow the mail scope: loopback only.
		return Preset{
			IMAPAddr: "imap.gmail.com:993", IMAPTLS: "implicit",
			SMTPAddr: "smtp.gmail.com:465", SMTPTLS: "implicit",
			AuthURL:   "https://accounts.google.com/o/oauth2/v2/auth",
			TokenURL:  "https://oauth2.googleapis.com/token",
			Scopes:    []string{"https://mail.google.com/"},
			Mechanism: MechXOAUTH2,
		}, true
	case ProviderMicrosoft365:
		if tenant == "" {
			tenant = "organizations"
		}
		base := "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/"
		return Preset{
			IMAPAddr: "outlook.office365.com:993", IMAPTLS: "implicit",
			SMTPAddr: "smtp.office365.com:587", SMTPTLS: "starttls",
			AuthURL:       base + "authorize",
			TokenURL:      base + "token",
			DeviceAuthURL: base + "devicecode",
			// offline_access is what yields a refresh token.
			Scopes: []string{"https://outlook.office.com/IMAP.AccessAsUser.All",
				"https://outlook.office.com/SMTP.Send", "offline_access"},
			Mechanism: MechXOAUTH2,
		}, true
	}
	return Preset{}, false
}

// DefaultRefreshBefore is [OAuth2Config.RefreshBefore]'s default.
const DefaultRefreshBefore = 2 * time.Minute

// WithDefaults returns c with the preset's and the package's defaults
// applied; passwordMech is the protocol's password mechanism (login for
// IMAP, plain for SMTP). This is the one place these defaults live.
func (c Config) WithDefaults(passwordMech string) Config {
	o := &c.OAuth2
	p, ok := Presets(o.Provider, o.Tenant)
	if c.Mechanism == "" {
		c.Mechanism = passwordMech
		if ok {
			c.Mechanism = p.Mechanism
		}
	}
	if ok {
		if o.AuthURL == "" {
			o.AuthURL = p.AuthURL
		}
		if o.TokenURL == "" {
			o.TokenURL = p.TokenURL
		}
		if o.DeviceAuthURL == "" {
			o.DeviceAuthURL = p.DeviceAuthURL
		}
		if len(o.Scopes) == 0 {
			o.Scopes = slices.Clone(p.Scopes)
		}
	}
	if o.RefreshBefore == 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	return c
}

// UsesOAuth2 reports whether the mechanism needs a token (after defaults).
func (c Config) UsesOAuth2() bool {
	return c.Mechanism == MechXOAUTH2 || c.Mechanism == MechOAUTHBEARER
}

// Problem is one invalid setting: Key is below the auth section
// ("mechanism", "oauth2.client_id").
type Problem struct {
	Key, Message string
}

// Validate checks c after [Config.WithDefaults]. Errors wrap
// [ErrInvalidConfig] and name the key with prefix in front
// ("apps.mailorderbot.imap.auth."); they never contain a secret.
func (c Config) Validate(prefix, passwordMech string) error {
	var errs []error
	for _, p := range c.Problems(passwordMech) {
		errs = append(errs, fmt.Errorf("%w: %s%s: %s", ErrInvalidConfig, prefix, p.Key, p.Message))
	}
	return errors.Join(errs...)
}

// Problems lists what is wrong with c after [Config.WithDefaults], for
// callers that report problems in their own format.
func (c Config) Problems(passwordMech string) []Problem {
	c = c.WithDefaults(passwordMech)
	var probs []Problem
	bad := func(key, format string, args ...any) {
		probs = append(probs, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	switch c.Mechanism {
	case MechLogin, MechPlain, MechXOAUTH2, MechOAUTHBEARER:
	default:
		bad("mechanism", "%q is not one of login, plain, xoauth2, oauthbearer", c.Mechanism)
	}
	o := c.OAuth2
	if o.Provider != "" {
		if _, ok := Presets(o.Provider, o.Tenant); !ok {
			bad("oauth2.provider", "%q is not one of gmail, microsoft365 (leave it empty for a generic provider)", o.Provider)
		}
	}
	if o.RefreshBefore < 0 {
		bad("oauth2.refresh_before", "negative duration %s", o.RefreshBefore)
	}
	if o.TokenStore != "" {
		if _, _, err := ParseStore(o.TokenStore); err != nil {
			bad("oauth2.token_store", "%v", err)
		}
	}
	if !c.UsesOAuth2() {
		return probs
	}
	if o.ClientID == "" {
		bad("oauth2.client_id", "required for mechanism %s", c.Mechanism)
	}
	for _, key := range []string{"oauth2.token_url", "oauth2.auth_url", "oauth2.device_auth_url"} {
		u := map[string]string{"oauth2.token_url": o.TokenURL, "oauth2.auth_url": o.AuthURL, "oauth2.device_auth_url": o.DeviceAuthURL}[key]
		if u == "" {
			if key == "oauth2.token_url" {
				bad(key, "required for mechanism %s without a provider", c.Mechanism)
			}
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			bad(key, "%q is not an http(s) URL", u)
		} else if pu.Scheme == "http" && !isLoopback(pu.Hostname()) {
			bad(key, "%q: plain http is allowed for loopback test servers only", u)
		}
	}
	if o.RefreshToken.IsZero() && o.TokenStore == "" {
		bad("oauth2.refresh_token", "required for mechanism %s: set refresh_token (a ${ssm:...} reference) or token_store, then run plba auth login", c.Mechanism)
	}
	return probs
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// SecretRefs is implemented by configurations that remember which
// reference a secret was resolved from (*config.Manager does).
type SecretRefs interface {
	SecretRef(path string) (string, bool)
}

// BindStore sets c.OAuth2.TokenStore, when it is empty, to the reference
// oauth2.refresh_token was resolved from: path is the auth section's key
// path ("apps.mailorderbot.imap.auth") in cfg. A rotated refresh token is
// then written back to that SSM parameter, secret or file. Without a
// reference (a literal token) the store stays a read-only value.
func BindStore(cfg contracts.Config, path string, c *Config) {
	if c.OAuth2.TokenStore != "" {
		return
	}
	r, ok := cfg.(SecretRefs)
	if !ok {
		return
	}
	ref, ok := r.SecretRef(path + ".oauth2.refresh_token")
	if !ok {
		return
	}
	if _, _, err := ParseStore(ref); err == nil {
		c.OAuth2.TokenStore = ref
	}
}
