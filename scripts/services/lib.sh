# Sourced by the service scripts. Not a service itself.
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
svc_dir() { local d="$root/var/services/$1"; mkdir -p "$d"; echo "$d"; }
# pid_alive FILE: true when FILE holds the PID of a live process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# stop_pid FILE: stop the process whose PID is in FILE, wait, remove FILE.
stop_pid() {
	local f=$1 pid
	pid_alive "$f" || { rm -f "$f"; return 0; }
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$f"
}
# wait_port HOST PORT [SECONDS]: wait until something listens there.
wait_port() {
	local host=$1 port=$2 secs=${3:-30}
	for _ in $(seq 1 $((secs * 10))); do
		(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $host:$port after ${secs}s" >&2
	return 1
}
# apt_install PKG...: install Debian packages that are missing.
apt_install() {
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	if [ ! -f "$root/var/.apt-updated" ]; then apt-get update -qq; mkdir -p "$root/var"; touch "$root/var/.apt-updated"; fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
