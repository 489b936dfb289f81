/* Replay runner: links with one fuzz_<name>.c instead of libFuzzer and runs
 * its LLVMFuzzerTestOneInput() once on every file given, or on every file
 * of every directory given (sorted by name; names starting with '.' are
 * skipped, so regressions/<name>/.gitkeep keeps an empty directory in git).
 *
 *   fuzz_replay_<name> [-q] PATH...
 *
 * This is how ctest (fuzz-replay.<name>) replays the committed corpus and
 * the regression inputs with any compiler, and under ASan/UBSan in the
 * sanitizer build. Each input is copied into a buffer of exactly its size,
 * so a read past its end is caught by ASan. A broken invariant aborts,
 * after the line naming the input. Exit status 0 when every input ran,
 * 1 when a path cannot be read or no input was found, 2 on bad usage. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int quiet;

static int run_file(const char *path) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;
        if (!f) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                if (cap - len < 65536) {
                        cap = cap ? cap * 2 : 65536;
                        uint8_t *nb = realloc(buf, cap);
                        if (!nb) {
                                fprintf(stderr, "replay: %s: out of memory\n", path);
                                free(buf);
                                fclose(f);
                                return -1;
                        }
                        buf = nb;
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                fprintf(stderr, "replay: %s: read error\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);

        /* Exactly len bytes (at least 1 allocated), as libFuzzer passes them. */
        uint8_t *data = malloc(len ? len : 1);
        if (!data) {
                free(buf);
                return -1;
        }
        if (len)
                memcpy(data, buf, len);
        free(buf);
        if (!quiet)
                fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        return 0;
}

static int skip_name(const struct dirent *d) {
        return d->d_name[0] != '.';
}

/* Runs every regular file of dir; returns how many, or -1. */
static long run_dir(const char *dir) {
        struct dirent **names = NULL;
        int n = scandir(dir, &names, skip_name, alphasort);
        long ran = 0;
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -1;
        }
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(path) < 0)
                                ran = -1;
                        else if (ran >= 0)
                                ran++;
                }
                free(names[i]);
        }
        free(names);
        return ran;
}

int main(int argc, char **argv) {
        long total = 0;
        int bad = 0, first = 1;

        if (argc > 1 && strcmp(argv[1], "-q") == 0) {
                quiet = 1;
                first = 2;
        }
        if (first >= argc) {
                fprintf(stderr, "usage: %s [-q] FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = first; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) != 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        bad = 1;
                } else if (S_ISDIR(st.st_mode)) {
                        long n = run_dir(argv[i]);
                        if (n < 0)
                                bad = 1;
                        else
                                total += n;
                } else if (run_file(argv[i]) < 0)
                        bad = 1;
                else
                        total++;
        }
        if (total == 0 && !bad) {
                fprintf(stderr, "replay: no input found\n");
                bad = 1;
        }
        fprintf(stderr, "replay: %ld inputs ran, every invariant held%s\n", total,
                bad ? ", but some paths could not be read" : "");
        return bad;
}
