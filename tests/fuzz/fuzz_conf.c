/* Fuzz target: the configuration parser (common/conf.h), one input = one
 * configuration file, parsed with the label "fuzz" against a property
 * table that has every kind of entry the daemons use (strings, integers
 * with small, negative and full ranges, booleans, a required key and the
 * kafka., sink. and rate. pass-through prefixes).
 *
 * Invariants:
 *   - refused: TECG_ERR_CONFIG with "fuzz:LINE: reason", LINE a line of
 *     the input, on one line (or NOMEM);
 *   - accepted: every integer is within its range, every key's origin is
 *     "default" or "fuzz:LINE", a string is set exactly when it has an
 *     origin, pass-through keys are non-empty; writing the settings back
 *     out as `key = value` lines and parsing that gives the same settings;
 *     parsing the same file again into the same configuration fails with
 *     "already set" exactly when it set a (non pass-through) key;
 *     the required-key check fails exactly when `nation` is unset. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "fuzz.h"

typedef struct {
        char *nation, *spool_dir, *nations_file, *topic_prefix, *log_level;
        char *registry_url, *instance_id, *group_id, *http_address;
        char *reporting_currency;
        int64_t scan_ms, shutdown_ms, stats_ms, batch_messages, batch_ms;
        int64_t http_port, strength, in_iraq, outside_iraq, offset, any;
        bool publish, tls_verify;
} fz_conf_t;

#define F(x) offsetof(fz_conf_t, x)
static const tecg_conf_prop_t props[] = {
        {"nation", TECG_CONF_STRING, F(nation), NULL, 0, 0, TECG_CONF_F_REQUIRED,
         "ISO 3166-1 alpha-3 code"},
        {"spool.dir", TECG_CONF_STRING, F(spool_dir), NULL, 0, 0, 0, "spool"},
        {"nations.file", TECG_CONF_STRING, F(nations_file), "deploy/nations.csv", 0, 0,
         0, "nations"},
        {"topic.prefix", TECG_CONF_STRING, F(topic_prefix), "tecg.", 0, 0, 0, "prefix"},
        {"log.level", TECG_CONF_STRING, F(log_level), "info", 0, 0, 0, "log level"},
        {"schema.registry.url", TECG_CONF_STRING, F(registry_url), NULL, 0, 0, 0,
         "registry"},
        {"instance.id", TECG_CONF_STRING, F(instance_id), "fuzz", 0, 0, 0, "instance"},
        {"group.id", TECG_CONF_STRING, F(group_id), "tecg-aggregator", 0, 0, 0, "group"},
        {"http.address", TECG_CONF_STRING, F(http_address), "127.0.0.1", 0, 0, 0,
         "address"},
        {"reporting.currency", TECG_CONF_STRING, F(reporting_currency), "EUR", 0, 0, 0,
         "currency"},
        {"spool.scan.interval.ms", TECG_CONF_INT, F(scan_ms), "500", 1, 3600000, 0,
         "scan interval"},
        {"shutdown.timeout.ms", TECG_CONF_INT, F(shutdown_ms), "30000", 0, 3600000, 0,
         "shutdown"},
        {"stats.interval.ms", TECG_CONF_INT, F(stats_ms), "60000", 0, 86400000, 0,
         "stats"},
        {"batch.max.messages", TECG_CONF_INT, F(batch_messages), "10000", 1,
         1000000, 0, "batch"},
        {"batch.max.ms", TECG_CONF_INT, F(batch_ms), "100", 1, 60000, 0, "batch time"},
        {"http.port", TECG_CONF_INT, F(http_port), "8080", 0, 65535, 0, "port"},
        {"mission.authorized.strength", TECG_CONF_INT, F(strength), "360", 0,
         1000000000, 0, "strength"},
        {"mission.target.in_iraq", TECG_CONF_INT, F(in_iraq), "1000", 0, 1000000000, 0,
         "target"},
        {"mission.target.outside_iraq", TECG_CONF_INT, F(outside_iraq), "500", 0,
         1000000000, 0, "target"},
        {"utc.offset.min", TECG_CONF_INT, F(offset), "0", -1439, 1439, 0, "negative range"},
        {"any.int", TECG_CONF_INT, F(any), "-9223372036854775808", INT64_MIN, INT64_MAX,
         0, "full range"},
        {"publish.topic", TECG_CONF_BOOL, F(publish), "true", 0, 0, 0, "publish"},
        {"tls.verify", TECG_CONF_BOOL, F(tls_verify), "false", 0, 0, 0, "verify"},
        {"kafka.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0, "librdkafka"},
        {"sink.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0, "sinks"},
        {"rate.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0, "rates"},
        {NULL, 0, 0, NULL, 0, 0, 0, NULL}};
#undef F

#define LABEL "fuzz"

/* Lines of the input as the parser counts them. */
static size_t count_lines(const uint8_t *data, size_t size) {
        size_t n = 0;
        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n + (size > 0 && data[size - 1] != '\n');
}

/* "fuzz:LINE" with 1 <= LINE <= lines; returns the position after it. */
static const char *check_origin(const char *s, size_t lines, const char *what) {
        FZ_CHECK(strncmp(s, LABEL ":", sizeof(LABEL)) == 0, "%s does not start with "
                 "\"" LABEL ":\": %s", what, s);
        char *end;
        unsigned long long line = strtoull(s + sizeof(LABEL), &end, 10);
        FZ_CHECK(end != s + sizeof(LABEL) && line >= 1 && line <= lines,
                 "%s: no line number of the input (%zu lines): %s", what, lines, s);
        return end;
}

static void *field_of(fz_conf_t *c, const tecg_conf_prop_t *p) {
        return (char *)c + p->offset;
}

static void check_settings(tecg_conf_t *conf, fz_conf_t *c, size_t lines) {
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                if (p->type == TECG_CONF_PREFIX) {
                        size_t n = 0;
                        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, p->name, &n);
                        for (size_t i = 0; i < n; i++) {
                                FZ_CHECK(kv[i].key && kv[i].key[0] && kv[i].value,
                                         "%s entry %zu", p->name, i);
                                FZ_CHECK(*check_origin(kv[i].origin, lines, "origin") == '\0',
                                         "origin %s", kv[i].origin);
                        }
                        continue;
                }
                const char *origin = tecg_conf_origin(conf, p->name);
                if (origin && strcmp(origin, "default") != 0)
                        FZ_CHECK(*check_origin(origin, lines, "origin") == '\0',
                                 "origin %s", origin);
                FZ_CHECK(origin || !p->defval, "%s lost its default", p->name);
                if (p->type == TECG_CONF_STRING) {
                        char *v = *(char **)field_of(c, p);
                        FZ_CHECK((v != NULL) == (origin != NULL), "%s set: %d, origin %s",
                                 p->name, v != NULL, origin ? origin : "none");
                        FZ_CHECK(tecg_conf_get_string(conf, p->name) == v,
                                 "get_string(%s) is not the field", p->name);
                } else if (p->type == TECG_CONF_INT) {
                        int64_t v = *(int64_t *)field_of(c, p);
                        FZ_CHECK(v >= p->min && v <= p->max, "%s = %lld out of range",
                                 p->name, (long long)v);
                }
        }
}

/* The settings made by the file, as `key = value` lines. */
static void write_back(tecg_conf_t *conf, fz_conf_t *c, tecg_buf_t *out, bool *any_key) {
        char num[32];
        *any_key = false;
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                if (p->type == TECG_CONF_PREFIX) {
                        size_t n = 0;
                        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, p->name, &n);
                        for (size_t i = 0; i < n; i++) {
                                tecg_buf_puts(out, p->name);
                                tecg_buf_puts(out, kv[i].key);
                                tecg_buf_puts(out, " = ");
                                tecg_buf_puts(out, kv[i].value);
                                tecg_buf_puts(out, "\n");
                        }
                        continue;
                }
                const char *origin = tecg_conf_origin(conf, p->name);
                if (!origin || strcmp(origin, "default") == 0)
                        continue;
                *any_key = true;
                tecg_buf_puts(out, p->name);
                tecg_buf_puts(out, " = ");
                if (p->type == TECG_CONF_STRING)
                        tecg_buf_puts(out, *(char **)field_of(c, p));
                else if (p->type == TECG_CONF_INT) {
                        snprintf(num, sizeof(num), "%lld",
                                 (long long)*(int64_t *)field_of(c, p));
                        tecg_buf_puts(out, num);
                } else
                        tecg_buf_puts(out, *(bool *)field_of(c, p) ? "true" : "false");
                tecg_buf_puts(out, "\n");
        }
}

static void check_same(tecg_conf_t *a, fz_conf_t *ca, tecg_conf_t *b, fz_conf_t *cb) {
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                if (p->type == TECG_CONF_PREFIX) {
                        size_t na = 0, nb = 0;
                        const tecg_conf_kv_t *x = tecg_conf_passthru(a, p->name, &na);
                        const tecg_conf_kv_t *y = tecg_conf_passthru(b, p->name, &nb);
                        FZ_CHECK(na == nb, "%s: %zu entries, %zu after writing back",
                                 p->name, na, nb);
                        for (size_t i = 0; i < na; i++)
                                FZ_CHECK(strcmp(x[i].key, y[i].key) == 0 &&
                                                 strcmp(x[i].value, y[i].value) == 0,
                                         "%s%s = \"%s\" is %s%s = \"%s\" after writing back",
                                         p->name, x[i].key, x[i].value, p->name, y[i].key,
                                         y[i].value);
                        continue;
                }
                void *fa = field_of(ca, p), *fb = field_of(cb, p);
                if (p->type == TECG_CONF_STRING)
                        FZ_CHECK(fz_str_eq(*(char **)fa, *(char **)fb),
                                 "%s changes after writing back", p->name);
                else if (p->type == TECG_CONF_INT)
                        FZ_CHECK(*(int64_t *)fa == *(int64_t *)fb,
                                 "%s changes after writing back", p->name);
                else
                        FZ_CHECK(*(bool *)fa == *(bool *)fb,
                                 "%s changes after writing back", p->name);
        }
}

/* A parse error: "fuzz:LINE: reason", one line. */
static void check_error(tecg_err_t rc, const char *err, size_t err_size, size_t lines) {
        FZ_CHECK(rc == TECG_ERR_CONFIG || rc == TECG_ERR_NOMEM, "unexpected %s",
                 tecg_err2str(rc));
        FZ_CHECK(strnlen(err, err_size) < err_size, "error not terminated");
        FZ_CHECK(strchr(err, '\n') == NULL, "error of more than one line: %s", err);
        if (rc == TECG_ERR_NOMEM)
                return;
        const char *rest = check_origin(err, lines, "error");
        FZ_CHECK(rest[0] == ':' && rest[1] == ' ' && rest[2] != '\0',
                 "error without \": reason\": %s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *)data;
        fz_conf_t c, c2;
        char err[1024] = "";
        tecg_buf_t back = TECG_BUF_INIT;
        bool any_key;
        size_t lines = count_lines(data, size);
        tecg_conf_t *conf = tecg_conf_new(props, &c, err, sizeof(err)), *conf2;
        tecg_err_t rc;

        FZ_CHECK(conf != NULL, "tecg_conf_new: %s", err);
        rc = tecg_conf_parse(conf, LABEL, text, size, err, sizeof(err));
        if (rc != TECG_OK) {
                check_error(rc, err, sizeof(err), lines);
                tecg_conf_destroy(conf);
                return 0;
        }
        check_settings(conf, &c, lines);

        rc = tecg_conf_check_required(conf, err, sizeof(err));
        FZ_CHECK((rc == TECG_OK) == (c.nation != NULL), "required check: %s",
                 tecg_err2str(rc));
        if (rc != TECG_OK)
                FZ_CHECK(strstr(err, "'nation'") != NULL, "required check names %s", err);

        /* Written back and parsed again: the same settings. */
        write_back(conf, &c, &back, &any_key);
        conf2 = tecg_conf_new(props, &c2, err, sizeof(err));
        FZ_CHECK(conf2 != NULL, "tecg_conf_new: %s", err);
        rc = tecg_conf_parse(conf2, LABEL, back.data ? (const char *)back.data : "",
                             back.len, err, sizeof(err));
        FZ_CHECK(rc == TECG_OK, "the settings written back do not parse: %s", err);
        check_same(conf, &c, conf2, &c2);
        tecg_conf_destroy(conf2);

        /* The same file again: every key it sets is now set twice. */
        rc = tecg_conf_parse(conf, LABEL, text, size, err, sizeof(err));
        if (any_key) {
                FZ_CHECK(rc == TECG_ERR_CONFIG && strstr(err, "is already set at " LABEL ":"),
                         "parsing again: %s \"%s\"", tecg_err2str(rc), err);
                check_error(rc, err, sizeof(err), lines);
        } else
                FZ_CHECK(rc == TECG_OK, "parsing again: %s", err);

        tecg_buf_free(&back);
        tecg_conf_destroy(conf);
        return 0;
}
