package plbastack

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Context keys read by [ConfigFromContext]; pass them to the CDK CLI as
// `-c key=value` (or set them in cdk.json).
const (
	CtxApp        = "app"        // the application: a folder of appsDir with a plba.app.yaml (cdk.json: mailorderbot)
	CtxAppsDir    = "appsDir"    // where the applications are (cdk.json: ../apps)
	CtxStage      = "stage"      // stage name, default "dev"
	CtxConfigDir  = "configDir"  // directory with default.yaml and <stage>.yaml, default <appsDir>/<app>/deploy
	CtxConfigFile = "configFile" // one more YAML file applied last (optional)
	CtxAssetDir   = "assetDir"   // overrides asset_dir
	CtxAccount    = "account"    // overrides account
	CtxRegion     = "region"     // overrides region
)

// ConfigFromContext loads the configuration named by the CDK context of
// scope (normally the App): the manifest of app in appsDir, the stage's
// files from configDir, then the single-key overrides assetDir, account
// and region. It does not validate; [New] does.
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
	for _, k := range []string{CtxApp, CtxAppsDir, CtxStage, CtxConfigDir, CtxConfigFile, CtxAssetDir, CtxAccount, CtxRegion} {
		v, err := get(k)
		if err != nil {
			return Config{}, err
		}
		vals[k] = v
	}
	if vals[CtxApp] == "" || vals[CtxAppsDir] == "" {
		return Config{}, fmt.Errorf("%w: context %q and %q must name the application (cdk.json sets mailorderbot and ../apps; -c app=NAME picks another)", ErrInvalidConfig, CtxApp, CtxAppsDir)
	}
	appDir := filepath.Join(vals[CtxAppsDir], vals[CtxApp])
	if _, err := os.Stat(filepath.Join(appDir, ManifestFile)); err != nil {
		names, _ := Apps(vals[CtxAppsDir])
		return Config{}, fmt.Errorf("%w: application %q: no %s (applications in %s: %v)", ErrInvalidConfig, vals[CtxApp], filepath.Join(appDir, ManifestFile), vals[CtxAppsDir], names)
	}
	dir := vals[CtxConfigDir]
	if dir == "" {
		dir = filepath.Join(appDir, DeployDir)
	}
	var extra []string
	if f := vals[CtxConfigFile]; f != "" {
		extra = append(extra, f)
	}
	cfg, err := LoadConfigFrom(appDir, dir, vals[CtxStage], extra...)
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
