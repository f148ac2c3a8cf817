package awsconfig_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
)

// A configuration value holding a Parameter Store reference, resolved with
// the function's credentials. The server here stands in for SSM; in Lambda
// the aws.Config comes from awsconfig.Load.
func ExampleResolvers() {
	ssm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// r.Header["X-Amz-Target"] is "AmazonSSM.GetParameter".
		fmt.Fprint(w, `{"Parameter":{"Name":"/plba/imap/password","Type":"SecureString","Value":"s3cret"}}`)
	}))
	defer ssm.Close()
	env := map[string]string{
		"AWS_REGION":            "eu-central-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "example",
		"AWS_ENDPOINT_URL_SSM":  ssm.URL,
	}
	cfg := awsconfig.FromEnv(func(k string) string { return env[k] })

	m, err := config.New(context.Background(), config.Options{
		Environ:   []string{"PLBA_APPS__BOT__PASSWORD=${ssm:/plba/imap/password}"},
		Resolvers: awsconfig.Resolvers(cfg, 5*time.Minute),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	pw, _ := config.Get[string](m, "apps.bot.password")
	fmt.Println(pw, m.IsSecret("apps.bot.password"))
	// Output: s3cret true
}
