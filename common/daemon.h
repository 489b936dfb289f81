/* What every tecg daemon does before its real work: parse the shared
 * command line (-c/--config, -X/--set, -v, --check-config, --version, -h,
 * and --help-man, the man page the build installs), load the
 * configuration through its property table (defaults < file < -X <
 * alias options such as --nation), set the log level from `log.level`,
 * and install the SIGINT/SIGTERM handler that asks the main loop to stop. */
#ifndef TECG_DAEMON_H
#define TECG_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "monitor.h"
#include "tokens.h"

/* Scopes of the shared keys: which daemons a key of tecg_daemon_props
 * applies to (tecg_conf_prop_t.scope). */
#define TECG_DAEMON_PRODUCER 0x1
#define TECG_DAEMON_AGGREGATOR 0x2
#define TECG_DAEMON_DASHBOARD 0x4
#define TECG_DAEMON_CTL 0x8 /* the operator's tool, tools/ctl/ */

/* The values of the shared keys, a member of each daemon's config struct. */
typedef struct {
        char *nations_file;
        char *topic_prefix;
        char *log_level;
        int64_t stats_interval_ms;
        char *metrics_file;         /* producer, aggregator */
        char *schema_registry_url;  /* producer, aggregator, ctl */
        int64_t metrics_http_port;  /* producer, aggregator; set when
                                     * metrics.http.port has an origin */
        char *metrics_http_address; /* producer, aggregator */
        char *metrics_http_tokens;  /* producer, aggregator */
} tecg_daemon_conf_t;

/* The keys more than one daemon has, each described once with the scopes
 * it applies to: nations.file, topic.prefix, log.level, stats.interval.ms,
 * metrics.file, metrics.http.*, schema.registry.url and the kafka.
 * pass-through. */
extern const tecg_conf_prop_t tecg_daemon_props[];

/* The entry of a daemon's table that takes the shared keys of `scope_`
 * into its tecg_daemon_conf_t member `member`. */
#define TECG_DAEMON_SHARED_KEYS(struct_type, member, scope_)                                     \
        {                                                                                        \
                .name = "", .type = TECG_CONF_INCLUDE, .offset = offsetof(struct_type, member),  \
                .sub = tecg_daemon_props, .scope = (scope_), .doc = "keys shared by the daemons" \
        }

typedef struct {
        const char *progname;          /* "tecg-producer": logs and errors */
        const char *usage;             /* text printed before the options */
        const char *exit_status;       /* text printed after the keys */
        const tecg_conf_prop_t *props; /* the daemon's table */
        /* Optional option that sets a config key, e.g. --nation / -n. */
        const char *alias_long;
        int alias_short;
        const char *alias_key;
        bool accepts_stdin; /* a lone "-" argument means stdin */
} tecg_daemon_spec_t;

typedef struct {
        tecg_conf_t *conf; /* owned: tecg_daemon_cleanup() */
        bool check_only;   /* --check-config */
        bool read_stdin;   /* "-" was given */

        /* Where the configuration came from, to read it again on SIGHUP
         * (tecg_daemon_reload()); borrowed from argv. */
        const tecg_daemon_spec_t *spec;
        const char *config_path;
        char **sets;
        size_t nsets;
        const char *alias_value;
        bool verbose;
} tecg_daemon_t;

/* Non-zero once SIGINT or SIGTERM arrived (after tecg_daemon_signals()). */
extern volatile sig_atomic_t tecg_daemon_stop;

/* Non-zero once SIGHUP arrived and until tecg_daemon_reload() ran. */
extern volatile sig_atomic_t tecg_daemon_reload_asked;

/* Parses argv and loads the configuration into `target` (the struct the
 * props describe). Returns -1 when the daemon should go on, otherwise the
 * exit status to return now: 0 after --help, --version or --help-man, 2
 * after a usage or configuration error (already printed as "progname:
 * file:line: reason"). */
int tecg_daemon_setup(const tecg_daemon_spec_t *spec, void *target, int argc, char **argv,
                      tecg_daemon_t *d);

/* Reports a configuration problem found after setup and returns 2. */
int tecg_daemon_config_error(const tecg_daemon_spec_t *spec, const char *errstr);

/* Ends --check-config: the configuration passed every check. Returns 0. */
int tecg_daemon_config_ok(tecg_daemon_t *d);

/* SIGINT/SIGTERM set tecg_daemon_stop (without SA_RESTART, so a blocked
 * read returns); SIGHUP sets tecg_daemon_reload_asked (a closed terminal
 * or an operator's reload never kills a daemon); SIGPIPE is ignored (a
 * peer that hangs up is an error return, not a death). */
void tecg_daemon_signals(void);

/* A key that can change while the daemon runs: called by
 * tecg_daemon_reload() for each changed key with its new text (NULL when
 * unset); returns true when the daemon applied it. */
typedef bool tecg_daemon_live_cb(const char *key, const char *value, void *opaque);

/* SIGHUP's work, from the daemon's main loop: reads the configuration again
 * from the same file and options into `scratch` (a zeroed struct of the
 * daemon's config type, left zeroed again). An invalid configuration is
 * logged and changes nothing. Otherwise log.level is applied at once, each
 * other changed key is offered to `live` (may be NULL), and the ones not
 * applied are logged by name as needing a restart; the daemon keeps running
 * with its configuration (values of secret keys are never logged). Clears
 * tecg_daemon_reload_asked. Returns the number of changed keys that still
 * need a restart, or -1 when the configuration could not be read. */
int tecg_daemon_reload(tecg_daemon_t *d, void *scratch, tecg_daemon_live_cb *live, void *opaque);

/* The monitoring listener's tokens (metrics.http.tokens), checked before
 * --check-config ends: *tokens NULL without the key, which only a loopback
 * metrics.http.address allows. TECG_ERR_CONFIG with errstr otherwise. */
tecg_err_t tecg_daemon_monitor_tokens(const tecg_daemon_t *d, const tecg_daemon_conf_t *c,
                                      tecg_tokens_t **tokens, char *errstr, size_t errstr_size);

/* Starts the monitoring listener (common/monitor.h) when metrics.http.port
 * is set: *mon NULL when it is not. `tokens` from
 * tecg_daemon_monitor_tokens(), borrowed. */
tecg_err_t tecg_daemon_monitor_start(const tecg_daemon_t *d, const tecg_daemon_conf_t *c,
                                     const tecg_tokens_t *tokens, tecg_monitor_t **mon,
                                     char *errstr, size_t errstr_size);

void tecg_daemon_cleanup(tecg_daemon_t *d);

#endif
