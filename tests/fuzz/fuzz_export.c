/* Fuzz target: the BI export (consumers/dashboard/export.h). One input =
 * a selector byte then a document: the low two bits of the byte pick the
 * dashboard name (funding, staffing, training, history); the rest is the
 * document's text, exported in both forms and both formats, the CSVs with
 * and without the byte order mark.
 *
 * The documents come from the dashboard's own composer, but the export
 * must hold its promises whatever the text: a BI tool and a spreadsheet
 * read the result. Invariants:
 *   - TECG_ERR_INVALID exactly when Jansson does not read the text as an
 *     object; nothing else fails; a refusal's reason is one clean line;
 *   - every CSV is RFC 4180 with CRLF line ends, every row as many fields
 *     as the header, and no field starts with = + - @ TAB or CR unless it
 *     is a number (the formula guard);
 *   - long form: the header is the dashboard's fixed columns, every value
 *     a number, every measure named; the NDJSON has one object per CSV
 *     row with as many members as the header, its value a number;
 *   - wide form: every NDJSON line is an object;
 *   - with the BOM the CSV is EF BB BF and the same bytes; NDJSON never
 *     has one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "export.h"
#include "fuzz.h"

static const char *const names[] = {"funding", "staffing", "training", "history"};
static const char *const long_headers[] = {
        "dashboard,version,as_of,nation,channel,category,stage,measure,value,currency",
        "dashboard,version,as_of,nation,role,location,measure,value",
        "dashboard,version,as_of,nation,year,location,level,measure,value",
        "dashboard,version,as_of,nation,month,measure,value,currency",
};

/* A whole field that strtod() reads as a number, spelled with digits,
 * signs, a point and an exponent only (not "inf", not "0x1"). Any length:
 * the document's decimal strings are copied as they are. */
static bool is_number(const char *s, size_t len) {
        char *buf, *end;
        bool ok;
        if (!len || strspn(s, "0123456789+-.eE") < len)
                return false;
        buf = malloc(len + 1);
        FZ_CHECK(buf, "out of memory");
        memcpy(buf, s, len);
        buf[len] = '\0';
        (void)strtod(buf, &end);
        ok = end == buf + len;
        free(buf);
        return ok;
}

typedef struct {
        size_t rows, header_fields;
        int value_col; /* long form: the column of value, else -1 */
        int measure_col;
} csv_shape_t;

/* Parses the CSV, checking its invariants; returns the number of rows
 * after the header. */
static size_t check_csv(const char *what, const char *s, size_t n, csv_shape_t *shape) {
        tecg_buf_t field = TECG_BUF_INIT;
        size_t i = 0, col = 0, rows = 0;

        FZ_CHECK(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n', "%s: not ending in CRLF", what);
        while (i < n) {
                bool quoted = s[i] == '"';
                tecg_buf_reset(&field);
                if (quoted) {
                        for (i++;; i++) {
                                FZ_CHECK(i < n, "%s: unterminated quote", what);
                                if (s[i] == '"') {
                                        if (i + 1 < n && s[i + 1] == '"') {
                                                tecg_buf_append(&field, "\"", 1);
                                                i++;
                                                continue;
                                        }
                                        i++;
                                        break;
                                }
                                tecg_buf_append(&field, &s[i], 1);
                        }
                } else {
                        for (; i < n && s[i] != ',' && s[i] != '\r' && s[i] != '\n'; i++) {
                                FZ_CHECK(s[i] != '"', "%s: a quote in a bare field", what);
                                tecg_buf_append(&field, &s[i], 1);
                        }
                }
                tecg_buf_terminate(&field); /* for is_number()'s strspn() */
                const char *f = (const char *)field.data;
                if (field.len && (f[0] == '=' || f[0] == '+' || f[0] == '-' || f[0] == '@' ||
                                  f[0] == '\t' || f[0] == '\r'))
                        FZ_CHECK(is_number(f, field.len), "%s: row %zu field %zu '%.*s' unguarded",
                                 what, rows, col, (int)field.len, f);
                if (rows && (int)col == shape->value_col)
                        FZ_CHECK(is_number(f, field.len), "%s: row %zu value '%.*s'", what, rows,
                                 (int)field.len, f);
                if (rows && (int)col == shape->measure_col)
                        FZ_CHECK(field.len > 0, "%s: row %zu without a measure", what, rows);
                col++;
                FZ_CHECK(i < n, "%s: no line end after the last field", what);
                if (s[i] == ',') {
                        i++;
                        continue;
                }
                FZ_CHECK(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n',
                         "%s: a bare CR or LF ends row %zu", what, rows);
                i += 2;
                if (rows == 0)
                        shape->header_fields = col;
                else
                        FZ_CHECK(col == shape->header_fields, "%s: row %zu has %zu fields, not %zu",
                                 what, rows, col, shape->header_fields);
                rows++;
                col = 0;
        }
        tecg_buf_free(&field);
        return rows - 1;
}

/* The export as a NUL-terminated buffer, or NULL with *err set. */
static char *run(const char *name, const uint8_t *doc, size_t len, tecg_export_shape_t shape,
                 tecg_export_format_t format, bool bom, tecg_err_t *err, size_t *out_len) {
        char errstr[256] = "";
        tecg_buf_t out = TECG_BUF_INIT;
        tecg_export_opts_t opts = {shape, format, bom};
        *err = tecg_export(name, 5, (const char *)doc, len, &opts, &out, errstr, sizeof(errstr));
        if (*err) {
                fz_check_reason("export", errstr, sizeof(errstr));
                tecg_buf_free(&out);
                return NULL;
        }
        tecg_buf_terminate(&out);
        *out_len = out.len;
        return out.data ? (char *)out.data : fz_strdup("");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        int which = data[0] & 3;
        const char *name = names[which];
        const uint8_t *doc = data + 1;
        size_t len = size - 1;
        json_error_t jerr;
        json_t *root = json_loadb((const char *)doc, len, 0, &jerr);
        bool object = root && json_is_object(root);
        json_decref(root);

        for (int s = TECG_EXPORT_LONG; s <= TECG_EXPORT_WIDE; s++) {
                tecg_export_shape_t shape = (tecg_export_shape_t)s;
                bool is_long = shape == TECG_EXPORT_LONG;
                tecg_err_t err, err2;
                size_t csv_len = 0, bom_len = 0, nd_len = 0, nd_bom_len = 0;
                char *csv = run(name, doc, len, shape, TECG_EXPORT_CSV, false, &err, &csv_len);
                char *bom = run(name, doc, len, shape, TECG_EXPORT_CSV, true, &err2, &bom_len);
                char *nd = NULL, *nd_bom = NULL;

                FZ_CHECK(err == err2, "the BOM changed the outcome: %d, %d", (int)err, (int)err2);
                if (!object) {
                        FZ_CHECK(err == TECG_ERR_INVALID, "not an object: %d", (int)err);
                        continue;
                }
                FZ_CHECK(err == TECG_OK, "%s: %d", name, (int)err);
                FZ_CHECK(bom_len == csv_len + 3 && memcmp(bom, "\xEF\xBB\xBF", 3) == 0 &&
                                 memcmp(bom + 3, csv, csv_len) == 0,
                         "the BOM CSV is not EF BB BF and the CSV");

                csv_shape_t sh = {0, 0, -1, -1};
                if (is_long) {
                        size_t hl = strlen(long_headers[which]);
                        FZ_CHECK(csv_len >= hl + 2 && memcmp(csv, long_headers[which], hl) == 0 &&
                                         csv[hl] == '\r',
                                 "long %s: header", name);
                        static const int value_cols[] = {8, 7, 8, 6};
                        sh.value_col = value_cols[which];
                        sh.measure_col = sh.value_col - 1;
                }
                size_t rows = check_csv(is_long ? "long CSV" : "wide CSV", csv, csv_len, &sh);

                nd = run(name, doc, len, shape, TECG_EXPORT_NDJSON, false, &err, &nd_len);
                nd_bom = run(name, doc, len, shape, TECG_EXPORT_NDJSON, true, &err2, &nd_bom_len);
                FZ_CHECK(err == TECG_OK && err2 == TECG_OK, "NDJSON: %d, %d", (int)err, (int)err2);
                FZ_CHECK(nd_len == nd_bom_len && memcmp(nd, nd_bom, nd_len) == 0,
                         "NDJSON changed with the BOM option");
                size_t lines = 0;
                for (char *line = nd, *nl; *line; line = nl + 1, lines++) {
                        nl = strchr(line, '\n');
                        FZ_CHECK(nl, "NDJSON: a line without its LF");
                        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &jerr);
                        FZ_CHECK(o && json_is_object(o), "NDJSON line %zu: %s", lines, jerr.text);
                        if (is_long) {
                                FZ_CHECK(json_object_size(o) == sh.header_fields,
                                         "NDJSON line %zu: %zu members, not %zu", lines,
                                         json_object_size(o), sh.header_fields);
                                FZ_CHECK(json_is_number(json_object_get(o, "value")),
                                         "NDJSON line %zu: value not a number", lines);
                        }
                        json_decref(o);
                }
                if (is_long)
                        FZ_CHECK(lines == rows, "%zu NDJSON lines, %zu CSV rows", lines, rows);
                free(nd);
                free(nd_bom);
                free(csv);
                free(bom);
        }
        return 0;
}
