#include "metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

typedef struct {
        const char *name; /* into the text being grouped */
        size_t name_len;
        const char *help, *type; /* their whole lines, or NULL */
        size_t help_len, type_len;
        tecg_buf_t samples;
} family_t;

/* The family of a line: "# HELP name ...", "# TYPE name ..." or a sample
 * "name{labels} value" / "name value". */
static size_t name_span(const char *p, const char *end) {
        const char *q = p;
        while (q < end && *q != ' ' && *q != '{')
                q++;
        return (size_t)(q - p);
}

static family_t *family_of(family_t **fams, size_t *n, size_t *cap, const char *name, size_t len) {
        for (size_t i = 0; i < *n; i++)
                if ((*fams)[i].name_len == len && memcmp((*fams)[i].name, name, len) == 0)
                        return &(*fams)[i];
        if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 32;
                family_t *nf = realloc(*fams, ncap * sizeof(*nf));
                if (!nf)
                        return NULL;
                *fams = nf;
                *cap = ncap;
        }
        family_t *f = &(*fams)[(*n)++];
        memset(f, 0, sizeof(*f));
        f->name = name;
        f->name_len = len;
        return f;
}

tecg_err_t tecg_metrics_group(tecg_buf_t *text) {
        family_t *fams = NULL;
        size_t n = 0, cap = 0;
        tecg_buf_t out = TECG_BUF_INIT;
        tecg_err_t err = TECG_OK;
        const char *p = (const char *)text->data, *end = p ? p + text->len : NULL;

        while (p && p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *next = eol ? eol + 1 : end;
                size_t line_len = (size_t)(next - p);
                bool help = line_len > 7 && memcmp(p, "# HELP ", 7) == 0;
                bool type = line_len > 7 && memcmp(p, "# TYPE ", 7) == 0;
                const char *name = help || type ? p + 7 : p;
                family_t *f;
                if (*p == '#' && !help && !type) { /* another comment: dropped */
                        p = next;
                        continue;
                }
                if (!(f = family_of(&fams, &n, &cap, name, name_span(name, next)))) {
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                if (help && !f->help) {
                        f->help = p;
                        f->help_len = line_len;
                } else if (type && !f->type) {
                        f->type = p;
                        f->type_len = line_len;
                } else if (!help && !type && (err = tecg_buf_append(&f->samples, p, line_len))) {
                        goto done;
                }
                p = next;
        }
        for (size_t i = 0; i < n && !err; i++) {
                const family_t *f = &fams[i];
                if ((f->help && (err = tecg_buf_append(&out, f->help, f->help_len))) ||
                    (f->type && (err = tecg_buf_append(&out, f->type, f->type_len))) ||
                    (f->samples.len &&
                     (err = tecg_buf_append(&out, f->samples.data, f->samples.len))))
                        break;
        }
        if (!err) {
                tecg_buf_free(text);
                *text = out;
                out = (tecg_buf_t)TECG_BUF_INIT;
        }
done:
        for (size_t i = 0; i < n; i++)
                tecg_buf_free(&fams[i].samples);
        free(fams);
        tecg_buf_free(&out);
        return err;
}

static tecg_err_t write_file(const tecg_buf_t *metrics, const char *path, const char *tmp,
                             char *errstr, size_t errstr_size);

tecg_err_t tecg_metrics_write_file(const tecg_buf_t *metrics, const char *path, char *errstr,
                                   size_t errstr_size) {
        char tmp[4096];
        tecg_buf_t grouped = TECG_BUF_INIT;
        tecg_err_t err;
        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: path too long", path);
        if ((err = tecg_buf_append(&grouped, metrics->data, metrics->len)) ||
            (err = tecg_metrics_group(&grouped))) {
                tecg_buf_free(&grouped);
                return tecg_seterr(err, errstr, errstr_size, "out of memory");
        }
        err = write_file(&grouped, path, tmp, errstr, errstr_size);
        tecg_buf_free(&grouped);
        return err;
}

static tecg_err_t write_file(const tecg_buf_t *metrics, const char *path, const char *tmp,
                             char *errstr, size_t errstr_size) {
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
