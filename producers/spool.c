#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tecg_spool {
        char *dir;
        char incoming[PATH_MAX];
        char done[PATH_MAX];
        char rejected[PATH_MAX];
};

static tecg_err_t ensure_dir(const char *path, char *errstr, size_t errstr_size) {
        struct stat st;
        if (mkdir(path, 0775) != 0 && errno != EEXIST)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "%s: cannot create: %s", path, strerror(errno));
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "%s: not a directory", path);
        if (access(path, W_OK | X_OK) != 0)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "%s: not writable: %s", path, strerror(errno));
        return TECG_OK;
}

tecg_spool_t *tecg_spool_open(const char *dir, char *errstr, size_t errstr_size) {
        tecg_spool_t *spool = calloc(1, sizeof(*spool));
        if (!spool || !(spool->dir = strdup(dir))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        /* Leave room below PATH_MAX for the file names appended later. */
        if (strlen(dir) > PATH_MAX - 512) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "spool.dir: path too long");
                goto fail;
        }
        snprintf(spool->incoming, sizeof(spool->incoming), "%s/incoming", dir);
        snprintf(spool->done, sizeof(spool->done), "%s/done", dir);
        snprintf(spool->rejected, sizeof(spool->rejected), "%s/rejected", dir);
        if (ensure_dir(dir, errstr, errstr_size) ||
            ensure_dir(spool->incoming, errstr, errstr_size) ||
            ensure_dir(spool->done, errstr, errstr_size) ||
            ensure_dir(spool->rejected, errstr, errstr_size))
                goto fail;
        return spool;
fail:
        tecg_spool_close(spool);
        return NULL;
}

void tecg_spool_close(tecg_spool_t *spool) {
        if (!spool)
                return;
        free(spool->dir);
        free(spool);
}

const char *tecg_spool_dir(const tecg_spool_t *spool) {
        return spool->dir;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_ndjson(const char *name) {
        size_t n = strlen(name);
        return name[0] != '.' && n > 7 && strcmp(name + n - 7, ".ndjson") == 0;
}

tecg_err_t tecg_spool_scan(tecg_spool_t *spool, char ***namesp, size_t *countp,
                           char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char **names = NULL;
        size_t count = 0, cap = 0;
        DIR *d = opendir(spool->incoming);
        *namesp = NULL;
        *countp = 0;
        if (!d)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "%s: cannot list: %s", spool->incoming,
                                   strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!is_ndjson(de->d_name))
                        continue;
                if (count == cap) {
                        cap = cap ? cap * 2 : 16;
                        char **nn = realloc(names, cap * sizeof(*names));
                        if (!nn) {
                                err = TECG_ERR_NOMEM;
                                goto done;
                        }
                        names = nn;
                }
                if (!(names[count] = strdup(de->d_name))) {
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                count++;
        }
        if (count)
                qsort(names, count, sizeof(*names), name_cmp);
done:
        closedir(d);
        if (err) {
                tecg_spool_names_free(names, count);
                return tecg_seterr(err, errstr, errstr_size, "out of memory");
        }
        *namesp = names;
        *countp = count;
        return TECG_OK;
}

void tecg_spool_names_free(char **names, size_t count) {
        for (size_t i = 0; i < count; i++)
                free(names[i]);
        free(names);
}

const char *tecg_spool_incoming_path(const tecg_spool_t *spool, const char *name,
                                     char *out, size_t out_size) {
        snprintf(out, out_size, "%s/%s", spool->incoming, name);
        return out;
}

const char *tecg_spool_rejected_path(const tecg_spool_t *spool, const char *name,
                                     const char *suffix, char *out,
                                     size_t out_size) {
        /* FRA-1.ndjson -> rejected/FRA-1.errors / rejected/FRA-1.ndjson */
        size_t n = strlen(name);
        if (n > 7 && strcmp(name + n - 7, ".ndjson") == 0)
                n -= 7;
        snprintf(out, out_size, "%s/%.*s%s", spool->rejected, (int)n, name, suffix);
        return out;
}

static void fsync_dir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
                fsync(fd);
                close(fd);
        }
}

tecg_err_t tecg_spool_finish(tecg_spool_t *spool, const char *name,
                             char *errstr, size_t errstr_size) {
        char from[PATH_MAX], to[PATH_MAX];
        if (snprintf(from, sizeof(from), "%s/%s", spool->incoming, name) >= (int)sizeof(from) ||
            snprintf(to, sizeof(to), "%s/%s", spool->done, name) >= (int)sizeof(to))
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "%s: path too long", name);
        for (int i = 1; access(to, F_OK) == 0; i++) {
                if (i > 100000 ||
                    snprintf(to, sizeof(to), "%s/%s.%d", spool->done, name, i) >= (int)sizeof(to))
                        return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                           "%s: no free name in done/", name);
        }
        if (rename(from, to) != 0)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "cannot move %s to %s: %s", from, to,
                                   strerror(errno));
        fsync_dir(spool->done);
        fsync_dir(spool->incoming);
        return TECG_OK;
}
