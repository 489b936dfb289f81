/* tecg-ctl, the operator's tool: what every subcommand shares.
 *
 * One binary, one subcommand per module (ctl_validate.c, ctl_decode.c,
 * ctl_deadletter.c, ctl_status.c, ctl_schema.c), each a function
 * `int tecg_ctl_<name>(argc, argv)` that returns the exit status below.
 * They read the same configuration files and -X settings as the daemons
 * (common/conf.h, the shared keys of common/daemon.h in scope
 * TECG_DAEMON_CTL, plus tecg-ctl's own keys in ctl_conf.c), so
 * `tecg-ctl -c /etc/tecg/aggregator.conf status` reaches the broker the
 * aggregator uses, with its security settings.
 *
 * Output: data on stdout (one JSON object per line with --json, and always
 * for decode), diagnostics on stderr. */
#ifndef TECG_CTL_H
#define TECG_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "daemon.h"

/* Exit statuses, the same for every subcommand (README, "tecg-ctl"). */
#define TECG_CTL_EXIT_OK 0 /* done; the answer is yes */
#define TECG_CTL_EXIT_NO \
        1                      /* done; the answer is no: a bad line, an
                                 * incompatible schema, a dead letter that
                                 * was not replayed, a daemon not healthy */
#define TECG_CTL_EXIT_USAGE 2  /* bad command line or configuration */
#define TECG_CTL_EXIT_FAILED 3 /* could not be done: Kafka, a file, memory */

/* tecg-ctl's configuration: the shared keys and its own. */
typedef struct {
        tecg_daemon_conf_t common;
        int64_t line_bytes;       /* limits.line.bytes, as the producer's */
        int64_t json_depth;       /* limits.json.depth */
        int64_t string_bytes;     /* limits.string.bytes */
        char *group_id;           /* the aggregator's consumer group (status) */
        int64_t timeout_ms;       /* ctl.timeout.ms: each wait on Kafka or HTTP */
        tecg_conf_group_t health; /* health.NAME.url (+ .ca, .token) */
} tecg_ctl_conf_t;

/* One health.NAME instance. */
typedef struct {
        char *url;
        char *ca;
        char *token;
} tecg_ctl_health_t;

extern const tecg_conf_prop_t tecg_ctl_props[];

/* What a subcommand tells the shared option parser. */
typedef struct {
        const char *name;          /* "decode", "dead-letter replay" */
        const char *synopsis;      /* "decode --topic T [...]" */
        const char *description;   /* a paragraph */
        const char *options_help;  /* the subcommand's own options, or NULL */
        const char *exit_status;   /* what 0/1/2/3 mean here */
        const struct option *opts; /* its long options (NULL-terminated), or NULL */
        const char *shortopts;     /* its short options, or NULL */
        int min_args, max_args;    /* positional arguments; max -1 = any */
        /* Called for each option of opts/shortopts; returns 0, or -1 after
         * writing a reason to errstr (usage error). */
        int (*on_option)(void *opaque, int opt, const char *arg, char *errstr, size_t errstr_size);
        void *opaque;
} tecg_ctl_spec_t;

/* A subcommand's state after tecg_ctl_setup(). */
typedef struct {
        tecg_ctl_conf_t cc;
        tecg_conf_t *conf; /* owned: tecg_ctl_cleanup() */
        bool json;         /* --json */
        char **args;       /* positional arguments (borrowed from argv) */
        int nargs;
} tecg_ctl_t;

/* Parses argv (argv[0] is the subcommand's name): the shared options
 * (-c/--config FILE, repeatable; -X/--set KEY=VALUE; -v; --json; -h) and
 * the spec's own, then loads the configuration. A config file may be a
 * daemon's: keys tecg-ctl does not have are skipped (logged at debug
 * level), keys it has are checked as the daemons check them; -X keys must
 * be tecg-ctl's. Returns -1 to go on, else the exit status to return now
 * (0 after --help, 2 after an error already printed). */
int tecg_ctl_setup(const tecg_ctl_spec_t *spec, int argc, char **argv, tecg_ctl_t *ctl);

/* Loads one configuration file as tecg_ctl_setup() does (a daemon's keys
 * skipped). Exposed for the unit tests. */
tecg_err_t tecg_ctl_conf_load(tecg_conf_t *conf, const char *path, char *errstr,
                              size_t errstr_size);

/* Prints "tecg-ctl NAME: reason" on stderr and returns status. */
int tecg_ctl_fail(const char *name, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

void tecg_ctl_cleanup(tecg_ctl_t *ctl);

/* Prints the list of subcommands (tecg-ctl --help). */
void tecg_ctl_print_commands(FILE *fp);

/* The subcommands; argv[0] is the subcommand's name. */
int tecg_ctl_validate(int argc, char **argv);
int tecg_ctl_decode(int argc, char **argv);
int tecg_ctl_dead_letter(int argc, char **argv);
int tecg_ctl_status(int argc, char **argv);
int tecg_ctl_schema(int argc, char **argv);

#endif
