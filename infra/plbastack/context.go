package plbastack

import (
	"fmt"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Context keys read by [ConfigFromContext]; pass them to the CDK CLI as
// `-c key=value` (or set them in cdk.json).
const (
	CtxStage      = "stage"      // stage name, default "dev"
	CtxConfigDir  = "configDir"  // directory with default.yaml and <stage>.yaml, default "config"
	CtxConfigFile = "configFile" // one more YAML file applied last (optional)
	CtxAssetDir   = "assetDir"   // overrides asset_dir
	CtxAccount    = "account"    // overrides account
	CtxRegion     = "region"     // overrides region
)

// ConfigFromContext loads the configuration named by the CDK context of
// scope (normally the App): the stage's files from configDir, then the
// single-key overrides assetDir, account and region. It does not validate;
// [New] does.
func ConfigFromContext(scope constructs.Construct) (Config, error) {
	get := func(key string) (string, error) {
		v := scope.Node().TryGetContext(jsii.String(key))
		switch v := v.(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		default:
			return "", fmt.Errorf("%w: context %q must be a string, got %T", ErrInvalidConfig, key, v)
		}
	}
	var vals = map[string]string{}
	for _, k := range []string{CtxStage, CtxConfigDir, CtxConfigFile, CtxAssetDir, CtxAccount, CtxRegion} {
		v, err := get(k)
		if err != nil {
			return Config{}, err
		}
		vals[k] = v
	}
	dir := vals[CtxConfigDir]
	if dir == "" {
		dir = "config"
	}
	var extra []string
	if f := vals[CtxConfigFile]; f != "" {
		extra = append(extra, f)
	}
	cfg, err := LoadConfig(dir, vals[CtxStage], extra...)
	if err != nil {
		return Config{}, err
	}
	if v := vals[CtxAssetDir]; v != "" {
		cfg.AssetDir = v
	}
	if v := vals[CtxAccount]; v != "" {
		cfg.Account = v
	}
	if v := vals[CtxRegion]; v != "" {
		cfg.Region = v
	}
	return cfg, nil
}
