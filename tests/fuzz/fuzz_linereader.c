/* Fuzz target: the bounded line reader (producers/linereader.h), one input
 * = a control byte then the bytes of a spool file or of stdin.
 *
 * The control byte picks a small limit (1-32 bytes), how much of a
 * too-long line is kept (0 to the limit and beyond) and how the input
 * arrives: read whole from a memory file, and in packets of 1-16 bytes
 * through a socket (short reads). Invariants, checked against an
 * independent split of the input on '\n':
 *   - the lines come back in order, as many as the input has (a last line
 *     without '\n' counts, an empty input has none), then NOT_FOUND;
 *   - every byte is accounted for: full_len of each line is its exact
 *     length, so the lengths plus the '\n's add up to the input size;
 *   - too_long exactly when the line, without one final '\r', has more
 *     than the limit; a too-long line returns its first `keep` bytes
 *     (keep capped at the limit), any other line its exact bytes; nothing
 *     returned is longer than the limit + 1 (the '\r') or holds a '\n';
 *   - both ways of reading give the same lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "linereader.h"

/* More packets than this and the socket's buffer could fill before the
 * reader drains it (one process): the input is only read from memory. */
#define MAX_PACKETS 256

static int memory_fd(const uint8_t *data, size_t size) {
        int fd = memfd_create("fuzz-linereader", MFD_CLOEXEC);
        FZ_SETUP(fd >= 0, "memfd_create: %s", strerror(errno));
        for (size_t off = 0; off < size;) {
                ssize_t n = write(fd, data + off, size - off);
                FZ_SETUP(n > 0, "write: %s", strerror(errno));
                off += (size_t)n;
        }
        FZ_SETUP(lseek(fd, 0, SEEK_SET) == 0, "lseek: %s", strerror(errno));
        return fd;
}

/* A socket holding the input as packets of `packet` bytes: each read(2)
 * returns at most one packet. NULL-free: a zero-length packet would read
 * as the end. -1 when that takes too many packets. */
static int packet_fd(const uint8_t *data, size_t size, size_t packet) {
        int sv[2];
        if (size / packet >= MAX_PACKETS)
                return -1;
        FZ_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
                 strerror(errno));
        for (size_t off = 0; off < size; off += packet) {
                size_t n = size - off < packet ? size - off : packet;
                FZ_SETUP(write(sv[1], data + off, n) == (ssize_t)n, "write: %s", strerror(errno));
        }
        close(sv[1]); /* the end of input */
        return sv[0];
}

/* One line as returned: its own copy, so two reads can be compared. */
typedef struct {
        uint8_t *data;
        size_t len;
        uint64_t full_len;
        bool too_long;
} got_line_t;

/* Reads fd to its end, checking each line against the input at `off`. */
static size_t read_all(int fd, const uint8_t *in, size_t size, size_t max_line, size_t keep,
                       got_line_t **linesp, const char *how) {
        char err[256];
        size_t off = 0, count = 0, cap = 0;
        got_line_t *lines = NULL;
        size_t eff_keep = keep < max_line ? keep : max_line;
        tecg_linereader_t *r = tecg_linereader_new(fd, max_line, keep);
        FZ_SETUP(r, "out of memory");
        for (;;) {
                tecg_line_t L;
                tecg_err_t e = tecg_linereader_next(r, &L, err, sizeof(err));
                if (e == TECG_ERR_RETRY)
                        continue;
                if (e == TECG_ERR_NOT_FOUND)
                        break;
                FZ_CHECK(e == TECG_OK, "%s: line %zu: error %d: %s", how, count + 1, e, err);
                FZ_CHECK(off < size, "%s: line %zu after the end of the input", how, count + 1);
                /* The line as an independent split sees it. */
                const uint8_t *nl = memchr(in + off, '\n', size - off);
                size_t full = nl ? (size_t)(nl - (in + off)) : size - off;
                size_t content = full > 0 && in[off + full - 1] == '\r' ? full - 1 : full;
                bool too_long = content > max_line;
                FZ_CHECK(L.full_len == full, "%s: line %zu: full_len %llu, the line has %zu", how,
                         count + 1, (unsigned long long)L.full_len, full);
                FZ_CHECK(L.too_long == too_long,
                         "%s: line %zu (%zu bytes, limit %zu): "
                         "too_long %d",
                         how, count + 1, full, max_line, L.too_long);
                FZ_CHECK(L.len == (too_long ? eff_keep : full),
                         "%s: line %zu: %zu bytes "
                         "returned of %zu (keep %zu)",
                         how, count + 1, L.len, full, eff_keep);
                FZ_CHECK(L.len <= max_line + 1, "%s: line %zu: %zu bytes returned, limit %zu", how,
                         count + 1, L.len, max_line);
                FZ_CHECK(L.len == 0 || memcmp(L.data, in + off, L.len) == 0,
                         "%s: line %zu: other bytes than the input's", how, count + 1);
                FZ_CHECK(L.len == 0 || !memchr(L.data, '\n', L.len), "%s: line %zu holds a newline",
                         how, count + 1);
                if (count == cap) {
                        cap = cap ? cap * 2 : 16;
                        lines = realloc(lines, cap * sizeof(*lines));
                        FZ_SETUP(lines, "out of memory");
                }
                lines[count].data = malloc(L.len ? L.len : 1);
                FZ_SETUP(lines[count].data, "out of memory");
                if (L.len)
                        memcpy(lines[count].data, L.data, L.len);
                lines[count].len = L.len;
                lines[count].full_len = L.full_len;
                lines[count].too_long = L.too_long;
                count++;
                off += full + (nl ? 1 : 0);
        }
        FZ_CHECK(off == size, "%s: %zu of %zu bytes accounted for", how, off, size);
        tecg_linereader_destroy(r);
        *linesp = lines;
        return count;
}

static void free_lines(got_line_t *lines, size_t count) {
        for (size_t i = 0; i < count; i++)
                free(lines[i].data);
        free(lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        uint8_t ctl = data[0];
        const uint8_t *in = data + 1;
        size_t n = size - 1;
        size_t max_line = (size_t)(ctl & 0x1f) + 1;      /* 1..32 */
        size_t keep = (size_t)((ctl >> 5) * 6);          /* 0..42 */
        size_t packet = (size_t)((ctl >> 3) & 0x0f) + 1; /* 1..16 */

        /* An independent count of lines: '\n's, plus an unterminated last. */
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
                want += in[i] == '\n';
        if (n > 0 && in[n - 1] != '\n')
                want++;

        got_line_t *a = NULL, *b = NULL;
        int fd = memory_fd(in, n);
        size_t na = read_all(fd, in, n, max_line, keep, &a, "whole reads");
        close(fd);
        FZ_CHECK(na == want, "%zu lines read, the input has %zu", na, want);

        fd = packet_fd(in, n, packet);
        if (fd >= 0) {
                size_t nb = read_all(fd, in, n, max_line, keep, &b, "short reads");
                close(fd);
                FZ_CHECK(nb == na, "short reads give %zu lines, whole reads %zu", nb, na);
                for (size_t i = 0; i < na; i++)
                        FZ_CHECK(a[i].len == b[i].len && a[i].full_len == b[i].full_len &&
                                         a[i].too_long == b[i].too_long &&
                                         memcmp(a[i].data, b[i].data, a[i].len) == 0,
                                 "line %zu differs between short and whole reads", i + 1);
                free_lines(b, nb);
        }
        free_lines(a, na);
        return 0;
}
