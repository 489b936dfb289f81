#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

tecg_err_t tecg_metrics_add(tecg_buf_t *out, tecg_metric_type_t type, const char *name,
                            const char *help, const char *labels, double value) {
        char line[1024];
        int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s%s%s%s %.17g\n", name,
                         help, name, type == TECG_METRIC_COUNTER ? "counter" : "gauge", name,
                         labels ? "{" : "", labels ? labels : "", labels ? "}" : "", value);
        if (n < 0 || n >= (int)sizeof(line))
                return TECG_ERR_LIMIT;
        return tecg_buf_append(out, line, (size_t)n);
}

tecg_err_t tecg_metrics_write_file(const tecg_buf_t *metrics, const char *path, char *errstr,
                                   size_t errstr_size) {
        char tmp[4096];
        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: path too long", path);
        FILE *fp = fopen(tmp, "w");
        if (!fp)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", tmp,
                                   strerror(errno));
        size_t w = metrics->len ? fwrite(metrics->data, 1, metrics->len, fp) : 0;
        int close_rc = fclose(fp);
        if (w != metrics->len || close_rc != 0 || rename(tmp, path) != 0) {
                int e = errno; /* the cause, before remove() can change it */
                /* Best effort: the next write truncates the same name. */
                (void)remove(tmp);
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(e));
        }
        return TECG_OK;
}
