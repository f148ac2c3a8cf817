package functions_test

import (
	"bytes"
	"os/exec"
	"testing"
)

// TestEachFunctionLinksOnlyWhatItRuns: a bootstrap links the handler of its
// own function only (lambda.Poller, Worker and Control carry their own
// constructors) and only the bot's parts it runs (mailorderbot.Options.
// Parts): the poller no order parser, the control function neither the
// parser nor the IMAP client's commands. This is the size budget's
// mechanism (docs/serverless.md): a new dependency lands in the part that
// uses it, and only the mains that name that part link it.
func TestEachFunctionLinksOnlyWhatItRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three linux/arm64 binaries")
	}
	const (
		parser  = "github.com/plba/plba/apps/mailorderbot/mailparse."
		handler = "github.com/plba/plba/apps/mailorderbot/handler."
		imapCmd = "github.com/emersion/go-imap/v2/imapclient.(*Client).Select"
		poller  = "github.com/plba/plba/pkg/lambda/pollerfn."
		worker  = "github.com/plba/plba/pkg/lambda/workerfn."
		control = "github.com/plba/plba/pkg/lambda/controlfn."
	)
	for fn, want := range map[string]struct{ has, hasNot []string }{
		"poller":  {has: []string{poller, imapCmd}, hasNot: []string{parser, handler, worker, control}},
		"worker":  {has: []string{worker, parser, handler, imapCmd}, hasNot: []string{poller, control}},
		"control": {has: []string{control}, hasNot: []string{parser, handler, imapCmd, poller, worker}},
	} {
		syms, err := exec.Command("go", "tool", "nm", build(t, "./functions/"+fn, "linux", "arm64", false)).Output()
		if err != nil {
			t.Fatalf("go tool nm %s: %v", fn, err)
		}
		for _, s := range want.has {
			if !bytes.Contains(syms, []byte(" "+s)) {
				t.Errorf("%s bootstrap does not link %s (the test would pass for the wrong reason)", fn, s)
			}
		}
		for _, s := range want.hasNot {
			if bytes.Contains(syms, []byte(" "+s)) {
				t.Errorf("%s bootstrap links %s, which it never runs", fn, s)
			}
		}
	}
}
