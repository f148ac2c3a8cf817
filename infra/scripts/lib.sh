# Sourced by the scripts in infra/scripts. Not a script itself.
# shellcheck shell=bash
set -euo pipefail
infra=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cdk_version=$(node -p "require('$infra/package.json').dependencies['aws-cdk']")

# jsii (the CDK's Go bridge) refuses to stay quiet on node 20 otherwise.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# The CLI reports nothing home (cdk.json says so too; this covers ~/.cdk.json).
export CDK_DISABLE_CLI_TELEMETRY=true

# ensure_cli installs the pinned aws-cdk CLI from package-lock.json unless
# exactly that version is already in node_modules.
ensure_cli() {
	local have=""
	if [ -f "$infra/node_modules/aws-cdk/package.json" ]; then
		have=$(node -p "require('$infra/node_modules/aws-cdk/package.json').version")
	fi
	if [ "$have" != "$cdk_version" ]; then
		(cd "$infra" && npm ci --no-audit --no-fund --loglevel=error)
	fi
}

# ensure_modules downloads every module infra/go.mod lists. `cdk synth`
# runs `go mod download` (cdk.json), which wants all of them, including
# indirect ones `go build` never fetches; the offline synth test runs it
# with GOPROXY=off, so they must be in the module cache beforehand.
ensure_modules() {
	(cd "$infra" && go mod download)
}

# cdk ARGS...: the pinned CLI, run in infra/ (where cdk.json is).
cdk() {
	ensure_cli
	(cd "$infra" && npx --no-install cdk "$@")
}
