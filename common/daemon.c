#include "daemon.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "manpage.h"
#include "redact.h"

#define FAC "config"

volatile sig_atomic_t tecg_daemon_stop;
volatile sig_atomic_t tecg_daemon_reload_asked;

#define F(field) offsetof(tecg_daemon_conf_t, field)
const tecg_conf_prop_t tecg_daemon_props[] = {
        {.name = "nations.file",
         .type = TECG_CONF_STRING,
         .offset = F(nations_file),
         .defval = TECG_CONF_DIR "/nations.csv",
         .doc = "CSV of the mission's nations: code,name,status"},
        {.name = "topic.prefix",
         .type = TECG_CONF_STRING,
         .offset = F(topic_prefix),
         .defval = "tecg.",
         .doc = "prefix of every Kafka topic name"},
        {.name = "log.level",
         .type = TECG_CONF_STRING,
         .offset = F(log_level),
         .defval = "info",
         .doc = "debug, info, notice, warning, err"},
        {.name = "stats.interval.ms",
         .type = TECG_CONF_INT,
         .offset = F(stats_interval_ms),
         .defval = "60000",
         .min = 0,
         .max = 86400000,
         .doc = "how often counters are logged (0 = never)"},
        {.name = "metrics.file",
         .type = TECG_CONF_STRING,
         .offset = F(metrics_file),
         .scope = TECG_DAEMON_PRODUCER | TECG_DAEMON_AGGREGATOR,
         .doc = "write Prometheus text-format counters to this file at each stats "
                "interval (node_exporter textfile collector)"},
        {.name = "metrics.http.port",
         .type = TECG_CONF_INT,
         .offset = F(metrics_http_port),
         .min = 0,
         .max = 65535,
         .scope = TECG_DAEMON_PRODUCER | TECG_DAEMON_AGGREGATOR,
         .doc = "serve GET /metrics (Prometheus text) and GET /healthz (200 when live "
                "and ready, 503 with the reason) on this port; unset: no listener "
                "(0 = any free port)"},
        {.name = "metrics.http.address",
         .type = TECG_CONF_STRING,
         .offset = F(metrics_http_address),
         .defval = "127.0.0.1",
         .scope = TECG_DAEMON_PRODUCER | TECG_DAEMON_AGGREGATOR,
         .doc = "address of the monitoring listener; other than loopback it needs "
                "metrics.http.tokens"},
        {.name = "metrics.http.tokens",
         .type = TECG_CONF_STRING,
         .offset = F(metrics_http_tokens),
         .scope = TECG_DAEMON_PRODUCER | TECG_DAEMON_AGGREGATOR,
         .doc = "tokens file (the dashboard's format): GET /metrics then needs a bearer "
                "token granted /metrics; /healthz stays open"},
        {.name = "schema.registry.url",
         .type = TECG_CONF_STRING,
         .offset = F(schema_registry_url),
         .scope = TECG_DAEMON_PRODUCER | TECG_DAEMON_AGGREGATOR | TECG_DAEMON_CTL,
         .doc = "Confluent-compatible schema registry: the producer registers its "
                "schemas there and frames messages as 00 + schema id + body "
                "(default: single-object encoding, no registry needed); the "
                "aggregator asks it for the ids of Confluent-framed messages"},
        {.name = "kafka.",
         .type = TECG_CONF_PREFIX,
         .doc = "any librdkafka property, passed unchanged to every Kafka client "
                "of the daemon (e.g. kafka.bootstrap.servers=127.0.0.1:9092)"},
        {.name = NULL}};
#undef F

static void on_signal(int sig) {
        if (sig == SIGHUP)
                tecg_daemon_reload_asked = 1;
        else
                tecg_daemon_stop = 1;
}

void tecg_daemon_signals(void) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        /* sigaction() fails only for a bad signal number or address. */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
}

/* The options every daemon has, for --help and the man page alike (the
 * alias option, e.g. --nation, goes first when the daemon has one).
 * --help-man is left out on purpose: the build's, not the operator's. */
static const tecg_manpage_option_t daemon_options[] = {
        {'c', "config", "FILE", "configuration file (key = value)"},
        {'X', "set", "KEY=VALUE", "set any configuration key (repeatable)"},
        {'v', "verbose", NULL, "log level debug"},
        {0, "check-config", NULL, "validate the configuration and exit"},
        {0, "version", NULL, "print the version (and librdkafka's) and exit"},
        {'h', "help", NULL, "this help"},
        {0, NULL, NULL, NULL}};

#define DAEMON_OPTIONS_MAX (sizeof(daemon_options) / sizeof(daemon_options[0]) + 1)

/* The daemon's options: its alias first, then daemon_options; `alias_doc`
 * holds the alias' text. */
static void spec_options(const tecg_daemon_spec_t *spec, tecg_manpage_option_t *out,
                         char *alias_doc, size_t alias_doc_size) {
        size_t n = 0;
        if (spec->alias_long) {
                snprintf(alias_doc, alias_doc_size, "same as %s = VALUE", spec->alias_key);
                out[n++] = (tecg_manpage_option_t){spec->alias_short, spec->alias_long, "VALUE",
                                                   alias_doc};
        }
        for (size_t i = 0; i < DAEMON_OPTIONS_MAX - 1; i++)
                out[n++] = daemon_options[i];
}

static void print_usage(const tecg_daemon_spec_t *spec, FILE *fp) {
        tecg_manpage_option_t options[DAEMON_OPTIONS_MAX];
        char alias_doc[128];
        spec_options(spec, options, alias_doc, sizeof(alias_doc));
        /* Like the fprintf()s below: a failed write to the terminal has
         * nobody left to tell. */
        (void)fputs(spec->usage, fp);
        fprintf(fp, "\nOptions:\n");
        for (const tecg_manpage_option_t *o = options; o->long_name; o++)
                tecg_manpage_option_help(fp, o);
        fprintf(fp, "\nConfiguration keys:\n");
        tecg_conf_print_help(fp, spec->props);
        if (spec->exit_status)
                fprintf(fp, "\n%s", spec->exit_status);
}

/* --help-man: the daemon's section 8 page, from the texts --help prints. */
static void print_man(const tecg_daemon_spec_t *spec, FILE *fp) {
        tecg_manpage_option_t options[DAEMON_OPTIONS_MAX];
        char alias_doc[128];
        spec_options(spec, options, alias_doc, sizeof(alias_doc));
        tecg_manpage_t page = {.name = spec->progname,
                               .section = 8,
                               .usage = spec->usage,
                               .options = options,
                               .props = spec->props,
                               .exit_status = spec->exit_status};
        tecg_manpage_write(fp, &page);
}

/* --version: the librdkafka actually loaded too, so an operator sees at
 * once whether the private copy (2.8.0) or the system's was picked up. */
static void print_version(const tecg_daemon_spec_t *spec, FILE *fp) {
        fprintf(fp, "%s %s (librdkafka %s)\n", spec->progname, TECG_VERSION,
                rd_kafka_version_str());
}

int tecg_daemon_config_error(const tecg_daemon_spec_t *spec, const char *errstr) {
        fprintf(stderr, "%s: %s\n", spec->progname, errstr);
        return 2;
}

int tecg_daemon_config_ok(tecg_daemon_t *d) {
        (void)d;
        printf("configuration OK\n");
        return 0;
}

/* The configuration from d's sources (defaults < file < -X < alias option)
 * into target, checked as at start; *level gets log.level. NULL with the
 * reason in errstr. */
static tecg_conf_t *load(const tecg_daemon_t *d, void *target, int *level, char *errstr,
                         size_t errstr_size) {
        const tecg_daemon_spec_t *spec = d->spec;
        char alias_origin[64];
        tecg_conf_t *conf;
        snprintf(alias_origin, sizeof(alias_origin), "--%s",
                 spec->alias_long ? spec->alias_long : "");
        if (!(conf = tecg_conf_new(spec->props, target, errstr, errstr_size)) ||
            (d->config_path && tecg_conf_load_file(conf, d->config_path, errstr, errstr_size)) ||
            tecg_conf_apply_sets(conf, d->sets, d->nsets, errstr, errstr_size) ||
            (d->alias_value && tecg_conf_set(conf, spec->alias_key, d->alias_value, alias_origin,
                                             errstr, errstr_size)) ||
            tecg_conf_check_required(conf, errstr, errstr_size))
                goto fail;
        const char *level_text = tecg_conf_get_string(conf, "log.level");
        if ((*level = tecg_log_level_parse(level_text)) < 0) {
                snprintf(errstr, errstr_size, "%s: log.level: \"%s\" is not a level",
                         tecg_conf_origin(conf, "log.level"), level_text ? level_text : "");
                goto fail;
        }
        /* librdkafka checks every kafka.* key now, not at first use. */
        if (tecg_kafka_check(conf, errstr, errstr_size))
                goto fail;
        return conf;
fail:
        tecg_conf_destroy(conf);
        return NULL;
}

bool tecg_daemon_reload_nations(tecg_nations_t *live, tecg_nations_t *fresh, const char *file,
                                const char *on_removal) {
        char added[256], removed[256];
        if (tecg_nations_same(live, fresh)) {
                tecg_log_info(FAC, "SIGHUP: the nations list has not changed");
                tecg_nations_destroy(fresh);
                return false;
        }
        tecg_nations_diff(live, fresh, added, sizeof(added), removed, sizeof(removed));
        tecg_log_notice(FAC, "SIGHUP: %zu nations now from %s (added: %s; removed: %s)%s%s",
                        tecg_nations_count(fresh), file, *added ? added : "none",
                        *removed ? removed : "none", *removed && on_removal ? "; " : "",
                        *removed && on_removal ? on_removal : "");
        tecg_nations_replace(live, fresh);
        return true;
}

bool tecg_daemon_key_is_live(const char *const *keys, const char *key) {
        if (strcmp(key, "log.level") == 0)
                return true;
        for (size_t i = 0; keys && keys[i]; i++) {
                size_t n = strlen(keys[i]);
                if (n && keys[i][n - 1] == '.' ? strncmp(key, keys[i], n) == 0
                                               : strcmp(key, keys[i]) == 0)
                        return true;
        }
        return false;
}

/* One changed key, noted before anything is logged: a reload the daemon
 * refuses must not have said "applied" first. */
typedef struct {
        char *key, *value, *origin; /* value NULL: unset or gone */
        bool live;
} reload_change_t;

typedef struct {
        const tecg_conf_t *fresh;
        const tecg_conf_t *against; /* what the keys are compared with */
        const tecg_daemon_live_t *live;
        bool live_pass; /* comparing the live keys (else the others) */
        const char *find_key;
        char find_buf[1024];
        const char *found; /* the text of find_key in `other`, or NULL */
        bool find_hit;
        reload_change_t *changes;
        size_t nchanges, cap;
        bool nomem;
} reload_diff_t;

static void reload_find(const tecg_conf_setting_t *s, void *opaque) {
        reload_diff_t *diff = opaque;
        if (!diff->find_hit && strcmp(s->key, diff->find_key) == 0) {
                diff->find_hit = true;
                diff->found = tecg_conf_setting_text(s, diff->find_buf, sizeof(diff->find_buf));
        }
}

static void reload_note(reload_diff_t *diff, const char *key, const char *value,
                        const char *origin) {
        if (diff->nchanges == diff->cap) {
                size_t cap = diff->cap ? diff->cap * 2 : 16;
                reload_change_t *c = realloc(diff->changes, cap * sizeof(*c));
                if (!c) {
                        diff->nomem = true;
                        return;
                }
                diff->changes = c;
                diff->cap = cap;
        }
        reload_change_t *c = &diff->changes[diff->nchanges];
        c->key = strdup(key);
        c->value = value ? strdup(value) : NULL;
        c->origin = origin ? strdup(origin) : NULL;
        c->live = diff->live_pass;
        if (!c->key || (value && !c->value) || (origin && !c->origin)) {
                free(c->key);
                free(c->value);
                free(c->origin);
                diff->nomem = true;
                return;
        }
        diff->nchanges++;
}

/* Whether the key belongs to this pass: the live keys are compared with
 * the last configuration applied, the others with the one in use. */
static bool reload_in_pass(const reload_diff_t *diff, const char *key) {
        return tecg_daemon_key_is_live(diff->live->keys, key) == diff->live_pass;
}

/* Each key of the configuration compared with, against the fresh one. */
static void reload_compare(const tecg_conf_setting_t *s, void *opaque) {
        reload_diff_t *diff = opaque;
        char buf[1024];
        if (!reload_in_pass(diff, s->key))
                return;
        const char *now = tecg_conf_setting_text(s, buf, sizeof(buf));
        diff->find_key = s->key;
        diff->find_hit = false;
        diff->found = NULL;
        tecg_conf_foreach(diff->fresh, reload_find, diff);
        if (!diff->find_hit) { /* a group instance or pass-through key that went */
                reload_note(diff, s->key, NULL, NULL);
                return;
        }
        if ((now == NULL) != (diff->found == NULL) ||
            (now && diff->found && strcmp(now, diff->found) != 0))
                reload_note(diff, s->key, diff->found, tecg_conf_origin(diff->fresh, s->key));
}

/* Keys only the fresh configuration has (a new sink, a new kafka.* key). */
static void reload_added(const tecg_conf_setting_t *s, void *opaque) {
        reload_diff_t *diff = opaque;
        char buf[1024];
        if (!s->origin || !reload_in_pass(diff, s->key))
                return;
        diff->find_key = s->key;
        diff->find_hit = false;
        tecg_conf_foreach(diff->against, reload_find, diff);
        if (!diff->find_hit)
                reload_note(diff, s->key, tecg_conf_setting_text(s, buf, sizeof(buf)), s->origin);
}

static void reload_diff_free(reload_diff_t *diff) {
        for (size_t i = 0; i < diff->nchanges; i++) {
                free(diff->changes[i].key);
                free(diff->changes[i].value);
                free(diff->changes[i].origin);
        }
        free(diff->changes);
}

int tecg_daemon_setup(const tecg_daemon_spec_t *spec, void *target, int argc, char **argv,
                      tecg_daemon_t *d) {
        char errstr[1024];
        const char *config_path = NULL, *alias_value = NULL;
        bool verbose = false;
        int rc = -1;
        char **sets = calloc((size_t)argc + 1, sizeof(*sets));
        size_t nsets = 0;
        char shortopts[16] = "c:X:vh";
        struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                    {"set", required_argument, NULL, 'X'},
                                    {"verbose", no_argument, NULL, 'v'},
                                    {"check-config", no_argument, NULL, 'C'},
                                    {"help", no_argument, NULL, 'h'},
                                    {"version", no_argument, NULL, 'V'},
                                    {"help-man", no_argument, NULL, 'M'},
                                    {spec->alias_long, required_argument, NULL, spec->alias_short},
                                    {NULL, 0, NULL, 0}};

        memset(d, 0, sizeof(*d));
        tecg_log_init(spec->progname, TECG_LOG_INFO);
        if (!sets)
                return tecg_daemon_config_error(spec, "out of memory");
        if (spec->alias_long) {
                size_t n = strlen(shortopts);
                shortopts[n] = (char)spec->alias_short;
                shortopts[n + 1] = ':';
                shortopts[n + 2] = '\0';
        }
        optind = 1;
        int opt;
        while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
                if (spec->alias_long && opt == spec->alias_short) {
                        alias_value = optarg;
                        continue;
                }
                switch (opt) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'X':
                        sets[nsets++] = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'C':
                        d->check_only = true;
                        break;
                case 'h':
                        print_usage(spec, stdout);
                        rc = 0;
                        goto done;
                case 'V':
                        print_version(spec, stdout);
                        rc = 0;
                        goto done;
                case 'M':
                        print_man(spec, stdout);
                        rc = 0;
                        goto done;
                default:
                        print_usage(spec, stderr);
                        rc = 2;
                        goto done;
                }
        }
        for (int i = optind; i < argc; i++) {
                if (spec->accepts_stdin && strcmp(argv[i], "-") == 0) {
                        d->read_stdin = true;
                        continue;
                }
                snprintf(errstr, sizeof(errstr), "unexpected argument '%s'%s", argv[i],
                         spec->accepts_stdin ? " ('-' reads standard input)" : "");
                rc = tecg_daemon_config_error(spec, errstr);
                goto done;
        }

        d->spec = spec;
        d->config_path = config_path;
        d->sets = sets;
        d->nsets = nsets;
        d->alias_value = alias_value;
        d->verbose = verbose;
        sets = NULL; /* d's now */
        int level;
        if (!(d->conf = load(d, target, &level, errstr, sizeof(errstr)))) {
                rc = tecg_daemon_config_error(spec, errstr);
                goto done;
        }
        tecg_log_set_level(verbose ? TECG_LOG_DEBUG : level);
done:
        free(sets);
        return rc;
}

int tecg_daemon_reload(tecg_daemon_t *d, const tecg_daemon_live_t *live) {
        char errstr[1024], shown[512];
        int level, rc = -1;
        tecg_conf_t *fresh = NULL;
        void *scratch = NULL;
        reload_diff_t diff = {.live = live};
        tecg_daemon_reload_asked = 0;
        tecg_log_notice(FAC, "SIGHUP: reading the configuration again%s%s",
                        d->config_path ? " from " : "", d->config_path ? d->config_path : "");
        if (!(scratch = calloc(1, live->conf_size))) {
                snprintf(errstr, sizeof(errstr), "out of memory");
                goto fail;
        }
        if (!(fresh = load(d, scratch, &level, errstr, sizeof(errstr))))
                goto fail;
        diff.fresh = fresh;
        for (int pass = 0; pass < 2; pass++) {
                diff.live_pass = pass == 1;
                diff.against = diff.live_pass && d->applied ? d->applied : d->conf;
                tecg_conf_foreach(diff.against, reload_compare, &diff);
                tecg_conf_foreach(fresh, reload_added, &diff);
        }
        if (diff.nomem) {
                snprintf(errstr, sizeof(errstr), "out of memory");
                goto fail;
        }
        /* What the live keys describe (and the files they name) is built
         * and installed by the daemon, or refused with nothing changed. */
        if (live->apply && live->apply(fresh, scratch, live->opaque, errstr, sizeof(errstr)))
                goto fail;

        rc = 0;
        for (size_t i = 0; i < diff.nchanges; i++) {
                const reload_change_t *c = &diff.changes[i];
                const char *v =
                        c->value ? tecg_redact(c->key, c->value, shown, sizeof(shown)) : NULL;
                if (strcmp(c->key, "log.level") == 0)
                        tecg_log_notice(FAC, "SIGHUP: log.level is now %s",
                                        c->value ? c->value : "(default)");
                else if (c->live)
                        tecg_log_notice(FAC, "SIGHUP: %s applied (%s)", c->key, v ? v : "unset");
                else {
                        rc++;
                        tecg_log_warn(FAC,
                                      "SIGHUP: %s%s%s changed to %s: it takes effect at the "
                                      "next start",
                                      c->key, c->origin ? " in " : "", c->origin ? c->origin : "",
                                      v ? v : "(unset)");
                }
        }
        if (!d->verbose)
                tecg_log_set_level(level);
        if (diff.nchanges == 0)
                tecg_log_notice(FAC, "SIGHUP: the configuration has not changed");
        else if (rc)
                tecg_log_warn(FAC,
                              "SIGHUP: %d changed key(s) take effect only at the next start; "
                              "the daemon keeps running as it was",
                              rc);
        /* The fresh configuration is now what the live keys run with. */
        tecg_conf_destroy(d->applied);
        free(d->applied_target);
        d->applied = fresh;
        d->applied_target = scratch;
        fresh = NULL;
        scratch = NULL;
        goto done;
fail:
        tecg_log_err(FAC, "SIGHUP: %s; the configuration in use stays", errstr);
done:
        reload_diff_free(&diff);
        tecg_conf_destroy(fresh);
        free(scratch);
        return rc;
}

tecg_err_t tecg_daemon_monitor_tokens(const tecg_daemon_t *d, const tecg_daemon_conf_t *c,
                                      tecg_tokens_t **tokens, char *errstr, size_t errstr_size) {
        char why[512];
        const char *a = c->metrics_http_address;
        *tokens = NULL;
        if (!tecg_conf_origin(d->conf, "metrics.http.port"))
                return TECG_OK;
        if (c->metrics_http_tokens) {
                if (!(*tokens = tecg_tokens_load(c->metrics_http_tokens, why, sizeof(why))))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "metrics.http.tokens: %s", why);
                return TECG_OK;
        }
        /* Counters name the nations and their volumes: open to this host
         * only, as the dashboard's listener without tokens. */
        if (!a ||
            (strncmp(a, "127.", 4) != 0 && strcmp(a, "::1") != 0 && strcmp(a, "localhost") != 0))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s: metrics.http.address %s is not loopback: set "
                                   "metrics.http.tokens (a token granted /metrics for the "
                                   "scraper)",
                                   tecg_conf_origin(d->conf, "metrics.http.address"),
                                   a ? a : "(none)");
        return TECG_OK;
}

tecg_err_t tecg_daemon_monitor_start(const tecg_daemon_t *d, const tecg_daemon_conf_t *c,
                                     const tecg_tokens_t *tokens, tecg_monitor_t **mon,
                                     char *errstr, size_t errstr_size) {
        tecg_monitor_conf_t mc;
        *mon = NULL;
        if (!tecg_conf_origin(d->conf, "metrics.http.port"))
                return TECG_OK;
        tecg_monitor_conf_init(&mc);
        mc.bind_address = c->metrics_http_address;
        mc.port = (uint16_t)c->metrics_http_port;
        mc.tokens = tokens;
        if (!(*mon = tecg_monitor_start(&mc, errstr, errstr_size)))
                return TECG_ERR_IO;
        return TECG_OK;
}

void tecg_daemon_cleanup(tecg_daemon_t *d) {
        tecg_conf_destroy(d->conf);
        d->conf = NULL;
        tecg_conf_destroy(d->applied);
        d->applied = NULL;
        free(d->applied_target);
        d->applied_target = NULL;
        free(d->sets);
        d->sets = NULL;
}
