/* tecg-ctl's configuration table and the option parsing every subcommand
 * shares. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"
#include "kafka.h"
#include "log.h"

#define FAC "ctl"

/* A configuration file is read whole; a daemon's is a few kilobytes. */
#define CONF_FILE_MAX ((size_t)1024 * 1024)

#define H(field) offsetof(tecg_ctl_health_t, field)
static const tecg_conf_prop_t health_props[] = {
        {.name = "url",
         .type = TECG_CONF_STRING,
         .offset = H(url),
         .flags = TECG_CONF_F_REQUIRED,
         .doc = "the daemon's health URL, e.g. https://127.0.0.1:8443/healthz"},
        {.name = "ca",
         .type = TECG_CONF_STRING,
         .offset = H(ca),
         .doc = "PEM file of the CA that signed its certificate (default: the system's)"},
        {.name = "token",
         .type = TECG_CONF_STRING,
         .offset = H(token),
         .doc = "bearer token, when the endpoint asks for one (never logged)"},
        {.name = NULL}};
#undef H

#define F(field) offsetof(tecg_ctl_conf_t, field)
const tecg_conf_prop_t tecg_ctl_props[] = {
        TECG_DAEMON_SHARED_KEYS(tecg_ctl_conf_t, common, TECG_DAEMON_CTL),
        {.name = "limits.line.bytes",
         .type = TECG_CONF_INT,
         .offset = F(line_bytes),
         .defval = "1048576",
         .min = 1024,
         .max = 1073741824,
         .doc = "validate: the producer's longest input line (same key, same default)"},
        {.name = "limits.json.depth",
         .type = TECG_CONF_INT,
         .offset = F(json_depth),
         .defval = "16",
         .min = 1,
         .max = 1000,
         .doc = "validate: the producer's deepest JSON nesting"},
        {.name = "limits.string.bytes",
         .type = TECG_CONF_INT,
         .offset = F(string_bytes),
         .defval = "4096",
         .min = 64,
         .max = 1073741824,
         .doc = "validate: the producer's longest JSON string"},
        {.name = "group.id",
         .type = TECG_CONF_STRING,
         .offset = F(group_id),
         .defval = "tecg-aggregator",
         .doc = "status: the aggregator's consumer group, whose lag is shown (the "
                "aggregator's key of the same name)"},
        {.name = "ctl.timeout.ms",
         .type = TECG_CONF_INT,
         .offset = F(timeout_ms),
         .defval = "10000",
         .min = 100,
         .max = 3600000,
         .doc = "longest wait for one answer of Kafka or of a health URL"},
        {.name = "health.",
         .type = TECG_CONF_GROUP,
         .offset = F(health),
         .sub = health_props,
         .size = sizeof(tecg_ctl_health_t),
         .max = 64,
         .doc = "status: a daemon's health endpoint, health.NAME.url (NAME names it "
                "in the output)"},
        {.name = NULL}};
#undef F

/* Whether `key` is one of table's keys (in scope TECG_DAEMON_CTL for the
 * shared ones): a key of a daemon's file that is not is skipped. */
static bool key_known(const tecg_conf_prop_t *props, unsigned scope, const char *key) {
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                if (scope && p->scope && !(p->scope & scope))
                        continue;
                size_t n = strlen(p->name);
                switch (p->type) {
                case TECG_CONF_INCLUDE:
                        if (key_known(p->sub, p->scope ? p->scope : scope, key))
                                return true;
                        break;
                case TECG_CONF_PREFIX:
                        if (strncmp(key, p->name, n) == 0 && key[n])
                                return true;
                        break;
                case TECG_CONF_GROUP: {
                        if (strncmp(key, p->name, n) != 0)
                                break;
                        const char *dot = strrchr(key + n, '.');
                        if (!dot || dot == key + n)
                                break;
                        for (const tecg_conf_prop_t *s = p->sub; s->name; s++)
                                if (strcmp(dot + 1, s->name) == 0)
                                        return true;
                        break;
                }
                default:
                        if (strcmp(key, p->name) == 0)
                                return true;
                }
        }
        return false;
}

tecg_err_t tecg_ctl_conf_load(tecg_conf_t *conf, const char *path, char *errstr,
                              size_t errstr_size) {
        tecg_buf_t text = TECG_BUF_INIT;
        tecg_err_t err = tecg_buf_read_file(&text, path, CONF_FILE_MAX, "configuration file",
                                            errstr, errstr_size);
        if (err)
                goto done;
        /* Blank out the lines of keys tecg-ctl does not have, keeping the
         * line numbers of the others for tecg_conf_parse()'s errors. A line
         * that is not `key = value` stays, so it is reported as the daemons
         * report it. */
        char *buf = (char *)text.data;
        size_t lineno = 0;
        for (size_t pos = 0; pos < text.len;) {
                char *line = buf + pos;
                char *nl = memchr(line, '\n', text.len - pos);
                size_t n = nl ? (size_t)(nl - line) : text.len - pos;
                pos += n + (nl ? 1 : 0);
                lineno++;
                size_t i = 0;
                while (i < n && isspace((unsigned char)line[i]))
                        i++;
                char *eq = memchr(line, '=', n);
                if (i == n || line[i] == '#' || !eq || memchr(line, '\0', n))
                        continue;
                size_t k = (size_t)(eq - line);
                while (k > i && isspace((unsigned char)line[k - 1]))
                        k--;
                char key[256];
                if (k == i || k - i >= sizeof(key))
                        continue;
                memcpy(key, line + i, k - i);
                key[k - i] = '\0';
                if (key_known(tecg_ctl_props, TECG_DAEMON_CTL, key))
                        continue;
                tecg_log_debug(FAC, "%s:%zu: %s is not a key of tecg-ctl: skipped", path, lineno,
                               key);
                memset(line, ' ', n);
        }
        err = tecg_conf_parse(conf, path, buf, text.len, errstr, errstr_size);
done:
        tecg_buf_free(&text);
        return err;
}

int tecg_ctl_fail(const char *name, int status, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "tecg-ctl %s: ", name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        (void)fputc('\n', stderr);
        return status;
}

static void print_usage(const tecg_ctl_spec_t *spec, FILE *fp) {
        fprintf(fp, "Usage: tecg-ctl %s\n\n%s\n", spec->synopsis, spec->description);
        if (spec->options_help)
                fprintf(fp, "\nOptions:\n%s", spec->options_help);
        fprintf(fp,
                "\nShared options:\n"
                "  -c, --config FILE      configuration file (key = value; repeatable): tecg-ctl's "
                "own or a\n"
                "                         daemon's, whose keys tecg-ctl does not have are "
                "skipped\n"
                "  -X, --set KEY=VALUE    set a configuration key (repeatable)\n"
                "      --json             JSON output, one object per line\n"
                "  -v, --verbose          log level debug\n"
                "  -h, --help             this help\n"
                "\nConfiguration keys:\n");
        tecg_conf_print_help(fp, tecg_ctl_props);
        fprintf(fp,
                "\nExit status:\n%s"
                "  2  bad command line or configuration\n"
                "  3  could not be done (Kafka, a file, memory)\n",
                spec->exit_status ? spec->exit_status : "  0  done\n");
}

int tecg_ctl_setup(const tecg_ctl_spec_t *spec, int argc, char **argv, tecg_ctl_t *ctl) {
        char errstr[1024], shortopts[64];
        struct option longopts[40];
        size_t nlong = 0, nconfigs = 0, nsets = 0;
        bool verbose = false;
        int rc = -1;
        const char **configs = calloc((size_t)argc + 1, sizeof(*configs));
        char **sets = calloc((size_t)argc + 1, sizeof(*sets));
        static const struct option shared[] = {{"config", required_argument, NULL, 'c'},
                                               {"set", required_argument, NULL, 'X'},
                                               {"verbose", no_argument, NULL, 'v'},
                                               {"json", no_argument, NULL, 'J'},
                                               {"help", no_argument, NULL, 'h'}};

        memset(ctl, 0, sizeof(*ctl));
        tecg_log_init("tecg-ctl", TECG_LOG_WARNING);
        if (!configs || !sets) {
                rc = tecg_ctl_fail(spec->name, TECG_CTL_EXIT_FAILED, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
                longopts[nlong++] = shared[i];
        for (const struct option *o = spec->opts; o && o->name; o++)
                if (nlong < sizeof(longopts) / sizeof(longopts[0]) - 1)
                        longopts[nlong++] = *o;
        memset(&longopts[nlong], 0, sizeof(longopts[nlong]));
        snprintf(shortopts, sizeof(shortopts), "c:X:vh%s", spec->shortopts ? spec->shortopts : "");

        optind = 1;
        opterr = 0;
        int opt;
        while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        configs[nconfigs++] = optarg;
                        break;
                case 'X':
                        sets[nsets++] = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'J':
                        ctl->json = true;
                        break;
                case 'h':
                        print_usage(spec, stdout);
                        rc = TECG_CTL_EXIT_OK;
                        goto done;
                case '?':
                case ':':
                        if (optopt)
                                snprintf(errstr, sizeof(errstr), "option -%c: %s", optopt,
                                         opt == ':' ? "needs a value" : "unknown");
                        else
                                snprintf(errstr, sizeof(errstr),
                                         "%s: unknown option or missing value", argv[optind - 1]);
                        rc = tecg_ctl_fail(spec->name, TECG_CTL_EXIT_USAGE, "%s (see --help)",
                                           errstr);
                        goto done;
                default:
                        errstr[0] = '\0';
                        if (!spec->on_option ||
                            spec->on_option(spec->opaque, opt, optarg, errstr, sizeof(errstr))) {
                                rc = tecg_ctl_fail(spec->name, TECG_CTL_EXIT_USAGE, "%s",
                                                   errstr[0] ? errstr : "bad option");
                                goto done;
                        }
                }
        }
        ctl->args = argv + optind;
        ctl->nargs = argc - optind;
        if (ctl->nargs < spec->min_args || (spec->max_args >= 0 && ctl->nargs > spec->max_args)) {
                rc = tecg_ctl_fail(
                        spec->name, TECG_CTL_EXIT_USAGE, "%s arguments (usage: tecg-ctl %s)",
                        ctl->nargs < spec->min_args ? "missing" : "too many", spec->synopsis);
                goto done;
        }
        if (!(ctl->conf = tecg_conf_new(tecg_ctl_props, &ctl->cc, errstr, sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec->name, TECG_CTL_EXIT_USAGE, "%s", errstr);
                goto done;
        }
        if (verbose)
                tecg_log_set_level(TECG_LOG_DEBUG);
        for (size_t i = 0; i < nconfigs; i++)
                if (tecg_ctl_conf_load(ctl->conf, configs[i], errstr, sizeof(errstr))) {
                        rc = tecg_ctl_fail(spec->name, TECG_CTL_EXIT_USAGE, "%s", errstr);
                        goto done;
                }
        if (tecg_conf_apply_sets(ctl->conf, sets, nsets, errstr, sizeof(errstr)) ||
            tecg_conf_check_required(ctl->conf, errstr, sizeof(errstr)) ||
            tecg_kafka_check(ctl->conf, errstr, sizeof(errstr))) {
                rc = tecg_ctl_fail(spec->name, TECG_CTL_EXIT_USAGE, "%s", errstr);
                goto done;
        }
        /* The daemons' log.level is for a daemon's journal; tecg-ctl says
         * less unless asked (-v), as a command line tool does. */
        int level = tecg_log_level_parse(ctl->cc.common.log_level);
        if (level < 0) {
                rc = tecg_ctl_fail(
                        spec->name, TECG_CTL_EXIT_USAGE, "%s: log.level: \"%s\" is not a level",
                        tecg_conf_origin(ctl->conf, "log.level"), ctl->cc.common.log_level);
                goto done;
        }
        if (!verbose)
                tecg_log_set_level(level > TECG_LOG_WARNING ? TECG_LOG_WARNING : level);
done:
        free(configs);
        free(sets);
        if (rc >= 0)
                tecg_ctl_cleanup(ctl);
        return rc;
}

void tecg_ctl_cleanup(tecg_ctl_t *ctl) {
        tecg_conf_destroy(ctl->conf);
        ctl->conf = NULL;
}

void tecg_ctl_print_commands(FILE *fp) {
        fprintf(fp,
                "Usage: tecg-ctl COMMAND [OPTIONS] [ARGUMENTS]\n"
                "\n"
                "The operator's tool of tecg. Commands:\n"
                "  validate [--nation N] FILE...|-     check NDJSON lines as the producer does\n"
                "  decode --topic T [...]              print a topic's messages as JSON lines\n"
                "  dead-letter list|show|replay        inspect dead letters, send fixed ones back\n"
                "  status                              lag, last reports, dashboards, health\n"
                "  schema show|check [FILE.avsc]       schemas, fingerprints, compatibility\n"
                "  version                             print the version\n"
                "\n"
                "tecg-ctl COMMAND --help describes a command, its options, the configuration\n"
                "keys (the daemons' files and -X work) and its exit statuses:\n"
                "  0 done, 1 the answer is no, 2 usage or configuration error, 3 failure.\n");
}
