#!/usr/bin/env bash
# Runs the pinned aws-cdk CLI in infra/ with the project's environment:
#   infra/scripts/cdk.sh diff -c stage=prod
#   infra/scripts/cdk.sh deploy -c stage=dev
# APP=NAME adds -c app=NAME (apps/NAME/plba.app.yaml; default in cdk.json:
# mailorderbot), STAGE=NAME adds -c stage=NAME. Installs the CLI (npm ci)
# when missing.
source "$(dirname "$0")/lib.sh"
args=("$@")
if [ -n "${APP:-}" ]; then args+=(-c "app=$APP"); fi
if [ -n "${STAGE:-}" ]; then args+=(-c "stage=$STAGE"); fi
# The app runs in infra/: make a relative ASSET_DIR absolute from here.
if [ -n "${ASSET_DIR:-}" ]; then args+=(-c "assetDir=$(realpath -m "$ASSET_DIR")"); fi
cdk "${args[@]}"
