package mailorderbot_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/handler"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/apps/mailorderbot/store/dynamostore"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/contracts"
)

func TestDefaultsValid(t *testing.T) {
	c := mailorderbot.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults (demo mode, no imap addr) invalid: %v", err)
	}
	if c.Workers != 8 || c.MaxLines != 50 || c.Store.Driver != "sqlite" || c.Store.Path != "var/orders.db" || c.Store.Table != "orders" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestValidate(t *testing.T) {
	for name, mod := range map[string]func(*mailorderbot.Config){
		"workers":   func(c *mailorderbot.Config) { c.Workers = 0 },
		"max_lines": func(c *mailorderbot.Config) { c.MaxLines = -1 },
		"driver":    func(c *mailorderbot.Config) { c.Store.Driver = "mysql" },
		"smtp.addr": func(c *mailorderbot.Config) { c.SMTP.Addr = "nohostport" },
		"smtp":      func(c *mailorderbot.Config) { c.SMTP.Addr = "mail:587"; c.SMTP.TLS = "ssl" },
		"imap":      func(c *mailorderbot.Config) { c.IMAP.Addr = "imap:993"; c.IMAP.Username = "" },
	} {
		c := mailorderbot.DefaultConfig()
		mod(&c)
		c.SMTP.Password = "hunter2-secret"
		err := c.Validate()
		if !errors.Is(err, mailorderbot.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password", name)
		}
	}
}

func TestSetupSQLite(t *testing.T) {
	ctx := context.Background()
	c := mailorderbot.DefaultConfig()
	c.Store.Path = filepath.Join(t.TempDir(), "var", "orders.db")
	st, err := mailorderbot.OpenStore(ctx, c.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deps, err := parts.HandlerDeps(c, st)
	if err != nil || deps.Sender != nil || deps.Catalog.Len() == 0 {
		t.Fatalf("HandlerDeps = %+v, %v", deps, err)
	}
	h, err := handler.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.com\r\nMessage-ID: <s1@example.com>\r\n\r\nTEA-001 x 1\r\n"
	if err := h.Run(ctx, contracts.Task{Payload: []byte(msg)}); err != nil {
		t.Fatal(err)
	}
	if o, err := st.Get(ctx, "s1@example.com"); err != nil || o.Status != domain.StatusAccepted {
		t.Fatalf("stored %+v, %v", o, err)
	}
	c.Catalog = filepath.Join(t.TempDir(), "missing.csv")
	if _, err := parts.HandlerDeps(c, st); err == nil || !strings.Contains(err.Error(), "catalog") {
		t.Fatalf("missing catalog: %v", err)
	}
}

func TestSetupDynamoDB(t *testing.T) {
	addr := testsvc.Require(t, testsvc.DynamoDB)
	ctx := context.Background()
	c := mailorderbot.DefaultConfig()
	c.Store = mailorderbot.StoreConfig{Driver: "dynamodb", Table: fmt.Sprintf("orders-setup-%d", time.Now().UnixNano()), Endpoint: "http://" + addr}
	st, err := mailorderbot.OpenStore(ctx, c.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds := st.(*dynamostore.Store)
	if err := ds.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	client, _ := dynamostore.NewClient(ctx, dynamostore.ClientConfig{Endpoint: "http://" + addr})
	if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(ds.Table())}); err != nil {
		t.Fatal(err)
	}
}
