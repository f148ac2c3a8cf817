// Command fn is a tiny Lambda function for the emulator's tests, built with
// aws-lambda-go (-tags lambda.norpc). The event says what to do.
package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Do string `json:"do"` // echo | error | panic | sleep | exit | big | write | until
	MS int    `json:"ms"`
	// Dir is where "write" writes a file.
	Dir string `json:"dir"`
}

type response struct {
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	DeadlineMS  int64             `json:"deadline_ms"`
	Env         map[string]string `json:"env"`
	PID         int               `json:"pid"`
	Count       int               `json:"count"`
	Big         string            `json:"big,omitempty"`
	WriteErr    string            `json:"write_err,omitempty"`
}

var count int // survives warm invocations

func handle(ctx context.Context, ev event) (response, error) {
	count++
	switch ev.Do {
	case "error":
		return response{}, errors.New("it failed on purpose")
	case "panic":
		panic("it panicked on purpose")
	case "sleep":
		// Ignores ctx on purpose: a hung function.
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	case "exit":
		os.Exit(3)
	case "big":
		return response{Big: strings.Repeat("x", ev.MS*1024)}, nil
	case "write":
		err := os.WriteFile(filepath.Join(ev.Dir, "probe"), []byte("x"), 0o644)
		r := response{}
		if err != nil {
			r.WriteErr = err.Error()
		}
		return r, nil
	case "until":
		// Answers ev.MS milliseconds before (negative: after) the
		// deadline it was given, ignoring ctx.
		dl, _ := ctx.Deadline()
		time.Sleep(time.Until(dl.Add(-time.Duration(ev.MS) * time.Millisecond)))
	}
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	env := map[string]string{}
	for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "MY_VAR", "HOME", "_X_AMZN_TRACE_ID"} {
		env[k] = os.Getenv(k)
	}
	return response{RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn, DeadlineMS: dl.UnixMilli(), Env: env, PID: os.Getpid(), Count: count}, nil
}

func main() {
	switch os.Getenv("FN_INIT") {
	case "report":
		// What a runtime does when its initialisation fails.
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{"errorMessage":"config missing","errorType":"InitFailed"}`)))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "InitFailed")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	case "exit":
		os.Exit(2)
	}
	lambda.Start(handle)
}
