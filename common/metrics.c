#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define METRICS_FILE_MODE 0644

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
        /* 0644 whatever the umask: the collector (node_exporter) may run
         * as another user, and counters are no secret. Written next to the
         * file and renamed over it, so a reader never sees half a file. */
        int fd =
                open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, METRICS_FILE_MODE);
        FILE *fp = NULL;
        if (fd < 0 || fchmod(fd, METRICS_FILE_MODE) != 0 || !(fp = fdopen(fd, "w"))) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", tmp, strerror(e));
        }
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
