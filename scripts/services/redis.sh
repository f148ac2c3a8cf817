#!/usr/bin/env bash
# Redis from Debian for the Redis task queue's tests (pkg/queue/redisqueue).
# Runs redis-server from a config file of its own: 127.0.0.1 only, port
# 16379 (internal/testsvc.Redis), no persistence, state under
# var/services/redis. Debian's own redis service (port 6379) is left alone.
#
#   scripts/services/redis.sh install|start|stop|status
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# The port follows internal/testsvc (PLBA_TEST_REDIS_ADDR overrides it there too).
addr=${PLBA_TEST_REDIS_ADDR:-127.0.0.1:16379}
port=${addr##*:}
dir=$(svc_dir redis)
pidfile=$dir/pid
conf=$dir/redis.conf

case ${1:-} in
install)
	apt_install redis-server
	;;
start)
	if pid_alive "$pidfile"; then echo "redis: running on 127.0.0.1:$port"; exit 0; fi
	rm -f "$pidfile"
	command -v redis-server >/dev/null || { echo "redis: not installed; run: $0 install" >&2; exit 1; }
	# Written on every start so a changed port takes effect. No RDB or AOF:
	# test data is disposable, and fsyncs would only slow the tests down.
	cat >"$conf" <<CONF
bind 127.0.0.1
protected-mode yes
port $port
daemonize yes
pidfile $pidfile
dir $dir
logfile $dir/redis.log
save ""
appendonly no
databases 16
CONF
	redis-server "$conf"
	wait_port 127.0.0.1 "$port" 30
	# daemonize writes the pidfile shortly after the port opens.
	for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
	echo "redis: running on 127.0.0.1:$port"
	;;
stop)
	stop_pid "$pidfile"
	echo "redis: stopped"
	;;
status)
	if pid_alive "$pidfile"; then echo "redis: running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; else echo "redis: stopped"; exit 1; fi
	;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
