/* The BI export of the dashboards (docs/design.md §5): one document turned
 * into CSV or NDJSON rows, what GET /api/export/NAME.{csv,ndjson} serves
 * (http_server.c does the HTTP side: routing, ETag, headers).
 *
 * Pure functions of (name, version, json, len): no docstore, no sockets, no
 * clock, so the bytes served can be checked by unit tests and fuzzers.
 *
 * Rows. For each top-level member of the document, in document order,
 * except dashboard/version/generated_at/as_of:
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
 * Columns. Every row starts with dashboard (the name given), version (the
 * version given, i.e. the stored one), as_of (the document's) and table;
 * nested objects are flattened with dotted names ("pledged.EUR"); arrays
 * left as values are compact JSON text. These four names win over members
 * of the same name.
 * CSV: RFC 4180, CRLF line ends, a header that is the union of the rows'
 * columns in first-seen order, fields quoted when they hold a comma, quote,
 * CR or LF (quotes doubled), null and missing fields empty, reals with 15
 * significant digits. Fields are written as they are: no guard against
 * spreadsheet formulas (a name starting with '=' stays as it is).
 * NDJSON: one compact object per row with the same flattened names and the
 * JSON values (missing members absent).
 * A document without rows gives the CSV header line alone, and no NDJSON
 * line at all. */
#ifndef TECG_EXPORT_H
#define TECG_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

typedef enum {
        TECG_EXPORT_CSV,
        TECG_EXPORT_NDJSON,
} tecg_export_format_t;

/* Appends the export of the document `json` (len bytes, need not be
 * NUL-terminated) to `out`, with `name` and `version` in every row.
 * TECG_ERR_INVALID when the text is not a JSON object, TECG_ERR_NOMEM;
 * errstr names the dashboard. On error `out` may hold part of the text:
 * the caller discards it. Everything is borrowed. */
tecg_err_t tecg_export(const char *name, uint64_t version, const char *json, size_t len,
                       tecg_export_format_t format, tecg_buf_t *out, char *errstr,
                       size_t errstr_size);

/* tecg_export() with TECG_EXPORT_CSV. */
tecg_err_t tecg_export_csv(const char *name, uint64_t version, const char *json, size_t len,
                           tecg_buf_t *out, char *errstr, size_t errstr_size);

/* tecg_export() with TECG_EXPORT_NDJSON. */
tecg_err_t tecg_export_ndjson(const char *name, uint64_t version, const char *json, size_t len,
                              tecg_buf_t *out, char *errstr, size_t errstr_size);

#endif
