package awsconfig_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/contracts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAWS speaks the AWS JSON 1.1 protocol of SSM and Secrets Manager for
// the few operations used: requests are POSTs whose X-Amz-Target names the
// operation, bodies and answers are JSON.
type fakeAWS struct {
	mu     sync.Mutex
	params map[string][2]string // name → type, value
	secret map[string]string
	calls  map[string]int
	// failures are answered, in order, before anything else.
	failures []failure
}

type failure struct {
	status int
	typ    string
}

func newFake(t *testing.T) (*fakeAWS, *httptest.Server) {
	f := &fakeAWS{params: map[string][2]string{}, secret: map[string]string{}, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	body, _ := io.ReadAll(r.Body)
	if err := verifySignature(r, body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "InvalidSignatureException", "message": err.Error()})
		return
	}
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[target]++
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if len(f.failures) > 0 {
		// Scripted answers first: [status, __type].
		st, typ := f.failures[0].status, f.failures[0].typ
		f.failures = f.failures[1:]
		w.WriteHeader(st)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": "scripted " + typ})
		return
	}
	fail := func(typ, msg string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	param := func(name string) map[string]any {
		p := f.params[name]
		v := p[1]
		if p[0] == "SecureString" && in["WithDecryption"] != true {
			v = "AQICAHh-encrypted-blob"
		}
		return map[string]any{"Name": name, "Type": p[0], "Value": v, "Version": 1}
	}
	switch target {
	case "AmazonSSM.GetParameter":
		name, _ := in["Name"].(string)
		if _, ok := f.params[name]; !ok {
			fail("ParameterNotFound", "")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": param(name)})
	case "AmazonSSM.GetParametersByPath":
		path, _ := in["Path"].(string)
		var names []string
		for n := range f.params {
			if strings.HasPrefix(n, strings.TrimSuffix(path, "/")+"/") {
				names = append(names, n)
			}
		}
		// Two pages, to exercise the paginator.
		tok, _ := in["NextToken"].(string)
		var ps []any
		for i, n := range sortStrings(names) {
			if (tok == "" && i%2 == 0) || (tok == "page2" && i%2 == 1) {
				ps = append(ps, param(n))
			}
		}
		out := map[string]any{"Parameters": ps}
		if tok == "" {
			out["NextToken"] = "page2"
		}
		_ = json.NewEncoder(w).Encode(out)
	case "secretsmanager.GetSecretValue":
		id, _ := in["SecretId"].(string)
		v, ok := f.secret[id]
		if !ok {
			fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + id,
			"Name": id, "SecretString": v, "VersionId": "v1"})
	case "AmazonSSM.PutParameter":
		name, _ := in["Name"].(string)
		v, _ := in["Value"].(string)
		typ, _ := in["Type"].(string)
		if _, ok := f.params[name]; ok && in["Overwrite"] != true {
			fail("ParameterAlreadyExists", "")
			return
		}
		f.params[name] = [2]string{typ, v}
		_ = json.NewEncoder(w).Encode(map[string]any{"Version": 2, "Tier": "Standard"})
	case "secretsmanager.PutSecretValue":
		id, _ := in["SecretId"].(string)
		if _, ok := f.secret[id]; !ok {
			fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		f.secret[id], _ = in["SecretString"].(string)
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:x", "Name": id, "VersionId": "v2"})
	default:
		fail("UnknownOperationException", target)
	}
}

// verifySignature checks the request's Signature Version 4 by signing the
// signed headers and the body again with the test credentials.
func verifySignature(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		return errors.New("unsigned request")
	}
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	if !ok {
		return errors.New("no SignedHeaders")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	service := strings.Split(auth, "/")[3] // Credential=ID/date/region/service/aws4_request
	re, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "x-amz-date" {
			re.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"},
		re, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		return err
	}
	if got := re.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return nil
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func awsCfg(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts: 1,
	}
}

func TestResolvers(t *testing.T) {
	f, srv := newFake(t)
	f.params["/plba/imap/password"] = [2]string{"SecureString", "ssm-secret-pw"}
	f.params["/plba/imap/user"] = [2]string{"String", "bot@example.org"}
	f.secret["prod/db"] = `{"user":"app","password":"sm-secret-pw","port":5432}`
	f.secret["prod/token"] = "sm-token-value"

	m, err := config.New(t.Context(), config.Options{
		Environ: []string{
			"PLBA_APPS__BOT__PASSWORD=${ssm:/plba/imap/password}",
			"PLBA_APPS__BOT__USER=${ssm:/plba/imap/user}",
			"PLBA_APPS__BOT__DB=postgres://app:${secretsmanager:prod/db#password}@db:${secretsmanager:prod/db#port}/x",
			"PLBA_APPS__BOT__TOKEN=${secretsmanager:prod/token}",
		},
		Resolvers: awsconfig.Resolvers(awsCfg(srv.URL), time.Hour),
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	type Bot struct {
		Password string `koanf:"password"`
		User     string `koanf:"user"`
		DB       string `koanf:"db"`
		Token    string `koanf:"token"`
	}
	b, err := config.Get[Bot](m, "apps.bot")
	if err != nil {
		t.Fatal(err)
	}
	want := Bot{"ssm-secret-pw", "bot@example.org", "postgres://app:sm-secret-pw@db:5432/x", "sm-token-value"}
	if b != want {
		t.Fatalf("got %+v\nwant %+v", b, want)
	}
	red, _ := json.Marshal(m.Redacted())
	for _, s := range []string{"ssm-secret-pw", "sm-secret-pw", "sm-token-value"} {
		if strings.Contains(string(red), s) {
			t.Errorf("redacted view leaks %s: %s", s, red)
		}
	}
	// Cached for maxAge: a reload calls AWS no more.
	before := f.count("AmazonSSM.GetParameter") + f.count("secretsmanager.GetSecretValue")
	if before != 4 {
		t.Errorf("%d calls for 4 distinct references (one secret used twice)", before)
	}
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := f.count("AmazonSSM.GetParameter") + f.count("secretsmanager.GetSecretValue"); after != before {
		t.Errorf("reload within maxAge called AWS %d more times", after-before)
	}
}

func TestResolverCacheExpires(t *testing.T) {
	f, srv := newFake(t)
	f.params["/p"] = [2]string{"SecureString", "v1"}
	r := awsconfig.NewSSMResolver(awsconfig.NewClient(awsCfg(srv.URL)), 0)
	for _, want := range []string{"v1", "v2"} {
		f.mu.Lock()
		f.params["/p"] = [2]string{"SecureString", want}
		f.mu.Unlock()
		got, err := r.Resolve(t.Context(), "/p")
		if err != nil || got != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	if n := f.count("AmazonSSM.GetParameter"); n != 2 {
		t.Fatalf("maxAge 0: %d calls, want 2", n)
	}
}

func TestNotFound(t *testing.T) {
	_, srv := newFake(t)
	cfg := awsCfg(srv.URL)
	_, err := awsconfig.NewSSMResolver(awsconfig.NewClient(cfg), time.Minute).Resolve(t.Context(), "/missing")
	if !errors.Is(err, config.ErrNotFound) {
		t.Errorf("ssm: %v", err)
	}
	_, err = awsconfig.NewSecretsManagerResolver(awsconfig.NewClient(cfg), time.Minute).Resolve(t.Context(), "missing#x")
	if !errors.Is(err, config.ErrNotFound) {
		t.Errorf("secretsmanager: %v", err)
	}
	// Through the manager: the reference, never a value, in the message.
	_, err = config.New(t.Context(), config.Options{
		Environ:   []string{"PLBA_APPS__BOT__PASSWORD=${ssm:/missing}"},
		Resolvers: awsconfig.Resolvers(cfg, time.Minute),
	})
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(),
		"apps.bot.password (from env PLBA_APPS__BOT__PASSWORD): cannot resolve ${ssm:/missing}: ssm parameter /missing: secret not found") {
		t.Errorf("manager: %v", err)
	}
}

func TestSecretsManagerFieldErrorsDoNotEcho(t *testing.T) {
	f, srv := newFake(t)
	f.secret["plain"] = "not-json-secret-value"
	r := awsconfig.NewSecretsManagerResolver(awsconfig.NewClient(awsCfg(srv.URL)), time.Minute)
	_, err := r.Resolve(t.Context(), "plain#field")
	if err == nil || strings.Contains(err.Error(), "not-json-secret-value") {
		t.Fatalf("got %v", err)
	}
}

func TestSSMProviderLayer(t *testing.T) {
	f, srv := newFake(t)
	f.params["/plba/prod/apps/bot/workers"] = [2]string{"String", "6"}
	f.params["/plba/prod/apps/bot/imap/password"] = [2]string{"SecureString", "layer-secret"}
	f.params["/plba/prod/platform/log/level"] = [2]string{"String", "debug"}
	f.params["/other/x"] = [2]string{"String", "no"}
	p := &awsconfig.SSMProvider{Client: awsconfig.NewClient(awsCfg(srv.URL)), Path: "/plba/prod"}
	m, err := config.New(t.Context(), config.Options{
		Environ:   []string{"PLBA_APPS__BOT__WORKERS=2"},
		Providers: []contracts.ConfigProvider{p},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := config.Get[int](m, "apps.bot.workers"); n != 6 {
		t.Errorf("workers = %d (provider is above env)", n)
	}
	if s := m.Source("apps.bot.workers"); s != "ssm /plba/prod" {
		t.Errorf("source %q", s)
	}
	if l, _ := config.Get[string](m, "platform.log.level"); l != "debug" {
		t.Errorf("level %q", l)
	}
	if !m.IsSecret("apps.bot.imap.password") || m.IsSecret("apps.bot.workers") {
		t.Error("SecureString not marked secret")
	}
	if pw, _ := config.Get[string](m, "apps.bot.imap.password"); pw != "layer-secret" {
		t.Errorf("password %q (decrypted?)", pw)
	}
	if m.Raw("other") != nil && len(m.Raw("other").(map[string]any)) > 0 {
		t.Error("parameter outside the path loaded")
	}
	if f.count("AmazonSSM.GetParametersByPath") != 2 {
		t.Errorf("pages: %d", f.count("AmazonSSM.GetParametersByPath"))
	}
}
