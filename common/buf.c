#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tecg_err_t tecg_buf_reserve(tecg_buf_t *b, size_t extra) {
        if (b->cap - b->len >= extra)
                return TECG_OK;
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < extra) {
                if (cap > SIZE_MAX / 2)
                        return TECG_ERR_NOMEM;
                cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        if (!p)
                return TECG_ERR_NOMEM;
        b->data = p;
        b->cap = cap;
        return TECG_OK;
}

tecg_err_t tecg_buf_append(tecg_buf_t *b, const void *p, size_t n) {
        tecg_err_t err = tecg_buf_reserve(b, n);
        if (err)
                return err;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        return TECG_OK;
}

tecg_err_t tecg_buf_puts(tecg_buf_t *b, const char *s) {
        return tecg_buf_append(b, s, strlen(s));
}

tecg_err_t tecg_buf_terminate(tecg_buf_t *b) {
        tecg_err_t err = tecg_buf_reserve(b, 1);
        if (err)
                return err;
        b->data[b->len] = '\0';
        return TECG_OK;
}

void tecg_buf_reset(tecg_buf_t *b) {
        b->len = 0;
}

void tecg_buf_free(tecg_buf_t *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

tecg_err_t tecg_buf_read_file(tecg_buf_t *b, const char *path, size_t max, const char *what,
                              char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        size_t start = b->len;
        FILE *f = fopen(path, "rb");
        if (!f)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", path,
                                   strerror(errno));
        for (;;) {
                if (tecg_buf_reserve(b, (size_t)64 * 1024)) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s: out of memory",
                                          path);
                        goto done;
                }
                size_t n = fread(b->data + b->len, 1, b->cap - b->len, f);
                b->len += n;
                if (b->len - start > max) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "%s: larger than %zu bytes, not %s", path, max, what);
                        goto done;
                }
                if (n == 0)
                        break;
        }
        if (ferror(f))
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: read error", path);
done:
        (void)fclose(f); /* read only: nothing to lose */
        return err;
}
