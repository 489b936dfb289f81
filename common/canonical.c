#include "canonical.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Walk state: the named types defined so far (fullname -> true), so a
 * reference written as a short name resolves the way the parsers do. */
typedef struct {
        json_t *defined;
        char *errstr;
        size_t errstr_size;
        int depth;
} pcf_ctx_t;

#define PCF_MAX_DEPTH 64

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static int is_primitive(const char *name) {
        for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
                if (strcmp(name, primitives[i]) == 0)
                        return 1;
        return 0;
}

/* ns.name, or name when ns is empty or name is already full. */
static char *make_fullname(const char *ns, const char *name) {
        char *full;
        if (strchr(name, '.') || !ns || !*ns)
                return strdup(name);
        size_t n = strlen(ns) + 1 + strlen(name) + 1;
        full = malloc(n);
        if (full)
                snprintf(full, n, "%s.%s", ns, name);
        return full;
}

/* A reference by name: full names stay; a short name means the enclosing
 * namespace's type, else a type of the null namespace. */
static json_t *pcf_reference(pcf_ctx_t *ctx, const char *name, const char *ns) {
        json_t *out = NULL;
        char *full = NULL;

        if (is_primitive(name))
                return json_string(name);
        full = make_fullname(ns, name);
        if (!full) {
                tecg_seterr(TECG_ERR_NOMEM, ctx->errstr, ctx->errstr_size, "out of memory");
                goto done;
        }
        if (!json_object_get(ctx->defined, full)) {
                if (json_object_get(ctx->defined, name)) {
                        out = json_string(name);
                        goto done;
                }
                tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                            "unknown type name \"%s\"", name);
                goto done;
        }
        out = json_string(full);
done:
        free(full);
        return out;
}

static json_t *pcf_node(pcf_ctx_t *ctx, const json_t *s, const char *ns);

/* record, error, enum, fixed: {"name":..., "type":..., then the kind's own
 * attribute}. */
static json_t *pcf_named(pcf_ctx_t *ctx, const json_t *s, const char *type, const char *ns) {
        json_t *out = NULL, *fields = NULL;
        char *full = NULL, *newns = NULL;
        const char *name = json_string_value(json_object_get(s, "name"));
        const json_t *nsattr = json_object_get(s, "namespace");

        if (!name || !*name) {
                tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s without a name",
                            type);
                goto fail;
        }
        if (strchr(name, '.'))
                full = strdup(name);
        else if (json_is_string(nsattr))
                full = make_fullname(json_string_value(nsattr), name);
        else
                full = make_fullname(ns, name);
        if (!full)
                goto nomem;
        /* The namespace of what is nested inside is this type's own. */
        const char *dot = strrchr(full, '.');
        newns = dot ? strndup(full, (size_t)(dot - full)) : strdup("");
        if (!newns)
                goto nomem;
        if (json_object_set_new(ctx->defined, full, json_true()))
                goto nomem;

        out = json_object();
        if (!out || json_object_set_new(out, "name", json_string(full)) ||
            json_object_set_new(out, "type", json_string(type)))
                goto nomem;

        if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
                const json_t *in = json_object_get(s, "fields");
                size_t i;
                const json_t *f;
                if (!json_is_array(in)) {
                        tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                    "record %s: \"fields\" is not an array", full);
                        goto fail;
                }
                fields = json_array();
                if (!fields)
                        goto nomem;
                json_array_foreach(in, i, f) {
                        const char *fname = json_string_value(json_object_get(f, "name"));
                        json_t *ft, *fo;
                        if (!fname) {
                                tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                            "record %s: field %zu has no name", full, i);
                                goto fail;
                        }
                        ft = pcf_node(ctx, json_object_get(f, "type"), newns);
                        if (!ft)
                                goto fail;
                        fo = json_object();
                        if (!fo) {
                                json_decref(ft);
                                goto nomem;
                        }
                        /* Both calls always run: each takes its value. */
                        int bad = json_object_set_new(fo, "name", json_string(fname));
                        bad |= json_object_set_new(fo, "type", ft);
                        if (bad) {
                                json_decref(fo);
                                goto nomem;
                        }
                        if (json_array_append_new(fields, fo))
                                goto nomem;
                }
                if (json_object_set_new(out, "fields", fields)) {
                        fields = NULL;
                        goto nomem;
                }
                fields = NULL;
        } else if (strcmp(type, "enum") == 0) {
                const json_t *sym = json_object_get(s, "symbols");
                if (!json_is_array(sym)) {
                        tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                    "enum %s: \"symbols\" is not an array", full);
                        goto fail;
                }
                if (json_object_set_new(out, "symbols", json_deep_copy(sym)))
                        goto nomem;
        } else { /* fixed */
                const json_t *size = json_object_get(s, "size");
                if (!json_is_integer(size)) {
                        tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                    "fixed %s: \"size\" is not an integer", full);
                        goto fail;
                }
                if (json_object_set_new(out, "size", json_integer(json_integer_value(size))))
                        goto nomem;
        }
        goto done;

nomem:
        tecg_seterr(TECG_ERR_NOMEM, ctx->errstr, ctx->errstr_size, "out of memory");
fail:
        json_decref(out);
        out = NULL;
done:
        json_decref(fields);
        free(full);
        free(newns);
        return out;
}

static json_t *pcf_node(pcf_ctx_t *ctx, const json_t *s, const char *ns) {
        json_t *out = NULL;

        if (++ctx->depth > PCF_MAX_DEPTH) {
                tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                            "schema nested deeper than %d", PCF_MAX_DEPTH);
                goto done;
        }
        if (json_is_string(s)) {
                out = pcf_reference(ctx, json_string_value(s), ns);
        } else if (json_is_array(s)) { /* union */
                size_t i;
                const json_t *b;
                out = json_array();
                if (!out)
                        goto done;
                json_array_foreach(s, i, b) {
                        json_t *c = pcf_node(ctx, b, ns);
                        if (!c || json_array_append_new(out, c)) {
                                json_decref(out);
                                out = NULL;
                                goto done;
                        }
                }
        } else if (json_is_object(s)) {
                const json_t *t = json_object_get(s, "type");
                const char *type = json_string_value(t);
                if (json_is_object(t) || json_is_array(t)) {
                        /* {"type": {...}}: the wrapper adds nothing. */
                        out = pcf_node(ctx, t, ns);
                } else if (!type) {
                        tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                    "schema object without a \"type\"");
                } else if (is_primitive(type)) {
                        out = json_string(type);
                } else if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
                           strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0) {
                        out = pcf_named(ctx, s, type, ns);
                } else if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
                        const char *key = type[0] == 'a' ? "items" : "values";
                        json_t *c = pcf_node(ctx, json_object_get(s, key), ns);
                        if (!c)
                                goto done;
                        out = json_object();
                        if (!out) {
                                json_decref(c);
                                goto done;
                        }
                        int bad = json_object_set_new(out, "type", json_string(type));
                        bad |= json_object_set_new(out, key, c);
                        if (bad) {
                                json_decref(out);
                                out = NULL;
                        }
                } else {
                        out = pcf_reference(ctx, type, ns);
                }
        } else {
                tecg_seterr(TECG_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                            "%s where a schema was expected",
                            s ? "a number, boolean or null" : "nothing");
        }
done:
        ctx->depth--;
        return out;
}

tecg_err_t tecg_canonical_form_json(const json_t *schema, char **out, char *errstr,
                                    size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        pcf_ctx_t ctx = {json_object(), errstr, errstr_size, 0};
        json_t *pcf = NULL;

        *out = NULL;
        if (errstr && errstr_size)
                errstr[0] = '\0';
        if (!ctx.defined) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        pcf = pcf_node(&ctx, schema, "");
        if (!pcf) {
                err = TECG_ERR_INVALID;
                if (errstr && errstr_size && !errstr[0])
                        tecg_seterr(err, errstr, errstr_size, "cannot build canonical form");
                goto done;
        }
        *out = json_dumps(pcf, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!*out)
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
done:
        json_decref(pcf);
        json_decref(ctx.defined);
        return err;
}

tecg_err_t tecg_canonical_form(const char *json, size_t len, char **out, char *errstr,
                               size_t errstr_size) {
        json_error_t jerr;
        json_t *root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        tecg_err_t err;

        *out = NULL;
        if (!root)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "schema is not JSON: line %d: %s", jerr.line, jerr.text);
        err = tecg_canonical_form_json(root, out, errstr, errstr_size);
        json_decref(root);
        return err;
}
