/* The BI export (see export.h): the document is parsed once, its rows
 * collected (wide: flat JSON objects; long: one measure each), then written
 * as CSV or NDJSON. Both formats of a form come from the same rows, so they
 * always agree. */
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

/* A plain decimal number as JSON spells it: -?(0|[1-9]DIGITS*)(.DIGITS)?,
 * what the documents' money strings are. Such text is a number to a
 * spreadsheet, not a formula, and can stand in NDJSON as a number as it
 * is ("0500" could not). */
static bool is_decimal(const char *s, size_t len) {
        size_t i = 0, digits = 0;
        if (i < len && s[i] == '-')
                i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
                digits++;
        if (!digits || (digits > 1 && s[i - digits] == '0'))
                return false;
        if (i < len && s[i] == '.') {
                digits = 0;
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
                        digits++;
                if (!digits)
                        return false;
        }
        return i == len;
}

/* A field, quoted when RFC 4180 needs it, with `prefix` (NULL or one
 * character) inside the quotes before it. */
static tecg_err_t csv_put(tecg_buf_t *out, const char *prefix, const char *s, size_t len) {
        tecg_err_t err;
        bool quote = false;
        for (size_t i = 0; i < len && !quote; i++)
                quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
        if ((quote && (err = tecg_buf_append(out, "\"", 1))) ||
            (prefix && (err = tecg_buf_append(out, prefix, 1))))
                return err;
        if (!quote)
                return tecg_buf_append(out, s, len);
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '"' && (err = tecg_buf_append(out, "\"", 1)))
                        return err;
                if ((err = tecg_buf_append(out, &s[i], 1)))
                        return err;
        }
        return tecg_buf_append(out, "\"", 1);
}

static tecg_err_t csv_field(tecg_buf_t *out, const char *s, size_t len) {
        return csv_put(out, NULL, s, len);
}

static bool starts_formula(char c) {
        return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* A text field behind the formula guard: Excel and LibreOffice evaluate a
 * cell starting with = + - @ (and, after a TAB or CR they strip, what
 * follows), so a nation's name or a map key from a document could run a
 * formula on the analyst's machine. A leading single quote makes it text;
 * decimal numbers ("-500.00") are left alone, they are data. */
static tecg_err_t csv_text(tecg_buf_t *out, const char *s, size_t len) {
        bool guard = len && starts_formula(s[0]) && !is_decimal(s, len);
        return csv_put(out, guard ? "'" : NULL, s, len);
}

/* A wide-form value: strings are text; numbers, booleans and arrays are
 * written as JSON text (an array starts with '[', never a formula). */
static tecg_err_t csv_value(tecg_buf_t *out, json_t *v) {
        tecg_err_t err;
        char *text;
        if (!v || json_is_null(v))
                return TECG_OK;
        if (json_is_string(v))
                return csv_text(out, json_string_value(v), json_string_length(v));
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
                    (err = csv_text(out, json_string_value(col), json_string_length(col))))
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

/* ------------------------------------------------------------------ */
/* Long form                                                           */

#define LONG_DIMS_MAX 3

/* Where a row belongs: the nation (NULL for the totals) and the dashboard's
 * dimension columns (NULL: empty). Passed by value so each level of the
 * document sets its own dimension without undoing it afterwards. */
typedef struct {
        const char *nation;
        const char *dim[LONG_DIMS_MAX];
        bool dim_number[LONG_DIMS_MAX]; /* from a JSON integer (a year) */
} scope_t;

typedef struct {
        scope_t at;
        const char *measure;
        const char *value; /* a number's text */
        const char *currency;
} long_row_t;

typedef struct {
        json_t *texts; /* owns the texts made here (numbers, years) */
        long_row_t *rows;
        size_t n, cap;
} long_t;

/* Static names, or strings borrowed from the document or from texts: all
 * live until the export is written. */
static const char *const IN_IRAQ = "IN_IRAQ";
static const char *const OUTSIDE_IRAQ = "OUTSIDE_IRAQ";

/* A text that lives as long as lx, NULL on allocation failure. */
static const char *long_keep(long_t *lx, const char *text) {
        json_t *s = json_string(text);
        if (!s || json_array_append_new(lx->texts, s))
                return NULL;
        return json_string_value(s);
}

/* The text of a value as a number: decimal strings as they are, integers,
 * reals (15 significant digits), booleans as 1 or 0. *text is NULL when v
 * is missing, null or not a number: no row then. */
static tecg_err_t long_number(long_t *lx, json_t *v, const char **text) {
        char buf[32], *dumped;
        *text = NULL;
        if (json_is_string(v)) {
                if (is_decimal(json_string_value(v), json_string_length(v)))
                        *text = json_string_value(v);
                return TECG_OK;
        }
        if (json_is_boolean(v)) {
                *text = json_is_true(v) ? "1" : "0";
                return TECG_OK;
        }
        if (json_is_integer(v)) {
                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return (*text = long_keep(lx, buf)) ? TECG_OK : TECG_ERR_NOMEM;
        }
        if (!json_is_real(v))
                return TECG_OK;
        if (!(dumped = json_dumps(v, JSON_FLAGS | JSON_ENCODE_ANY)))
                return TECG_ERR_NOMEM;
        *text = long_keep(lx, dumped);
        free(dumped);
        return *text ? TECG_OK : TECG_ERR_NOMEM;
}

/* Dimension d of `at` from v: a string, or an integer such as a year
 * (a number again in NDJSON); empty for anything else. */
static tecg_err_t long_dim(long_t *lx, json_t *v, scope_t *at, size_t d) {
        char buf[32];
        at->dim[d] = NULL;
        at->dim_number[d] = false;
        if (json_is_string(v)) {
                at->dim[d] = json_string_value(v);
                return TECG_OK;
        }
        if (!json_is_integer(v))
                return TECG_OK;
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        at->dim_number[d] = true;
        return (at->dim[d] = long_keep(lx, buf)) ? TECG_OK : TECG_ERR_NOMEM;
}

/* One row of `measure` at `at`, from v; nothing when v is not a number. */
static tecg_err_t long_emit(long_t *lx, const scope_t *at, const char *measure, json_t *v,
                            const char *currency) {
        tecg_err_t err;
        const char *value;
        if ((err = long_number(lx, v, &value)) || !value)
                return err;
        if (lx->n == lx->cap) {
                size_t cap = lx->cap ? 2 * lx->cap : 256;
                long_row_t *rows = realloc(lx->rows, cap * sizeof(*rows));
                if (!rows)
                        return TECG_ERR_NOMEM;
                lx->rows = rows;
                lx->cap = cap;
        }
        lx->rows[lx->n++] = (long_row_t){*at, measure, value, currency};
        return TECG_OK;
}

/* A money block: a row of `measure` per currency of by_currency, then
 * `converted` (in the reporting currency) as measure_converted. */
static tecg_err_t long_money(long_t *lx, const scope_t *at, const char *measure,
                             const char *measure_converted, json_t *money, const char *reporting) {
        tecg_err_t err;
        const char *cur;
        json_t *v, *by = json_object_get(money, "by_currency");
        json_object_foreach(by, cur, v) {
                if ((err = long_emit(lx, at, measure, v, cur)))
                        return err;
        }
        return long_emit(lx, at, measure_converted, json_object_get(money, "converted"), reporting);
}

/* Funding, dimensions channel, category, stage: the total or one nation. */
static tecg_err_t funding_entity(long_t *lx, scope_t at, json_t *e, const char *reporting) {
        tecg_err_t err;
        const char *ch, *cat, *stage;
        json_t *chv, *catv, *stv;
        json_t *equipment = json_object_get(e, "equipment");

        if ((err = long_emit(lx, &at, "reported",
                             json_object_get(e, at.nation ? "reported" : "nations_reported"),
                             NULL)) ||
            (err = long_money(lx, &at, "pledged", "pledged_converted",
                              json_object_get(e, "pledged"), reporting)) ||
            (err = long_money(lx, &at, "disbursed", "disbursed_converted",
                              json_object_get(e, "disbursed"), reporting)))
                return err;
        json_object_foreach(json_object_get(e, "channels"), ch, chv) {
                scope_t c = at;
                c.dim[0] = ch;
                if ((err = long_money(lx, &c, "pledged_by_channel", "pledged_by_channel_converted",
                                      json_object_get(chv, "pledged"), reporting)) ||
                    (err = long_money(lx, &c, "disbursed_by_channel",
                                      "disbursed_by_channel_converted",
                                      json_object_get(chv, "disbursed"), reporting)))
                        return err;
        }
        json_object_foreach(json_object_get(equipment, "stages"), stage, stv) {
                scope_t s = at;
                s.dim[2] = stage;
                if ((err = long_emit(lx, &s, "equipment_quantity", json_object_get(stv, "quantity"),
                                     NULL)) ||
                    (err = long_money(lx, &s, "equipment_value", "equipment_value_converted",
                                      json_object_get(stv, "value"), reporting)))
                        return err;
        }
        json_object_foreach(json_object_get(equipment, "categories"), cat, catv) {
                json_object_foreach(catv, stage, stv) {
                        scope_t s = at;
                        s.dim[1] = cat;
                        s.dim[2] = stage;
                        if ((err = long_emit(lx, &s, "equipment_quantity_by_category",
                                             json_object_get(stv, "quantity"), NULL)) ||
                            (err = long_money(lx, &s, "equipment_value_by_category",
                                              "equipment_value_by_category_converted",
                                              json_object_get(stv, "value"), reporting)))
                                return err;
                }
        }
        return TECG_OK;
}

/* A nations row's scope, or false when it names no nation (such a row
 * would read as a total: left out). */
static bool nation_scope(json_t *e, scope_t *at) {
        json_t *n = json_object_get(e, "nation");
        memset(at, 0, sizeof(*at));
        if (!json_is_string(n))
                return false;
        at->nation = json_string_value(n);
        return true;
}

static tecg_err_t funding_rows(long_t *lx, json_t *root) {
        tecg_err_t err;
        const char *cur,
                *reporting = json_string_value(json_object_get(root, "reporting_currency"));
        json_t *v, *e;
        size_t i;
        scope_t at = {0};

        json_object_foreach(json_object_get(root, "rates"), cur, v) {
                if ((err = long_emit(lx, &at, "exchange_rate", v, cur)))
                        return err;
        }
        if (json_is_object((e = json_object_get(root, "total"))) &&
            (err = funding_entity(lx, at, e, reporting)))
                return err;
        json_array_foreach(json_object_get(root, "nations"), i, e) {
                if (nation_scope(e, &at) && (err = funding_entity(lx, at, e, reporting)))
                        return err;
        }
        return TECG_OK;
}

/* Staffing, dimensions role, location: the total or one nation. */
static tecg_err_t staffing_entity(long_t *lx, scope_t at, json_t *e) {
        tecg_err_t err;
        const char *role, *loc;
        json_t *rv, *v;
        scope_t in = at, out = at;
        in.dim[1] = IN_IRAQ;
        out.dim[1] = OUTSIDE_IRAQ;

        if ((err = long_emit(lx, &at, "reported",
                             json_object_get(e, at.nation ? "reported" : "nations_reported"),
                             NULL)) ||
            (err = long_emit(lx, &in, "headcount", json_object_get(e, "in_iraq"), NULL)) ||
            (err = long_emit(lx, &out, "headcount", json_object_get(e, "outside_iraq"), NULL)) ||
            (err = long_emit(lx, &at, "headcount_total", json_object_get(e, "total"), NULL)))
                return err;
        json_object_foreach(json_object_get(e, "roles"), role, rv) {
                json_object_foreach(rv, loc, v) {
                        scope_t r = at;
                        r.dim[0] = role;
                        r.dim[1] = loc;
                        if ((err = long_emit(lx, &r, "headcount_by_role", v, NULL)))
                                return err;
                }
        }
        /* The total's only; a nation's row has none of these. */
        if ((err = long_emit(lx, &at, "authorized_strength",
                             json_object_get(e, "authorized_strength"), NULL)) ||
            (err = long_emit(lx, &at, "fill_rate", json_object_get(e, "fill_rate"), NULL)))
                return err;
        return long_emit(lx, &at, "shortfall", json_object_get(e, "shortfall"), NULL);
}

static tecg_err_t staffing_rows(long_t *lx, json_t *root) {
        tecg_err_t err;
        json_t *e;
        size_t i;
        scope_t at = {0};

        if (json_is_object((e = json_object_get(root, "total"))) &&
            (err = staffing_entity(lx, at, e)))
                return err;
        json_array_foreach(json_object_get(root, "nations"), i, e) {
                if (nation_scope(e, &at) && (err = staffing_entity(lx, at, e)))
                        return err;
        }
        return TECG_OK;
}

/* Training, dimensions year, location, level: one element of years (the
 * totals of a year) or of nations (a nation's year). */
static tecg_err_t training_entity(long_t *lx, scope_t at, json_t *e) {
        static const char *const keys[] = {"in_iraq", "outside_iraq"};
        tecg_err_t err;
        const char *level;
        json_t *v;

        if ((err = long_dim(lx, json_object_get(e, "year"), &at, 0)) ||
            (err = long_emit(lx, &at, "trainees", json_object_get(e, "trainees"), NULL)) ||
            (err = long_emit(lx, &at, "nations_providing", json_object_get(e, "nations_providing"),
                             NULL)))
                return err;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                json_t *loc = json_object_get(e, keys[k]);
                scope_t l = at;
                l.dim[1] = k == 0 ? IN_IRAQ : OUTSIDE_IRAQ;
                if ((err = long_emit(lx, &l, "trainees_by_location",
                                     json_object_get(loc, "trainees"), NULL)) ||
                    (err = long_emit(lx, &l, "target", json_object_get(loc, "target"), NULL)) ||
                    (err = long_emit(lx, &l, "progress", json_object_get(loc, "progress"), NULL)))
                        return err;
                json_object_foreach(json_object_get(loc, "levels"), level, v) {
                        scope_t lv = l;
                        lv.dim[2] = level;
                        if ((err = long_emit(lx, &lv, "trainees_by_level", v, NULL)))
                                return err;
                }
        }
        return TECG_OK;
}

static tecg_err_t training_rows(long_t *lx, json_t *root) {
        tecg_err_t err;
        json_t *e, *targets = json_object_get(root, "targets");
        size_t i;
        scope_t at = {0}, in = {0}, out = {0};
        in.dim[1] = IN_IRAQ;
        out.dim[1] = OUTSIDE_IRAQ;

        /* The yearly targets, also on every year's rows: without a year
         * they are there before the first trainee is reported. */
        if ((err = long_emit(lx, &in, "target", json_object_get(targets, "in_iraq"), NULL)) ||
            (err = long_emit(lx, &out, "target", json_object_get(targets, "outside_iraq"), NULL)))
                return err;
        json_array_foreach(json_object_get(root, "years"), i, e) {
                if (json_is_object(e) && (err = training_entity(lx, at, e)))
                        return err;
        }
        json_array_foreach(json_object_get(root, "nations"), i, e) {
                scope_t n;
                if (nation_scope(e, &n) && (err = training_entity(lx, n, e)))
                        return err;
        }
        return TECG_OK;
}

/* History, dimension month: the mission's references without a month,
 * then every measure of every month; money in the document's currency. */
static tecg_err_t history_rows(long_t *lx, json_t *root) {
        static const char *const counts[] = {
                "strength_in_iraq",          "trainees_in_iraq",
                "trainees_outside_iraq",     "trainees_in_iraq_ytd",
                "trainees_outside_iraq_ytd", "pro_rata_in_iraq",
                "pro_rata_outside_iraq",     "dead_letters",
        };
        static const char *const money[] = {"pledged_cumulative", "disbursed_cumulative"};
        const char *currency = json_string_value(json_object_get(root, "currency"));
        json_t *e, *targets = json_object_get(root, "targets");
        tecg_err_t err;
        size_t i;
        scope_t at = {0};

        if ((err = long_emit(lx, &at, "authorized_strength",
                             json_object_get(root, "authorized_strength"), NULL)) ||
            (err = long_emit(lx, &at, "target_in_iraq", json_object_get(targets, "in_iraq"),
                             NULL)) ||
            (err = long_emit(lx, &at, "target_outside_iraq",
                             json_object_get(targets, "outside_iraq"), NULL)))
                return err;
        json_array_foreach(json_object_get(root, "months"), i, e) {
                scope_t m = {0};
                if (!json_is_object(e))
                        continue;
                if ((err = long_dim(lx, json_object_get(e, "month"), &m, 0)))
                        return err;
                for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
                        if ((err = long_emit(lx, &m, counts[k], json_object_get(e, counts[k]),
                                             NULL)))
                                return err;
                for (size_t k = 0; k < sizeof(money) / sizeof(money[0]); k++)
                        if ((err = long_emit(lx, &m, money[k], json_object_get(e, money[k]),
                                             currency)))
                                return err;
        }
        return TECG_OK;
}

/* The long form of each dashboard: its dimension columns (between nation
 * and measure), whether it has a currency column, its rows. A new document
 * gets a line here and a table in docs/design.md §5.7. */
typedef struct {
        const char *name;
        const char *dims[LONG_DIMS_MAX]; /* NULL-padded */
        bool currency;
        tecg_err_t (*rows)(long_t *lx, json_t *root);
} long_form_t;

static const long_form_t long_forms[] = {
        {"funding", {"channel", "category", "stage"}, true, funding_rows},
        {"staffing", {"role", "location", NULL}, false, staffing_rows},
        {"training", {"year", "location", "level"}, false, training_rows},
        {"history", {"month", NULL, NULL}, true, history_rows},
};

static const long_form_t *long_form_of(const char *name) {
        for (size_t i = 0; i < sizeof(long_forms) / sizeof(long_forms[0]); i++)
                if (strcmp(long_forms[i].name, name) == 0)
                        return &long_forms[i];
        return NULL;
}

bool tecg_export_has_long_form(const char *name) {
        return long_form_of(name) != NULL;
}

/* A CSV text field, empty for NULL. */
static tecg_err_t csv_opt(tecg_buf_t *out, const char *s) {
        return s ? csv_text(out, s, strlen(s)) : TECG_OK;
}

/* The columns of a row (or, with row NULL, the header), CSV. */
static tecg_err_t long_csv_line(tecg_buf_t *out, const long_form_t *form, const char *name,
                                const char *version, const char *as_of, const long_row_t *row) {
        tecg_err_t err;
        const char *fixed[] = {"dashboard", "version", "as_of", "nation"};
        if (!row) {
                for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                        if ((i && (err = tecg_buf_append(out, ",", 1))) ||
                            (err = csv_opt(out, fixed[i])))
                                return err;
        } else if ((err = csv_opt(out, name)) || (err = tecg_buf_append(out, ",", 1)) ||
                   (err = tecg_buf_puts(out, version)) || (err = tecg_buf_append(out, ",", 1)) ||
                   (err = csv_opt(out, as_of)) || (err = tecg_buf_append(out, ",", 1)) ||
                   (err = csv_opt(out, row->at.nation)))
                return err;
        for (size_t d = 0; d < LONG_DIMS_MAX && form->dims[d]; d++)
                if ((err = tecg_buf_append(out, ",", 1)) ||
                    (err = csv_opt(out, row ? row->at.dim[d] : form->dims[d])))
                        return err;
        if ((err = tecg_buf_append(out, ",", 1)) ||
            (err = csv_opt(out, row ? row->measure : "measure")) ||
            (err = tecg_buf_append(out, ",", 1)) ||
            /* a number: never behind the formula guard */
            (err = tecg_buf_puts(out, row ? row->value : "value")))
                return err;
        if (form->currency && ((err = tecg_buf_append(out, ",", 1)) ||
                               (err = csv_opt(out, row ? row->currency : "currency"))))
                return err;
        return tecg_buf_append(out, "\r\n", 2);
}

/* A JSON string, or null for NULL. */
static tecg_err_t ndjson_string(tecg_buf_t *out, const char *s) {
        tecg_err_t err;
        char *text;
        json_t *j;
        if (!s)
                return tecg_buf_puts(out, "null");
        /* Every string here is the document's (valid UTF-8, Jansson read
         * it) or the caller's dashboard name. */
        if (!(j = json_string(s)))
                return TECG_ERR_INVALID;
        text = json_dumps(j, JSON_ENCODE_ANY);
        json_decref(j);
        if (!text)
                return TECG_ERR_NOMEM;
        err = tecg_buf_puts(out, text);
        free(text);
        return err;
}

/* ,"KEY": and the string, or the number's text as it is (the keys are
 * this file's column names). */
static tecg_err_t ndjson_member(tecg_buf_t *out, const char *key, const char *s, bool number) {
        tecg_err_t err;
        if ((err = tecg_buf_puts(out, ",\"")) || (err = tecg_buf_puts(out, key)) ||
            (err = tecg_buf_puts(out, "\":")))
                return err;
        return number && s ? tecg_buf_puts(out, s) : ndjson_string(out, s);
}

static tecg_err_t long_ndjson_line(tecg_buf_t *out, const long_form_t *form, const char *name,
                                   const char *version, const char *as_of, const long_row_t *row) {
        tecg_err_t err;
        if ((err = tecg_buf_puts(out, "{\"dashboard\":")) || (err = ndjson_string(out, name)) ||
            (err = tecg_buf_puts(out, ",\"version\":")) || (err = tecg_buf_puts(out, version)) ||
            (err = ndjson_member(out, "as_of", as_of, false)) ||
            (err = ndjson_member(out, "nation", row->at.nation, false)))
                return err;
        for (size_t d = 0; d < LONG_DIMS_MAX && form->dims[d]; d++)
                if ((err = ndjson_member(out, form->dims[d], row->at.dim[d],
                                         row->at.dim_number[d])))
                        return err;
        if ((err = ndjson_member(out, "measure", row->measure, false)) ||
            (err = tecg_buf_puts(out, ",\"value\":")) || (err = tecg_buf_puts(out, row->value)))
                return err;
        if (form->currency && (err = ndjson_member(out, "currency", row->currency, false)))
                return err;
        return tecg_buf_puts(out, "}\n");
}

static tecg_err_t write_long(const long_form_t *form, const char *name, uint64_t version,
                             json_t *root, tecg_export_format_t format, tecg_buf_t *out) {
        tecg_err_t err = TECG_ERR_NOMEM;
        long_t lx = {json_array(), NULL, 0, 0};
        const char *as_of = json_string_value(json_object_get(root, "as_of"));
        char vtext[24];

        snprintf(vtext, sizeof(vtext), "%llu", (unsigned long long)version);
        if (!lx.texts || (err = form->rows(&lx, root)))
                goto done;
        if (format == TECG_EXPORT_CSV && (err = long_csv_line(out, form, NULL, NULL, NULL, NULL)))
                goto done;
        for (size_t i = 0; i < lx.n; i++) {
                err = format == TECG_EXPORT_CSV
                              ? long_csv_line(out, form, name, vtext, as_of, &lx.rows[i])
                              : long_ndjson_line(out, form, name, vtext, as_of, &lx.rows[i]);
                if (err)
                        goto done;
        }
        err = TECG_OK;
done:
        free(lx.rows);
        json_decref(lx.texts);
        return err;
}

/* ------------------------------------------------------------------ */
/* Both forms                                                          */

tecg_err_t tecg_export(const char *name, uint64_t version, const char *json, size_t len,
                       const tecg_export_opts_t *opts, tecg_buf_t *out, char *errstr,
                       size_t errstr_size) {
        tecg_err_t err;
        json_error_t jerr;
        json_t *root = json_loadb(json, len, 0, &jerr);
        export_t ex = {name, version, NULL, NULL};
        const long_form_t *form = NULL;

        if (!root || !json_is_object(root)) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "%s: not a JSON object",
                                  name);
                goto done;
        }
        if (opts->shape == TECG_EXPORT_LONG && !(form = long_form_of(name))) {
                err = tecg_seterr(TECG_ERR_NOT_FOUND, errstr, errstr_size,
                                  "%s: no long form (its wide form exports it)", name);
                goto done;
        }
        /* The byte order mark tells Excel the file is UTF-8 (it assumes
         * the local code page otherwise); other readers skip it. */
        if (opts->bom && opts->format == TECG_EXPORT_CSV &&
            (err = tecg_buf_append(out, "\xEF\xBB\xBF", 3)))
                goto done;
        if (form) {
                err = write_long(form, name, version, root, opts->format, out);
                if (err == TECG_ERR_INVALID)
                        tecg_seterr(err, errstr, errstr_size, "%s: the name is not UTF-8", name);
                goto done;
        }
        ex.as_of = json_object_get(root, "as_of");
        if (!(ex.rows = json_array())) {
                err = TECG_ERR_NOMEM;
                goto done;
        }
        if ((err = collect_rows(&ex, root)))
                goto done;
        err = opts->format == TECG_EXPORT_CSV ? write_csv(&ex, out) : write_ndjson(&ex, out);
done:
        if (err == TECG_ERR_NOMEM)
                tecg_seterr(err, errstr, errstr_size, "%s: out of memory", name);
        json_decref(ex.rows);
        json_decref(root);
        return err;
}
