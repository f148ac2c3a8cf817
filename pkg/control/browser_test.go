package control_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/runtime"
)

// The status page as a person sees it: a real headless Chromium loads it
// from the running control plane and the rendered DOM shows the workers,
// the queue with its dead letter, and the health line.
func TestStatusPageInChromium(t *testing.T) {
	chromium := testsvc.RequireBinary(t, "chromium", "chromium")
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Logging: logging})
	_ = m.Register(failModule{})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background(), true)
	waitDeadLetter(t, m)
	so := control.LocalOptions(m)
	so.Build = "browser-test"
	svc, err := control.NewService(so)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := control.Listen("127.0.0.1:0", control.NewHTTPHandler(control.HTTPOptions{Service: svc, Token: "t"}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "http://"+srv.Addr()+"/")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	for _, want := range []string{
		`<table id="workers">`, "pool:job", "source:oneshot", "consumer-pool",
		`<table id="queues">`, "<td>jobs</td>", "<td>memory</td>",
		"ready: true", "build browser-test",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
