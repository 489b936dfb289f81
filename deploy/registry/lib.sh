# shellcheck shell=bash
# Shared by deploy/registry/{fetch,start,stop}; sourced, not run. Sets the
# TR_* variables below and defines the tr_* helpers.

TR_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)

# The one registry release tecg is tested with, and the SHA-256 of its
# Maven Central artifact io.apicurio:apicurio-registry-app:VERSION, classifier
# "all", type tar.gz: fetch refuses any other bytes. A new version changes
# both lines together.
TR_VERSION=3.0.9
TR_SHA256=2b28181501a20cbf6efcd77f9b7153908fc01f3d3a7c32024c0bd9e1b04c8a43
TR_ARTIFACT=io.apicurio:apicurio-registry-app:$TR_VERSION:tar.gz:all

tr_msg() { printf 'registry: %s\n' "$*" >&2; }
tr_die() {
	printf 'registry: error: %s\n' "$*" >&2
	exit 1
}

TR_CACHE=${TECG_REGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tecg}
TR_HOME=$TR_CACHE/apicurio-registry-$TR_VERSION
TR_JAR=$TR_HOME/apicurio-registry-app-$TR_VERSION-runner.jar
TR_PORT=${TECG_REGISTRY_PORT:-8081}

# The Confluent-compatible API under the registry's base URL: what
# schema.registry.url names.
TR_CCOMPAT=/apis/ccompat/v7

tr_valid_port() {
	[[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 < 65536))
}

# tr_set_port N: validate and set TR_PORT, TR_BASE, TR_URL, TR_STATE, TR_PIDFILE.
tr_set_port() {
	tr_valid_port "$1" || tr_die "bad port '$1'"
	TR_PORT=$1
	TR_BASE=http://127.0.0.1:$TR_PORT
	TR_URL=$TR_BASE$TR_CCOMPAT
	TR_STATE=${TECG_REGISTRY_STATE:-$TR_CACHE/registry-state-$TR_PORT}
	TR_PIDFILE=$TR_STATE/registry.pid
}

# tr_lock FILE: hold an exclusive lock on FILE until the script exits.
tr_lock() {
	mkdir -p "$(dirname "$1")"
	exec {TR_LOCK_FD}>"$1"
	if ! flock -n "$TR_LOCK_FD"; then
		tr_msg "waiting for another deploy/registry command holding $1"
		flock -w 300 "$TR_LOCK_FD" || tr_die "timed out waiting for the lock $1"
	fi
}

# tr_port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
tr_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# tr_ready: the registry on $TR_BASE says it is ready (its storage is up).
tr_ready() {
	curl -fsS -m 3 -o /dev/null "$TR_BASE/health/ready" 2>/dev/null
}

# tr_pid: the pid of the registry started from $TR_STATE if it is running
# (checked against its command line, not just the pid file).
tr_pid() {
	local pid args
	[[ -r $TR_PIDFILE ]] || return 1
	read -r pid <"$TR_PIDFILE" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
	[[ $args == *"-Dtecg.registry.state=$TR_STATE "* ]] || return 1
	printf '%s\n' "$pid"
}

# tr_alive PID: the process exists and is not a zombie.
tr_alive() {
	local stat
	stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $stat && $stat != Z* ]]
}

# tr_kill PID TIMEOUT: SIGTERM, wait up to TIMEOUT s, then SIGKILL.
tr_kill() {
	local pid=$1 timeout=$2 deadline
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + timeout))
	while tr_alive "$pid"; do
		if ((SECONDS >= deadline)); then
			tr_msg "registry $pid still running after ${timeout}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			while tr_alive "$pid"; do sleep 0.1; done
			return 0
		fi
		sleep 0.2
	done
}

# tr_log_tail [N]: the end of the registry log, for error messages.
tr_log_tail() {
	local log=$TR_STATE/registry.log
	if [[ -s $log ]]; then
		printf -- '--- last %s lines of %s ---\n' "${1:-40}" "$log" >&2
		tail -n "${1:-40}" "$log" >&2
		printf -- '---\n' >&2
	fi
}
