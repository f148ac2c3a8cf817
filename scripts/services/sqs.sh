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

# local-aws-sqs 2.0.2 counts a ChangeMessageVisibility as a receive
# (ApproximateReceiveCount+1), unlike SQS, which breaks attempt counting and
# the redrive policy's maxReceiveCount. Its receive path and its visibility
# change share one function whose third argument is true only for the
# latter; this one-line patch makes the count grow on receives only. It is
# idempotent and fails loudly when the bundle is not the one it knows.
patch() {
	node - "$pkg/node_modules/local-aws-sqs/dist/index.js" <<'JS'
const fs = require("fs");
const file = process.argv[2];
const orig = "let n=Number(t.record.attributes.ApproximateReceiveCount)+1;";
const fixed = "let n=Number(t.record.attributes.ApproximateReceiveCount)+(i?0:1);";
const src = fs.readFileSync(file, "utf8");
if (src.includes(fixed)) process.exit(0);
if (src.split(orig).length !== 2) {
  console.error(`sqs: cannot patch ${file}: unknown local-aws-sqs build`);
  process.exit(1);
}
fs.writeFileSync(file, src.replace(orig, fixed));
JS
}

install() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	installed || (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
	patch
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
	install
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
