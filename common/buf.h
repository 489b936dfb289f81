/* A growable byte buffer. Owns `data`; tecg_buf_free() releases it. */
#ifndef TECG_BUF_H
#define TECG_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct {
        uint8_t *data;
        size_t len;
        size_t cap;
} tecg_buf_t;

#define TECG_BUF_INIT \
        { NULL, 0, 0 }

/* Makes room for `extra` more bytes; TECG_ERR_NOMEM on failure. */
tecg_err_t tecg_buf_reserve(tecg_buf_t *b, size_t extra);
tecg_err_t tecg_buf_append(tecg_buf_t *b, const void *p, size_t n);
/* Appends a string (without its NUL). */
tecg_err_t tecg_buf_puts(tecg_buf_t *b, const char *s);
/* Appends a NUL byte without counting it in len, so data is a C string. */
tecg_err_t tecg_buf_terminate(tecg_buf_t *b);
void tecg_buf_reset(tecg_buf_t *b);
/* Appends the whole file at path, refusing one larger than max bytes with
 * "PATH: larger than MAX bytes, not WHAT" (TECG_ERR_CONFIG): the reference
 * files are read whole, and an operator's mistake (a log instead of a CSV)
 * must not fill memory. Open and read errors are TECG_ERR_IO. */
tecg_err_t tecg_buf_read_file(tecg_buf_t *b, const char *path, size_t max, const char *what,
                              char *errstr, size_t errstr_size);
void tecg_buf_free(tecg_buf_t *b);

/* The n (1-8) low bytes of v into p, most significant first: the byte
 * order of every fixed-width integer tecg writes (records, signed frames,
 * headers). */
static inline void tecg_put_be(uint8_t *p, uint64_t v, int n) {
        for (int i = n - 1; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)v;
}

/* The n (1-8) bytes at p as a big-endian integer. */
static inline uint64_t tecg_get_be(const uint8_t *p, int n) {
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

#endif
