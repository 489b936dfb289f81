/* Bearer tokens (tokens.h): parsing the tokens file, checking a presented
 * token in constant time, matching routes, making new tokens. SHA-256,
 * random bytes and the constant-time comparison come from libsodium. */
#include "tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"

#define HASH_PREFIX "sha256:"
#define FILE_MAX ((size_t)1 << 20) /* 1 MiB: thousands of clients */

struct tecg_token_entry {
        char name[TECG_TOKENS_NAME_MAX + 1];
        unsigned char hash[crypto_hash_sha256_BYTES];
        char *routes[TECG_TOKENS_ROUTES_MAX];
        size_t nroutes;
};

struct tecg_tokens {
        tecg_token_entry_t *entries;
        size_t count;
};

static bool name_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > TECG_TOKENS_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '@'))
                        return false;
        }
        return true;
}

bool tecg_tokens_route_valid(const char *route) {
        if (strcmp(route, "*") == 0)
                return true;
        if (route[0] != '/' || strlen(route) > 256)
                return false;
        for (const char *p = route; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
                        return false;
        /* A pattern with a dot segment would never match a path the
         * server accepts; refuse it instead of letting it look like a
         * grant. */
        return !strstr(route, "/./") && !strstr(route, "/../");
}

static void entry_free(tecg_token_entry_t *e) {
        for (size_t i = 0; i < e->nroutes; i++)
                free(e->routes[i]);
        e->nroutes = 0;
}

void tecg_tokens_destroy(tecg_tokens_t *tokens) {
        if (!tokens)
                return;
        for (size_t i = 0; i < tokens->count; i++)
                entry_free(&tokens->entries[i]);
        free(tokens->entries);
        free(tokens);
}

size_t tecg_tokens_count(const tecg_tokens_t *tokens) {
        return tokens ? tokens->count : 0;
}

/* One non-comment line split on blanks into e; origin:lineno in errors. */
static tecg_err_t parse_line(tecg_tokens_t *t, char *line, const char *origin, size_t lineno,
                             char *errstr, size_t errstr_size) {
        tecg_token_entry_t *e = &t->entries[t->count];
        char *save = NULL;
        char *name = strtok_r(line, " \t", &save);
        char *hash = strtok_r(NULL, " \t", &save);
        char *route;
        size_t hexlen = 0;

        memset(e, 0, sizeof(*e));
        if (!name_valid(name))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s:%zu: name must be 1-%d of A-Z a-z 0-9 . _ @ -", origin,
                                   lineno, TECG_TOKENS_NAME_MAX);
        if (!hash || strncmp(hash, HASH_PREFIX, strlen(HASH_PREFIX)) != 0 ||
            strlen(hash) != strlen(HASH_PREFIX) + 2 * sizeof(e->hash) ||
            sodium_hex2bin(e->hash, sizeof(e->hash), hash + strlen(HASH_PREFIX),
                           2 * sizeof(e->hash), NULL, &hexlen, NULL) != 0 ||
            hexlen != sizeof(e->hash))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s:%zu: %s: the hash must be sha256: and 64 hex digits", origin,
                                   lineno, name);
        for (size_t i = 0; i < t->count; i++) {
                if (strcmp(t->entries[i].name, name) == 0)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s:%zu: %s is listed twice", origin, lineno, name);
                if (sodium_memcmp(t->entries[i].hash, e->hash, sizeof(e->hash)) == 0)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s:%zu: %s has the same token as %s", origin, lineno,
                                           name, t->entries[i].name);
        }
        snprintf(e->name, sizeof(e->name), "%s", name);
        while ((route = strtok_r(NULL, " \t", &save))) {
                if (!tecg_tokens_route_valid(route)) {
                        entry_free(e);
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s:%zu: %s: route '%.64s' must be * or a path "
                                           "starting with /",
                                           origin, lineno, name, route);
                }
                if (e->nroutes == TECG_TOKENS_ROUTES_MAX) {
                        entry_free(e);
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s:%zu: %s: more than %d routes", origin, lineno, name,
                                           TECG_TOKENS_ROUTES_MAX);
                }
                if (!(e->routes[e->nroutes] = strdup(route))) {
                        entry_free(e);
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                }
                e->nroutes++;
        }
        if (e->nroutes == 0)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s:%zu: %s: no route granted", origin, lineno, name);
        t->count++;
        return TECG_OK;
}

tecg_tokens_t *tecg_tokens_parse(const char *text, size_t len, const char *origin, char *errstr,
                                 size_t errstr_size) {
        tecg_tokens_t *t = NULL;
        char *copy = NULL, *line, *save = NULL;
        size_t lines = 1, lineno = 0;
        bool ok = false;

        if (sodium_init() < 0) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "libsodium cannot start");
                goto done;
        }
        if (memchr(text, '\0', len)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: holds a NUL byte", origin);
                goto done;
        }
        for (size_t i = 0; i < len; i++)
                lines += text[i] == '\n';
        if (!(t = calloc(1, sizeof(*t))) || !(t->entries = calloc(lines, sizeof(*t->entries))) ||
            !(copy = malloc(len + 1))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        memcpy(copy, text, len);
        copy[len] = '\0';
        /* strtok_r would skip empty lines and lose the count: split by hand. */
        for (line = copy; line; line = save) {
                char *p;
                lineno++;
                save = strchr(line, '\n');
                if (save)
                        *save++ = '\0';
                if ((p = strchr(line, '\r')))
                        *p = '\0';
                if ((p = strchr(line, '#')))
                        *p = '\0';
                p = line + strspn(line, " \t");
                if (!*p)
                        continue;
                if (parse_line(t, p, origin, lineno, errstr, errstr_size))
                        goto done;
        }
        ok = true;
done:
        free(copy);
        if (!ok) {
                tecg_tokens_destroy(t);
                t = NULL;
        }
        return t;
}

tecg_tokens_t *tecg_tokens_load(const char *path, char *errstr, size_t errstr_size) {
        tecg_tokens_t *t = NULL;
        tecg_buf_t text = TECG_BUF_INIT;
        struct stat st;
        char chunk[4096];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0 || fstat(fd, &st) != 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: not a regular file", path);
                goto done;
        }
        /* Whoever may write the file may grant themselves any route. */
        if (st.st_mode & (S_IWGRP | S_IRWXO)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "%s: mode %04o lets group write or others read; chmod 0600 or 0640",
                            path, (unsigned)(st.st_mode & 07777));
                goto done;
        }
        while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
                if (text.len + (size_t)n > FILE_MAX) {
                        tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                                    "%s: larger than %zu bytes", path, FILE_MAX);
                        goto done;
                }
                if (tecg_buf_append(&text, chunk, (size_t)n)) {
                        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
        }
        if (n < 0) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto done;
        }
        t = tecg_tokens_parse(text.len ? (const char *)text.data : "", text.len, path, errstr,
                              errstr_size);
done:
        if (fd >= 0)
                close(fd);
        tecg_buf_free(&text);
        return t;
}

const tecg_token_entry_t *tecg_tokens_verify(const tecg_tokens_t *tokens, const char *token,
                                             size_t len) {
        unsigned char hash[crypto_hash_sha256_BYTES];
        const tecg_token_entry_t *found = NULL;

        if (!tokens || !token)
                return NULL;
        crypto_hash_sha256(hash, (const unsigned char *)token, len);
        for (size_t i = 0; i < tokens->count; i++) {
                /* No early exit: every entry costs the same. */
                bool same = sodium_memcmp(hash, tokens->entries[i].hash, sizeof(hash)) == 0;
                if (same)
                        found = &tokens->entries[i];
        }
        sodium_memzero(hash, sizeof(hash));
        return found;
}

const tecg_token_entry_t *tecg_tokens_find(const tecg_tokens_t *tokens, const char *name) {
        if (!tokens || !name)
                return NULL;
        for (size_t i = 0; i < tokens->count; i++)
                if (strcmp(tokens->entries[i].name, name) == 0)
                        return &tokens->entries[i];
        return NULL;
}

const char *tecg_token_name(const tecg_token_entry_t *entry) {
        return entry ? entry->name : "";
}

static bool route_matches(const char *route, const char *path) {
        size_t rl = strlen(route);
        if (strcmp(route, "*") == 0)
                return true;
        if (strcmp(route, "/") == 0)
                return strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
                       strncmp(path, "/static/", 8) == 0;
        if (route[rl - 1] == '/')
                return strncmp(path, route, rl) == 0 ||
                       (strlen(path) == rl - 1 && strncmp(path, route, rl - 1) == 0);
        return strcmp(path, route) == 0;
}

bool tecg_tokens_allows(const tecg_token_entry_t *entry, const char *path) {
        if (!entry || !path)
                return false;
        for (size_t i = 0; i < entry->nroutes; i++)
                if (route_matches(entry->routes[i], path))
                        return true;
        return false;
}

tecg_err_t tecg_tokens_make(const char *name, const char *const *routes, size_t nroutes,
                            char token_out[TECG_TOKEN_TEXT_SIZE], char *line_out, size_t line_size,
                            char *errstr, size_t errstr_size) {
        unsigned char raw[TECG_TOKEN_BYTES];
        unsigned char hash[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        tecg_buf_t line = TECG_BUF_INIT;
        tecg_err_t err = TECG_OK;

        if (sodium_init() < 0) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "libsodium cannot start");
                goto done;
        }
        if (!name || !name_valid(name)) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "name must be 1-%d of A-Z a-z 0-9 . _ @ -", TECG_TOKENS_NAME_MAX);
                goto done;
        }
        if (nroutes == 0 || nroutes > TECG_TOKENS_ROUTES_MAX) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "give 1 to %d routes",
                                  TECG_TOKENS_ROUTES_MAX);
                goto done;
        }
        for (size_t i = 0; i < nroutes; i++)
                if (!tecg_tokens_route_valid(routes[i])) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "route '%.64s' must be * or a path starting with /",
                                          routes[i]);
                        goto done;
                }
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(token_out, TECG_TOKEN_TEXT_SIZE, raw, sizeof(raw));
        crypto_hash_sha256(hash, (const unsigned char *)token_out, strlen(token_out));
        sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
        if ((err = tecg_buf_puts(&line, name)) || (err = tecg_buf_puts(&line, "  " HASH_PREFIX)) ||
            (err = tecg_buf_puts(&line, hex)) || (err = tecg_buf_puts(&line, " ")))
                goto done;
        for (size_t i = 0; i < nroutes && !err; i++)
                if (!(err = tecg_buf_puts(&line, " ")))
                        err = tecg_buf_puts(&line, routes[i]);
        if (err)
                goto done;
        if (line.len + 1 > line_size) {
                err = tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size, "line too long");
                goto done;
        }
        memcpy(line_out, line.data, line.len);
        line_out[line.len] = '\0';
done:
        if (err && token_out)
                sodium_memzero(token_out, TECG_TOKEN_TEXT_SIZE);
        sodium_memzero(raw, sizeof(raw));
        tecg_buf_free(&line);
        return err;
}
