/* tecg-ctl validate: the producer's validator, offline. */
#ifndef TECG_CTL_VALIDATE_H
#define TECG_CTL_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "avro_codec.h"
#include "err.h"
#include "validate.h"

/* Counts of one input. */
typedef struct {
        uint64_t lines;
        uint64_t bad;
} tecg_ctl_validate_counts_t;

/* Reads fd to its end as the producer reads a spool file (the same line
 * reader, limits, validator and encoder, so the same reasons) and writes
 * each bad line to out as "NAME:LINE: reason", or as a JSON object
 * {"file", "line", "reason"} when json. `avro` (borrowed) encodes each
 * good event, as the producer does before it sends. TECG_ERR_IO with
 * errstr when fd cannot be read; the counts so far stay in *counts. */
tecg_err_t tecg_ctl_validate_fd(tecg_validator_t *v, tecg_avro_t *avro, size_t max_line, int fd,
                                const char *name, bool json, FILE *out,
                                tecg_ctl_validate_counts_t *counts, char *errstr,
                                size_t errstr_size);

#endif
