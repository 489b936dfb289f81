#include "ctl_validate.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "ctl.h"
#include "ctl_format.h"
#include "linereader.h"
#include "refdata.h"

/* The start of a too long line is all a reason needs. */
#define TOO_LONG_KEEP 64

static void report(bool json, FILE *out, const char *name, uint64_t lineno, const char *reason) {
        if (json)
                tecg_ctl_print_json_line(out, json_pack("{s:s,s:I,s:s}", "file", name, "line",
                                                        (json_int_t)lineno, "reason", reason));
        else
                fprintf(out, "%s:%llu: %s\n", name, (unsigned long long)lineno, reason);
}

tecg_err_t tecg_ctl_validate_fd(tecg_validator_t *v, tecg_avro_t *avro, size_t max_line, int fd,
                                const char *name, bool json, FILE *out,
                                tecg_ctl_validate_counts_t *counts, char *errstr,
                                size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_buf_t encoded = TECG_BUF_INIT;
        char reason[TECG_VALIDATE_ERRSTR_SIZE + 64];
        tecg_linereader_t *r = tecg_linereader_new(fd, max_line, TOO_LONG_KEEP);
        if (!r) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (;;) {
                tecg_line_t line;
                err = tecg_linereader_next(r, &line, errstr, errstr_size);
                if (err == TECG_ERR_RETRY)
                        continue;
                if (err == TECG_ERR_NOT_FOUND) {
                        err = TECG_OK;
                        break;
                }
                if (err)
                        goto done;
                counts->lines++;
                tecg_event_t ev;
                if (line.too_long) {
                        /* The producer's words (producers/ingest.c). */
                        snprintf(reason, sizeof(reason),
                                 "line is %llu bytes, longer than limits.line.bytes (%zu bytes)",
                                 (unsigned long long)line.full_len, max_line);
                } else if (!tecg_validate_line(v, line.data, line.len, &ev, reason,
                                               sizeof(reason))) {
                        char why[512];
                        tecg_buf_reset(&encoded);
                        if (!tecg_avro_encode_event(avro, &ev, &encoded, why, sizeof(why)))
                                continue;
                        snprintf(reason, sizeof(reason), "cannot encode: %s", why);
                }
                counts->bad++;
                report(json, out, name, counts->lines, reason);
        }
done:
        tecg_linereader_destroy(r);
        tecg_buf_free(&encoded);
        return err;
}

typedef struct {
        const char *nation;
} validate_opts_t;

static int on_option(void *opaque, int opt, const char *arg, char *errstr, size_t errstr_size) {
        validate_opts_t *o = opaque;
        if (opt != 'n') {
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
        o->nation = arg;
        return 0;
}

int tecg_ctl_validate(int argc, char **argv) {
        static const struct option opts[] = {{"nation", required_argument, NULL, 'n'},
                                             {NULL, 0, NULL, 0}};
        validate_opts_t o = {0};
        const tecg_ctl_spec_t spec = {
                .name = "validate",
                .synopsis = "validate [--nation N] FILE...|-",
                .description =
                        "Checks NDJSON lines as the producer does before it sends them: the\n"
                        "same limits, validator and encoder, so the same reasons. Each bad "
                        "line is\nprinted as FILE:LINE: reason (with --json: {\"file\", "
                        "\"line\", \"reason\"}); a\nsummary goes to stderr. '-' reads "
                        "standard input.",
                .options_help = "  -n, --nation N         the producer's nation: events of another "
                                "nation are bad\n"
                                "                         (default: any nation of nations.file)\n",
                .exit_status = "  0  every line is good\n"
                               "  1  at least one line is bad\n",
                .opts = opts,
                .shortopts = "n:",
                .min_args = 1,
                .max_args = -1,
                .on_option = on_option,
                .opaque = &o,
        };
        tecg_ctl_t ctl;
        int rc = tecg_ctl_setup(&spec, argc, argv, &ctl);
        if (rc >= 0)
                return rc;
        char errstr[1024];
        tecg_nations_t *nations = NULL;
        tecg_validator_t *v = NULL;
        tecg_avro_t *avro = NULL;
        tecg_validate_limits_t limits;
        tecg_validate_limits_init(&limits);
        limits.max_line_bytes = (size_t)ctl.cc.line_bytes;
        limits.max_depth = (int)ctl.cc.json_depth;
        limits.max_string_bytes = (size_t)ctl.cc.string_bytes;
        if (!(nations = tecg_nations_load(ctl.cc.common.nations_file, errstr, sizeof(errstr))) ||
            !(v = tecg_validator_new(nations, o.nation, &limits, errstr, sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "%s", errstr);
                goto done;
        }
        if (!(avro = tecg_avro_new(errstr, sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        rc = TECG_CTL_EXIT_OK;
        for (int i = 0; i < ctl.nargs; i++) {
                const char *path = ctl.args[i];
                bool is_stdin = strcmp(path, "-") == 0;
                int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s: %s", path,
                                           strerror(errno));
                        continue;
                }
                tecg_ctl_validate_counts_t counts = {0};
                tecg_err_t err =
                        tecg_ctl_validate_fd(v, avro, limits.max_line_bytes, fd, path, ctl.json,
                                             stdout, &counts, errstr, sizeof(errstr));
                if (!is_stdin)
                        close(fd);
                if (err) {
                        rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s: %s", path, errstr);
                        continue;
                }
                fprintf(stderr, "%s: %llu lines, %llu bad\n", path,
                        (unsigned long long)counts.lines, (unsigned long long)counts.bad);
                if (counts.bad && rc == TECG_CTL_EXIT_OK)
                        rc = TECG_CTL_EXIT_NO;
        }
done:
        tecg_avro_destroy(avro);
        tecg_validator_destroy(v);
        tecg_nations_destroy(nations);
        tecg_ctl_cleanup(&ctl);
        return rc;
}
