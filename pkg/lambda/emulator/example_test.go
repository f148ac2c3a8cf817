package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/plba/plba/pkg/lambda/emulator"
)

// Run a built function locally, as `plba invoke worker --event FILE` does.
func Example() {
	ctx := context.Background()
	e, err := emulator.Start(ctx, emulator.Options{
		Bootstrap: "bin/lambda/control/bootstrap",
		Env:       map[string]string{"PLBA_QUEUE_URL": "http://127.0.0.1:19324/123456789012/orders"},
		Timeout:   30 * time.Second,
	})
	if err != nil {
		log.Fatal(err) // a *emulator.FunctionError with Init set if the function failed to start
	}
	defer e.Close()
	out, err := e.Invoke(ctx, []byte(`{"action":"status"}`))
	var ferr *emulator.FunctionError
	switch {
	case errors.Is(err, emulator.ErrTimeout):
		log.Fatal("timed out")
	case errors.As(err, &ferr):
		log.Fatalf("function error %s: %s", ferr.Type, ferr.Message)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(string(out))
}
