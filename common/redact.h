/* Redaction: what a configuration value may show of itself in a log line,
 * an error message, a metric, `--help` or `--check-config` output
 * (docs/design.md §9.5). The one place that decides it, so that a new key
 * or a new message cannot forget a case: the key's name (password, secret,
 * token, PEM and credential keys) and the value's type (a PEM block or a
 * private key anywhere in it, a URL's userinfo, a URL's secret query
 * parameters) both count. */
#ifndef TECG_REDACT_H
#define TECG_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* What replaces a value, or a part of one, that must not be shown. */
#define TECG_REDACTED "***"

/* The text of `value` fit to be shown: `value` itself when nothing in it
 * is secret, TECG_REDACTED when all of it is (by `key`'s name, or because
 * it holds a PEM block or a private key), otherwise a copy in `buf` with
 * each URL's userinfo (user:password@) and the values of its secret query
 * parameters (token=, key=, sig=...) replaced by TECG_REDACTED. A copy that
 * does not fit `buf` is TECG_REDACTED as a whole. `key` may be NULL (a bare
 * URL in an error message); NULL `value` gives NULL. */
const char *tecg_redact(const char *key, const char *value, char *buf, size_t size);

/* True when `key` names a secret whatever its value looks like. */
bool tecg_redact_key_is_secret(const char *key);

#endif
