/* Fuzz target: the configuration parser (common/conf.h) with the property
 * tables the three daemons use (producers/producer_conf.c,
 * consumers/aggregator/aggregator_conf.c, consumers/dashboard/
 * dashboard_conf.c): one input = one configuration file, parsed with the
 * label "fuzz" against each table in turn. Between them they have every
 * kind of entry: strings, integers, booleans, required keys, the shared
 * keys taken by scope, the kafka. and rate. pass-through prefixes and the
 * sink.NAME.* group.
 *
 * Invariants, per table:
 *   - refused: TECG_ERR_CONFIG with "fuzz:LINE: reason", LINE a line of
 *     the input, on one line (or NOMEM);
 *   - accepted: every integer is within its range, every key's origin is
 *     "default" or "fuzz:LINE", a key with a default has an origin, a
 *     string is set exactly when it has an origin, pass-through keys are
 *     longer than their prefix; writing the settings back out as
 *     `key = value` lines and parsing that gives the same settings;
 *     parsing the same file again into the same configuration fails with
 *     "already set" exactly when it set a (non pass-through) key; the
 *     required-key check fails exactly when a required key (of the table
 *     or of a group instance) is unset, and names the first one. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator_conf.h"
#include "buf.h"
#include "conf.h"
#include "dashboard_conf.h"
#include "fuzz.h"
#include "producer_conf.h"

#define LABEL "fuzz"

static const struct {
        const char *daemon;
        const tecg_conf_prop_t *props;
        size_t size;
} tables[] = {
        {"producer", tecg_producer_conf_props, sizeof(tecg_producer_conf_t)},
        {"aggregator", tecg_aggregator_conf_props, sizeof(tecg_aggregator_conf_t)},
        {"dashboard", tecg_dashboard_conf_props, sizeof(tecg_dashboard_conf_t)},
};

/* Lines of the input as the parser counts them. */
static size_t count_lines(const uint8_t *data, size_t size) {
        size_t n = 0;
        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n + (size > 0 && data[size - 1] != '\n');
}

/* "fuzz:LINE" with 1 <= LINE <= lines; returns the position after it. */
static const char *check_origin(const char *s, size_t lines, const char *what) {
        FZ_CHECK(strncmp(s, LABEL ":", sizeof(LABEL)) == 0,
                 "%s does not start with "
                 "\"" LABEL ":\": %s",
                 what, s);
        char *end;
        unsigned long long line = strtoull(s + sizeof(LABEL), &end, 10);
        FZ_CHECK(end != s + sizeof(LABEL) && line >= 1 && line <= lines,
                 "%s: no line number of the input (%zu lines): %s", what, lines, s);
        return end;
}

typedef struct {
        const tecg_conf_t *conf;
        size_t lines;
        char *first_missing; /* first required key without a value */
        tecg_buf_t *back;    /* write_back: the settings as lines */
        bool any_key;        /* write_back: a non pass-through key was set */
        tecg_buf_t *list;    /* list_settings: "key\tvalue\n" of everything */
} visit_t;

static void check_setting(const tecg_conf_setting_t *s, void *opaque) {
        visit_t *v = opaque;
        const tecg_conf_prop_t *p = s->prop;
        if (!s->field) { /* pass-through */
                FZ_CHECK(strlen(s->key) > strlen(p->name) && s->value, "pass-through %s", s->key);
                FZ_CHECK(*check_origin(s->origin, v->lines, "origin") == '\0', "origin %s",
                         s->origin);
                return;
        }
        if (s->origin && strcmp(s->origin, "default") != 0)
                FZ_CHECK(*check_origin(s->origin, v->lines, "origin") == '\0', "origin %s",
                         s->origin);
        FZ_CHECK(s->origin || !p->defval, "%s lost its default", s->key);
        if ((p->flags & TECG_CONF_F_REQUIRED) && !s->origin && !v->first_missing)
                FZ_SETUP((v->first_missing = strdup(s->key)), "out of memory");
        if (p->type == TECG_CONF_STRING) {
                const char *str = *(char *const *)s->field;
                FZ_CHECK((str != NULL) == (s->origin != NULL), "%s set: %d, origin %s", s->key,
                         str != NULL, s->origin ? s->origin : "none");
                FZ_CHECK(tecg_conf_get_string(v->conf, s->key) == str,
                         "get_string(%s) is not the field", s->key);
        } else if (p->type == TECG_CONF_INT) {
                int64_t n = *(const int64_t *)s->field;
                FZ_CHECK(n >= p->min && n <= p->max, "%s = %lld out of range", s->key,
                         (long long)n);
        }
        const char *origin = tecg_conf_origin(v->conf, s->key);
        FZ_CHECK(origin == s->origin, "tecg_conf_origin(%s) is not the setting's", s->key);
}

/* The settings made by the file, as `key = value` lines. */
static void write_back(const tecg_conf_setting_t *s, void *opaque) {
        visit_t *v = opaque;
        char num[32];
        if (!s->origin || strcmp(s->origin, "default") == 0)
                return;
        if (s->field)
                v->any_key = true;
        tecg_buf_puts(v->back, s->key);
        tecg_buf_puts(v->back, " = ");
        tecg_buf_puts(v->back, tecg_conf_setting_text(s, num, sizeof(num)));
        tecg_buf_puts(v->back, "\n");
}

/* Every setting with its value, to compare two configurations. */
static void list_setting(const tecg_conf_setting_t *s, void *opaque) {
        visit_t *v = opaque;
        char num[32];
        const char *text = tecg_conf_setting_text(s, num, sizeof(num));
        tecg_buf_puts(v->list, s->key);
        tecg_buf_puts(v->list, text ? "\t=" : "\t-");
        tecg_buf_puts(v->list, text ? text : "");
        tecg_buf_puts(v->list, "\n");
}

/* A parse error: "fuzz:LINE: reason", one line. */
static void check_error(tecg_err_t rc, const char *err, size_t err_size, size_t lines) {
        FZ_CHECK(rc == TECG_ERR_CONFIG || rc == TECG_ERR_NOMEM, "unexpected %s", tecg_err2str(rc));
        FZ_CHECK(strnlen(err, err_size) < err_size, "error not terminated");
        FZ_CHECK(strchr(err, '\n') == NULL, "error of more than one line: %s", err);
        if (rc == TECG_ERR_NOMEM)
                return;
        const char *rest = check_origin(err, lines, "error");
        FZ_CHECK(rest[0] == ':' && rest[1] == ' ' && rest[2] != '\0',
                 "error without \": reason\": %s", err);
}

static void fuzz_table(size_t t, const char *text, size_t size, size_t lines) {
        char err[1024] = "";
        tecg_buf_t back = TECG_BUF_INIT, list1 = TECG_BUF_INIT, list2 = TECG_BUF_INIT;
        void *target = calloc(1, tables[t].size), *target2 = calloc(1, tables[t].size);
        FZ_SETUP(target && target2, "out of memory");
        tecg_conf_t *conf = tecg_conf_new(tables[t].props, target, err, sizeof(err));
        FZ_SETUP(conf != NULL, "%s: tecg_conf_new: %s", tables[t].daemon, err);
        tecg_conf_t *conf2 = NULL;
        visit_t v = {.conf = conf, .lines = lines};

        tecg_err_t rc = tecg_conf_parse(conf, LABEL, text, size, err, sizeof(err));
        if (rc != TECG_OK) {
                check_error(rc, err, sizeof(err), lines);
                goto done;
        }
        tecg_conf_foreach(conf, check_setting, &v);

        rc = tecg_conf_check_required(conf, err, sizeof(err));
        FZ_CHECK((rc == TECG_OK) == (v.first_missing == NULL), "%s: required check: %s",
                 tables[t].daemon, tecg_err2str(rc));
        if (rc != TECG_OK)
                FZ_CHECK(strstr(err, v.first_missing) != NULL, "required check names %s, not %s",
                         err, v.first_missing);

        /* Written back and parsed again: the same settings. */
        v.back = &back;
        tecg_conf_foreach(conf, write_back, &v);
        conf2 = tecg_conf_new(tables[t].props, target2, err, sizeof(err));
        FZ_SETUP(conf2 != NULL, "tecg_conf_new: %s", err);
        rc = tecg_conf_parse(conf2, LABEL, back.data ? (const char *)back.data : "", back.len, err,
                             sizeof(err));
        FZ_CHECK(rc == TECG_OK, "%s: the settings written back do not parse: %s", tables[t].daemon,
                 err);
        v.list = &list1;
        tecg_conf_foreach(conf, list_setting, &v);
        v.list = &list2;
        v.conf = conf2;
        tecg_conf_foreach(conf2, list_setting, &v);
        FZ_CHECK(list1.len == list2.len &&
                         (list1.len == 0 || memcmp(list1.data, list2.data, list1.len) == 0),
                 "%s: the settings change after writing back:\n%.*s---\n%.*s", tables[t].daemon,
                 (int)list1.len, (const char *)list1.data, (int)list2.len,
                 (const char *)list2.data);

        /* The same file again: every key it sets is now set twice. */
        rc = tecg_conf_parse(conf, LABEL, text, size, err, sizeof(err));
        if (v.any_key) {
                FZ_CHECK(rc == TECG_ERR_CONFIG && strstr(err, "is already set at " LABEL ":"),
                         "%s: parsing again: %s \"%s\"", tables[t].daemon, tecg_err2str(rc), err);
                check_error(rc, err, sizeof(err), lines);
        } else
                FZ_CHECK(rc == TECG_OK, "%s: parsing again: %s", tables[t].daemon, err);
done:
        free(v.first_missing);
        tecg_buf_free(&back);
        tecg_buf_free(&list1);
        tecg_buf_free(&list2);
        tecg_conf_destroy(conf2);
        tecg_conf_destroy(conf);
        free(target2);
        free(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t lines = count_lines(data, size);
        for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
                fuzz_table(t, (const char *)data, size, lines);
        return 0;
}
