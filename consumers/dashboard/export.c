/* The BI export (see export.h): the document is parsed once, its rows
 * collected as flat JSON objects, then written as CSV or NDJSON. Both
 * formats come from the same rows, so they always agree. */
#include "export.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The dumps of the document itself: reals with 15 significant digits. */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

typedef struct {
        const char *name;
        uint64_t version;
        json_t *as_of; /* borrowed from the document, or NULL */
        json_t *rows;  /* array of flat row objects */
} export_t;

static bool is_meta_key(const char *key) {
        return strcmp(key, "dashboard") == 0 || strcmp(key, "version") == 0 ||
               strcmp(key, "generated_at") == 0 || strcmp(key, "as_of") == 0;
}

static bool is_fixed_column(const char *key) {
        return strcmp(key, "dashboard") == 0 || strcmp(key, "version") == 0 ||
               strcmp(key, "as_of") == 0 || strcmp(key, "table") == 0;
}

static bool is_scalar(const json_t *v) {
        return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* A non-empty array of nothing but objects: a table. */
static bool is_table(const json_t *v) {
        size_t i;
        json_t *e;
        if (!json_is_array(v) || json_array_size(v) == 0)
                return false;
        json_array_foreach(v, i, e) {
                if (!json_is_object(e))
                        return false;
        }
        return true;
}

/* "prefix.key" or "key"; malloc'ed, NULL on allocation failure. */
static char *join_name(const char *prefix, const char *key) {
        size_t size = (prefix ? strlen(prefix) + 1 : 0) + strlen(key) + 1;
        char *s = malloc(size);
        if (!s)
                return NULL;
        if (prefix)
                snprintf(s, size, "%s.%s", prefix, key);
        else
                snprintf(s, size, "%s", key);
        return s;
}

static tecg_err_t row_set(json_t *row, const char *name, json_t *val) {
        if (is_fixed_column(name))
                return TECG_OK;
        return json_object_set(row, name, val) == 0 ? TECG_OK : TECG_ERR_NOMEM;
}

/* Copies obj's members into row under dotted names; with skip_tables the
 * arrays of objects (child tables) are left out. */
static tecg_err_t flatten(json_t *row, const char *prefix, json_t *obj, bool skip_tables) {
        tecg_err_t err = TECG_OK;
        const char *key;
        json_t *val;
        json_object_foreach(obj, key, val) {
                char *name;
                if (skip_tables && is_table(val))
                        continue;
                if (!(name = join_name(prefix, key)))
                        return TECG_ERR_NOMEM;
                if (json_is_object(val))
                        err = flatten(row, name, val, false);
                else
                        err = row_set(row, name, val);
                free(name);
                if (err)
                        return err;
        }
        return err;
}

static tecg_err_t add_row(export_t *ex, const char *table, json_t *parent, json_t *elem) {
        tecg_err_t err = TECG_ERR_NOMEM;
        json_t *row = json_object();
        const char *key;
        json_t *val;

        if (!row || json_object_set_new(row, "dashboard", json_string(ex->name)) ||
            json_object_set_new(row, "version", json_integer((json_int_t)ex->version)) ||
            json_object_set_new(row, "as_of", ex->as_of ? json_incref(ex->as_of) : json_null()) ||
            json_object_set_new(row, "table", json_string(table)))
                goto done;
        if (parent) {
                json_object_foreach(parent, key, val) {
                        char *name;
                        if (!is_scalar(val))
                                continue;
                        if (!(name = join_name("parent", key)))
                                goto done;
                        err = row_set(row, name, val);
                        free(name);
                        if (err)
                                goto done;
                }
        }
        if ((err = flatten(row, NULL, elem, true)))
                goto done;
        err = json_array_append(ex->rows, row) == 0 ? TECG_OK : TECG_ERR_NOMEM;
done:
        json_decref(row);
        return err;
}

/* The child tables of one element or object: arrays of objects in it. */
static tecg_err_t add_children(export_t *ex, const char *table, json_t *parent) {
        tecg_err_t err = TECG_OK;
        const char *key;
        json_t *val;
        json_object_foreach(parent, key, val) {
                size_t i;
                json_t *e;
                char *child;
                if (!is_table(val))
                        continue;
                if (!(child = join_name(table, key)))
                        return TECG_ERR_NOMEM;
                json_array_foreach(val, i, e) {
                        if ((err = add_row(ex, child, parent, e)))
                                break;
                }
                free(child);
                if (err)
                        return err;
        }
        return err;
}

static bool has_non_table_member(json_t *obj) {
        const char *key;
        json_t *val;
        json_object_foreach(obj, key, val) {
                if (!is_table(val))
                        return true;
        }
        return false;
}

static tecg_err_t collect_rows(export_t *ex, json_t *root) {
        tecg_err_t err = TECG_OK;
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val) {
                size_t i;
                json_t *e;
                if (is_meta_key(key))
                        continue;
                if (is_table(val)) {
                        json_array_foreach(val, i, e) {
                                if ((err = add_row(ex, key, NULL, e)))
                                        return err;
                        }
                        json_array_foreach(val, i, e) {
                                if ((err = add_children(ex, key, e)))
                                        return err;
                        }
                } else if (json_is_object(val)) {
                        if (has_non_table_member(val) && (err = add_row(ex, key, NULL, val)))
                                return err;
                        if ((err = add_children(ex, key, val)))
                                return err;
                }
        }
        return err;
}

static tecg_err_t csv_field(tecg_buf_t *out, const char *s, size_t len) {
        tecg_err_t err;
        bool quote = false;
        for (size_t i = 0; i < len && !quote; i++)
                quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
        if (!quote)
                return tecg_buf_append(out, s, len);
        if ((err = tecg_buf_append(out, "\"", 1)))
                return err;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '"' && (err = tecg_buf_append(out, "\"", 1)))
                        return err;
                if ((err = tecg_buf_append(out, &s[i], 1)))
                        return err;
        }
        return tecg_buf_append(out, "\"", 1);
}

static tecg_err_t csv_value(tecg_buf_t *out, json_t *v) {
        tecg_err_t err;
        char *text;
        if (!v || json_is_null(v))
                return TECG_OK;
        if (json_is_string(v))
                return csv_field(out, json_string_value(v), json_string_length(v));
        text = json_dumps(v, JSON_FLAGS | JSON_ENCODE_ANY);
        if (!text)
                return TECG_ERR_NOMEM;
        err = csv_field(out, text, strlen(text));
        free(text);
        return err;
}

static tecg_err_t write_csv(export_t *ex, tecg_buf_t *out) {
        tecg_err_t err = TECG_ERR_NOMEM;
        json_t *seen = json_object(), *cols = json_array(), *row, *col;
        size_t i, j;
        const char *key;
        json_t *val;

        if (!seen || !cols)
                goto done;
        /* Every row starts with the fixed columns, so they come first. */
        static const char *const fixed[] = {"dashboard", "version", "as_of", "table"};
        for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                if (json_object_set_new(seen, fixed[i], json_true()) ||
                    json_array_append_new(cols, json_string(fixed[i])))
                        goto done;
        json_array_foreach(ex->rows, i, row) {
                json_object_foreach(row, key, val) {
                        if (json_object_get(seen, key))
                                continue;
                        if (json_object_set_new(seen, key, json_true()) ||
                            json_array_append_new(cols, json_string(key)))
                                goto done;
                }
        }
        json_array_foreach(cols, j, col) {
                if ((j && (err = tecg_buf_append(out, ",", 1))) ||
                    (err = csv_field(out, json_string_value(col), json_string_length(col))))
                        goto done;
        }
        if ((err = tecg_buf_append(out, "\r\n", 2)))
                goto done;
        json_array_foreach(ex->rows, i, row) {
                json_array_foreach(cols, j, col) {
                        if ((j && (err = tecg_buf_append(out, ",", 1))) ||
                            (err = csv_value(out, json_object_get(row, json_string_value(col)))))
                                goto done;
                }
                if ((err = tecg_buf_append(out, "\r\n", 2)))
                        goto done;
        }
        err = TECG_OK;
done:
        json_decref(seen);
        json_decref(cols);
        return err;
}

static tecg_err_t write_ndjson(export_t *ex, tecg_buf_t *out) {
        tecg_err_t err = TECG_OK;
        size_t i;
        json_t *row;
        json_array_foreach(ex->rows, i, row) {
                char *line = json_dumps(row, JSON_FLAGS);
                if (!line)
                        return TECG_ERR_NOMEM;
                err = tecg_buf_puts(out, line);
                free(line);
                if (err || (err = tecg_buf_append(out, "\n", 1)))
                        return err;
        }
        return err;
}

tecg_err_t tecg_export(const char *name, uint64_t version, const char *json, size_t len,
                       tecg_export_format_t format, tecg_buf_t *out, char *errstr,
                       size_t errstr_size) {
        tecg_err_t err;
        json_error_t jerr;
        json_t *root = json_loadb(json, len, 0, &jerr);
        export_t ex = {name, version, NULL, NULL};

        if (!root || !json_is_object(root)) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "%s: not a JSON object",
                                  name);
                goto done;
        }
        ex.as_of = json_object_get(root, "as_of");
        if (!(ex.rows = json_array())) {
                err = TECG_ERR_NOMEM;
                goto done;
        }
        if ((err = collect_rows(&ex, root)))
                goto done;
        err = format == TECG_EXPORT_CSV ? write_csv(&ex, out) : write_ndjson(&ex, out);
done:
        if (err == TECG_ERR_NOMEM)
                tecg_seterr(err, errstr, errstr_size, "%s: out of memory", name);
        json_decref(ex.rows);
        json_decref(root);
        return err;
}

tecg_err_t tecg_export_csv(const char *name, uint64_t version, const char *json, size_t len,
                           tecg_buf_t *out, char *errstr, size_t errstr_size) {
        return tecg_export(name, version, json, len, TECG_EXPORT_CSV, out, errstr, errstr_size);
}

tecg_err_t tecg_export_ndjson(const char *name, uint64_t version, const char *json, size_t len,
                              tecg_buf_t *out, char *errstr, size_t errstr_size) {
        return tecg_export(name, version, json, len, TECG_EXPORT_NDJSON, out, errstr, errstr_size);
}
