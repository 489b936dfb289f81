#include "producer_conf.h"

#include <stddef.h>

#define F(field) offsetof(tecg_producer_conf_t, field)
const tecg_conf_prop_t tecg_producer_conf_props[] = {
        {.name = "nation",
         .type = TECG_CONF_STRING,
         .offset = F(nation),
         .flags = TECG_CONF_F_REQUIRED,
         .doc = "ISO 3166-1 alpha-3 code this producer reports for (or --nation)"},
        {.name = "spool.dir",
         .type = TECG_CONF_STRING,
         .offset = F(spool_dir),
         .doc = "spool directory with incoming/, done/, rejected/ (required unless "
                "reading stdin)"},
        {.name = "spool.scan.interval.ms",
         .type = TECG_CONF_INT,
         .offset = F(scan_interval_ms),
         .defval = "500",
         .min = 10,
         .max = 3600000,
         .doc = "how often incoming/ is looked at for new files"},
        {.name = "spool.retry.interval.ms",
         .type = TECG_CONF_INT,
         .offset = F(retry_interval_ms),
         .defval = "30000",
         .min = 100,
         .max = 86400000,
         .doc = "a file that cannot be taken now (not a regular file, unreadable, "
                "rejected/ or done/ not writable) stays in incoming/ and is tried "
                "again after this long; the reason is logged once, then every 10 "
                "minutes"},
        {.name = "limits.line.bytes",
         .type = TECG_CONF_INT,
         .offset = F(line_bytes),
         .defval = "1048576",
         .min = 1024,
         .max = 1073741824,
         .doc = "longest input line; a longer one is never read into memory: it is "
                "rejected (\"line is N bytes, longer than limits.line.bytes\") and "
                "rejected/NAME.ndjson keeps only its first 4096 bytes"},
        {.name = "limits.json.depth",
         .type = TECG_CONF_INT,
         .offset = F(json_depth),
         .defval = "16",
         .min = 1,
         .max = 1000,
         .doc = "deepest nesting of JSON objects and arrays in a line (an event has 1)"},
        {.name = "limits.string.bytes",
         .type = TECG_CONF_INT,
         .offset = F(string_bytes),
         .defval = "4096",
         .min = 64,
         .max = 1073741824,
         .doc = "longest JSON string (key or value) in a line, in bytes as written "
                "between its quotes (the longest valid text, 200 characters, can "
                "take 2400)"},
        {.name = "limits.file.lines",
         .type = TECG_CONF_INT,
         .offset = F(file_lines),
         .defval = "1000000",
         .min = 1,
         .max = 1000000000,
         .doc = "lines sent from one spool file; the lines after them are rejected "
                "unsent, each with its reason, and copied to rejected/NAME.ndjson to "
                "be sent again in another file; the file still goes to done/ (stdin "
                "has no limit)"},
        {.name = "shutdown.timeout.ms",
         .type = TECG_CONF_INT,
         .offset = F(shutdown_timeout_ms),
         .defval = "30000",
         .min = 0,
         .max = 3600000,
         .doc = "on SIGTERM, how long to wait for Kafka to acknowledge what was sent"},
        /* docs/design.md §9.1: the aggregator refuses unsigned events by
         * default, so an unsigned producer is a deliberate, logged choice. */
        {.name = "security.signing",
         .type = TECG_CONF_BOOL,
         .offset = F(signing),
         .defval = "on",
         .doc = "sign every event with security.signing.key; off (a transition "
                "setting, logged at WARN) sends them unsigned, which an aggregator "
                "with security.signatures=require dead-letters"},
        {.name = "security.signing.key",
         .type = TECG_CONF_STRING,
         .offset = F(signing_key),
         .doc = "the nation's private key file (tecg-producer --keygen; mode 0600, "
                "owned by the producer's user); required unless security.signing=off"},
        {.name = "security.signing.seal.ms",
         .type = TECG_CONF_INT,
         .offset = F(seal_ms),
         .defval = "5",
         .min = 0,
         .max = 1000,
         .doc = "how long a signed event read while fewer than 64 wait may wait for "
                "others to share its signature (a seal: the aggregator checks one "
                "Ed25519 signature for all of them); 0 seals what waits whenever the "
                "producer has nothing else to do. Under load seals fill before it; "
                "the end of a spool file or of stdin seals at once"},
        {.name = "security.keyring",
         .type = TECG_CONF_STRING,
         .offset = F(keyring),
         .doc = "the nations' public keys (nation-keys.csv); when readable, the "
                "signing key must be listed there for this nation, unrevoked "
                "(default: nation-keys.csv beside nations.file)"},
        /* docs/design.md §2.8: the same names as tecg-dashboard's where
         * they mean the same. */
        {.name = "http.address",
         .type = TECG_CONF_STRING,
         .offset = F(http_address),
         .defval = "127.0.0.1",
         .doc = "address the HTTP input (POST /v1/events) listens on"},
        {.name = "http.port",
         .type = TECG_CONF_INT,
         .offset = F(http_port),
         .min = 0,
         .max = 65535,
         .doc = "port of the HTTP input; unset = no HTTP input (0 = any free port, see "
                "http.port.file)"},
        {.name = "http.port.file",
         .type = TECG_CONF_STRING,
         .offset = F(http_port_file),
         .doc = "write the port actually listened on to this file"},
        {.name = "http.tls.cert",
         .type = TECG_CONF_STRING,
         .offset = F(http_tls_cert),
         .doc = "PEM certificate (chain) to serve HTTPS with; with http.tls.key"},
        {.name = "http.tls.key",
         .type = TECG_CONF_STRING,
         .offset = F(http_tls_key),
         .doc = "PEM private key of http.tls.cert; the file must not be readable by "
                "group or others"},
        {.name = "http.auth",
         .type = TECG_CONF_STRING,
         .offset = F(http_auth),
         .defval = "tokens",
         .doc = "tokens: a bearer token of http.auth.tokens granted /v1/events; none: "
                "no authentication (loopback http.address only, logged at WARN)"},
        {.name = "http.auth.tokens",
         .type = TECG_CONF_STRING,
         .offset = F(http_auth_tokens),
         .doc = "tokens file: NAME sha256:HEX ROUTES... per line, the dashboard's format "
                "(tecg-producer --new-token NAME)"},
        {.name = "http.max.connections",
         .type = TECG_CONF_INT,
         .offset = F(http_max_connections),
         .defval = "64",
         .min = 1,
         .max = 100000,
         .doc = "concurrent HTTP connections (one thread each)"},
        {.name = "http.max.connections.per.client",
         .type = TECG_CONF_INT,
         .offset = F(http_max_connections_per_client),
         .defval = "8",
         .min = 1,
         .max = 100000,
         .doc = "concurrent connections from one client address"},
        {.name = "http.request.timeout.ms",
         .type = TECG_CONF_INT,
         .offset = F(http_request_timeout_ms),
         .defval = "30000",
         .min = 100,
         .max = 600000,
         .doc = "from accept (or the last answer) to a complete request, body "
                "included; slower clients are disconnected"},
        {.name = "http.response.timeout.ms",
         .type = TECG_CONF_INT,
         .offset = F(http_response_timeout_ms),
         .defval = "30000",
         .min = 100,
         .max = 600000,
         .doc = "how long an answer waits for Kafka to acknowledge every accepted "
                "line; then 503 with Retry-After (post the same lines again: "
                "duplicates are dropped by event_id)"},
        {.name = "http.retry.after.s",
         .type = TECG_CONF_INT,
         .offset = F(http_retry_after_s),
         .defval = "10",
         .min = 1,
         .max = 3600,
         .doc = "the Retry-After of a 503"},
        {.name = "http.max.body.bytes",
         .type = TECG_CONF_INT,
         .offset = F(http_max_body_bytes),
         .defval = "4194304",
         .min = 1024,
         .max = 1073741824,
         .doc = "largest request body; a larger one is answered 413 and nothing of it "
                "is sent"},
        TECG_DAEMON_SHARED_KEYS(tecg_producer_conf_t, common, TECG_DAEMON_PRODUCER),
        {.name = NULL}};
#undef F
