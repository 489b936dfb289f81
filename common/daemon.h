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
#include "refdata.h"
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

        /* The last configuration a reload applied (its live keys are what
         * runs), with the struct it fills; NULL before the first. Owned. */
        tecg_conf_t *applied;
        void *applied_target;
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

/* What a daemon changes while it runs (docs/design.md §6, "Signals"). */
typedef struct {
        /* The keys applied live, NULL-terminated: a full key ("nations.file")
         * or a prefix ending in '.' ("sink.", "limits."). log.level is
         * always live. Every other changed key is named as needing a
         * restart. */
        const char *const *keys;
        /* sizeof the daemon's config struct (the props' target). */
        size_t conf_size;
        /* Called on every reload that read a valid configuration, changed
         * or not (a file the configuration names, such as the nations list,
         * may have changed while its key did not): builds what the live
         * keys describe from `fresh` (the daemon's config struct, filled
         * from `conf`; both valid during the call only, so copy what is
         * kept) and installs it. TECG_OK, or the reason in errstr having
         * changed nothing. Runs on the thread that called
         * tecg_daemon_reload(). */
        tecg_err_t (*apply)(const tecg_conf_t *conf, const void *fresh, void *opaque, char *errstr,
                            size_t errstr_size);
        void *opaque;
} tecg_daemon_live_t;

/* SIGHUP's work, from the daemon's main loop: reads the configuration again
 * from the same file and options. An invalid configuration, or one that
 * live->apply refuses (an unreadable nations list), is logged with its
 * reason (file, line, field) and changes nothing. Otherwise log.level is
 * applied at once, live->apply installs the live keys, which are logged
 * as applied, and the other changed keys are logged by name as needing a
 * restart (values of secret keys are never logged); the daemon keeps
 * running. Live keys are compared with the last configuration applied,
 * the others with the one the daemon started with. Clears
 * tecg_daemon_reload_asked. Returns the number of changed keys that still
 * need a restart, or -1 when nothing changed because of an error. */
int tecg_daemon_reload(tecg_daemon_t *d, const tecg_daemon_live_t *live);

/* Whether `key` is one of `keys` (tecg_daemon_live_t.keys: full keys and
 * prefixes ending in '.'); log.level always is. */
bool tecg_daemon_key_is_live(const char *const *keys, const char *key);

/* SIGHUP's nations list: puts `fresh` (read from `file`) in force in
 * `live` when it differs (tecg_nations_replace: readers of the old list
 * keep it until they let go), logging which codes came and went, with
 * `on_removal` appended when some went (NULL: nothing). Takes `fresh`
 * over either way. True when the list changed. */
bool tecg_daemon_reload_nations(tecg_nations_t *live, tecg_nations_t *fresh, const char *file,
                                const char *on_removal);

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
