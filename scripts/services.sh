#!/usr/bin/env bash
# Manages the real services the tests talk to. Each service has a script in
# scripts/services/NAME.sh taking install|start|stop|status; this one runs the
# action for the named services, or for all of them.
#
#   scripts/services.sh install            # apt/npm installs, idempotent
#   scripts/services.sh start [NAME...]    # idempotent; loopback only
#   scripts/services.sh stop  [NAME...]    # by PID file, never by name
#   scripts/services.sh status
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
action=${1:?usage: services.sh install|start|stop|status [NAME...]}
shift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in "$root"/scripts/services/*.sh; do n=$(basename "$f" .sh); [ "$n" = lib ] || names+=("$n"); done
fi
rc=0
for n in "${names[@]}"; do
	script="$root/scripts/services/$n.sh"
	[ -x "$script" ] || { echo "services: no script for $n ($script)" >&2; rc=1; continue; }
	if ! "$script" "$action"; then
		echo "services: $n $action failed" >&2
		rc=1
	fi
done
exit $rc
