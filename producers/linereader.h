/* Bounded line reader for the producer's input (spool files and stdin).
 *
 * getline() grows its buffer to whatever the longest line is: a 10 GB line
 * without a newline would take 10 GB of memory. This reader never buffers
 * more than `max_line` + 2 bytes (the line, one '\r', the '\n'): past that
 * it keeps the line's first `keep` bytes, skips to the next '\n' counting
 * what it skips, and returns the line marked too long.
 *
 * Lines end at '\n' only; the '\n' is not part of the line, a '\r' before it
 * is (the validator drops it). A last line without '\n' is a line; an empty
 * input has no line, "a\n" has one. NUL bytes are ordinary bytes. A line is
 * too long when it has more than `max_line` bytes, not counting the '\n'
 * and one '\r' before it (the validator's rule for limits.line.bytes).
 *
 * Reads with read(2) in large blocks and returns lines in place (no copy),
 * which is faster than getline() on stdio. */
#ifndef TECG_LINEREADER_H
#define TECG_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct tecg_linereader tecg_linereader_t;

typedef struct {
        const char *data;  /* the line, or its first `keep` bytes if too_long;
                            * valid until the next call */
        size_t len;        /* bytes at data */
        uint64_t full_len; /* bytes of the whole line, without its '\n' */
        bool too_long;     /* longer than max_line: data holds a prefix only */
} tecg_line_t;

/* A reader of `fd` (borrowed: not closed by destroy). max_line > 0; keep is
 * capped at max_line. NULL when out of memory. */
tecg_linereader_t *tecg_linereader_new(int fd, size_t max_line, size_t keep);
void tecg_linereader_destroy(tecg_linereader_t *r);

/* Calls idle(ctx) whenever the next read(2) would wait for input: once
 * when the input has nothing more for now, then again after the
 * milliseconds it returns (at most TECG_LINEREADER_IDLE_MS, which
 * TECG_LINEREADER_IDLE_DEFAULT asks for) while the input stays quiet (a
 * pipe from a quiet national system: what was read meanwhile is sent on,
 * acknowledgements are served). TECG_LINEREADER_IDLE_STOP ends the wait:
 * tecg_linereader_next() returns TECG_ERR_RETRY (a stop signal may come
 * while idle runs, when no system call is there to be interrupted).
 * Without it a read waits as long as the input does. */
#define TECG_LINEREADER_IDLE_MS 100
#define TECG_LINEREADER_IDLE_DEFAULT (-1)
#define TECG_LINEREADER_IDLE_STOP (-2)
void tecg_linereader_on_idle(tecg_linereader_t *r, int (*idle)(void *ctx), void *ctx);

/* Reads the next line into *line.
 *   TECG_OK            a line;
 *   TECG_ERR_NOT_FOUND end of input, no more lines;
 *   TECG_ERR_RETRY     a signal interrupted read(2) or the wait for input
 *                      (EINTR), or the idle function said stop: call again, or
 *                      stop reading when the signal asked for it;
 *   TECG_ERR_IO        read(2) failed: reason in errstr (errno kept);
 *   TECG_ERR_NOMEM     out of memory. */
tecg_err_t tecg_linereader_next(tecg_linereader_t *r, tecg_line_t *line, char *errstr,
                                size_t errstr_size);

#endif
