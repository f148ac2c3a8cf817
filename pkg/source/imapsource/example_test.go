package imapsource_test

import (
	"context"
	"fmt"
	"log"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// Poll a mailbox once, process the task, settle it: the message is marked
// \Seen only then, and the next cycle publishes nothing.
func Example() {
	ctx := context.Background()
	srv, err := imaptest.StartMemServer(ctx, "", "orders", "s3cret")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Append(ctx, "INBOX", imaptest.Message("42@shop.example", "Order 42", "2 x widget"))

	cfg := imapsource.DefaultConfig()
	cfg.Addr = srv.Addr
	cfg.TLS = imapsource.TLSNone // a loopback test server; use implicit or starttls otherwise
	cfg.Username = "orders"
	cfg.Password = contracts.Secret("s3cret")
	src, err := imapsource.New(cfg, imapsource.WithName("orders-inbox"))
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	var tasks []contracts.Task
	queue := contracts.PublisherFunc(func(_ context.Context, t contracts.Task) error {
		tasks = append(tasks, t)
		return nil
	})
	n, err := src.Poll(ctx, queue)
	if err != nil {
		log.Fatal(err)
	}
	task := tasks[0]
	fmt.Println(n, task.Kind, task.Attr(imapsource.AttrMessageID))

	// ... the routine processed the order ...
	if err := src.Settle(ctx, task, contracts.OutcomeSucceeded, nil); err != nil {
		log.Fatal(err)
	}
	n, _ = src.Poll(ctx, queue)
	fmt.Println(n)
	// Output:
	// 1 imap.message 42@shop.example
	// 0
}
