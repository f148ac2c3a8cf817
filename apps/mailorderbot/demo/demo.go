// Package demo runs the mail order bot without any outside service: an
// in-process IMAP server (go-imap's imapmemserver) on 127.0.0.1, seeded with
// the sample e-mails of package demodata, and a generator that delivers a
// new order e-mail every few seconds. `make run` uses it.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
	"github.com/plba/plba/pkg/workers"
)

// Credentials of the demo mailbox.
const (
	User     = "demo"
	Password = "demo"
)

// DefaultAddr is where the demo server listens when the port is free.
const DefaultAddr = "127.0.0.1:1143"

// PickAddr returns DefaultAddr when it is free, else a free loopback port.
// The server itself starts later, in the worker's Start.
func PickAddr() (string, error) {
	for _, a := range []string{DefaultAddr, "127.0.0.1:0"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("demo: no free loopback port")
}

// Worker serves the demo mailbox and delivers a generated e-mail every
// interval (0: only the samples).
func Worker(addr string, interval time.Duration, seed uint64) contracts.Worker {
	return workers.Func("demo-mailbox", func(ctx context.Context) error {
		srv, err := imaptest.StartMemServer(ctx, addr, User, Password)
		if err != nil {
			return err
		}
		defer srv.Close()
		for _, raw := range demodata.Messages() {
			if err := srv.Append(ctx, "INBOX", raw); err != nil {
				return fmt.Errorf("demo: seed mailbox: %w", err)
			}
		}
		if interval <= 0 {
			<-ctx.Done()
			return nil
		}
		rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		t := time.NewTicker(interval)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := srv.Append(ctx, "INBOX", demodata.Generate(n, rnd)); err != nil && ctx.Err() == nil {
					return fmt.Errorf("demo: deliver e-mail %d: %w", n, err)
				}
			}
		}
	})
}
