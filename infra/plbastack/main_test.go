package plbastack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/plba/plba/infra/plbastack"
)

// testTmp is where the tests' own files go (TMPDIR points here while they
// run), removed at the end.
var testTmp string

// assetDir holds placeholder poller/worker/control bootstraps, so the tests
// do not need `make lambdas`.
var assetDir string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

// testMain runs the tests, then closes jsii and checks that no node process
// is left.
//
// The jsii node process is prepared when the CDK packages initialise,
// before TestMain runs, so its environment (TMPDIR,
// JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION) is the one `go test` was
// started with. scripts/test.sh sets both and checks, after every test
// binary has exited, that the private TMPDIR is empty again (a check here
// would race with the other package's test binary and its CLI children).
func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "plba-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testTmp = tmp
	os.Setenv("TMPDIR", tmp) // t.TempDir and friends
	// The stack falls back to these; tests must not depend on the machine.
	os.Unsetenv("CDK_DEFAULT_ACCOUNT")
	os.Unsetenv("CDK_DEFAULT_REGION")
	assetDir = filepath.Join(tmp, "work", "assets")
	if err := writeAssets(assetDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	code := m.Run()

	jsii.Close()
	if err := os.RemoveAll(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if kids := childProcesses(); len(kids) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: child processes left after jsii.Close: %v\n", kids)
		code = 1
	}
	return code
}

func writeAssets(dir string) error {
	for _, fn := range []string{plbastack.Poller, plbastack.Worker, plbastack.Control} {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			return err
		}
		// Distinct content per function, as the real binaries have.
		body := "#!/bin/sh\n# placeholder " + fn + "\n"
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte(body), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// childProcesses lists the PIDs whose parent is this process (Linux /proc).
func childProcesses() []string {
	me := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []string
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces: split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 && fields[1] == me {
			kids = append(kids, s[:i+1])
		}
	}
	return kids
}

// cdkContext is the "context" of ../cdk.json, so tests synthesize with the
// same feature flags as the CLI.
func cdkContext(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return doc.Context
}

// newApp returns an App with cdk.json's context plus extra, writing its
// cloud assembly under the test temp dir.
func newApp(t testing.TB, extra map[string]any) awscdk.App {
	t.Helper()
	ctx := cdkContext(t)
	for k, v := range extra {
		ctx[k] = v
	}
	out, err := os.MkdirTemp(filepath.Join(testTmp, "work"), "cdk.out-")
	if err != nil {
		t.Fatal(err)
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
}

// testConfig is the mail order bot's shipped configuration for stage
// "test" with the placeholder assets.
func testConfig(t testing.TB) plbastack.Config {
	t.Helper()
	cfg, err := plbastack.LoadConfig("../../apps/mailorderbot", "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.AssetDir = assetDir
	return cfg
}

// synthesized is one stack's template, shared by the tests that only read
// it: each synthesis costs a round of jsii calls.
type synthesized struct {
	stack *plbastack.Stack
	tmpl  assertions.Template
	json  map[string]any
}

func synth(t testing.TB, cfg plbastack.Config) *synthesized {
	t.Helper()
	app := newApp(t, nil)
	st, err := plbastack.New(app, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tmpl := assertions.Template_FromStack(st.Stack, nil)
	return &synthesized{stack: st, tmpl: tmpl, json: *tmpl.ToJSON()}
}

var (
	defaultOnce sync.Once
	defaultSyn  *synthesized
)

// defaultStack is the stack of the shipped configuration, synthesized once.
func defaultStack(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() { defaultSyn = synth(t, testConfig(t)) })
	if defaultSyn == nil {
		t.Fatal("default stack did not synthesize (see the first failing test)")
	}
	return defaultSyn
}

// must runs an assertions call and turns its panic (how jsii reports a
// failed match in Go) into a test error.
func must(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// resources returns the template's resources of one type by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// one returns the single resource of typ whose properties satisfy pred.
func (s *synthesized) one(t *testing.T, typ string, pred func(props map[string]any) bool) (string, map[string]any) {
	t.Helper()
	var id string
	var props map[string]any
	for k, r := range s.resources(typ) {
		p, _ := r["Properties"].(map[string]any)
		if pred(p) {
			if id != "" {
				t.Fatalf("more than one %s matches: %s, %s", typ, id, k)
			}
			id, props = k, p
		}
	}
	if id == "" {
		t.Fatalf("no %s matches", typ)
	}
	return id, props
}

func getAtt(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	ga, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(ga) != 2 {
		return ""
	}
	return ga[0].(string)
}

func ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	s, _ := m["Ref"].(string)
	return s
}
