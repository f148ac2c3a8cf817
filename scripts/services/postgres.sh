#!/usr/bin/env bash
# PostgreSQL from Debian for the database config provider's tests.
# Runs unprivileged (as the "postgres" system user the package creates) with
# its data directory under var/services/postgres, listening on 127.0.0.1 only,
# port 15432 (internal/testsvc.Postgres), trust auth: for local tests only.
#
#   scripts/services/postgres.sh install|start|stop|status
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# The port follows internal/testsvc (PLBA_TEST_PG_ADDR overrides it there too).
addr=${PLBA_TEST_PG_ADDR:-127.0.0.1:15432}
port=${addr##*:}
dir=$(svc_dir postgres)
data=$dir/data
pidfile=$data/postmaster.pid

bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
	[ -n "$d" ] || { echo "postgres: not installed; run: $0 install" >&2; return 1; }
	echo "$d"
}

# as_pg CMD...: run as the unprivileged postgres user (root cannot run the
# server); when we are not root already, run as ourselves.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {
	[ -f "$pidfile" ] && kill -0 "$(head -n1 "$pidfile")" 2>/dev/null
}

case ${1:-} in
install)
	apt_install postgresql
	# The package starts a cluster on 5432 through systemd where systemd
	# runs; we do not use it and leave it alone.
	;;
start)
	running && { echo "postgres: running on 127.0.0.1:$port"; exit 0; }
	bin=$(bindir)
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" --shell /usr/sbin/nologin postgres
		chown postgres "$dir"
		# postgres must be able to reach the data dir through every parent.
		p=$dir
		while [ "$p" != / ]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		rm -rf "$data"
		as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
	fi
	# A stale PID file from a killed server would stop pg_ctl; the server
	# checks it itself, so only remove it when its process is gone.
	[ -f "$pidfile" ] && ! running && rm -f "$pidfile"
	as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 30 start \
		-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=100" >/dev/null
	wait_port 127.0.0.1 "$port" 30
	echo "postgres: running on 127.0.0.1:$port"
	;;
stop)
	if running; then
		bin=$(bindir)
		as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null || true
	fi
	# Whatever pg_ctl left: the postmaster's PID is postmaster.pid's first line.
	if [ -f "$pidfile" ]; then
		head -n1 "$pidfile" >"$dir/pid"
		stop_pid "$dir/pid"
		rm -f "$pidfile"
	fi
	echo "postgres: stopped"
	;;
status)
	if running; then echo "postgres: running on 127.0.0.1:$port (pid $(head -n1 "$pidfile"))"; else echo "postgres: stopped"; exit 1; fi
	;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
