#include "aggregator_conf.h"

#include <stddef.h>
#include <stdint.h>

#define F(field) offsetof(tecg_aggregator_conf_t, field)
const tecg_conf_prop_t tecg_aggregator_conf_props[] = {
        {.name = "instance.id",
         .type = TECG_CONF_STRING,
         .offset = F(instance_id),
         .doc = "unique name of this instance; its transactional.id is "
                "tecg-aggregator-<instance.id>@<topic.prefix> and its consumer's group.instance.id is "
                "<instance.id>@<topic.prefix> (static membership: a restart gets its partitions back "
                "without a rebalance; kafka.group.instance.id wins) (default: the host "
                "name)"},
        {.name = "group.id",
         .type = TECG_CONF_STRING,
         .offset = F(group_id),
         .defval = "tecg-aggregator",
         .doc = "consumer group shared by all aggregator instances"},
        {.name = "batch.max.messages",
         .type = TECG_CONF_INT,
         .offset = F(batch_max_messages),
         .defval = "50000",
         .min = 1,
         .max = 1000000,
         .doc = "input messages per transaction at most"},
        {.name = "batch.max.ms",
         .type = TECG_CONF_INT,
         .offset = F(batch_max_ms),
         .defval = "100",
         .min = 1,
         .max = 60000,
         .doc = "the longest a batch keeps collecting under load: a batch commits as soon "
                "as the input is drained; only while messages keep waiting does it "
                "collect, for as long as the last commit took, up to this"},
        /* docs/design.md §9.1: a signature check costs about 60 µs of CPU,
         * more than everything else an event costs together. */
        {.name = "verify.threads",
         .type = TECG_CONF_INT,
         .offset = F(verify_threads),
         .defval = "0",
         .min = 0,
         .max = 64,
         .doc = "threads that check the signatures of a batch, the engine's own included "
                "(0: one per online CPU; 1: the engine's thread alone)"},
        {.name = "restore.timeout.ms",
         .type = TECG_CONF_INT,
         .offset = F(restore_timeout_ms),
         .defval = "120000",
         .min = 1000,
         .max = 3600000,
         .doc = "how long one attempt at restoring a partition's state may take; a "
                "failed attempt is retried a second later"},
        {.name = "shutdown.timeout.ms",
         .type = TECG_CONF_INT,
         .offset = F(shutdown_timeout_ms),
         .defval = "10000",
         .min = 0,
         .max = 3600000,
         .doc = "on SIGTERM, how long aborting the open transaction and closing the "
                "clients may take, Kafka up or down; what is not committed is redone "
                "from the last commit at the next start"},
        /* The largest valid event is about 2.5 kB (three texts of at most
         * 200 characters): 64 KiB leaves room for new schema versions and
         * refuses a megabyte of junk before the codec walks it. */
        {.name = "limits.message.bytes",
         .type = TECG_CONF_INT,
         .offset = F(message_max_bytes),
         .defval = "65536",
         .min = 64,
         .max = 104857600,
         .doc = "input messages whose value is larger go to the dead-letter topic "
                "undecoded"},
        /* docs/design.md §9.1: only a nation's own key may report for it. */
        {.name = "security.signatures",
         .type = TECG_CONF_STRING,
         .offset = F(signatures),
         .defval = "require",
         .doc = "require: an input message whose signature does not hold goes to the "
                "dead-letter topic with the reason; warn: counted and logged, but "
                "accepted (a transition setting); off: not checked"},
        {.name = "security.keyring",
         .type = TECG_CONF_STRING,
         .offset = F(keyring),
         .doc = "the nations' public keys (nation-keys.csv; required unless "
                "security.signatures=off) (default: nation-keys.csv beside nations.file)"},
        /* docs/design.md §4.4: the record of every counted event id, on
         * disk; the systemd unit's StateDirectory. */
        {.name = "store.dir",
         .type = TECG_CONF_STRING,
         .offset = F(store_dir),
         .defval = "/var/lib/tecg/aggregator",
         .doc = "directory of the id store (LMDB: every counted event id, its status and "
                "effect); one per aggregator instance, never shared; a missing or deleted "
                "one is rebuilt from tecg.event-ids"},
        /* Address space, not memory or disk: LMDB maps the file and only
         * what is written takes room. ~150 bytes an id: 64 GiB is some
         * 400 million ids. */
        {.name = "store.map.bytes",
         .type = TECG_CONF_INT,
         .offset = F(store_map_bytes),
         .defval = "68719476736",
         .min = 1048576,
         .max = INT64_MAX,
         .doc = "largest size the id store may grow to (sparse: only what is written takes "
                "disk); a full store stops the aggregator with the reason"},
        /* A burst of a few batches is normal work, not a reason for a load
         * balancer or an alert to call the instance unready. */
        {.name = "health.lag.max",
         .type = TECG_CONF_INT,
         .offset = F(health_lag_max),
         .defval = "10000",
         .min = 0,
         .max = INT64_MAX,
         .doc = "GET /healthz (metrics.http.port) answers 503 while the assigned input "
                "partitions are more messages than this behind"},
        TECG_DAEMON_SHARED_KEYS(tecg_aggregator_conf_t, common, TECG_DAEMON_AGGREGATOR),
        {.name = NULL}};
#undef F
