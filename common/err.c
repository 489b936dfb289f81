#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *tecg_err2str(tecg_err_t err) {
        switch (err) {
        case TECG_OK:
                return "ok";
        case TECG_ERR_INVALID:
                return "invalid input";
        case TECG_ERR_CONFIG:
                return "configuration error";
        case TECG_ERR_IO:
                return "I/O error";
        case TECG_ERR_NOMEM:
                return "out of memory";
        case TECG_ERR_KAFKA:
                return "Kafka error";
        case TECG_ERR_AVRO:
                return "Avro error";
        case TECG_ERR_LIMIT:
                return "limit exceeded";
        case TECG_ERR_NOT_FOUND:
                return "not found";
        case TECG_ERR_RETRY:
                return "transient error";
        }
        return "unknown error";
}

tecg_err_t tecg_seterr(tecg_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...) {
        if (errstr && errstr_size > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(errstr, errstr_size, fmt, ap);
                va_end(ap);
        }
        return err;
}
