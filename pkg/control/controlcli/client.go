package controlcli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
)

// Client calls one control action and returns the service's answer. A
// transport failure (no connection, a non-JSON answer) is an error; a
// failed action is a Response with an Error.
type Client interface {
	Do(ctx context.Context, action string, params any) (control.Response, error)
}

// body merges "action" into params' JSON object.
func body(action string, params any) ([]byte, error) {
	m := map[string]any{}
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("control params must be a JSON object: %w", err)
		}
		if m == nil { // params was a nil map or pointer
			m = map[string]any{}
		}
	}
	m["action"] = action
	return json.Marshal(m)
}

// HTTPClient talks to a local control plane.
type HTTPClient struct {
	// URL is the control plane's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// Token is sent as Authorization: Bearer; empty sends none.
	Token contracts.Secret
	// HTTP; default a client with a 30s timeout.
	HTTP *http.Client
}

// maxAnswer bounds what the client reads of an answer.
const maxAnswer = 16 << 20

// Do implements Client: POST URL/api/v1/ACTION with a JSON body.
func (c *HTTPClient) Do(ctx context.Context, action string, params any) (control.Response, error) {
	b, err := body(action, params)
	if err != nil {
		return control.Response{}, err
	}
	u := strings.TrimSuffix(c.URL, "/") + control.APIPrefix + action
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return control.Response{}, fmt.Errorf("control %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "plba-cli")
	if tok := c.Token.Reveal(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	res, err := hc.Do(req)
	if err != nil {
		return control.Response{}, fmt.Errorf("control plane at %s: %w", c.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return control.Response{}, fmt.Errorf("control plane at %s: read answer: %w", c.URL, err)
	}
	var resp control.Response
	if err := json.Unmarshal(raw, &resp); err != nil || (resp.Action == "" && !resp.OK && resp.Error == nil) {
		return control.Response{}, fmt.Errorf("control plane at %s answered %s, not a control response: %.200s", c.URL, res.Status, raw)
	}
	return resp, nil
}

var defaultHTTP = &http.Client{Timeout: 30e9}

// Invoker is the part of *lambda.Client the Lambda client needs.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaClient invokes a deployed control function directly
// (RequestResponse); IAM authenticates the caller.
type LambdaClient struct {
	Function string
	API      Invoker
}

// Do implements Client.
func (c *LambdaClient) Do(ctx context.Context, action string, params any) (control.Response, error) {
	b, err := body(action, params)
	if err != nil {
		return control.Response{}, err
	}
	out, err := c.API.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(c.Function), Payload: b})
	if err != nil {
		return control.Response{}, fmt.Errorf("invoke %s: %w", c.Function, err)
	}
	if out.FunctionError != nil {
		return control.Response{}, fmt.Errorf("invoke %s: function error %s: %.500s", c.Function, *out.FunctionError, out.Payload)
	}
	var resp control.Response
	if err := json.Unmarshal(out.Payload, &resp); err != nil {
		return control.Response{}, fmt.Errorf("invoke %s: answer is not a control response: %w: %.200s", c.Function, err, out.Payload)
	}
	return resp, nil
}
