#!/usr/bin/env bash
# SQS-compatible server for the SQS queue's and the Lambda adapters' tests:
# local-aws-sqs 2.0.2 from npm (pinned by scripts/services/sqs/package-lock.json),
# started through scripts/services/sqs/server.js.
#
#   scripts/services/sqs.sh install|start|stop|status
#
# Listens on 127.0.0.1 only, port 19324 (internal/testsvc.SQS; PLBA_SQS_PORT
# overrides). Any access key works; queues live in memory and vanish on stop.
# Tests create uniquely named queues (and their DLQs) and delete them.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${PLBA_SQS_PORT:-19324}
pkg=$root/scripts/services/sqs
dir=$(svc_dir sqs)
pidfile=$dir/pid

installed() { [ -f "$pkg/node_modules/local-aws-sqs/package.json" ]; }

install() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	installed && return 0
	(cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
}

case ${1:-} in
install)
	install
	echo "sqs: local-aws-sqs installed"
	;;
start)
	if pid_alive "$pidfile"; then
		echo "sqs: running on 127.0.0.1:$port"
		exit 0
	fi
	installed || install
	rm -f "$pidfile"
	PLBA_SQS_HOST=127.0.0.1 PLBA_SQS_PORT=$port \
		nohup node "$pkg/server.js" >"$dir/sqs.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	if ! wait_port 127.0.0.1 "$port" 30; then
		cat "$dir/sqs.log" >&2
		stop_pid "$pidfile"
		exit 1
	fi
	echo "sqs: running on 127.0.0.1:$port"
	;;
stop)
	stop_pid "$pidfile"
	echo "sqs: stopped"
	;;
status)
	if pid_alive "$pidfile"; then echo "sqs: running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; else
		echo "sqs: stopped"
		exit 1
	fi
	;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
