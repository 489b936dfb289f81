/* Bearer tokens for tecg's HTTP endpoints (docs/design.md §5.6): who may
 * read which routes of tecg-dashboard today, and the format the producer's
 * HTTP input reuses for nations' tokens. One line per client in a file
 * kept by the operators:
 *
 *   # NAME      HASH                     ROUTES...
 *   ops-alice   sha256:<64 hex digits>   / /api/dashboards/ /api/stream
 *   bi-tableau  sha256:<64 hex digits>   /api/export/
 *
 * HASH is the SHA-256 of the token text. A token is 32 random bytes (256
 * bits) written as 64 hex digits, so a fast hash is enough: nobody can
 * search 2^256 inputs, which is what a slow password hash (bcrypt, Argon2)
 * guards against for guessable human passwords. The file therefore holds
 * no secret, but whoever can write it can let anyone in: it must not be
 * writable by group or others, nor readable by others.
 *
 * ROUTES are path patterns (tecg_tokens_allows()): "/api/stream" matches
 * that path only; one ending in '/' matches every path below it and the
 * path without the slash; "/" alone is the operator page (/, /index.html,
 * /static/...); "*" is every route.
 *
 * Ownership: a tecg_tokens_t is immutable once loaded and may be read by
 * any number of threads; entries are owned by it. */
#ifndef TECG_TOKENS_H
#define TECG_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define TECG_TOKEN_BYTES 32
#define TECG_TOKEN_TEXT_SIZE (2 * TECG_TOKEN_BYTES + 1) /* hex + NUL */
#define TECG_TOKENS_NAME_MAX 64
#define TECG_TOKENS_ROUTES_MAX 16

typedef struct tecg_tokens tecg_tokens_t;
typedef struct tecg_token_entry tecg_token_entry_t;

/* Parses the text of a tokens file; origin names it in errors
 * ("FILE:LINE: reason"). NULL with errstr on any bad line. */
tecg_tokens_t *tecg_tokens_parse(const char *text, size_t len, const char *origin, char *errstr,
                                 size_t errstr_size);

/* Reads and parses `path` after checking that it is a regular file that
 * neither group nor others may write and others may not read. */
tecg_tokens_t *tecg_tokens_load(const char *path, char *errstr, size_t errstr_size);

void tecg_tokens_destroy(tecg_tokens_t *tokens);

size_t tecg_tokens_count(const tecg_tokens_t *tokens);

/* The entry whose hash is SHA-256(token[0..len)), or NULL. Every entry is
 * compared, each in constant time, so the time taken says nothing about
 * which entry or how much of a hash matched. */
const tecg_token_entry_t *tecg_tokens_verify(const tecg_tokens_t *tokens, const char *token,
                                             size_t len);

/* The entry named `name` (exact), or NULL: for a client authenticated by
 * other means (a session cookie, a client certificate). */
const tecg_token_entry_t *tecg_tokens_find(const tecg_tokens_t *tokens, const char *name);

const char *tecg_token_name(const tecg_token_entry_t *entry);

/* Whether `path` (decoded, without the query) is granted to entry. */
bool tecg_tokens_allows(const tecg_token_entry_t *entry, const char *path);

/* Whether `route` is a valid ROUTES pattern. */
bool tecg_tokens_route_valid(const char *route);

/* Makes a new token for NAME with ROUTES: token_out gets its text (show it
 * once, never store it), line_out the line for the tokens file. Checks
 * name and routes as the parser does. */
tecg_err_t tecg_tokens_make(const char *name, const char *const *routes, size_t nroutes,
                            char token_out[TECG_TOKEN_TEXT_SIZE], char *line_out, size_t line_size,
                            char *errstr, size_t errstr_size);

#endif
