package plbastack_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/infra/plbastack"
)

// appsDir holds every application with a manifest.
const appsDir = "../../apps"

// TestEveryAppSynthesizes synthesizes each application of the repository
// with its shipped configuration (stage "test") and checks what the stack
// promises any application: its three functions by name, the SQS event
// source with partial batch failures, the 6 × visibility rule, its
// schedule, the table only if declared and only for the functions its
// manifest lists, secrets as references only in the functions that may
// read them, and no IAM statement on anything but the stack's own
// resources. Then each AWS rule check fails its synth.
func TestEveryAppSynthesizes(t *testing.T) {
	names, err := plbastack.Apps(appsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 {
		t.Fatalf("apps %v: want the bot and at least one more", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cfg, err := plbastack.LoadConfig(filepath.Join(appsDir, name), "test")
			if err != nil {
				t.Fatal(err)
			}
			cfg.AssetDir = assetDir
			s := synth(t, cfg)
			stack := cfg.ResolvedStackName()

			fns := map[string]map[string]any{}
			for _, r := range s.resources("AWS::Lambda::Function") {
				p := r["Properties"].(map[string]any)
				fns[p["FunctionName"].(string)] = p
			}
			want := []string{stack + "-control", stack + "-poller", stack + "-worker"}
			if got := slices.Sorted(maps.Keys(fns)); !slices.Equal(got, want) {
				t.Fatalf("functions %v, want %v", got, want)
			}
			_, esm := s.one(t, "AWS::Lambda::EventSourceMapping", func(map[string]any) bool { return true })
			if !jsonEqual(esm["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) || esm["BatchSize"] != float64(cfg.Worker.BatchSize) {
				t.Errorf("event source mapping %v", esm)
			}
			_, q := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] != nil })
			if vis, to := q["VisibilityTimeout"].(float64), fns[stack+"-worker"]["Timeout"].(float64); vis < 6*to {
				t.Errorf("visibility %v < 6 × worker timeout %v", vis, to)
			}
			_, rule := s.one(t, "AWS::Events::Rule", func(map[string]any) bool { return true })
			if rule["ScheduleExpression"] != cfg.Poller.Schedule {
				t.Errorf("schedule %v, want %s", rule["ScheduleExpression"], cfg.Poller.Schedule)
			}

			tables := s.resources("AWS::DynamoDB::Table")
			if (len(tables) == 1) != (cfg.App.Table != nil) || len(tables) > 1 {
				t.Fatalf("%d tables; manifest declares %v", len(tables), cfg.App.Table)
			}
			got := rolesAccess(t, s)
			secrets := cfg.ResolvedSecrets()
			settings := cfg.ResolvedSettings()
			for _, fn := range []string{"poller", "worker", "control"} {
				name := stack + "-" + fn
				tableAccess := ""
				if cfg.App.Table != nil {
					tableAccess = cfg.App.Table.Access[fn]
				}
				if _, has := got[name]["table"]; has != (tableAccess != "") {
					t.Errorf("%s has table access %v, manifest says %q", name, got[name]["table"], tableAccess)
				}
				if tableAccess == "read" && slices.Contains(got[name]["table"], "dynamodb:PutItem") {
					t.Errorf("%s may write the table, manifest says read", name)
				}
				env := fns[name]["Environment"].(map[string]any)["Variables"].(map[string]any)
				for sn, sec := range secrets {
					v, has := env[sec.Env]
					if has != slices.Contains(sec.Functions, fn) {
						t.Errorf("%s: has %s (secret %s) = %v, functions %v", name, sec.Env, sn, has, sec.Functions)
					}
					if has && !strings.HasPrefix(v.(string), "${ssm:") && !strings.HasPrefix(v.(string), "${secretsmanager:") {
						t.Errorf("%s: %s = %v is not a reference", name, sec.Env, v)
					}
				}
				for k, v := range settings {
					if env[k] != v {
						t.Errorf("%s: %s = %v, want the setting %q", name, k, env[k], v)
					}
				}
			}

			for _, broken := range []struct {
				edit func(*plbastack.Config)
				msg  string
			}{
				{func(c *plbastack.Config) { c.Queue.VisibilityTimeout = c.Worker.Timeout }, "must be at least 6 × worker.timeout"},
				{func(c *plbastack.Config) { c.Worker.MaxConcurrency = 1 }, "worker.max_concurrency (1) must be between 2 and 1000"},
				// AWS: visibility ≥ 6 × timeout + batching window; 180 s does
				// not cover a 300 s window.
				{func(c *plbastack.Config) {
					c.Worker.BatchSize, c.Worker.BatchingWindow = 100, plbastack.Duration(300*time.Second)
					c.Queue.VisibilityTimeout = plbastack.Duration(6 * time.Duration(c.Worker.Timeout))
				}, "+ worker.batching_window (5m0s)"},
				{func(c *plbastack.Config) { c.Poller.ReservedConcurrency = 0 }, "poller.reserved_concurrency (0) must be 1"},
				{func(c *plbastack.Config) {
					c.Poller.Schedule, c.Poller.Timeout = "rate(1 minute)", plbastack.Duration(time.Minute)
				},
					"poller.timeout (1m0s) must be shorter than the schedule's rate (1m0s)"},
				{func(c *plbastack.Config) { c.Settings = map[string]string{"nosuch": "x"} }, "settings.nosuch: application " + name + " declares no such setting"},
			} {
				c := cfg
				broken.edit(&c)
				_, err := plbastack.New(newApp(t, nil), c)
				if !errors.Is(err, plbastack.ErrInvalidConfig) || !strings.Contains(err.Error(), broken.msg) {
					t.Errorf("broken config: err = %v, want %q", err, broken.msg)
				}
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite testdata/*.template.json from the synthesized templates")

// TestBotTemplateUnchanged compares the bot's synthesized template (stage
// dev, the shipped configuration, placeholder assets) with the one kept in
// testdata: the generic stack must build the bot exactly as before. The
// template kept was synthesized by the bot-specific stack the generic one
// replaced, and differs from it in one IAM statement id only
// (QueryOrderIndexes became QueryOrdersIndexes, named after the table).
// After an intended change: go test ./plbastack -run TestBotTemplateUnchanged -update.
func TestBotTemplateUnchanged(t *testing.T) {
	cfg, err := plbastack.LoadConfig(filepath.Join(appsDir, "mailorderbot"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	cfg.AssetDir = assetDir
	got, err := json.MarshalIndent(synth(t, cfg).json, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "mailorderbot-dev.template.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("the bot's template changed; first difference at line %d:\n got %s\nwant %s\n(-update rewrites %s)", i+1, g, w, golden)
			}
		}
	}
}
