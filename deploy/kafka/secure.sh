# shellcheck shell=bash
# The secured single-node broker of deploy/kafka/start --secure; sourced
# after lib.sh, not run. Everything lives in $TK_SECURE_DIR (0700):
#   ca.pem, ca.key           the local CA (made here with openssl)
#   broker-keystore.pem      the broker's key and certificate chain (Kafka's
#                            PEM keystore: no keytool, no store password)
#   passwords                "USER PASSWORD" per line (0600, random)
#   nations                  the nations that have a producer user
#   admin.properties         Java client settings of admin (0600)
#   clients/USER.conf        a tecg config fragment per user (0600)
# Scripts print the paths of these files, never a password.

TK_SCRAM=SCRAM-SHA-512
# The broker's principal on the mutual-TLS controller listener.
TK_BROKER_DN=CN=tecg-kafka-broker

# tk_secure_nations: the nation codes of deploy/nations.csv, comma-separated.
tk_secure_nations() {
	awk -F, 'NR > 1 && $1 ~ /^[A-Z][A-Z][A-Z]$/ { print $1 }' "$TK_DIR/../nations.csv" |
		paste -sd, -
}

# tk_secure_certs: a CA and the broker's certificate for 127.0.0.1 and
# localhost (server and client use: the same certificate authenticates the
# broker to its controller), once.
tk_secure_certs() {
	local d=$TK_SECURE_DIR tmp
	[[ -s $d/broker-keystore.pem && -s $d/ca.pem ]] && return 0
	command -v openssl >/dev/null 2>&1 || tk_die "openssl is not installed (needed by --secure)"
	tmp=$(mktemp -d "$d/certs.tmp.XXXXXX")
	if ! (
		set -e
		cd "$tmp"
		umask 077
		openssl req -x509 -newkey rsa:2048 -noenc -keyout ca.key -out ca.pem -days 3650 \
			-subj "/CN=tecg local Kafka CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
		openssl req -newkey rsa:2048 -noenc -keyout broker.key -out broker.csr \
			-subj "/$TK_BROKER_DN"
		printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			"extendedKeyUsage=serverAuth,clientAuth" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"basicConstraints=critical,CA:FALSE" >ext.cnf
		openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -days 825 \
			-set_serial "0x$(openssl rand -hex 8)" -extfile ext.cnf -out broker.pem
		# Kafka's PEM keystore: the PKCS#8 key, then the chain.
		cat broker.key broker.pem ca.pem >broker-keystore.pem
		chmod 644 ca.pem
		mv ca.key ca.pem broker-keystore.pem "$d/"
	) >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		tk_die "making the certificates in $d failed"
	fi
	rm -rf "$tmp" "$tmp.log"
	tk_msg "made a CA and the broker certificate in $d"
}

# tk_secure_users [NATIONS]: random passwords for admin, broker (inter-
# broker login), aggregator, dashboard, ctl (tecg-ctl, the operator's tool)
# and producer-<NATION> for each nation of the comma-separated list
# (default: deploy/nations.csv), and the client files. The passwords and
# nations of the first start stay (the users are created when the storage
# is formatted; deploy/kafka/user adds one later).
tk_secure_users() {
	local d=$TK_SECURE_DIR u pw n
	if [[ ! -s $d/passwords ]]; then
		local users=(admin broker aggregator dashboard ctl) list
		IFS=, read -r -a list <<<"${1:-$(tk_secure_nations)}"
		for n in "${list[@]}"; do
			[[ $n =~ ^[A-Z]{3}$ ]] || tk_die "bad nation code '$n' (want three capital letters)"
			users+=("producer-$n")
		done
		(
			umask 077
			for u in "${users[@]}"; do
				printf '%s %s\n' "$u" "$(openssl rand -hex 24)"
			done >"$d/passwords.tmp"
		)
		mv -f "$d/passwords.tmp" "$d/passwords"
		printf '%s\n' "${1:-$(tk_secure_nations)}" >"$d/nations"
		tk_msg "made ${#users[@]} SCRAM users (passwords in $d/passwords)"
	elif [[ -n $1 && $1 != "$(cat "$d/nations")" ]]; then
		tk_msg "warning: $TK_STATE was made for the nations $(cat "$d/nations"); the nations asked for now are ignored (add one with deploy/kafka/user producer-<NATION>)"
	fi
	if ! awk '$1 == "ctl" { found = 1 } END { exit !found }' "$d/passwords"; then
		tk_msg "note: $TK_STATE has no user ctl for tecg-ctl (made before it had one): deploy/kafka/user ctl adds it once the broker runs"
	fi
	mkdir -p -m 700 "$d/clients"
	(
		umask 077
		while read -r u pw; do
			[[ $u == broker ]] && continue
			printf '%s\n' \
				"# tecg config fragment for the SCRAM user $u of the broker on" \
				"# 127.0.0.1:$TK_PORT (written by deploy/kafka/start --secure)." \
				"kafka.security.protocol = SASL_SSL" \
				"kafka.sasl.mechanisms = $TK_SCRAM" \
				"kafka.sasl.username = $u" \
				"kafka.sasl.password = $pw" \
				"kafka.ssl.ca.location = $d/ca.pem" >"$d/clients/$u.conf.tmp"
			mv -f "$d/clients/$u.conf.tmp" "$d/clients/$u.conf"
			[[ $u == admin ]] || continue
			printf '%s\n' \
				"# Java client settings of the SCRAM user admin (a super user) for the" \
				"# broker on 127.0.0.1:$TK_PORT, e.g. deploy/kafka/topics --command-config." \
				"security.protocol=SASL_SSL" \
				"sasl.mechanism=$TK_SCRAM" \
				"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$u\" password=\"$pw\";" \
				"ssl.truststore.type=PEM" \
				"ssl.truststore.location=$d/ca.pem" >"$d/admin.properties.tmp"
			mv -f "$d/admin.properties.tmp" "$d/admin.properties"
		done <"$d/passwords"
	)
}

# tk_secure_password USER: USER's password (for the broker's own config).
tk_secure_password() {
	awk -v u="$1" '$1 == u { print $2 }' "$TK_SECURE_DIR/passwords"
}

# tk_secure_server_props: the listener, TLS, SASL and authorizer lines of
# server.properties. Clients: SASL_SSL with SCRAM-SHA-512 on the broker
# port. Controller: SSL with client certificates required on the controller
# port, so that only the holder of the broker's key (signed by our CA) is a
# peer; a PLAINTEXT controller listener would make every local caller of
# that port a super user, since the broker itself would reach it as
# User:ANONYMOUS. Inter-broker traffic: the client listener, as the SCRAM
# user broker (SCRAM cannot serve the controller listener: its credentials
# live in the metadata the controller serves).
tk_secure_server_props() {
	local d=$TK_SECURE_DIR
	printf '%s\n' \
		"listeners=CLIENT://127.0.0.1:$TK_PORT,CONTROLLER://127.0.0.1:$TK_CPORT" \
		"advertised.listeners=CLIENT://127.0.0.1:$TK_PORT,CONTROLLER://127.0.0.1:$TK_CPORT" \
		"inter.broker.listener.name=CLIENT" \
		"controller.listener.names=CONTROLLER" \
		"listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL" \
		"sasl.enabled.mechanisms=$TK_SCRAM" \
		"sasl.mechanism.inter.broker.protocol=$TK_SCRAM" \
		"listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"$(tk_secure_password broker)\";" \
		"ssl.keystore.type=PEM" \
		"ssl.keystore.location=$d/broker-keystore.pem" \
		"ssl.truststore.type=PEM" \
		"ssl.truststore.location=$d/ca.pem" \
		"ssl.endpoint.identification.algorithm=https" \
		"listener.name.controller.ssl.client.auth=required" \
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" \
		"allow.everyone.if.no.acl.found=false" \
		"super.users=User:admin;User:broker;User:$TK_BROKER_DN"
}

# tk_secure_format CONF CLUSTER_ID: format the storage with the SCRAM users
# (in one JVM that reads the passwords file: no password on a command line).
tk_secure_format() {
	tk_admin format --scram-file "$TK_SECURE_DIR/passwords" \
		-t "$2" -c "$1" --standalone
}

# tk_secure_acls PREFIX: the ACLs of the tecg users for the topics of
# PREFIX (and their groups and transactional ids), idempotently.
tk_secure_acls() {
	tk_admin --command-config "$TK_SECURE_DIR/admin.properties" acls "$TK_BOOTSTRAP" \
		--prefix "$1" --nations "$(cat "$TK_SECURE_DIR/nations")"
}
