/* tecg-ctl schema: the built-in schemas, their fingerprints, and whether a
 * proposed schema can replace one (Avro's schema resolution rules). */
#ifndef TECG_CTL_SCHEMA_H
#define TECG_CTL_SCHEMA_H

#include <stddef.h>

#include "err.h"

/* Whether data written with writer_json can be read with reader_json, by
 * the Avro specification's resolution rules and tecg's own (enum symbols
 * only appended, since tecg's readers map them by position), then by
 * Avro-C's resolved writer where the reader needs no defaults (Avro-C
 * cannot fill them; the codec does). TECG_OK: compatible;
 * TECG_ERR_INVALID: not, and why says which field and why, e.g.
 * "field detail.Funding.stage: enum FundingStage: the writer's symbol
 * REFUNDED is unknown to the reader"; TECG_ERR_CONFIG: a schema does not
 * parse (why says which). */
tecg_err_t tecg_ctl_schema_resolve(const char *writer_json, size_t writer_len,
                                   const char *reader_json, size_t reader_len, char *why,
                                   size_t why_size);

#endif
