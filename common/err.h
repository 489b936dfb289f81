/* tecg error codes: one type for the whole code base.
 *
 * Functions that can fail return tecg_err_t; those whose failure needs
 * explaining also take (char *errstr, size_t errstr_size) and fill it with a
 * one-line, human-readable reason, like rd_kafka_conf_set() does. */
#ifndef TECG_ERR_H
#define TECG_ERR_H

#include <stddef.h>

typedef enum {
        TECG_OK = 0,
        TECG_ERR_INVALID,   /* input breaks the contract (bad line, bad frame) */
        TECG_ERR_CONFIG,    /* configuration value or file is wrong */
        TECG_ERR_IO,        /* file system or socket error */
        TECG_ERR_NOMEM,     /* allocation failed */
        TECG_ERR_KAFKA,     /* librdkafka reported an error */
        TECG_ERR_AVRO,      /* Avro-C reported an error */
        TECG_ERR_LIMIT,     /* a configured size or count limit was exceeded */
        TECG_ERR_NOT_FOUND, /* lookup failed (unknown schema, key, nation) */
        TECG_ERR_RETRY,     /* transient: try again later */
} tecg_err_t;

/* Static, never-NULL name of an error code. */
const char *tecg_err2str(tecg_err_t err);

/* snprintf into errstr if errstr_size > 0; always returns err so callers can
 * write `return tecg_seterr(TECG_ERR_X, errstr, size, "fmt", ...)`. */
tecg_err_t tecg_seterr(tecg_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
