/* The nations' public signing keys: the CSV keyring and key lookup. */
#include "keyring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "validate.h"

/* A keyring holds a few keys a nation; anything this big is the wrong file. */
#define KEYRING_FILE_MAX ((size_t)1024 * 1024)
#define NFIELDS 6

static const char *const field_names[NFIELDS] = {"nation",     "key_id",      "public_key",
                                                 "valid_from", "valid_until", "revoked_at"};

struct tecg_keyring {
        tecg_keyring_key_t *keys; /* file order */
        size_t count;
        /* As the nations list's (refdata.c): the keyring in force after
         * tecg_keyring_replace(), NULL for this one, and the one it
         * replaced, kept until destroy for the readers that hold a key. */
        _Atomic(struct tecg_keyring *) current;
        struct tecg_keyring *retired;
};

static const tecg_keyring_t *in_force(const tecg_keyring_t *kr) {
        tecg_keyring_t *c =
                atomic_load_explicit(&((tecg_keyring_t *)kr)->current, memory_order_acquire);
        return c ? c : kr;
}

/* A short printable rendering of a field for an error message. */
static const char *preview(const char *s, char *out, size_t outsz) {
        size_t o = 0;
        for (size_t i = 0; s[i] && o + 4 < outsz; i++) {
                unsigned char c = (unsigned char)s[i];
                out[o++] = (char)((c >= 0x20 && c < 0x7f) ? c : '?');
        }
        out[o] = '\0';
        return out;
}

/* Splits a line (NUL-terminated, modified in place) at commas into at most
 * NFIELDS fields trimmed of blanks; returns the number of fields seen (more
 * than NFIELDS means too many). */
static int split(char *line, char *fields[NFIELDS]) {
        int n = 0;
        char *p = line;
        for (;;) {
                char *comma = strchr(p, ',');
                if (comma)
                        *comma = '\0';
                while (*p == ' ' || *p == '\t')
                        p++;
                char *e = p + strlen(p);
                while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
                        *--e = '\0';
                if (n < NFIELDS)
                        fields[n] = p;
                n++;
                if (!comma)
                        return n;
                p = comma + 1;
        }
}

/* An RFC 3339 time in UTC, or empty for an open end. */
static int parse_time(const char *s, int64_t open, int64_t *ms, const char **why) {
        size_t n = strlen(s);
        int32_t offset = 0;
        if (n == 0) {
                *ms = open;
                return 0;
        }
        if (tecg_validate_time(s, n, ms, &offset, why) != 0)
                return -1;
        if (s[n - 1] != 'Z' && s[n - 1] != 'z') {
                *why = "must be in UTC (end in Z)";
                return -1;
        }
        return 0;
}

/* Checks one data line's fields into *key; on failure the field's index
 * and a reason. */
static int parse_key(char *const f[NFIELDS], const tecg_nations_t *nations, tecg_keyring_key_t *key,
                     int *bad_field, const char **why) {
        memset(key, 0, sizeof(*key));
        *bad_field = 0;
        if (!tecg_nations_find(nations, f[0])) {
                *why = "not a nation of the nations file";
                return -1;
        }
        memcpy(key->nation, f[0], 4);
        *bad_field = 1;
        if (!tecg_sign_key_id_valid(f[1])) {
                *why = "must be 1-64 characters of A-Z a-z 0-9 . _ -";
                return -1;
        }
        snprintf(key->key_id, sizeof(key->key_id), "%s", f[1]);
        *bad_field = 2;
        if (!tecg_sign_b64_decode(f[2], strlen(f[2]), key->public_key, sizeof(key->public_key))) {
                *why = "must be the base64 of a 32-byte Ed25519 public key";
                return -1;
        }
        *bad_field = 3;
        if (parse_time(f[3], TECG_KEYRING_OPEN_FROM, &key->valid_from_ms, why))
                return -1;
        *bad_field = 4;
        if (parse_time(f[4], TECG_KEYRING_OPEN_UNTIL, &key->valid_until_ms, why))
                return -1;
        if (key->valid_until_ms <= key->valid_from_ms) {
                *why = "must be later than valid_from";
                return -1;
        }
        *bad_field = 5;
        if (f[5][0]) {
                if (parse_time(f[5], 0, &key->revoked_at_ms, why))
                        return -1;
                key->revoked = true;
        }
        return 0;
}

tecg_keyring_t *tecg_keyring_parse(const char *buf, size_t len, const char *origin,
                                   const tecg_nations_t *nations, char *errstr,
                                   size_t errstr_size) {
        tecg_keyring_t *kr = calloc(1, sizeof(*kr));
        tecg_buf_t line_buf = TECG_BUF_INIT;
        size_t cap = 0;
        unsigned line = 0;
        bool have_header = false, ok = false;
        char pv[48];
        if (!origin)
                origin = TECG_KEYRING_FILE;
        if (!kr)
                goto nomem;
        for (const char *p = buf, *end = buf + len; p < end;) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                const char *next = eol ? eol + 1 : end;
                line++;
                if (le > p && le[-1] == '\r')
                        le--;
                if (memchr(p, '\0', (size_t)(le - p))) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s:%u: NUL byte in line",
                                    origin, line);
                        goto done;
                }
                tecg_buf_reset(&line_buf);
                if (tecg_buf_append(&line_buf, p, (size_t)(le - p)) ||
                    tecg_buf_terminate(&line_buf))
                        goto nomem;
                p = next;
                char *text = (char *)line_buf.data;
                if (text[strspn(text, " \t")] == '\0' || text[0] == '#')
                        continue;
                char *f[NFIELDS];
                int nf = split(text, f);
                if (nf != NFIELDS) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: expected %d fields (nation,key_id,public_key,"
                                    "valid_from,valid_until,revoked_at), got %d",
                                    origin, line, NFIELDS, nf);
                        goto done;
                }
                if (!have_header) {
                        for (int i = 0; i < NFIELDS; i++) {
                                if (strcmp(f[i], field_names[i]) != 0) {
                                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                    "%s:%u: header must be 'nation,key_id,"
                                                    "public_key,valid_from,valid_until,"
                                                    "revoked_at'",
                                                    origin, line);
                                        goto done;
                                }
                        }
                        have_header = true;
                        continue;
                }
                if (kr->count == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        tecg_keyring_key_t *nk = realloc(kr->keys, ncap * sizeof(*nk));
                        if (!nk)
                                goto nomem;
                        kr->keys = nk;
                        cap = ncap;
                }
                tecg_keyring_key_t *key = &kr->keys[kr->count];
                int bad = 0;
                const char *why = NULL;
                if (parse_key(f, nations, key, &bad, &why) != 0) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s:%u: %s \"%s\": %s",
                                    origin, line, field_names[bad], preview(f[bad], pv, sizeof(pv)),
                                    why);
                        goto done;
                }
                /* A key id names one key: lookups and the header of a
                 * message must not be ambiguous. */
                for (size_t i = 0; i < kr->count; i++) {
                        if (strcmp(kr->keys[i].key_id, key->key_id) == 0) {
                                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                            "%s:%u: key_id \"%s\": listed twice", origin, line,
                                            key->key_id);
                                goto done;
                        }
                }
                kr->count++;
        }
        if (!have_header) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "%s: missing header line 'nation,key_id,public_key,valid_from,"
                            "valid_until,revoked_at'",
                            origin);
                goto done;
        }
        ok = true;
        goto done;
nomem:
        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s:%u: out of memory", origin, line);
done:
        tecg_buf_free(&line_buf);
        if (!ok) {
                tecg_keyring_destroy(kr);
                kr = NULL;
        }
        return kr;
}

tecg_keyring_t *tecg_keyring_load(const char *path, const tecg_nations_t *nations, char *errstr,
                                  size_t errstr_size) {
        tecg_keyring_t *kr = NULL;
        tecg_buf_t b = TECG_BUF_INIT;
        /* Read whole, then parsed: errors name the line. */
        if (tecg_buf_read_file(&b, path, KEYRING_FILE_MAX, "a keyring", errstr, errstr_size) ==
            TECG_OK)
                kr = tecg_keyring_parse((const char *)b.data, b.len, path, nations, errstr,
                                        errstr_size);
        tecg_buf_free(&b);
        return kr;
}

void tecg_keyring_destroy(tecg_keyring_t *keyring) {
        if (!keyring)
                return;
        tecg_keyring_t *c = atomic_load_explicit(&keyring->current, memory_order_acquire);
        while (c) {
                tecg_keyring_t *next = c->retired;
                free(c->keys);
                free(c);
                c = next;
        }
        free(keyring->keys);
        free(keyring);
}

void tecg_keyring_replace(tecg_keyring_t *keyring, tecg_keyring_t *fresh) {
        fresh->retired = atomic_load_explicit(&keyring->current, memory_order_relaxed);
        atomic_store_explicit(&keyring->current, fresh, memory_order_release);
}

bool tecg_keyring_same(const tecg_keyring_t *a, const tecg_keyring_t *b) {
        a = in_force(a);
        b = in_force(b);
        if (a->count != b->count)
                return false;
        for (size_t i = 0; i < a->count; i++) {
                const tecg_keyring_key_t *x = &a->keys[i], *y = &b->keys[i];
                if (strcmp(x->nation, y->nation) != 0 || strcmp(x->key_id, y->key_id) != 0 ||
                    memcmp(x->public_key, y->public_key, sizeof(x->public_key)) != 0 ||
                    x->valid_from_ms != y->valid_from_ms ||
                    x->valid_until_ms != y->valid_until_ms || x->revoked != y->revoked ||
                    (x->revoked && x->revoked_at_ms != y->revoked_at_ms))
                        return false;
        }
        return true;
}

const tecg_keyring_key_t *tecg_keyring_find(const tecg_keyring_t *keyring, const char *key_id,
                                            size_t key_id_len) {
        if (!keyring || !key_id || key_id_len == 0 || key_id_len > TECG_SIGN_KEY_ID_MAX)
                return NULL;
        keyring = in_force(keyring);
        for (size_t i = 0; i < keyring->count; i++) {
                const tecg_keyring_key_t *k = &keyring->keys[i];
                if (strlen(k->key_id) == key_id_len && memcmp(k->key_id, key_id, key_id_len) == 0)
                        return k;
        }
        return NULL;
}

tecg_keyring_verdict_t tecg_keyring_check(const tecg_keyring_t *keyring, const char *key_id,
                                          size_t key_id_len, const char *nation, int64_t ts_ms,
                                          const tecg_keyring_key_t **key) {
        const tecg_keyring_key_t *k = tecg_keyring_find(keyring, key_id, key_id_len);
        *key = k;
        if (!k)
                return TECG_KEYRING_UNKNOWN_KEY;
        if (k->revoked)
                return TECG_KEYRING_REVOKED;
        if (strcmp(k->nation, nation) != 0)
                return TECG_KEYRING_OTHER_NATION;
        if (ts_ms < k->valid_from_ms)
                return TECG_KEYRING_NOT_YET_VALID;
        if (ts_ms >= k->valid_until_ms)
                return TECG_KEYRING_EXPIRED;
        return TECG_KEYRING_OK;
}

size_t tecg_keyring_count(const tecg_keyring_t *keyring) {
        return keyring ? in_force(keyring)->count : 0;
}

const tecg_keyring_key_t *tecg_keyring_at(const tecg_keyring_t *keyring, size_t i) {
        if (!keyring)
                return NULL;
        keyring = in_force(keyring);
        return i < keyring->count ? &keyring->keys[i] : NULL;
}

char *tecg_keyring_default_path(const char *nations_path) {
        const char *slash = strrchr(nations_path, '/');
        size_t dir_len = slash ? (size_t)(slash - nations_path) + 1 : 0;
        size_t n = dir_len + sizeof(TECG_KEYRING_FILE);
        char *path = malloc(n);
        if (path)
                snprintf(path, n, "%.*s%s", (int)dir_len, nations_path, TECG_KEYRING_FILE);
        return path;
}
