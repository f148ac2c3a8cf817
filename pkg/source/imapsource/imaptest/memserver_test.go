package imaptest_test

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemServer(t *testing.T) {
	for _, noKw := range []bool{false, true} {
		var opts []imaptest.MemOption
		if noKw {
			opts = append(opts, imaptest.WithoutKeywords())
		}
		srv, err := imaptest.StartMemServer(t.Context(), "", "u", "p", opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Append(t.Context(), "INBOX", imaptest.Message("1@x", "s", "b"), imap.FlagFlagged); err != nil {
			t.Fatal(err)
		}
		c, err := srv.Dial(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.NumMessages != 1 {
			t.Errorf("NumMessages = %d", data.NumMessages)
		}
		wild := false
		for _, f := range data.PermanentFlags {
			wild = wild || f == imap.FlagWildcard
		}
		if wild == noKw {
			t.Errorf("WithoutKeywords=%v but PERMANENTFLAGS %v", noKw, data.PermanentFlags)
		}
		// Re-SELECT works (the old view is released).
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := imaptest.Login(t.Context(), srv.Addr, "u", "wrong"); err == nil {
			t.Error("wrong password accepted")
		}
		_ = c.Close()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	}
}

func TestMemServerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := imaptest.StartMemServer(ctx, "127.0.0.1:0", "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	_ = srv.Close() // waits for the Close that cancel started
	if _, err := imaptest.Login(t.Context(), srv.Addr, "u", "p"); err == nil {
		t.Fatal("server still answers after its context ended")
	}
	// The address is free again.
	srv2, err := imaptest.StartMemServer(t.Context(), srv.Addr, "u", "p")
	if err != nil {
		t.Fatalf("restart on %s: %v", srv.Addr, err)
	}
	_ = srv2.Close()
}
