// Package testsvc finds the real services tests talk to (Dovecot, PostgreSQL,
// the SQS-compatible server, ...), started by scripts/services.sh.
//
// A test calls [Require]; when the service is not reachable the test fails
// under CI=true and is skipped elsewhere, naming the command that starts the
// services.
package testsvc

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Service describes one test service.
type Service struct {
	// Name is the script under scripts/services/ that manages it.
	Name string
	// Env overrides the address; Default is used otherwise.
	Env     string
	Default string
}

// Known services. Addresses are loopback only; the ports are unusual on
// purpose so they do not collide with a developer's own servers.
var (
	Dovecot    = Service{Name: "dovecot", Env: "PLBA_TEST_IMAP_ADDR", Default: "127.0.0.1:10143"}
	DovecotTLS = Service{Name: "dovecot", Env: "PLBA_TEST_IMAPS_ADDR", Default: "127.0.0.1:10993"}
	// Cyrus is Debian's Cyrus IMAP 3.6 with idled, the second server of
	// the IMAP source's matrix (scripts/services/cyrus.sh).
	Cyrus    = Service{Name: "cyrus", Env: "PLBA_TEST_CYRUS_ADDR", Default: "127.0.0.1:11143"}
	Postgres = Service{Name: "postgres", Env: "PLBA_TEST_PG_ADDR", Default: "127.0.0.1:15432"}
	SQS      = Service{Name: "sqs", Env: "PLBA_TEST_SQS_ADDR", Default: "127.0.0.1:19324"}
	DynamoDB = Service{Name: "dynamodb", Env: "PLBA_TEST_DYNAMODB_ADDR", Default: "127.0.0.1:18000"}
	Redis    = Service{Name: "redis", Env: "PLBA_TEST_REDIS_ADDR", Default: "127.0.0.1:16379"}
	// RedisCluster is a one-node Redis Cluster (all slots), started by the
	// same script as Redis.
	RedisCluster = Service{Name: "redis", Env: "PLBA_TEST_REDIS_CLUSTER_ADDR", Default: "127.0.0.1:16380"}
	// Prometheus scrapes the targets tests write under
	// var/services/prometheus/targets (file-based service discovery).
	Prometheus = Service{Name: "prometheus", Env: "PLBA_TEST_PROMETHEUS_ADDR", Default: "127.0.0.1:19090"}
)

// Addr returns the service's configured address without checking it.
func (s Service) Addr() string {
	if v := os.Getenv(s.Env); v != "" {
		return v
	}
	return s.Default
}

// Require returns the address of s when something accepts TCP connections
// there. Otherwise it fails the test under CI=true and skips it elsewhere.
func Require(t testing.TB, s Service) string {
	t.Helper()
	addr := s.Addr()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = c.Close()
		return addr
	}
	msg := "test service " + s.Name + " is not reachable at " + addr + " (" + err.Error() +
		"); start it with: scripts/services.sh start " + s.Name + " (or: make services)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Root returns the repository root (where go.mod is), for tests that need
// scripts or binaries.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(dir + "/go.mod"); err == nil {
			if _, err := os.Stat(dir + "/scripts"); err == nil {
				return dir
			}
		}
		parent := dir[:max(0, lastSlash(dir))]
		if parent == "" || parent == dir {
			t.Fatal("testsvc: repository root not found")
		}
		dir = parent
	}
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// RequireBinary returns the path of a program the tests need (e.g.
// chromium), installed by `scripts/services.sh install NAME`. When it is
// missing the test fails under CI=true and is skipped elsewhere.
func RequireBinary(t testing.TB, name, service string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := "test program " + name + " is not installed (" + err.Error() + "); install it with: scripts/services.sh install " + service
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
