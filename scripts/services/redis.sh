#!/usr/bin/env bash
# Redis from Debian for the Redis task queue's tests (pkg/queue/redisqueue).
# Runs two redis-server processes from config files of their own, 127.0.0.1
# only, no persistence, state under var/services/redis:
#   - a plain server on port 16379 (internal/testsvc.Redis);
#   - a one-node Redis Cluster (all 16384 slots) on port 16380
#     (internal/testsvc.RedisCluster), so cluster mode is tested too; its
#     cluster bus listens on port+10000 (26380), also on 127.0.0.1.
# Debian's own redis service (port 6379) is left alone.
#
#   scripts/services/redis.sh install|start|stop|status
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# The ports follow internal/testsvc (the same variables override them there).
addr=${PLBA_TEST_REDIS_ADDR:-127.0.0.1:16379}
port=${addr##*:}
caddr=${PLBA_TEST_REDIS_CLUSTER_ADDR:-127.0.0.1:16380}
cport=${caddr##*:}
dir=$(svc_dir redis)

# start_one NAME PORT [EXTRA CONFIG LINES]: start a server unless running.
start_one() {
	local name=$1 p=$2 extra=${3:-}
	local d=$dir/$name
	mkdir -p "$d"
	pid_alive "$d/pid" && return 0
	rm -f "$d/pid"
	# Written on every start so a changed port takes effect. No RDB or AOF:
	# test data is disposable, and fsyncs would only slow the tests down.
	cat >"$d/redis.conf" <<CONF
bind 127.0.0.1
protected-mode yes
port $p
daemonize yes
pidfile $d/pid
dir $d
logfile $d/redis.log
save ""
appendonly no
$extra
CONF
	redis-server "$d/redis.conf"
	wait_port 127.0.0.1 "$p" 30
	# daemonize writes the pidfile just after the port opens.
	for _ in $(seq 1 50); do [ -s "$d/pid" ] && return 0; sleep 0.1; done
	echo "redis: $name on port $p wrote no pidfile" >&2
	return 1
}

case ${1:-} in
install)
	apt_install redis-server
	;;
start)
	command -v redis-server >/dev/null || { echo "redis: not installed; run: $0 install" >&2; exit 1; }
	start_one plain "$port"
	start_one cluster "$cport" "cluster-enabled yes
cluster-config-file $dir/cluster/nodes.conf
cluster-announce-ip 127.0.0.1"
	# A fresh node owns no slots; nodes.conf keeps them across restarts.
	if redis-cli -p "$cport" cluster info | grep -q '^cluster_slots_assigned:0'; then
		redis-cli -p "$cport" cluster addslotsrange 0 16383 >/dev/null
	fi
	for _ in $(seq 1 100); do
		redis-cli -p "$cport" cluster info | grep -q '^cluster_state:ok' && break
		sleep 0.1
	done
	redis-cli -p "$cport" cluster info | grep -q '^cluster_state:ok' || { echo "redis: cluster on port $cport not ok" >&2; exit 1; }
	echo "redis: running on 127.0.0.1:$port, cluster on 127.0.0.1:$cport"
	;;
stop)
	stop_pid "$dir/plain/pid"
	stop_pid "$dir/cluster/pid"
	# The first version of this script kept its PID file here.
	stop_pid "$dir/pid"
	echo "redis: stopped"
	;;
status)
	if pid_alive "$dir/plain/pid" && pid_alive "$dir/cluster/pid"; then
		echo "redis: running on 127.0.0.1:$port (pid $(cat "$dir/plain/pid")), cluster on 127.0.0.1:$cport (pid $(cat "$dir/cluster/pid"))"
	else
		echo "redis: stopped"
		exit 1
	fi
	;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
