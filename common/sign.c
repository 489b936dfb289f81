#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"

/* A key file is two short lines; anything longer is not one. */
#define KEY_FILE_MAX 512

tecg_err_t tecg_sign_init(char *errstr, size_t errstr_size) {
        /* 0: initialised now, 1: already was; both fine. */
        if (sodium_init() < 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "libsodium could not initialise (no random source?)");
        return TECG_OK;
}

bool tecg_sign_key_id_valid(const char *key_id) {
        size_t n = key_id ? strlen(key_id) : 0;
        if (n == 0 || n > TECG_SIGN_KEY_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = key_id[i];
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                if (!ok)
                        return false;
        }
        return true;
}

static tecg_err_t key_from_seed(const char *key_id, const unsigned char seed[32],
                                tecg_sign_key_t *key, char *errstr, size_t errstr_size) {
        if (!tecg_sign_key_id_valid(key_id))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "key id must be 1-%d characters of A-Z a-z 0-9 . _ -",
                                   TECG_SIGN_KEY_ID_MAX);
        memset(key, 0, sizeof(*key));
        snprintf(key->key_id, sizeof(key->key_id), "%s", key_id);
        if (crypto_sign_seed_keypair(key->public_key, key->secret, seed) != 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "could not derive an Ed25519 key pair from the seed");
        return TECG_OK;
}

tecg_err_t tecg_sign_keygen(const char *key_id, tecg_sign_key_t *key, char *errstr,
                            size_t errstr_size) {
        tecg_err_t err = tecg_sign_init(errstr, errstr_size);
        if (err != TECG_OK)
                return err;
        unsigned char seed[32];
        randombytes_buf(seed, sizeof(seed));
        err = key_from_seed(key_id, seed, key, errstr, errstr_size);
        sodium_memzero(seed, sizeof(seed));
        return err;
}

tecg_err_t tecg_sign_key_write(const char *path, const tecg_sign_key_t *key, char *errstr,
                               size_t errstr_size) {
        char seed_b64[TECG_SIGN_PUBLIC_B64_SIZE];
        char text[KEY_FILE_MAX];
        tecg_err_t err = TECG_OK;
        /* The seed is the first half of libsodium's secret key. */
        tecg_sign_b64_encode(key->secret, 32, seed_b64, sizeof(seed_b64));
        int len = snprintf(text, sizeof(text), "key_id=%s\nseed=%s\n", key->key_id, seed_b64);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: cannot create: %s", path,
                                  strerror(errno));
                goto done;
        }
        if (write(fd, text, (size_t)len) != len || fsync(fd) != 0) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: cannot write: %s", path,
                                  strerror(errno));
                close(fd);
                unlink(path);
                goto done;
        }
        if (close(fd) != 0)
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: cannot write: %s", path,
                                  strerror(errno));
done:
        sodium_memzero(seed_b64, sizeof(seed_b64));
        sodium_memzero(text, sizeof(text));
        return err;
}

/* The value of `name=` on its own line of text, NUL-terminated in place. */
static char *field(char *text, const char *name) {
        size_t n = strlen(name);
        for (char *line = text; line && *line;) {
                char *next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strncmp(line, name, n) == 0 && line[n] == '=')
                        return line + n + 1;
                line = next;
        }
        return NULL;
}

tecg_err_t tecg_sign_key_load(const char *path, tecg_sign_key_t *key, char *errstr,
                              size_t errstr_size) {
        char text[KEY_FILE_MAX + 1];
        char copy[KEY_FILE_MAX + 1];
        unsigned char seed[32];
        struct stat st;
        ssize_t got = 0;
        tecg_err_t err = tecg_sign_init(errstr, errstr_size);
        if (err != TECG_OK)
                return err;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: cannot open: %s", path,
                                  strerror(errno));
                goto done;
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: not a regular file",
                                  path);
                goto done;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "%s: a private key must be readable by its owner only "
                                  "(mode %04o; chmod 600 it)",
                                  path, (unsigned)(st.st_mode & 07777));
                goto done;
        }
        got = read(fd, text, KEY_FILE_MAX + 1);
        if (got < 0 || got > KEY_FILE_MAX) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s", path,
                                  got < 0 ? strerror(errno) : "too long for a key file");
                goto done;
        }
        text[got] = '\0';
        memcpy(copy, text, (size_t)got + 1);
        const char *key_id = field(text, "key_id");
        const char *seed_b64 = field(copy, "seed");
        if (!key_id || !seed_b64) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "%s: not a tecg key file (needs key_id= and seed= lines)", path);
                goto done;
        }
        if (!tecg_sign_b64_decode(seed_b64, strlen(seed_b64), seed, sizeof(seed))) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "%s: seed= is not the base64 of 32 bytes", path);
                goto done;
        }
        err = key_from_seed(key_id, seed, key, errstr, errstr_size);
        if (err != TECG_OK) {
                /* Name the file: the reason alone does not say which. */
                char reason[256];
                snprintf(reason, sizeof(reason), "%s", errstr ? errstr : "");
                err = tecg_seterr(err, errstr, errstr_size, "%s: %s", path, reason);
        }
done:
        if (fd >= 0)
                close(fd);
        sodium_memzero(text, sizeof(text));
        sodium_memzero(copy, sizeof(copy));
        sodium_memzero(seed, sizeof(seed));
        return err;
}

void tecg_sign_key_wipe(tecg_sign_key_t *key) {
        if (key)
                sodium_memzero(key, sizeof(*key));
}

/* A framed message up to this size is built on the stack: an event is a
 * few hundred bytes, and the producer signs every one (no allocation per
 * event). */
#define FRAME_STACK 2048

void tecg_sign_frame_feed(const char *domain, const tecg_sign_part_t *parts, size_t nparts,
                          tecg_sign_feed_fn *add, void *ctx) {
        add(ctx, domain, strlen(domain) + 1); /* the NUL ends the domain */
        for (size_t i = 0; i < nparts; i++) {
                uint32_t n = (uint32_t)parts[i].len;
                unsigned char len_be[4];
                tecg_put_be(len_be, n, 4);
                add(ctx, len_be, sizeof(len_be));
                if (n)
                        add(ctx, parts[i].data, n);
        }
}

static void append(void *ctx, const void *data, size_t len) {
        unsigned char **at = ctx;
        memcpy(*at, data, len);
        *at += len;
}

/* domain || (u32be len || bytes) per part, in one buffer: pure Ed25519
 * needs the whole message. Into `stack` (FRAME_STACK bytes) when it fits,
 * else into a new buffer the caller frees (when it is not `stack`). */
static unsigned char *frame(const char *domain, const tecg_sign_part_t *parts, size_t nparts,
                            unsigned char *stack, size_t *out_len) {
        size_t total = strlen(domain) + 1;
        for (size_t i = 0; i < nparts; i++) {
                if (parts[i].len > UINT32_MAX || total > SIZE_MAX - 4 - parts[i].len)
                        return NULL;
                total += 4 + parts[i].len;
        }
        unsigned char *buf = total <= FRAME_STACK ? stack : malloc(total);
        if (!buf)
                return NULL;
        unsigned char *at = buf;
        tecg_sign_frame_feed(domain, parts, nparts, append, &at);
        *out_len = total;
        return buf;
}

tecg_err_t tecg_sign(const tecg_sign_key_t *key, const char *domain, const tecg_sign_part_t *parts,
                     size_t nparts, unsigned char sig[TECG_SIGN_SIG_BYTES], char *errstr,
                     size_t errstr_size) {
        size_t len = 0;
        unsigned char stack[FRAME_STACK];
        unsigned char *msg = frame(domain, parts, nparts, stack, &len);
        if (!msg)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                   "out of memory framing a message to sign");
        int rc = crypto_sign_detached(sig, NULL, msg, len, key->secret);
        if (msg != stack)
                free(msg);
        if (rc != 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "Ed25519 signing failed");
        return TECG_OK;
}

bool tecg_sign_verify(const unsigned char public_key[TECG_SIGN_PUBLIC_BYTES], const char *domain,
                      const tecg_sign_part_t *parts, size_t nparts,
                      const unsigned char sig[TECG_SIGN_SIG_BYTES]) {
        size_t len = 0;
        unsigned char stack[FRAME_STACK];
        unsigned char *msg = frame(domain, parts, nparts, stack, &len);
        if (!msg)
                return false;
        bool ok = crypto_sign_verify_detached(sig, msg, len, public_key) == 0;
        if (msg != stack)
                free(msg);
        return ok;
}

void tecg_sign_b64_encode(const unsigned char *bin, size_t n, char *out, size_t out_size) {
        if (out_size < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL)) {
                if (out_size)
                        out[0] = '\0';
                return;
        }
        sodium_bin2base64(out, out_size, bin, n, sodium_base64_VARIANT_ORIGINAL);
}

bool tecg_sign_b64_decode(const char *text, size_t text_len, unsigned char *bin, size_t want) {
        size_t got = 0;
        const char *end = NULL;
        if (sodium_base642bin(bin, want, text, text_len, NULL, &got, &end,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
                return false;
        return got == want && end == text + text_len;
}
