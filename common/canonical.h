/* Parsing Canonical Form of an Avro schema (Avro specification, "Parsing
 * Canonical Form for Schemas"): the text whose CRC-64-AVRO is the schema
 * fingerprint of single-object encoding. Avro-C has no such function; this
 * one is checked against fastavro's to_parsing_canonical_form() by
 * tests/unit/common/test_canonical.c.
 *
 * Transformations, as the spec names them: PRIMITIVES ({"type":"int"} ->
 * "int"), FULLNAMES (names and references made full, namespace dropped),
 * STRIP (only name, type, fields, symbols, items, values, size survive),
 * ORDER (in that order), STRINGS (escapes replaced by UTF-8), INTEGERS (no
 * leading zeros), WHITESPACE (none outside strings). */
#ifndef TECG_CANONICAL_H
#define TECG_CANONICAL_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* Canonical form of the schema JSON text json[0..len). On TECG_OK *out is a
 * NUL-terminated string the caller frees with free(); on failure *out is NULL
 * and errstr says why (TECG_ERR_INVALID: not JSON or not a schema). */
tecg_err_t tecg_canonical_form(const char *json, size_t len, char **out, char *errstr,
                               size_t errstr_size);

/* The same for an already parsed schema; schema stays the caller's. */
tecg_err_t tecg_canonical_form_json(const json_t *schema, char **out, char *errstr,
                                    size_t errstr_size);

#endif
