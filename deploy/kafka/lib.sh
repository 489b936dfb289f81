# shellcheck shell=bash
# Shared by deploy/kafka/{fetch,start,stop,topics}; sourced, not run.
# Sets the TK_* variables below and defines the tk_* helpers.

TK_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
TK_POM=$TK_DIR/pom.xml

tk_msg() { printf 'kafka: %s\n' "$*" >&2; }
tk_die() {
	printf 'kafka: error: %s\n' "$*" >&2
	exit 1
}

tk_pom_version() {
	sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$TK_POM" | head -n 1
}

TK_VERSION=${TECG_KAFKA_VERSION:-$(tk_pom_version)}
[[ -n $TK_VERSION ]] || tk_die "cannot read <kafka.version> from $TK_POM"
TK_CACHE=${TECG_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tecg}
TK_HOME=$TK_CACHE/kafka-$TK_VERSION
TK_LIBS=$TK_HOME/libs
TK_PORT=${TECG_KAFKA_PORT:-9092}

tk_valid_port() {
	[[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 < 65536))
}

# tk_set_port N: validate and set TK_PORT, TK_CPORT, TK_BOOTSTRAP, TK_STATE.
tk_set_port() {
	tk_valid_port "$1" || tk_die "bad port '$1'"
	TK_PORT=$1
	TK_CPORT=${TECG_KAFKA_CONTROLLER_PORT:-$((TK_PORT + 1))}
	tk_valid_port "$TK_CPORT" || tk_die "bad controller port '$TK_CPORT'"
	((TK_CPORT != TK_PORT)) || tk_die "broker and controller port are both $TK_PORT"
	TK_BOOTSTRAP=127.0.0.1:$TK_PORT
	TK_STATE=${TECG_KAFKA_STATE:-$TK_CACHE/kafka-state-$TK_PORT}
	TK_PIDFILE=$TK_STATE/broker.pid
}

# tk_fetch: make sure the jars are in $TK_LIBS (no-op when they are).
tk_fetch() {
	"$TK_DIR/fetch" || exit 1
}

# tk_lock FILE: hold an exclusive lock on FILE until the script exits.
tk_lock() {
	mkdir -p "$(dirname "$1")"
	exec {TK_LOCK_FD}>"$1"
	if ! flock -n "$TK_LOCK_FD"; then
		tk_msg "waiting for another deploy/kafka command holding $1"
		flock -w 300 "$TK_LOCK_FD" || tk_die "timed out waiting for the lock $1"
	fi
}

# tk_port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
tk_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# tk_answers: a Kafka broker answers a metadata request on $TK_BOOTSTRAP.
tk_answers() {
	tk_port_open "$TK_PORT" || return 1
	if command -v kcat >/dev/null 2>&1; then
		kcat -L -b "$TK_BOOTSTRAP" -m 3 >/dev/null 2>&1
	else
		tk_admin wait "$TK_BOOTSTRAP" 3 >/dev/null 2>&1
	fi
}

# tk_java_tool CLASS ARGS...: a short-lived JVM on the Kafka jars.
tk_java_tool() {
	java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dlog4j2.configurationFile="$TK_DIR/log4j2-tools.xml" \
		-cp "$TK_LIBS/*" "$@"
}

# tk_admin ARGS...: run TecgKafkaAdmin (compiled once into the jar cache).
tk_admin() {
	local src=$TK_DIR/TecgKafkaAdmin.java sum classes tmp
	sum=$(sha256sum "$src" | cut -c1-16)
	classes=$TK_HOME/admin-$sum
	if [[ ! -f $classes/TecgKafkaAdmin.class ]] && command -v javac >/dev/null 2>&1; then
		tmp=$(mktemp -d "$TK_HOME/admin.tmp.XXXXXX")
		if javac -nowarn -d "$tmp" -cp "$TK_LIBS/*" "$src" >"$tmp.log" 2>&1; then
			rm -f "$tmp.log"
			mv -T "$tmp" "$classes" 2>/dev/null || rm -rf "$tmp"
		else
			cat "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			tk_die "cannot compile $src"
		fi
	fi
	if [[ -f $classes/TecgKafkaAdmin.class ]]; then
		tk_java_tool -cp "$classes:$TK_LIBS/*" TecgKafkaAdmin "$@"
	else
		# No javac: Java 11+ runs a single source file directly.
		tk_java_tool "$src" "$@"
	fi
}

# tk_broker_pid: print the pid of the broker started from $TK_STATE if it is
# running (checked against its command line, not just the pid file).
tk_broker_pid() {
	local pid args
	[[ -r $TK_PIDFILE ]] || return 1
	read -r pid <"$TK_PIDFILE" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
	[[ $args == *"kafka.Kafka $TK_STATE/server.properties"* ]] || return 1
	printf '%s\n' "$pid"
}

# tk_log_tail [N]: the end of the broker log, for error messages.
tk_log_tail() {
	local log=$TK_STATE/broker.log
	if [[ -s $log ]]; then
		printf -- '--- last %s lines of %s ---\n' "${1:-40}" "$log" >&2
		tail -n "${1:-40}" "$log" >&2
		printf -- '---\n' >&2
	fi
}

# tk_alive PID: the process exists and is not a zombie.
tk_alive() {
	local stat
	stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $stat && $stat != Z* ]]
}

# tk_kill_broker PID TIMEOUT: SIGTERM, wait up to TIMEOUT s, then SIGKILL.
tk_kill_broker() {
	local pid=$1 timeout=$2 deadline
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + timeout))
	while tk_alive "$pid"; do
		if ((SECONDS >= deadline)); then
			tk_msg "broker $pid still running after ${timeout}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			while tk_alive "$pid"; do sleep 0.1; done
			return 0
		fi
		sleep 0.2
	done
}
