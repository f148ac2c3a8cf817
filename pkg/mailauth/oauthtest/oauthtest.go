// Package oauthtest is a small OAuth 2.0 authorization server for tests:
// it issues and refreshes tokens (optionally rotating refresh tokens),
// runs the authorization code flow with PKCE (S256, checked) and the device
// flow, can revoke a refresh token and expire access tokens early, and
// answers RFC 7662 token introspection, which Dovecot's oauth2 passdb calls
// to validate the tokens an IMAP client presents.
//
// It listens on 127.0.0.1 over plain HTTP; nothing here is fit for
// anything but tests.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClientID is the only client the server knows; it is public (no secret).
const ClientID = "plba-test-client"

// Server is the test authorization server.
type Server struct {
	URL string // base URL, e.g. http://127.0.0.1:41234

	// AccessTTL is the lifetime of issued access tokens; default 1h.
	AccessTTL time.Duration
	// Rotate makes every refresh return a new refresh token (the old one
	// stays valid, as Microsoft's do).
	Rotate bool
	// OneTime makes a rotated refresh token invalid once used (strict
	// rotation): a second refresh with it is invalid_grant.
	OneTime bool
	// AuthorizeUser is the user the authorization endpoint approves as;
	// default "user@example.test".
	AuthorizeUser string
	// RefreshDelay delays refresh answers (to let concurrent callers pile
	// up in tests of the one-refresh-at-a-time rule).
	RefreshDelay time.Duration

	srv *httptest.Server

	mu       sync.Mutex
	refresh  map[string]*grant // refresh token → grant
	access   map[string]accessToken
	codes    map[string]codeGrant
	devices  map[string]string // device code → user ("" until approved)
	counts   map[string]int
	lastPKCE string
}

type grant struct {
	user    string
	revoked bool
}

type accessToken struct {
	user    string
	expires time.Time
	g       *grant
}

type codeGrant struct {
	user, redirect, challenge string
}

// New starts a server, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{AccessTTL: time.Hour, AuthorizeUser: "user@example.test",
		refresh: map[string]*grant{}, access: map[string]accessToken{}, codes: map[string]codeGrant{},
		devices: map[string]string{}, counts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /devicecode", s.deviceCode)
	mux.HandleFunc("POST /introspect", s.introspect)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// TokenURL, AuthURL, DeviceAuthURL and IntrospectionURL are the endpoints.
func (s *Server) TokenURL() string         { return s.URL + "/token" }
func (s *Server) AuthURL() string          { return s.URL + "/authorize" }
func (s *Server) DeviceAuthURL() string    { return s.URL + "/devicecode" }
func (s *Server) IntrospectionURL() string { return s.URL + "/introspect" }

// IssueRefreshToken returns a new refresh token for user, as a finished
// plba auth login would have stored.
func (s *Server) IssueRefreshToken(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := "rt-" + random()
	s.refresh[rt] = &grant{user: user}
	return rt
}

// Revoke revokes a refresh token and every access token issued from it
// or its rotations.
func (s *Server) Revoke(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.refresh[rt]; ok {
		g.revoked = true
	}
}

// ExpireAccessTokens makes every access token issued so far invalid, as if
// the provider had cut their lifetime short.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, a := range s.access {
		a.expires = time.Time{}
		s.access[k] = a
	}
}

// Count returns how often an endpoint was called ("refresh",
// "authorization_code", "device_code", "introspect", "authorize").
func (s *Server) Count(what string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[what]
}

// Valid reports whether access token tok is valid now.
func (s *Server) Valid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.access[tok]
	return ok && !a.g.revoked && time.Now().Before(a.expires)
}

// RefreshUser returns the user of refresh token rt ("" when unknown).
func (s *Server) RefreshUser(rt string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.refresh[rt]; ok {
		return g.user
	}
	return ""
}

func random() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

// issue creates tokens for g; s.mu is held.
func (s *Server) issue(w http.ResponseWriter, g *grant, rt string) {
	at := "at-" + random()
	s.access[at] = accessToken{user: g.user, expires: time.Now().Add(s.AccessTTL), g: g}
	out := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(s.AccessTTL / time.Second)}
	if rt != "" {
		out["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", "bad form")
		return
	}
	if r.PostForm.Get("client_id") != ClientID {
		oauthError(w, "invalid_client", "unknown client")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		if s.RefreshDelay > 0 {
			time.Sleep(s.RefreshDelay)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.counts["refresh"]++
		g, ok := s.refresh[r.PostForm.Get("refresh_token")]
		if !ok || g.revoked {
			oauthError(w, "invalid_grant", "the refresh token is invalid or revoked")
			return
		}
		rt := ""
		if s.Rotate {
			rt = "rt-" + random()
			s.refresh[rt] = g // same grant: revoking one revokes the family
			if s.OneTime {
				delete(s.refresh, r.PostForm.Get("refresh_token"))
			}
		}
		s.issue(w, g, rt)
	case "authorization_code":
		s.mu.Lock()
		defer s.mu.Unlock()
		s.counts["authorization_code"]++
		c, ok := s.codes[r.PostForm.Get("code")]
		delete(s.codes, r.PostForm.Get("code"))
		if !ok || c.redirect != r.PostForm.Get("redirect_uri") {
			oauthError(w, "invalid_grant", "unknown code or redirect_uri mismatch")
			return
		}
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if c.challenge == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			oauthError(w, "invalid_grant", "PKCE verification failed")
			return
		}
		g := &grant{user: c.user}
		rt := "rt-" + random()
		s.refresh[rt] = g
		s.issue(w, g, rt)
	case "urn:ietf:params:oauth:grant-type:device_code":
		s.mu.Lock()
		defer s.mu.Unlock()
		s.counts["device_code"]++
		user, ok := s.devices[r.PostForm.Get("device_code")]
		if !ok {
			oauthError(w, "expired_token", "unknown device code")
			return
		}
		delete(s.devices, r.PostForm.Get("device_code"))
		g := &grant{user: user}
		rt := "rt-" + random()
		s.refresh[rt] = g
		s.issue(w, g, rt)
	default:
		oauthError(w, "unsupported_grant_type", r.PostForm.Get("grant_type"))
	}
}

// authorize approves at once as AuthorizeUser and redirects with a code;
// it requires PKCE with S256.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.counts["authorize"]++
	s.lastPKCE = q.Get("code_challenge")
	s.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != ClientID || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "PKCE (S256) required", http.StatusBadRequest)
		return
	}
	code := "code-" + random()
	s.mu.Lock()
	s.codes[code] = codeGrant{user: s.AuthorizeUser, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	s.mu.Unlock()
	v := redirect.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// deviceCode starts a device flow that is approved at once as
// AuthorizeUser (the first poll succeeds).
func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != ClientID {
		oauthError(w, "invalid_client", "unknown client")
		return
	}
	dc := "dc-" + random()
	s.mu.Lock()
	s.devices[dc] = s.AuthorizeUser
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"device_code": dc, "user_code": "ABCD-EFGH",
		"verification_uri": s.URL + "/device", "expires_in": 600, "interval": 1})
}

// introspect implements RFC 7662 for Dovecot's oauth2 passdb
// (introspection_mode = post).
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	if tok == "" {
		// Dovecot may send the token as a bearer header instead.
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts["introspect"]++
	a, ok := s.access[tok]
	if !ok || a.g.revoked || !time.Now().Before(a.expires) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": true, "username": a.user, "client_id": ClientID,
		"exp": a.expires.Unix(), "scope": "mail"})
}

// LastChallenge returns the PKCE code challenge of the last authorization
// request.
func (s *Server) LastChallenge() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastPKCE
}
