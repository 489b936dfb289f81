# shellcheck shell=bash
# Shared by deploy/kafka/{fetch,start,stop,topics,node,user}; sourced, not run.
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
	TK_SECURE_DIR=$TK_STATE/secure
}

# A secured broker (start --secure) keeps its CA, certificates, passwords
# and ready-made client files in $TK_SECURE_DIR; its admin client settings
# are $TK_SECURE_DIR/admin.properties. tk_secure: the state in $TK_STATE is
# a secured one.
tk_secure() {
	[[ -f $TK_SECURE_DIR/admin.properties ]]
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

# tk_port_holder PORT: prints who listens on PORT ("pid N: command", or the
# socket when its process belongs to another user); fails when no socket
# listens there. A connection to a port of the ephemeral range with nothing
# listening can still succeed (the kernel may give the client that very
# port: it talks to itself), so a connect alone does not prove a listener.
tk_port_holder() {
	local hex inode fd pid
	hex=$(printf '%04X' "$1")
	# /proc/net/tcp: local_address is field 2 (ADDR:PORT in hex), state is
	# field 4 (0A = LISTEN), the socket's inode is field 10.
	inode=$(awk -v port=":$hex" 'substr($2, length($2) - 4) == port && $4 == "0A" { print $10; exit }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	[[ -n $inode ]] || return 1
	for fd in /proc/[0-9]*/fd/*; do
		if [[ $(readlink "$fd" 2>/dev/null) == "socket:[$inode]" ]]; then
			pid=${fd#/proc/}
			pid=${pid%%/*}
			printf 'pid %s: %s\n' "$pid" "$(tr '\0\n' '  ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
			return 0
		fi
	done
	printf 'socket %s, of a process this user cannot see\n' "$inode"
}

# tk_port_taken PORT: something listens on 127.0.0.1:PORT; says who.
tk_port_taken() {
	local holder
	tk_port_open "$1" || return 1
	holder=$(tk_port_holder "$1") || return 1
	tk_msg "port $1 is held by $holder"
}

# tk_answers: a Kafka broker answers a metadata request on $TK_BOOTSTRAP.
tk_answers() {
	tk_port_answers "$TK_PORT"
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

# tk_pid_in DIR: print the pid of the broker started from state directory
# DIR if it is running (checked against its command line, not just the pid
# file DIR/broker.pid).
tk_pid_in() {
	local pid args
	[[ -r $1/broker.pid ]] || return 1
	read -r pid <"$1/broker.pid" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
	[[ $args == *"kafka.Kafka $1/server.properties"* ]] || return 1
	printf '%s\n' "$pid"
}

# tk_broker_pid: the pid of the single-node broker of $TK_STATE (tk_pid_in).
tk_broker_pid() {
	tk_pid_in "$TK_STATE"
}

# tk_launch DIR HEAP: start kafka.Kafka on DIR/server.properties in the
# background, log to DIR/broker.log (the previous one kept as .prev), pid to
# DIR/broker.pid; sets TK_LAUNCHED_PID. Own session (setsid) + nohup: the
# broker outlives the calling script and the terminal.
tk_launch() {
	local dir=$1 log=$1/broker.log setsid=() heap jvm
	[[ -f $log ]] && mv -f "$log" "$log.prev"
	read -r -a heap <<<"$2"
	read -r -a jvm <<<"${TECG_KAFKA_JVM_OPTS:-}"
	command -v setsid >/dev/null 2>&1 && setsid=(setsid)
	# stdin from /dev/null, stdout+stderr (log4j2 console) to the log.
	(
		cd "$dir"
		exec {TK_LOCK_FD}>&- # the broker must not keep holding the start lock
		exec ${setsid[@]+"${setsid[@]}"} nohup java "${heap[@]}" ${jvm[@]+"${jvm[@]}"} \
			-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
			-Djava.awt.headless=true -Dkafka.logs.dir="$dir" \
			-Dlog4j2.configurationFile="$TK_DIR/log4j2.xml" \
			-cp "$TK_LIBS/*" kafka.Kafka "$dir/server.properties"
	) </dev/null >"$log" 2>&1 &
	TK_LAUNCHED_PID=$!
	printf '%s\n' "$TK_LAUNCHED_PID" >"$dir/broker.pid"
}

# A cluster (start --nodes N, N > 1) keeps its node count in $TK_STATE/nodes
# and node K (1..N) in $TK_STATE/node-K: broker on port + K - 1, controller
# on port + 9 + K (the three nodes are a combined broker+controller quorum).

# tk_cluster_nodes: print the node count of the cluster in $TK_STATE; fails
# when $TK_STATE holds no cluster.
tk_cluster_nodes() {
	local n
	[[ -r $TK_STATE/nodes ]] || return 1
	read -r n <"$TK_STATE/nodes" || return 1
	[[ $n =~ ^[2-9]$ ]] || return 1
	printf '%s\n' "$n"
}

# tk_node K: set TK_NODE_DIR, TK_NODE_PORT, TK_NODE_CPORT for node K.
tk_node() {
	TK_NODE_DIR=$TK_STATE/node-$1
	TK_NODE_PORT=$((TK_PORT + $1 - 1))
	TK_NODE_CPORT=$((TK_PORT + 9 + $1))
}

# tk_port_answers PORT: a Kafka broker answers a metadata request on
# 127.0.0.1:PORT.
tk_port_answers() {
	tk_port_open "$1" || return 1
	if tk_secure; then
		# SASL_SSL: kcat (Debian 12's librdkafka 2.0.2) cannot log in with
		# SCRAM to Kafka 4; the admin client logs in as admin.
		tk_admin --command-config "$TK_SECURE_DIR/admin.properties" \
			wait "127.0.0.1:$1" 3 >/dev/null 2>&1
	elif command -v kcat >/dev/null 2>&1; then
		kcat -L -b "127.0.0.1:$1" -m 3 >/dev/null 2>&1
	else
		tk_admin wait "127.0.0.1:$1" 3 >/dev/null 2>&1
	fi
}

# tk_log_tail [N] [DIR]: the end of the broker log, for error messages.
tk_log_tail() {
	local log=${2:-$TK_STATE}/broker.log
	if [[ -s $log ]]; then
		# A broker that gives up logs its shutdown last: the cause is the
		# first error, often far above the tail.
		if grep -qE ' (ERROR|FATAL) ' "$log"; then
			printf -- '--- first errors in %s ---\n' "$log" >&2
			grep -m 5 -A 3 -E ' (ERROR|FATAL) ' "$log" >&2 || true
		fi
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
	# A paused broker (deploy/kafka/node N pause) handles SIGTERM only once
	# it runs again.
	kill -CONT "$pid" 2>/dev/null || true
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

# tk_cluster_rf N: the replication factor of a cluster of N brokers,
# min(3, N); tk_cluster_min_isr RF: 2 when RF is 3 or more, else 1.
tk_cluster_rf() {
	if (($1 < 3)); then printf '%s\n' "$1"; else printf '3\n'; fi
}
tk_cluster_min_isr() {
	if (($1 >= 3)); then printf '2\n'; else printf '1\n'; fi
}

# tk_node_pid K: the pid of node K of the cluster in $TK_STATE, if running.
tk_node_pid() {
	tk_pid_in "$TK_STATE/node-$1"
}

# tk_node_launch K: start node K from its existing server.properties.
tk_node_launch() {
	tk_node "$1"
	tk_launch "$TK_NODE_DIR" "${TECG_KAFKA_HEAP_OPTS:--Xmx384m}"
	tk_msg "starting node $1 (pid $TK_LAUNCHED_PID): broker 127.0.0.1:$TK_NODE_PORT, controller 127.0.0.1:$TK_NODE_CPORT, state $TK_NODE_DIR"
}

# tk_cluster_bootstrap N: the bootstrap list of a cluster of N nodes.
tk_cluster_bootstrap() {
	local k out=
	for ((k = 1; k <= $1; k++)); do
		out+=${out:+,}127.0.0.1:$((TK_PORT + k - 1))
	done
	printf '%s\n' "$out"
}

# tk_cluster_ready N BOOTSTRAP SECONDS: within SECONDS, N brokers are
# registered and unfenced and the controller quorum has a leader. With kcat:
# N brokers in the metadata, which implies the leader (only the active
# controller registers and unfences a broker); saves a JVM start.
tk_cluster_ready() {
	local deadline=$((SECONDS + $3)) n
	if ! command -v kcat >/dev/null 2>&1; then
		tk_admin wait "$2" "$3" "$1" >/dev/null
		return
	fi
	while :; do
		n=$(kcat -L -b "$2" -m 3 2>/dev/null | grep -c '^  broker [0-9]* at ') || true
		((n >= $1)) && return 0
		((SECONDS < deadline)) || return 1
		sleep 0.3
	done
}
