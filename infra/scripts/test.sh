#!/usr/bin/env bash
# Runs the infra module's tests (assertions on the synthesized template and
# the offline CLI synth test). Installs the pinned CLI first if needed.
# Checks that jsii left no temporary files behind.
#   infra/scripts/test.sh            # extra arguments go to `go test`
source "$(dirname "$0")/lib.sh"
ensure_cli
ensure_modules
export AWS_EC2_METADATA_DISABLED=true
# A private TMPDIR: jsii's node process inherits it when the test binary
# starts, so anything it leaves behind shows up here.
tmp=$(mktemp -d -t plba-infra-tmp.XXXXXX)
rc=0
(cd "$infra" && TMPDIR="$tmp" go test -count=1 "$@" ./...) || rc=$?
left=$(find "$tmp" -mindepth 1 -maxdepth 1 | grep -v '/go-build' || true)
if [ -n "$left" ]; then
	echo "infra tests left temporary files behind:" >&2
	echo "$left" >&2
	rc=1
fi
rm -rf "$tmp"
exit $rc
