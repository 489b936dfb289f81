#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redact.h"

/* Longest instance name of a group ("bi" of sink.bi.url): it names the
 * instance in logs and metrics labels. */
#define GROUP_NAME_MAX 63

/* Per-key state kept beside the caller's struct. */
typedef struct {
        char *origin; /* "default", "file:line", "--flag" */
        bool from_file;
        char *file; /* file label of the last set, for duplicate detection */
} prop_state_t;

typedef struct {
        char *prefix;
        tecg_conf_kv_t *items;
        size_t count, cap;
} passthru_t;

/* The instances of a TECG_CONF_GROUP. */
typedef struct {
        tecg_conf_group_item_t *items; /* also shown through the target field */
        prop_state_t **states;         /* per instance, one per sub entry */
        size_t count, cap, nsub;
} group_t;

/* One entry of the flattened table: INCLUDE entries are replaced by the
 * entries they take, with their field addresses resolved. */
typedef struct {
        const tecg_conf_prop_t *prop;
        char *field; /* in the target; NULL for PREFIX */
        prop_state_t state;
        passthru_t pt; /* PREFIX */
        group_t grp;   /* GROUP */
} binding_t;

struct tecg_conf {
        binding_t *b;
        size_t n, cap;
};

/* A key resolved against the table. */
typedef struct {
        binding_t *b;
        const tecg_conf_prop_t *p; /* the typed entry (a sub entry in a group) */
        char *field;               /* NULL for PREFIX or a group instance not
                                    * created yet */
        prop_state_t *state;       /* likewise */
        const char *rest;          /* PREFIX: the key without the prefix */
        const char *inst;          /* GROUP: the instance name ... */
        size_t inst_len;           /* ... and its length */
        size_t sub_idx;            /* GROUP: index of p in the sub-table */
} key_ref_t;

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static size_t table_len(const tecg_conf_prop_t *props) {
        size_t n = 0;
        while (props[n].name)
                n++;
        return n;
}

/* "sink." -> 4: the group's name without its dot, for messages. */
static int group_word_len(const tecg_conf_prop_t *p) {
        size_t n = strlen(p->name);
        return (int)(n > 0 && p->name[n - 1] == '.' ? n - 1 : n);
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

/* Stores a typed value into `field`; `key` names it in errors, which
 * quote the value only as tecg_redact() shows it. */
static tecg_err_t value_store(const tecg_conf_prop_t *p, char *field, const char *key,
                              const char *value, char *errstr, size_t errstr_size) {
        char shown[256];
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
                                           "'%s': \"%s\" is not an integer", key,
                                           tecg_redact(key, value, shown, sizeof(shown)));
                if (v < p->min || v > p->max)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "'%s': %lld is out of range [%lld, %lld]", key, v,
                                           (long long)p->min, (long long)p->max);
                *(int64_t *)field = v;
                return TECG_OK;
        }
        case TECG_CONF_BOOL:
                if (!parse_bool(value, (bool *)field))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "'%s': \"%s\" is not a boolean (true/false)", key,
                                           tecg_redact(key, value, shown, sizeof(shown)));
                return TECG_OK;
        default:
                break;
        }
        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "'%s': not a settable property",
                           key);
}

/* Sets every default of a table of plain keys (the root's or a group's
 * sub-table) into the struct at base. */
static tecg_err_t apply_default(const tecg_conf_prop_t *p, char *field, prop_state_t *st,
                                char *errstr, size_t errstr_size) {
        /* A key without a default still has a defined value (a daemon's
         * struct may live on the stack): SIGHUP compares it. */
        if (p->type == TECG_CONF_STRING)
                *(char **)field = NULL;
        else if (p->type == TECG_CONF_INT)
                *(int64_t *)field = 0;
        else if (p->type == TECG_CONF_BOOL)
                *(bool *)field = false;
        if (!p->defval)
                return TECG_OK;
        char reason[256];
        tecg_err_t err = value_store(p, field, p->name, p->defval, reason, sizeof(reason));
        if (err == TECG_ERR_CONFIG)
                return tecg_seterr(err, errstr, errstr_size, "built-in default: %s", reason);
        if (err || !(st->origin = strdup("default")))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return TECG_OK;
}

static void state_free(prop_state_t *st) {
        free(st->origin);
        free(st->file);
}

/* Error messages quote values from the file: replace control bytes and
 * invalid UTF-8 with '?', so a message is one printable line whatever the
 * file held (no terminal escapes, no forged log lines). */
static void sanitize_message(char *s) {
        unsigned char *p = (unsigned char *)s;
        while (*p) {
                int n = *p < 0x80             ? 1
                        : (*p & 0xE0) == 0xC0 ? 2
                        : (*p & 0xF0) == 0xE0 ? 3
                        : (*p & 0xF8) == 0xF0 ? 4
                                              : 0;
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

static tecg_err_t passthru_add(passthru_t *pt, const char *key, const char *value,
                               const char *origin) {
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

/* Checks a table for mistakes a daemon could only make in code. */
static tecg_err_t table_check(const tecg_conf_prop_t *p, bool in_group, char *errstr,
                              size_t errstr_size) {
        bool plain = p->type == TECG_CONF_STRING || p->type == TECG_CONF_INT ||
                     p->type == TECG_CONF_BOOL;
        if (in_group && !plain)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "property table: group key '%s' is not a "
                                   "string, integer or boolean",
                                   p->name);
        if ((p->type == TECG_CONF_GROUP || p->type == TECG_CONF_INCLUDE) && !p->sub)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "property table: '%s' has no sub-table", p->name);
        if (p->type == TECG_CONF_GROUP && (p->size == 0 || p->max < 1))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "property table: group '%s' needs size and max", p->name);
        return TECG_OK;
}

/* An INCLUDE takes the entries of its sub-table in its scope. */
static bool in_scope(const tecg_conf_prop_t *include, const tecg_conf_prop_t *p) {
        return include->scope == 0 || p->scope == 0 || (include->scope & p->scope);
}

static tecg_err_t bind_table(tecg_conf_t *conf, const tecg_conf_prop_t *props, char *base,
                             const tecg_conf_prop_t *include, char *errstr, size_t errstr_size) {
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                tecg_err_t err = table_check(p, false, errstr, errstr_size);
                if (err)
                        return err;
                if (include && !in_scope(include, p))
                        continue;
                if (p->type == TECG_CONF_INCLUDE) {
                        if ((err = bind_table(conf, p->sub, base + p->offset, p, errstr,
                                              errstr_size)))
                                return err;
                        continue;
                }
                for (size_t i = 0; i < conf->n; i++)
                        if (strcmp(conf->b[i].prop->name, p->name) == 0)
                                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                   "property table: '%s' twice", p->name);
                if (conf->n == conf->cap) {
                        size_t cap = conf->cap ? conf->cap * 2 : 32;
                        binding_t *b = realloc(conf->b, cap * sizeof(*b));
                        if (!b)
                                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                                   "out of memory");
                        conf->b = b;
                        conf->cap = cap;
                }
                binding_t *b = &conf->b[conf->n++];
                memset(b, 0, sizeof(*b));
                b->prop = p;
                if (p->type == TECG_CONF_PREFIX) {
                        if (!(b->pt.prefix = strdup(p->name)))
                                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                                   "out of memory");
                        continue;
                }
                b->field = base + p->offset;
                if (p->type == TECG_CONF_GROUP) {
                        b->grp.nsub = table_len(p->sub);
                        for (size_t i = 0; i < b->grp.nsub; i++)
                                if ((err = table_check(&p->sub[i], true, errstr, errstr_size)))
                                        return err;
                        memset(b->field, 0, sizeof(tecg_conf_group_t));
                        continue;
                }
                if ((err = apply_default(p, b->field, &b->state, errstr, errstr_size)))
                        return err;
        }
        return TECG_OK;
}

tecg_conf_t *tecg_conf_new(const tecg_conf_prop_t *props, void *target, char *errstr,
                           size_t errstr_size) {
        tecg_conf_t *conf = calloc(1, sizeof(*conf));
        if (!conf) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (bind_table(conf, props, target, NULL, errstr, errstr_size)) {
                tecg_conf_destroy(conf);
                return NULL;
        }
        return conf;
}

/* Frees the strings a plain-key table stored in the struct at base. */
static void strings_free(const tecg_conf_prop_t *sub, char *base) {
        for (const tecg_conf_prop_t *p = sub; p->name; p++) {
                if (p->type == TECG_CONF_STRING) {
                        char **field = (char **)(base + p->offset);
                        free(*field);
                        *field = NULL;
                }
        }
}

static void group_item_free(group_t *g, const tecg_conf_prop_t *gp, size_t i) {
        tecg_conf_group_item_t *it = &g->items[i];
        if (it->data)
                strings_free(gp->sub, it->data);
        free(it->data);
        free((char *)it->name);
        free((char *)it->origin);
        for (size_t j = 0; g->states[i] && j < g->nsub; j++)
                state_free(&g->states[i][j]);
        free(g->states[i]);
}

/* The target's view of a group follows its array. */
static void group_publish(binding_t *b) {
        tecg_conf_group_t *view = (tecg_conf_group_t *)b->field;
        view->count = b->grp.count;
        view->items = b->grp.items;
}

void tecg_conf_destroy(tecg_conf_t *conf) {
        if (!conf)
                return;
        for (size_t i = 0; i < conf->n; i++) {
                binding_t *b = &conf->b[i];
                const tecg_conf_prop_t *p = b->prop;
                if (p->type == TECG_CONF_STRING) {
                        free(*(char **)b->field);
                        *(char **)b->field = NULL;
                } else if (p->type == TECG_CONF_PREFIX) {
                        for (size_t j = 0; j < b->pt.count; j++) {
                                free(b->pt.items[j].key);
                                free(b->pt.items[j].value);
                                free(b->pt.items[j].origin);
                        }
                        free(b->pt.items);
                        free(b->pt.prefix);
                } else if (p->type == TECG_CONF_GROUP) {
                        for (size_t j = 0; j < b->grp.count; j++)
                                group_item_free(&b->grp, p, j);
                        free(b->grp.items);
                        free(b->grp.states);
                        memset(b->field, 0, sizeof(tecg_conf_group_t));
                }
                state_free(&b->state);
        }
        free(conf->b);
        free(conf);
}

/* Resolves `name`. NULL reason: only whether it exists (no message). */
static tecg_err_t key_find(const tecg_conf_t *conf, const char *name, key_ref_t *k, char *reason,
                           size_t reason_size) {
        memset(k, 0, sizeof(*k));
        for (size_t i = 0; i < conf->n; i++) {
                binding_t *b = &conf->b[i];
                const tecg_conf_prop_t *p = b->prop;
                size_t plen = strlen(p->name);
                if (p->type != TECG_CONF_PREFIX && p->type != TECG_CONF_GROUP) {
                        if (strcmp(name, p->name) != 0)
                                continue;
                        k->b = b;
                        k->p = p;
                        k->field = b->field;
                        k->state = &b->state;
                        return TECG_OK;
                }
                if (strncmp(name, p->name, plen) != 0 || name[plen] == '\0')
                        continue;
                k->b = b;
                k->p = p;
                k->rest = name + plen;
                if (p->type == TECG_CONF_PREFIX)
                        return TECG_OK;

                /* GROUP: NAME "." KEY */
                const char *dot = strchr(k->rest, '.');
                int word = group_word_len(p);
                if (!dot || dot == k->rest || dot[1] == '\0')
                        return tecg_seterr(TECG_ERR_CONFIG, reason, reason_size,
                                           "'%s': expected %sNAME.KEY (see --help)", name, p->name);
                k->inst = k->rest;
                k->inst_len = (size_t)(dot - k->rest);
                if (k->inst_len > GROUP_NAME_MAX)
                        return tecg_seterr(TECG_ERR_CONFIG, reason, reason_size,
                                           "'%s': %.*s name longer than %d bytes", name, word,
                                           p->name, GROUP_NAME_MAX);
                const tecg_conf_prop_t *sub = NULL;
                for (size_t j = 0; j < b->grp.nsub; j++)
                        if (strcmp(dot + 1, p->sub[j].name) == 0) {
                                sub = &p->sub[j];
                                k->sub_idx = j;
                        }
                if (!sub) {
                        char keys[512] = "";
                        size_t used = 0;
                        for (size_t j = 0; j < b->grp.nsub && used < sizeof(keys); j++)
                                used += (size_t)snprintf(keys + used, sizeof(keys) - used, "%s%s",
                                                         j ? ", " : "", p->sub[j].name);
                        return tecg_seterr(TECG_ERR_CONFIG, reason, reason_size,
                                           "'%s': unknown %.*s setting '%s' (%s)", name, word,
                                           p->name, dot + 1, keys);
                }
                k->p = sub;
                for (size_t j = 0; j < b->grp.count; j++) {
                        const char *n = b->grp.items[j].name;
                        if (strlen(n) == k->inst_len && memcmp(n, k->inst, k->inst_len) == 0) {
                                k->field = (char *)b->grp.items[j].data + sub->offset;
                                k->state = &b->grp.states[j][k->sub_idx];
                                break;
                        }
                }
                return TECG_OK;
        }
        return tecg_seterr(TECG_ERR_CONFIG, reason, reason_size, "unknown key '%s' (see --help)",
                           name);
}

/* Removes the newest instance: its first key was refused. */
static void group_drop_last(binding_t *b) {
        group_item_free(&b->grp, b->prop, b->grp.count - 1);
        b->grp.count--;
        group_publish(b);
}

/* A new instance of the group k names, with the sub-table's defaults. */
static tecg_err_t group_add(key_ref_t *k, const char *origin, char *errstr, size_t errstr_size) {
        binding_t *b = k->b;
        group_t *g = &b->grp;
        const tecg_conf_prop_t *gp = b->prop;
        if (g->count >= (size_t)gp->max) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "'%s%.*s': more than %lld %.*s names", gp->name, (int)k->inst_len,
                            k->inst, (long long)gp->max, group_word_len(gp), gp->name);
                /* Not `return tecg_seterr(...)`: the analyzer does not look
                 * into variadic functions, and would follow this return as
                 * a TECG_OK that leaves k->field unset. */
                return TECG_ERR_CONFIG;
        }
        if (g->count == g->cap) {
                size_t cap = g->cap ? g->cap * 2 : 4;
                tecg_conf_group_item_t *items = realloc(g->items, cap * sizeof(*items));
                if (items)
                        g->items = items;
                prop_state_t **states = realloc(g->states, cap * sizeof(prop_state_t *));
                if (states)
                        g->states = states;
                if (!items || !states)
                        return TECG_ERR_NOMEM;
                g->cap = cap;
                group_publish(b);
        }
        size_t i = g->count;
        tecg_conf_group_item_t *it = &g->items[i];
        memset(it, 0, sizeof(*it));
        g->states[i] = calloc(g->nsub ? g->nsub : 1, sizeof(prop_state_t));
        it->data = calloc(1, gp->size);
        it->name = strndup(k->inst, k->inst_len);
        it->origin = strdup(origin);
        g->count++;
        group_publish(b);
        tecg_err_t err = TECG_OK;
        if (!g->states[i] || !it->data || !it->name || !it->origin)
                err = TECG_ERR_NOMEM;
        for (size_t j = 0; !err && j < g->nsub; j++)
                err = apply_default(&gp->sub[j], (char *)it->data + gp->sub[j].offset,
                                    &g->states[i][j], errstr, errstr_size);
        if (err) {
                group_drop_last(b);
                return err;
        }
        k->field = (char *)it->data + k->p->offset;
        k->state = &g->states[i][k->sub_idx];
        return TECG_OK;
}

/* Sets a key; `file` is the file label when it comes from a file (for the
 * set-twice check), NULL otherwise. */
static tecg_err_t conf_set(tecg_conf_t *conf, const char *name, const char *value,
                           const char *origin, const char *file, char *errstr, size_t errstr_size) {
        key_ref_t k;
        tecg_err_t err = key_find(conf, name, &k, errstr, errstr_size);
        if (err)
                return err;
        if (k.b->prop->type == TECG_CONF_PREFIX)
                return passthru_add(&k.b->pt, k.rest, value, origin);

        bool added = false;
        if (!k.field) { /* the first key of a group instance */
                if ((err = group_add(&k, origin, errstr, errstr_size)))
                        return err;
                added = true;
        }
        prop_state_t *st = k.state;
        if (file && st->from_file && st->file && strcmp(st->file, file) == 0)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "'%s' is already set at %s", name, st->origin);
        char *o = strdup(origin), *f = xstrdup(file);
        if (!o || (file && !f))
                err = TECG_ERR_NOMEM;
        else
                err = value_store(k.p, k.field, name, value, errstr, errstr_size);
        if (err) {
                free(o);
                free(f);
                if (added)
                        group_drop_last(k.b);
                return err;
        }
        free(st->origin);
        free(st->file);
        st->origin = o;
        st->file = f;
        st->from_file = file != NULL;
        return TECG_OK;
}

tecg_err_t tecg_conf_set(tecg_conf_t *conf, const char *name, const char *value, const char *origin,
                         char *errstr, size_t errstr_size) {
        char reason[512];
        reason[0] = '\0';
        tecg_err_t err = conf_set(conf, name, value, origin, NULL, reason, sizeof(reason));
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

tecg_err_t tecg_conf_parse(tecg_conf_t *conf, const char *label, const char *buf, size_t len,
                           char *errstr, size_t errstr_size) {
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
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s: out of memory",
                                          label);
                        goto done;
                }
                memcpy(line, buf + pos, n);
                line[n] = '\0';
                pos += n + (nl ? 1 : 0);

                if (strlen(line) != n) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s:%zu: NUL byte in line", label, lineno);
                        goto done;
                }
                char *s = trim(line);
                if (*s == '\0' || *s == '#')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s:%zu: expected 'key = value'", label, lineno);
                        goto done;
                }
                *eq = '\0';
                char *key = trim(s), *value = trim(eq + 1);
                if (*key == '\0') {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s:%zu: missing key before '='", label, lineno);
                        goto done;
                }
                snprintf(origin, sizeof(origin), "%s:%zu", label, lineno);
                reason[0] = '\0';
                err = conf_set(conf, key, value, origin, label, reason, sizeof(reason));
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

tecg_err_t tecg_conf_load_file(tecg_conf_t *conf, const char *path, char *errstr,
                               size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        FILE *fp = fopen(path, "rb");
        if (!fp)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: cannot open: %s",
                                   path, strerror(errno));
        for (;;) {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        if (cap > (64u << 20)) {
                                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                  "%s: larger than 64 MiB", path);
                                goto done;
                        }
                        char *nb = realloc(buf, cap);
                        if (!nb) {
                                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
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
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: read error: %s", path,
                                  strerror(errno));
                goto done;
        }
        err = tecg_conf_parse(conf, path, buf ? buf : "", len, errstr, errstr_size);
done:
        free(buf);
        (void)fclose(fp); /* read only: a failed close loses nothing */
        return err;
}

tecg_err_t tecg_conf_apply_sets(tecg_conf_t *conf, char *const *sets, size_t count, char *errstr,
                                size_t errstr_size) {
        for (size_t i = 0; i < count; i++) {
                const char *eq = strchr(sets[i], '=');
                if (!eq)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "-X %s: expected KEY=VALUE", sets[i]);
                char *key = strndup(sets[i], (size_t)(eq - sets[i]));
                if (!key)
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                tecg_err_t err = tecg_conf_set(conf, trim(key), eq + 1, "-X", errstr, errstr_size);
                free(key);
                if (err)
                        return err;
        }
        return TECG_OK;
}

tecg_err_t tecg_conf_check_required(const tecg_conf_t *conf, char *errstr, size_t errstr_size) {
        for (size_t i = 0; i < conf->n; i++) {
                const binding_t *b = &conf->b[i];
                const tecg_conf_prop_t *p = b->prop;
                if ((p->flags & TECG_CONF_F_REQUIRED) && p->type != TECG_CONF_GROUP &&
                    !b->state.origin)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "required key '%s' is not set (%s)", p->name, p->doc);
                if (p->type != TECG_CONF_GROUP)
                        continue;
                for (size_t j = 0; j < b->grp.count; j++) {
                        const tecg_conf_group_item_t *it = &b->grp.items[j];
                        for (size_t s = 0; s < b->grp.nsub; s++)
                                if ((p->sub[s].flags & TECG_CONF_F_REQUIRED) &&
                                    !b->grp.states[j][s].origin)
                                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                           "%s: %.*s %s has no %s%s.%s", it->origin,
                                                           group_word_len(p), p->name, it->name,
                                                           p->name, it->name, p->sub[s].name);
                }
        }
        return TECG_OK;
}

const tecg_conf_kv_t *tecg_conf_passthru(const tecg_conf_t *conf, const char *prefix,
                                         size_t *countp) {
        for (size_t i = 0; i < conf->n; i++) {
                const passthru_t *pt = &conf->b[i].pt;
                if (pt->prefix && strcmp(pt->prefix, prefix) == 0) {
                        *countp = pt->count;
                        return pt->items;
                }
        }
        *countp = 0;
        return NULL;
}

const char *tecg_conf_get_string(const tecg_conf_t *conf, const char *name) {
        key_ref_t k;
        if (key_find(conf, name, &k, NULL, 0) || !k.field || k.p->type != TECG_CONF_STRING)
                return NULL;
        return *(char *const *)k.field;
}

const char *tecg_conf_origin(const tecg_conf_t *conf, const char *name) {
        key_ref_t k;
        if (key_find(conf, name, &k, NULL, 0) || !k.state)
                return NULL;
        return k.state->origin;
}

/* Builds what --help and the man pages show of one key (its type, range,
 * whether it is required, its default with secrets redacted) and hands it
 * to cb, so the two texts cannot drift apart. */
static void describe_entry(const tecg_conf_prop_t *p, const char *name, tecg_conf_doc_cb *cb,
                           void *opaque) {
        static const char *const type_names[] = {"string", "integer", "bool",
                                                 "prefix", "group",   "include"};
        char range[96] = "", type[160], shown[512];
        if (p->type == TECG_CONF_INT)
                snprintf(range, sizeof(range), " [%lld..%lld]", (long long)p->min,
                         (long long)p->max);
        else if (p->type == TECG_CONF_GROUP)
                snprintf(range, sizeof(range), " of up to %lld names", (long long)p->max);
        snprintf(type, sizeof(type), "%s%s%s", type_names[p->type], range,
                 (p->flags & TECG_CONF_F_REQUIRED) ? ", required" : "");
        tecg_conf_doc_t doc = {.name = name,
                               .prop = p,
                               .type = type,
                               .defval = tecg_redact(name, p->defval, shown, sizeof(shown))};
        cb(&doc, opaque);
}

static void describe_table(const tecg_conf_prop_t *props, const tecg_conf_prop_t *include,
                           tecg_conf_doc_cb *cb, void *opaque) {
        for (const tecg_conf_prop_t *p = props; p->name; p++) {
                char name[160];
                if (include && !in_scope(include, p))
                        continue;
                switch (p->type) {
                case TECG_CONF_INCLUDE:
                        describe_table(p->sub, p, cb, opaque);
                        break;
                case TECG_CONF_PREFIX:
                        snprintf(name, sizeof(name), "%s<property>", p->name);
                        describe_entry(p, name, cb, opaque);
                        break;
                case TECG_CONF_GROUP:
                        snprintf(name, sizeof(name), "%s<name>.*", p->name);
                        describe_entry(p, name, cb, opaque);
                        for (const tecg_conf_prop_t *s = p->sub; s->name; s++) {
                                snprintf(name, sizeof(name), "%s<name>.%s", p->name, s->name);
                                describe_entry(s, name, cb, opaque);
                        }
                        break;
                default:
                        describe_entry(p, p->name, cb, opaque);
                }
        }
}

void tecg_conf_describe(const tecg_conf_prop_t *props, tecg_conf_doc_cb *cb, void *opaque) {
        describe_table(props, NULL, cb, opaque);
}

static void help_entry(const tecg_conf_doc_t *doc, void *opaque) {
        FILE *fp = opaque;
        fprintf(fp, "  %-28s %s\n", doc->name, doc->type);
        fprintf(fp, "      %s", doc->prop->doc);
        if (doc->defval)
                fprintf(fp, " (default: %s)", *doc->defval ? doc->defval : "\"\"");
        (void)fputc('\n', fp); /* --help text, like the fprintf()s: nobody to tell */
}

void tecg_conf_print_help(FILE *fp, const tecg_conf_prop_t *props) {
        tecg_conf_describe(props, help_entry, fp);
}

void tecg_conf_foreach(const tecg_conf_t *conf, tecg_conf_visit_cb *cb, void *opaque) {
        for (size_t i = 0; i < conf->n; i++) {
                const binding_t *b = &conf->b[i];
                const tecg_conf_prop_t *p = b->prop;
                tecg_conf_setting_t s = {
                        .key = p->name, .prop = p, .field = b->field, .origin = b->state.origin};
                if (p->type == TECG_CONF_PREFIX) {
                        for (size_t j = 0; j < b->pt.count; j++) {
                                char *key;
                                if (asprintf(&key, "%s%s", p->name, b->pt.items[j].key) < 0)
                                        continue;
                                s.key = key;
                                s.field = NULL;
                                s.value = b->pt.items[j].value;
                                s.origin = b->pt.items[j].origin;
                                cb(&s, opaque);
                                free(key);
                        }
                } else if (p->type == TECG_CONF_GROUP) {
                        for (size_t j = 0; j < b->grp.count; j++) {
                                const tecg_conf_group_item_t *it = &b->grp.items[j];
                                for (size_t k = 0; k < b->grp.nsub; k++) {
                                        char *key;
                                        if (asprintf(&key, "%s%s.%s", p->name, it->name,
                                                     p->sub[k].name) < 0)
                                                continue;
                                        s.key = key;
                                        s.prop = &p->sub[k];
                                        s.field = (const char *)it->data + p->sub[k].offset;
                                        s.origin = b->grp.states[j][k].origin;
                                        cb(&s, opaque);
                                        free(key);
                                }
                        }
                } else {
                        cb(&s, opaque);
                }
        }
}

const char *tecg_conf_setting_text(const tecg_conf_setting_t *s, char *buf, size_t size) {
        if (!s->field)
                return s->value;
        switch (s->prop->type) {
        case TECG_CONF_STRING:
                return *(char *const *)s->field;
        case TECG_CONF_INT:
                snprintf(buf, size, "%lld", (long long)*(const int64_t *)s->field);
                return buf;
        case TECG_CONF_BOOL:
                return *(const bool *)s->field ? "true" : "false";
        default:
                return NULL;
        }
}

/* Every value goes through tecg_redact(): secrets by key name and by
 * value type (URL userinfo, PEM blocks), docs/design.md §9.5. */
static void log_setting(const tecg_conf_setting_t *s, void *opaque) {
        char buf[32], shown[2048];
        const char *v = tecg_redact(s->key, tecg_conf_setting_text(s, buf, sizeof(buf)), shown,
                                    sizeof(shown));
        tecg_log_debug((const char *)opaque, "%s = %s (%s)", s->key, v ? v : "(unset)",
                       s->origin ? s->origin : "unset");
}

void tecg_conf_log(const tecg_conf_t *conf, const char *facility) {
        tecg_conf_foreach(conf, log_setting, (void *)facility);
}
