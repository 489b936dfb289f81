#include "redact.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Parts of key names that hold secrets: librdkafka's ssl.key.password,
 * sasl.password, sasl.oauthbearer.client.secret, sasl.oauthbearer.config,
 * ssl.key.pem, ssl.certificate.pem, the sinks' token, and whatever a later
 * key calls a credential or a private key. */
static const char *const secret_key_parts[] = {"password", "secret", "token", "credential",
                                               "private",  ".pem",   "jaas",  "oauthbearer.config",
                                               NULL};

/* Query parameter names (parts of) whose values are secrets in webhook and
 * registry URLs: ?token=, ?api_key=, ?sig=, ?access_token=, ?auth=. */
static const char *const secret_param_parts[] = {
        "token", "key", "secret", "password", "passwd", "sig", "auth", "credential", "code", NULL};

static bool contains_any(const char *s, size_t len, const char *const *parts) {
        for (size_t i = 0; parts[i]; i++) {
                size_t n = strlen(parts[i]);
                for (size_t j = 0; j + n <= len; j++)
                        if (strncasecmp(s + j, parts[i], n) == 0)
                                return true;
        }
        return false;
}

bool tecg_redact_key_is_secret(const char *key) {
        return key && contains_any(key, strlen(key), secret_key_parts);
}

/* A PEM block (certificate, key, anything armoured) or an OpenSSH/PKCS#8
 * private key without armour lines: key material, never shown. */
static bool is_key_material(const char *value) {
        return strstr(value, "-----BEGIN") || strstr(value, "PRIVATE KEY") ||
               strstr(value, "-----END");
}

/* Output with a bound: `ok` turns false once something did not fit. */
typedef struct {
        char *buf;
        size_t size, len;
        bool ok;
} out_t;

static void out_put(out_t *o, const char *s, size_t n) {
        if (!o->ok || o->len + n >= o->size) {
                o->ok = false;
                return;
        }
        memcpy(o->buf + o->len, s, n);
        o->len += n;
        o->buf[o->len] = '\0';
}

/* Where a URL's authority or query ends: a separator of lists of URLs
 * (bootstrap.servers-like values) or white space ends it too. */
static bool url_end(char c) {
        return c == '\0' || c == ',' || c == ';' || isspace((unsigned char)c);
}

/* Copies the URL at `p` (just after "://") to `o` with its userinfo and
 * secret query values masked; returns where the URL ends. */
static const char *redact_url(out_t *o, const char *p, bool *changed) {
        size_t auth = 0;
        while (!url_end(p[auth]) && p[auth] != '/' && p[auth] != '?' && p[auth] != '#')
                auth++;
        /* The last '@' of the authority ends the userinfo (a password may
         * hold an unescaped '@'). */
        const char *at = NULL;
        for (size_t i = 0; i < auth; i++)
                if (p[i] == '@')
                        at = p + i;
        if (at) {
                out_put(o, TECG_REDACTED, strlen(TECG_REDACTED));
                *changed = true;
                out_put(o, at, (size_t)(p + auth - at));
        } else {
                out_put(o, p, auth);
        }
        p += auth;
        while (!url_end(*p) && *p != '?' && *p != '#') /* path */
                out_put(o, p++, 1);
        if (*p != '?')
                return p;
        out_put(o, p++, 1);
        while (!url_end(*p) && *p != '#') {
                size_t name = 0;
                while (!url_end(p[name]) && p[name] != '=' && p[name] != '&' && p[name] != '#')
                        name++;
                bool secret = contains_any(p, name, secret_param_parts);
                out_put(o, p, name);
                p += name;
                if (*p == '=') {
                        out_put(o, p++, 1);
                        size_t val = 0;
                        while (!url_end(p[val]) && p[val] != '&' && p[val] != '#')
                                val++;
                        if (secret && val) {
                                out_put(o, TECG_REDACTED, strlen(TECG_REDACTED));
                                *changed = true;
                        } else {
                                out_put(o, p, val);
                        }
                        p += val;
                }
                if (*p == '&')
                        out_put(o, p++, 1);
        }
        return p;
}

const char *tecg_redact(const char *key, const char *value, char *buf, size_t size) {
        if (!value)
                return NULL;
        if (tecg_redact_key_is_secret(key) || is_key_material(value))
                return TECG_REDACTED;
        if (!strstr(value, "://"))
                return value;
        out_t o = {.buf = buf, .size = size, .len = 0, .ok = buf && size > 0};
        if (o.ok)
                buf[0] = '\0';
        bool changed = false;
        const char *p = value;
        while (*p) {
                const char *scheme = strstr(p, "://");
                if (!scheme) {
                        out_put(&o, p, strlen(p));
                        break;
                }
                out_put(&o, p, (size_t)(scheme - p) + 3);
                p = redact_url(&o, scheme + 3, &changed);
        }
        if (!changed)
                return value;
        return o.ok ? buf : TECG_REDACTED;
}
