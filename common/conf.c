#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Per-property state kept beside the caller's struct. */
typedef struct {
        char *origin; /* "default", "file:line", "--flag" */
        bool from_file;
        char *file;   /* file label of the last set, for duplicate detection */
} prop_state_t;

typedef struct {
        char *prefix;
        tecg_conf_kv_t *items;
        size_t count, cap;
} passthru_t;

struct tecg_conf {
        const tecg_conf_prop_t *props;
        void *target;
        size_t nprops;
        prop_state_t *state;
        passthru_t *passthru; /* one per TECG_CONF_PREFIX entry, same index */
};

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static const tecg_conf_prop_t *prop_find(const tecg_conf_t *conf,
                                         const char *name, size_t *idx) {
        for (size_t i = 0; i < conf->nprops; i++) {
                const tecg_conf_prop_t *p = &conf->props[i];
                if (p->type == TECG_CONF_PREFIX) {
                        if (strncmp(name, p->name, strlen(p->name)) == 0 &&
                            name[strlen(p->name)] != '\0') {
                                *idx = i;
                                return p;
                        }
                } else if (strcmp(name, p->name) == 0) {
                        *idx = i;
                        return p;
                }
        }
        return NULL;
}

static bool parse_bool(const char *v, bool *out) {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *out = true;
                        return true;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *out = false;
                        return true;
                }
        }
        return false;
}

/* Stores a typed value into the target struct; no origin bookkeeping. */
static tecg_err_t prop_store(tecg_conf_t *conf, const tecg_conf_prop_t *p,
                             const char *value, char *errstr,
                             size_t errstr_size) {
        char *field = (char *)conf->target + p->offset;
        switch (p->type) {
        case TECG_CONF_STRING: {
                char *copy = strdup(value);
                if (!copy)
                        return TECG_ERR_NOMEM;
                free(*(char **)field);
                *(char **)field = copy;
                return TECG_OK;
        }
        case TECG_CONF_INT: {
                char *end;
                errno = 0;
                long long v = strtoll(value, &end, 10);
                if (errno || end == value || *end != '\0')
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "'%s': \"%s\" is not an integer",
                                           p->name, value);
                if (v < p->min || v > p->max)
                        return tecg_seterr(
                                TECG_ERR_CONFIG, errstr, errstr_size,
                                "'%s': %lld is out of range [%lld, %lld]",
                                p->name, v, (long long)p->min,
                                (long long)p->max);
                *(int64_t *)field = v;
                return TECG_OK;
        }
        case TECG_CONF_BOOL:
                if (!parse_bool(value, (bool *)field))
                        return tecg_seterr(
                                TECG_ERR_CONFIG, errstr, errstr_size,
                                "'%s': \"%s\" is not a boolean (true/false)",
                                p->name, value);
                return TECG_OK;
        case TECG_CONF_PREFIX:
                break;
        }
        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                           "'%s': not a settable property", p->name);
}

/* Error messages quote values from the file: replace control bytes and
 * invalid UTF-8 with '?', so a message is one printable line whatever the
 * file held (no terminal escapes, no forged log lines). */
static void sanitize_message(char *s) {
        unsigned char *p = (unsigned char *)s;
        while (*p) {
                int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
                                       : (*p & 0xF8) == 0xF0 ? 4 : 0;
                bool ok = n > 0 && !(n == 1 && (*p < 0x20 || *p == 0x7F));
                for (int i = 1; ok && i < n; i++)
                        ok = (p[i] & 0xC0) == 0x80;
                if (!ok) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

static tecg_err_t passthru_add(passthru_t *pt, const char *key,
                               const char *value, const char *origin) {
        /* A later source overrides an earlier one for the same key. */
        for (size_t i = 0; i < pt->count; i++) {
                if (strcmp(pt->items[i].key, key) == 0) {
                        char *v = strdup(value), *o = strdup(origin);
                        if (!v || !o) {
                                free(v);
                                free(o);
                                return TECG_ERR_NOMEM;
                        }
                        free(pt->items[i].value);
                        free(pt->items[i].origin);
                        pt->items[i].value = v;
                        pt->items[i].origin = o;
                        return TECG_OK;
                }
        }
        if (pt->count == pt->cap) {
                size_t cap = pt->cap ? pt->cap * 2 : 8;
                tecg_conf_kv_t *items = realloc(pt->items, cap * sizeof(*items));
                if (!items)
                        return TECG_ERR_NOMEM;
                pt->items = items;
                pt->cap = cap;
        }
        tecg_conf_kv_t *kv = &pt->items[pt->count];
        kv->key = strdup(key);
        kv->value = strdup(value);
        kv->origin = strdup(origin);
        if (!kv->key || !kv->value || !kv->origin) {
                free(kv->key);
                free(kv->value);
                free(kv->origin);
                return TECG_ERR_NOMEM;
        }
        pt->count++;
        return TECG_OK;
}

tecg_conf_t *tecg_conf_new(const tecg_conf_prop_t *props, void *target,
                           char *errstr, size_t errstr_size) {
        tecg_conf_t *conf = calloc(1, sizeof(*conf));
        if (!conf)
                goto nomem;
        conf->props = props;
        conf->target = target;
        while (props[conf->nprops].name)
                conf->nprops++;
        conf->state = calloc(conf->nprops, sizeof(*conf->state));
        conf->passthru = calloc(conf->nprops, sizeof(*conf->passthru));
        if (!conf->state || !conf->passthru)
                goto nomem;
        for (size_t i = 0; i < conf->nprops; i++) {
                const tecg_conf_prop_t *p = &props[i];
                if (p->type == TECG_CONF_PREFIX) {
                        if (!(conf->passthru[i].prefix = strdup(p->name)))
                                goto nomem;
                        continue;
                }
                if (p->type == TECG_CONF_STRING)
                        *(char **)((char *)target + p->offset) = NULL;
                if (!p->defval)
                        continue;
                char reason[256];
                if (prop_store(conf, p, p->defval, reason, sizeof(reason))) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "built-in default: %s", reason);
                        tecg_conf_destroy(conf);
                        return NULL;
                }
                if (!(conf->state[i].origin = strdup("default")))
                        goto nomem;
        }
        return conf;
nomem:
        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        tecg_conf_destroy(conf);
        return NULL;
}

void tecg_conf_destroy(tecg_conf_t *conf) {
        if (!conf)
                return;
        for (size_t i = 0; conf->state && i < conf->nprops; i++) {
                const tecg_conf_prop_t *p = &conf->props[i];
                if (p->type == TECG_CONF_STRING) {
                        char **field = (char **)((char *)conf->target + p->offset);
                        free(*field);
                        *field = NULL;
                }
                free(conf->state[i].origin);
                free(conf->state[i].file);
        }
        for (size_t i = 0; conf->passthru && i < conf->nprops; i++) {
                passthru_t *pt = &conf->passthru[i];
                for (size_t j = 0; j < pt->count; j++) {
                        free(pt->items[j].key);
                        free(pt->items[j].value);
                        free(pt->items[j].origin);
                }
                free(pt->items);
                free(pt->prefix);
        }
        free(conf->state);
        free(conf->passthru);
        free(conf);
}

/* Sets a key; `file` is the file label when it comes from a file (for the
 * set-twice check), NULL otherwise. */
static tecg_err_t conf_set(tecg_conf_t *conf, const char *name,
                           const char *value, const char *origin,
                           const char *file, char *errstr, size_t errstr_size) {
        size_t idx;
        const tecg_conf_prop_t *p = prop_find(conf, name, &idx);
        if (!p)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "unknown key '%s' (see --help)", name);
        if (p->type == TECG_CONF_PREFIX)
                return passthru_add(&conf->passthru[idx],
                                    name + strlen(p->name), value, origin);

        prop_state_t *st = &conf->state[idx];
        if (file && st->from_file && st->file && strcmp(st->file, file) == 0)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "'%s' is already set at %s", name,
                                   st->origin);
        tecg_err_t err = prop_store(conf, p, value, errstr, errstr_size);
        if (err)
                return err;
        char *o = strdup(origin), *f = xstrdup(file);
        if (!o || (file && !f)) {
                free(o);
                free(f);
                return TECG_ERR_NOMEM;
        }
        free(st->origin);
        free(st->file);
        st->origin = o;
        st->file = f;
        st->from_file = file != NULL;
        return TECG_OK;
}

tecg_err_t tecg_conf_set(tecg_conf_t *conf, const char *name,
                         const char *value, const char *origin, char *errstr,
                         size_t errstr_size) {
        char reason[512];
        reason[0] = '\0';
        tecg_err_t err = conf_set(conf, name, value, origin, NULL, reason,
                                  sizeof(reason));
        if (err) {
                tecg_seterr(err, errstr, errstr_size, "%s: %s", origin,
                            err == TECG_ERR_NOMEM ? "out of memory" : reason);
                if (errstr && errstr_size)
                        sanitize_message(errstr);
        }
        return err;
}

static char *trim(char *s) {
        while (isspace((unsigned char)*s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

tecg_err_t tecg_conf_parse(tecg_conf_t *conf, const char *label,
                           const char *buf, size_t len, char *errstr,
                           size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char reason[512];
        char origin[512];
        char *line = NULL;
        size_t lineno = 0;

        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
                lineno++;
                free(line);
                if (!(line = malloc(n + 1))) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                          "%s: out of memory", label);
                        goto done;
                }
                memcpy(line, buf + pos, n);
                line[n] = '\0';
                pos += n + (nl ? 1 : 0);

                if (strlen(line) != n) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s:%zu: NUL byte in line", label,
                                          lineno);
                        goto done;
                }
                char *s = trim(line);
                if (*s == '\0' || *s == '#')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s:%zu: expected 'key = value'",
                                          label, lineno);
                        goto done;
                }
                *eq = '\0';
                char *key = trim(s), *value = trim(eq + 1);
                if (*key == '\0') {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s:%zu: missing key before '='",
                                          label, lineno);
                        goto done;
                }
                snprintf(origin, sizeof(origin), "%s:%zu", label, lineno);
                reason[0] = '\0';
                err = conf_set(conf, key, value, origin, label, reason,
                               sizeof(reason));
                if (err) {
                        tecg_seterr(err, errstr, errstr_size, "%s: %s", origin,
                                    err == TECG_ERR_NOMEM ? "out of memory" : reason);
                        if (errstr && errstr_size)
                                sanitize_message(errstr);
                        goto done;
                }
        }
done:
        free(line);
        return err;
}

tecg_err_t tecg_conf_load_file(tecg_conf_t *conf, const char *path,
                               char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        FILE *fp = fopen(path, "rb");
        if (!fp)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s: cannot open: %s", path, strerror(errno));
        for (;;) {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        if (cap > (64u << 20)) {
                                err = tecg_seterr(TECG_ERR_CONFIG, errstr,
                                                  errstr_size,
                                                  "%s: larger than 64 MiB",
                                                  path);
                                goto done;
                        }
                        char *nb = realloc(buf, cap);
                        if (!nb) {
                                err = tecg_seterr(TECG_ERR_NOMEM, errstr,
                                                  errstr_size,
                                                  "%s: out of memory", path);
                                goto done;
                        }
                        buf = nb;
                }
                size_t r = fread(buf + len, 1, cap - len, fp);
                len += r;
                if (r == 0)
                        break;
        }
        if (ferror(fp)) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "%s: read error: %s", path, strerror(errno));
                goto done;
        }
        err = tecg_conf_parse(conf, path, buf ? buf : "", len, errstr,
                              errstr_size);
done:
        free(buf);
        fclose(fp);
        return err;
}

tecg_err_t tecg_conf_apply_sets(tecg_conf_t *conf, char *const *sets,
                                size_t count, char *errstr, size_t errstr_size) {
        for (size_t i = 0; i < count; i++) {
                const char *eq = strchr(sets[i], '=');
                if (!eq)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "-X %s: expected KEY=VALUE", sets[i]);
                char *key = strndup(sets[i], (size_t)(eq - sets[i]));
                if (!key)
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                           "out of memory");
                tecg_err_t err = tecg_conf_set(conf, trim(key), eq + 1, "-X", errstr,
                                               errstr_size);
                free(key);
                if (err)
                        return err;
        }
        return TECG_OK;
}

tecg_err_t tecg_conf_check_required(const tecg_conf_t *conf, char *errstr,
                                    size_t errstr_size) {
        for (size_t i = 0; i < conf->nprops; i++) {
                const tecg_conf_prop_t *p = &conf->props[i];
                if ((p->flags & TECG_CONF_F_REQUIRED) && !conf->state[i].origin)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "required key '%s' is not set (%s)",
                                           p->name, p->doc);
        }
        return TECG_OK;
}

const tecg_conf_kv_t *tecg_conf_passthru(const tecg_conf_t *conf,
                                         const char *prefix, size_t *countp) {
        for (size_t i = 0; i < conf->nprops; i++) {
                if (conf->passthru[i].prefix &&
                    strcmp(conf->passthru[i].prefix, prefix) == 0) {
                        *countp = conf->passthru[i].count;
                        return conf->passthru[i].items;
                }
        }
        *countp = 0;
        return NULL;
}

const char *tecg_conf_get_string(const tecg_conf_t *conf, const char *name) {
        size_t idx;
        const tecg_conf_prop_t *p = prop_find(conf, name, &idx);
        if (!p || p->type != TECG_CONF_STRING)
                return NULL;
        return *(char *const *)((const char *)conf->target + p->offset);
}

const char *tecg_conf_origin(const tecg_conf_t *conf, const char *name) {
        size_t idx;
        if (!prop_find(conf, name, &idx))
                return NULL;
        return conf->state[idx].origin;
}

void tecg_conf_print_help(FILE *fp, const tecg_conf_prop_t *props) {
        static const char *const type_names[] = {"string", "integer", "bool",
                                                 "prefix"};
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                char range[96] = "";
                if (p->type == TECG_CONF_INT)
                        snprintf(range, sizeof(range), " [%lld..%lld]",
                                 (long long)p->min, (long long)p->max);
                char name[96];
                snprintf(name, sizeof(name), "%s%s", p->name,
                         p->type == TECG_CONF_PREFIX ? "<property>" : "");
                fprintf(fp, "  %-28s %s%s%s\n", name, type_names[p->type], range,
                        (p->flags & TECG_CONF_F_REQUIRED) ? ", required" : "");
                fprintf(fp, "      %s", p->doc);
                if (p->defval)
                        fprintf(fp, " (default: %s)",
                                *p->defval ? p->defval : "\"\"");
                fputc('\n', fp);
        }
}

static bool is_secret(const char *key) {
        return strstr(key, "password") || strstr(key, "secret") ||
               strstr(key, "token");
}

void tecg_conf_log(const tecg_conf_t *conf, const char *facility) {
        for (size_t i = 0; i < conf->nprops; i++) {
                const tecg_conf_prop_t *p = &conf->props[i];
                const char *field = (const char *)conf->target + p->offset;
                const char *origin = conf->state[i].origin;
                switch (p->type) {
                case TECG_CONF_STRING: {
                        const char *v = *(char *const *)field;
                        tecg_log_debug(facility, "%s = %s (%s)", p->name,
                                       !v ? "(unset)"
                                       : is_secret(p->name) ? "***"
                                                            : v,
                                       origin ? origin : "unset");
                        break;
                }
                case TECG_CONF_INT:
                        tecg_log_debug(facility, "%s = %lld (%s)", p->name,
                                       (long long)*(const int64_t *)field,
                                       origin ? origin : "unset");
                        break;
                case TECG_CONF_BOOL:
                        tecg_log_debug(facility, "%s = %s (%s)", p->name,
                                       *(const bool *)field ? "true" : "false",
                                       origin ? origin : "unset");
                        break;
                case TECG_CONF_PREFIX:
                        for (size_t j = 0; j < conf->passthru[i].count; j++) {
                                const tecg_conf_kv_t *kv =
                                        &conf->passthru[i].items[j];
                                tecg_log_debug(facility, "%s%s = %s (%s)",
                                               p->name, kv->key,
                                               is_secret(kv->key) ? "***"
                                                                  : kv->value,
                                               kv->origin);
                        }
                        break;
                }
        }
}
