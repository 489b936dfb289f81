#include "linereader.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Size of the first buffer and of most reads: large enough that read(2)
 * and memchr() dominate, small enough to stay in L2. The buffer grows (to
 * max_line + 2 at most) only for lines longer than this. */
#define LINEREADER_CHUNK ((size_t)256 * 1024)

struct tecg_linereader {
        int fd;
        size_t max_line, keep;
        char *buf;
        size_t cap, cap_max;
        size_t start; /* first byte of the current line */
        size_t scan;  /* bytes before this were searched for '\n' already */
        size_t end;   /* end of the data read */
        bool eof;
        /* Skipping the rest of a line longer than max_line. */
        bool skipping;
        uint64_t skipped; /* bytes of that line seen so far */
        char *kept;       /* its first `keep` bytes */
        size_t kept_len;
        /* tecg_linereader_on_idle() */
        int (*idle)(void *ctx);
        void *idle_ctx;
};

tecg_linereader_t *tecg_linereader_new(int fd, size_t max_line, size_t keep) {
        tecg_linereader_t *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->fd = fd;
        r->max_line = max_line ? max_line : 1;
        r->keep = keep < r->max_line ? keep : r->max_line;
        r->cap = LINEREADER_CHUNK;
        /* The line, one '\r' and one more byte: enough to tell. */
        r->cap_max = r->max_line + 2 > r->cap ? r->max_line + 2 : r->cap;
        r->buf = malloc(r->cap);
        r->kept = malloc(r->keep ? r->keep : 1);
        if (!r->buf || !r->kept) {
                tecg_linereader_destroy(r);
                return NULL;
        }
        return r;
}

void tecg_linereader_destroy(tecg_linereader_t *r) {
        if (!r)
                return;
        free(r->buf);
        free(r->kept);
        free(r);
}

void tecg_linereader_on_idle(tecg_linereader_t *r, int (*idle)(void *ctx), void *ctx) {
        r->idle = idle;
        r->idle_ctx = ctx;
}

/* Returns once r->fd has input (or its end, or an error, for read(2) to
 * tell), calling the idle function while it has none. */
static tecg_err_t wait_for_input(tecg_linereader_t *r, char *errstr, size_t errstr_size) {
        int timeout_ms = 0; /* first only ask: a file or a busy pipe is ready */
        for (;;) {
                struct pollfd p = {.fd = r->fd, .events = POLLIN};
                int rc = poll(&p, 1, timeout_ms);
                if (rc > 0)
                        return TECG_OK;
                if (rc < 0) {
                        if (errno == EINTR)
                                return TECG_ERR_RETRY;
                        return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "poll: %s",
                                           strerror(errno));
                }
                timeout_ms = r->idle(r->idle_ctx);
                if (timeout_ms == TECG_LINEREADER_IDLE_STOP)
                        return TECG_ERR_RETRY;
                if (timeout_ms < 0 || timeout_ms > TECG_LINEREADER_IDLE_MS)
                        timeout_ms = TECG_LINEREADER_IDLE_MS;
        }
}

/* Moves the unfinished line to the front, grows the buffer if that line
 * fills it, and reads once. */
static tecg_err_t fill(tecg_linereader_t *r, char *errstr, size_t errstr_size) {
        if (r->start > 0) {
                memmove(r->buf, r->buf + r->start, r->end - r->start);
                r->end -= r->start;
                r->scan -= r->start;
                r->start = 0;
        }
        if (r->end == r->cap) {
                /* Only reached with at most max_line + 1 bytes buffered,
                 * so cap < cap_max here. */
                size_t ncap = r->cap * 2 < r->cap_max ? r->cap * 2 : r->cap_max;
                /* Should that ever not hold, a read of 0 bytes would look
                 * like the end of the input and cut the line short. */
                if (ncap <= r->end)
                        return tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                                           "line buffer full at %zu bytes", r->end);
                char *nb = realloc(r->buf, ncap);
                if (!nb)
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                r->buf = nb;
                r->cap = ncap;
        }
        if (r->idle) {
                tecg_err_t err = wait_for_input(r, errstr, errstr_size);
                if (err)
                        return err;
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0) {
                if (errno == EINTR)
                        return TECG_ERR_RETRY;
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s", strerror(errno));
        }
        if (n == 0)
                r->eof = true;
        r->end += (size_t)n;
        return TECG_OK;
}

static void emit(const tecg_linereader_t *r, tecg_line_t *line, const char *d, size_t len) {
        size_t content = len > 0 && d[len - 1] == '\r' ? len - 1 : len;
        line->data = d;
        line->full_len = len;
        line->too_long = content > r->max_line;
        line->len = line->too_long && len > r->keep ? r->keep : len;
}

static void emit_skipped(tecg_linereader_t *r, tecg_line_t *line) {
        r->skipping = false;
        line->data = r->kept;
        line->len = r->kept_len;
        line->full_len = r->skipped;
        line->too_long = true;
}

/* Reads on to the '\n' that ends a too-long line, keeping nothing. */
static tecg_err_t skip_rest(tecg_linereader_t *r, tecg_line_t *line, char *errstr,
                            size_t errstr_size) {
        for (;;) {
                char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
                if (nl) {
                        size_t upto = (size_t)(nl - r->buf);
                        r->skipped += upto - r->start;
                        r->start = r->scan = upto + 1;
                        emit_skipped(r, line);
                        return TECG_OK;
                }
                r->skipped += r->end - r->start;
                r->start = r->scan = r->end = 0;
                if (r->eof) {
                        emit_skipped(r, line);
                        return TECG_OK;
                }
                tecg_err_t err = fill(r, errstr, errstr_size);
                if (err)
                        return err;
        }
}

tecg_err_t tecg_linereader_next(tecg_linereader_t *r, tecg_line_t *line, char *errstr,
                                size_t errstr_size) {
        if (r->skipping)
                return skip_rest(r, line, errstr, errstr_size);
        for (;;) {
                char *nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
                if (nl) {
                        const char *d = r->buf + r->start;
                        size_t upto = (size_t)(nl - r->buf);
                        emit(r, line, d, upto - r->start);
                        r->start = r->scan = upto + 1;
                        return TECG_OK;
                }
                r->scan = r->end;
                if (r->end - r->start > r->max_line + 1) {
                        /* Too long whatever comes next: keep the start,
                         * drop the rest as it is read. */
                        r->kept_len = r->keep;
                        memcpy(r->kept, r->buf + r->start, r->kept_len);
                        r->skipped = r->end - r->start;
                        r->start = r->scan = r->end = 0;
                        r->skipping = true;
                        return skip_rest(r, line, errstr, errstr_size);
                }
                if (r->eof) {
                        if (r->start == r->end)
                                return TECG_ERR_NOT_FOUND;
                        emit(r, line, r->buf + r->start, r->end - r->start);
                        r->start = r->scan = r->end;
                        return TECG_OK;
                }
                tecg_err_t err = fill(r, errstr, errstr_size);
                if (err)
                        return err;
        }
}
