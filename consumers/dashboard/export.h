/* The BI export of the dashboards (docs/design.md §5.5, §5.7): one document
 * turned into CSV or NDJSON rows, what GET /api/export/NAME.{csv,ndjson}
 * and NAME.wide.{csv,ndjson} serve (http_server.c does the HTTP side:
 * routing, the ?bom=1 parameter, ETag, headers).
 *
 * Pure functions of (name, version, json, len, options): no docstore, no
 * sockets, no clock, so the bytes served can be checked by unit tests and
 * fuzzers.
 *
 * Long form (TECG_EXPORT_LONG, the default export): tidy rows, one measure
 * per row, that load into pandas, DuckDB or Excel without reshaping. The
 * columns are fixed per dashboard: dashboard, version, as_of, nation (empty
 * for the totals), the dimension columns of that dashboard, measure, value
 * and, for funding and history, currency. The rows, measure names and
 * dimensions of funding, staffing and training are the table of
 * docs/design.md §5.7; history's (dimension month) are in §5.9.
 * Every value is a number: money is the document's decimal string as it
 * is, counts are integers, ratios reals with 15 significant digits,
 * `reported` is 1 or 0; a member that is null, missing or not a number
 * (a string counts when spelled as a JSON number: "-5.50", not "0500")
 * gives no row. A dashboard without a long form (none but those four
 * yet) is TECG_ERR_NOT_FOUND: its wide form still exports.
 *
 * Wide form (TECG_EXPORT_WIDE, the export before the long form, kept for
 * BI reports built on its columns and for any document): for each
 * top-level member of the document, in document order, except
 * dashboard/version/generated_at/as_of:
 *  - an array whose elements are all objects: one row per element
 *    (table = the key, e.g. "nations");
 *  - an object: one row for it (table = the key, e.g. "total"), unless it
 *    holds nothing but arrays of objects;
 *  - scalars and arrays of scalars: not rows.
 * One level down, an array of objects inside such an element or object is
 * a table of its own (table = "parent.key", e.g. "years.by_nation"): its
 * rows follow the parent's rows, carry the parent's scalar members as
 * "parent.NAME" columns (e.g. parent.year) and are left out of the
 * parent's row. Deeper arrays stay values.
 * Every row starts with dashboard (the name given), version (the version
 * given, i.e. the stored one), as_of (the document's) and table; nested
 * objects are flattened with dotted names ("pledged.by_currency.EUR");
 * arrays left as values are compact JSON text. These four names win over
 * members of the same name. The CSV header is the union of the rows'
 * columns in first-seen order.
 *
 * CSV (both forms): RFC 4180, CRLF line ends, fields quoted when they hold
 * a comma, quote, CR or LF (quotes doubled), null and missing fields empty,
 * reals with 15 significant digits. Formula guard: a text field starting
 * with = + - @ TAB or CR gets a single quote in front, so a spreadsheet
 * shows it instead of evaluating it; numbers (JSON numbers, and strings
 * that are a plain decimal number such as "-500.00") are never touched.
 * With bom, the text starts with the UTF-8 byte order mark (EF BB BF), which
 * Excel needs to read UTF-8.
 * NDJSON (both forms): one compact object per row with the CSV's column
 * names; long form: every column on every line, empty ones null, value a
 * JSON number (the same digits as the CSV); wide form: the JSON values,
 * missing members absent. No formula guard, no BOM.
 * A document without rows gives the CSV header line alone, and no NDJSON
 * line at all. */
#ifndef TECG_EXPORT_H
#define TECG_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

typedef enum {
        TECG_EXPORT_CSV,
        TECG_EXPORT_NDJSON,
} tecg_export_format_t;

typedef enum {
        TECG_EXPORT_LONG, /* one measure per row */
        TECG_EXPORT_WIDE, /* one row per element, nested members as columns */
} tecg_export_shape_t;

typedef struct {
        tecg_export_shape_t shape;
        tecg_export_format_t format;
        bool bom; /* CSV only: the UTF-8 byte order mark first (Excel) */
} tecg_export_opts_t;

/* Appends the export of the document `json` (len bytes, need not be
 * NUL-terminated) to `out`, with `name` and `version` in every row; the
 * long form is chosen by `name`. TECG_ERR_INVALID when the text is not a
 * JSON object, TECG_ERR_NOT_FOUND when the long form is asked of a
 * dashboard that has none, TECG_ERR_NOMEM; errstr names the dashboard. On
 * error `out` may hold part of the text: the caller discards it.
 * Everything is borrowed. */
tecg_err_t tecg_export(const char *name, uint64_t version, const char *json, size_t len,
                       const tecg_export_opts_t *opts, tecg_buf_t *out, char *errstr,
                       size_t errstr_size);

/* Whether `name` has a long form (funding, staffing, training, history). */
bool tecg_export_has_long_form(const char *name);

#endif
