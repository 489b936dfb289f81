/* tecg-aggregator's configuration: its struct and its property table, the
 * shared keys of common/daemon.h for the aggregator's scope plus its own.
 * Kept out of aggregator_main.c so that the configuration fuzz target
 * (tests/fuzz/fuzz_conf.c) parses with the very table the daemon uses. */
#ifndef TECG_AGGREGATOR_CONF_H
#define TECG_AGGREGATOR_CONF_H

#include <stdint.h>

#include "conf.h"
#include "daemon.h"

typedef struct {
        tecg_daemon_conf_t common;
        char *instance_id;
        char *group_id;
        int64_t batch_max_messages;
        int64_t batch_max_ms;
        int64_t verify_threads; /* verify.threads; 0 = online CPUs */
        int64_t restore_timeout_ms;
        int64_t message_max_bytes;
        int64_t shutdown_timeout_ms;
        char *signatures; /* security.signatures: off, warn, require */
        char *keyring;    /* security.keyring; NULL = beside nations.file */
        char *store_dir;  /* store.dir */
        int64_t store_map_bytes;
        int64_t health_lag_max;
} tecg_aggregator_conf_t;

extern const tecg_conf_prop_t tecg_aggregator_conf_props[];

#endif
