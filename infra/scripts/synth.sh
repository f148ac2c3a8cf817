#!/usr/bin/env bash
# Synthesizes the stack offline into infra/cdk.out (no AWS account, no
# credentials, no network beyond what `go` needs to find modules already in
# the module cache). Extra arguments go to `cdk synth`.
#   infra/scripts/synth.sh                 # the bot (cdk.json), stage dev, ../bin/lambda/mailorderbot
#   STAGE=prod infra/scripts/synth.sh
#   APP=feedrelay infra/scripts/synth.sh   # apps/feedrelay/plba.app.yaml
#   ASSET_DIR=/tmp/x infra/scripts/synth.sh
source "$(dirname "$0")/lib.sh"
# Never ask the EC2 metadata service for credentials or a region; context
# lookups fail instead of calling AWS.
export AWS_EC2_METADATA_DISABLED=true
args=(synth --quiet --no-lookups)
if [ -n "${APP:-}" ]; then args+=(-c "app=$APP"); fi
if [ -n "${STAGE:-}" ]; then args+=(-c "stage=$STAGE"); fi
# The app runs in infra/: make a relative ASSET_DIR absolute from here.
if [ -n "${ASSET_DIR:-}" ]; then args+=(-c "assetDir=$(realpath -m "$ASSET_DIR")"); fi
cdk "${args[@]}" "$@"
echo "synth: templates in $infra/cdk.out:"
ls "$infra"/cdk.out/*.template.json
