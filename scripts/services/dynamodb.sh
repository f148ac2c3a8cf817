#!/usr/bin/env bash
# DynamoDB-compatible server for the mail order bot's DynamoDB store tests:
# dynalite 4.0.0 from npm (pinned by scripts/services/dynamodb/package-lock.json),
# in memory (tables vanish on stop).
#
#   scripts/services/dynamodb.sh install|start|stop|status
#
# Listens on 127.0.0.1 only, port 18000 (internal/testsvc.DynamoDB;
# PLBA_DYNAMODB_PORT overrides). Any access key works. Tests create uniquely
# named tables and delete them. dynalite has no TransactWriteItems; the store
# does not need it (see docs/mailorderbot.md).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${PLBA_DYNAMODB_PORT:-18000}
pkg=$root/scripts/services/dynamodb
dir=$(svc_dir dynamodb)
pidfile=$dir/pid

installed() { [ -f "$pkg/node_modules/dynalite/package.json" ]; }

install() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	installed && return 0
	(cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
}

case ${1:-} in
install)
	install
	echo "dynamodb: dynalite installed"
	;;
start)
	if pid_alive "$pidfile"; then
		echo "dynamodb: running on 127.0.0.1:$port"
		exit 0
	fi
	installed || install
	rm -f "$pidfile"
	nohup node "$pkg/serve.js" --host 127.0.0.1 --port "$port" \
		>"$dir/dynamodb.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	if ! wait_port 127.0.0.1 "$port" 30; then
		cat "$dir/dynamodb.log" >&2
		stop_pid "$pidfile"
		exit 1
	fi
	echo "dynamodb: running on 127.0.0.1:$port"
	;;
stop)
	stop_pid "$pidfile"
	echo "dynamodb: stopped"
	;;
status)
	if pid_alive "$pidfile"; then echo "dynamodb: running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; else
		echo "dynamodb: stopped"
		exit 1
	fi
	;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
