/* HTTP client over libcurl. See http_client.h for the contract.
 *
 * Each client owns one easy handle and one multi handle. The multi handle is
 * only there so a request can be interrupted: the transfer loop waits in
 * curl_multi_poll(), which tecg_http_client_cancel() wakes from another
 * thread with curl_multi_wakeup(). Keeping both handles for the client's life
 * keeps the connection cache (and with it the keep-alive connection) and the
 * DNS cache between requests. */
#include "http_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
#include "redact.h"

struct tecg_http_client {
        CURL *easy;
        CURLM *multi;
        char *url;
        char *url_shown;   /* url as logs show it (tecg_redact) */
        char *auth_header; /* "Authorization: Bearer ..." or NULL */
        size_t max_body;
        atomic_int cancelled;
        /* Per request, used by the write callback. */
        tecg_http_response_t *resp;
        int nomem;
        char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t http_global_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not guaranteed thread-safe on every libcurl build, so
 * it runs exactly once per process. Its cleanup is left to process exit: a
 * library cannot know that no other client will come. */
static void http_global_init(void) {
        http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Accumulates the response body up to max_body and then discards the rest,
 * still accepting it so the connection stays usable for the next request. */
static size_t http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        tecg_http_client_t *c = userdata;
        size_t n = size * nmemb;
        size_t room = c->max_body > c->resp->body.len ? c->max_body - c->resp->body.len : 0;
        size_t keep = n < room ? n : room;
        if (keep < n)
                c->resp->body_truncated = 1;
        if (keep && tecg_buf_append(&c->resp->body, ptr, keep) != TECG_OK) {
                c->nomem = 1;
                return 0; /* makes curl fail with CURLE_WRITE_ERROR */
        }
        return n;
}

static int http_has_crlf(const char *s) {
        return strpbrk(s, "\r\n") != NULL;
}

/* Sets the options that never change for this client. */
static tecg_err_t http_setup_handle(tecg_http_client_t *c, const tecg_http_options_t *o,
                                    char *errstr, size_t errstr_size) {
        CURL *h = c->easy;
        CURLcode rc = CURLE_OK;
        long connect_ms =
                o->connect_timeout_ms > 0 ? o->connect_timeout_ms : TECG_HTTP_CONNECT_TIMEOUT_MS;
        long total_ms = o->timeout_ms > 0 ? o->timeout_ms : TECG_HTTP_TIMEOUT_MS;
        const char *ua = o->user_agent && *o->user_agent ? o->user_agent : "tecg/" TECG_VERSION;

        /* Each setopt is checked: an unknown option means a libcurl too old
         * for what this file assumes, and that must not go unnoticed. */
#define HTTP_SETOPT(opt, val)                                         \
        do {                                                          \
                if ((rc = curl_easy_setopt(h, opt, val)) != CURLE_OK) \
                        goto done;                                    \
        } while (0)
        HTTP_SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
        HTTP_SETOPT(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM timeouts */
        HTTP_SETOPT(CURLOPT_WRITEFUNCTION, http_write_cb);
        HTTP_SETOPT(CURLOPT_WRITEDATA, c);
        HTTP_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        HTTP_SETOPT(CURLOPT_TIMEOUT_MS, total_ms);
        HTTP_SETOPT(CURLOPT_USERAGENT, ua);
        HTTP_SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
        HTTP_SETOPT(CURLOPT_FOLLOWLOCATION, 0L); /* a redirected POST is a config error */
#if LIBCURL_VERSION_NUM >= 0x075500
        HTTP_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
        HTTP_SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        HTTP_SETOPT(CURLOPT_SSL_VERIFYPEER, o->tls_no_verify ? 0L : 1L);
        HTTP_SETOPT(CURLOPT_SSL_VERIFYHOST, o->tls_no_verify ? 0L : 2L);
        if (o->ca_file && *o->ca_file)
                HTTP_SETOPT(CURLOPT_CAINFO, o->ca_file);
#undef HTTP_SETOPT

done:
        if (rc != CURLE_OK)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "libcurl option: %s",
                                   curl_easy_strerror(rc));
        return TECG_OK;
}

tecg_http_client_t *tecg_http_client_new(const tecg_http_options_t *opts, char *errstr,
                                         size_t errstr_size) {
        tecg_http_client_t *c = NULL;
        tecg_err_t err = TECG_OK;

        if (!opts || !opts->url ||
            (strncasecmp(opts->url, "http://", 7) != 0 &&
             strncasecmp(opts->url, "https://", 8) != 0)) {
                char shown[512];
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "URL must start with http:// or https://: "
                                  "'%s'",
                                  opts && opts->url
                                          ? tecg_redact(NULL, opts->url, shown, sizeof(shown))
                                          : "");
                goto done;
        }
        if (http_has_crlf(opts->url) || (opts->bearer_token && http_has_crlf(opts->bearer_token))) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "URL or bearer token contains a line break");
                goto done;
        }
        pthread_once(&http_global_once, http_global_init);
        if (http_global_rc != CURLE_OK) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "curl_global_init: %s",
                                  curl_easy_strerror(http_global_rc));
                goto done;
        }

        c = calloc(1, sizeof(*c));
        if (!c) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        atomic_init(&c->cancelled, 0);
        c->max_body = opts->max_body ? opts->max_body : TECG_HTTP_MAX_BODY;
        c->url = strdup(opts->url);
        char shown[2048];
        c->url_shown = strdup(tecg_redact(NULL, opts->url, shown, sizeof(shown)));
        int auth_ok = 1;
        if (opts->bearer_token && *opts->bearer_token &&
            asprintf(&c->auth_header, "Authorization: Bearer %s", opts->bearer_token) < 0) {
                c->auth_header = NULL; /* undefined after a failed asprintf */
                auth_ok = 0;
        }
        c->easy = curl_easy_init();
        c->multi = curl_multi_init();
        if (!c->url || !c->url_shown || !auth_ok || !c->easy || !c->multi) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                  "out of memory setting up libcurl");
                goto done;
        }
        err = http_setup_handle(c, opts, errstr, errstr_size);
        if (err)
                goto done;
        if (opts->tls_no_verify)
                tecg_log_warn("http",
                              "%s: TLS certificate and host name "
                              "verification is OFF (tls_no_verify): the "
                              "receiver is not authenticated",
                              c->url_shown);

done:
        if (err) {
                tecg_http_client_destroy(c);
                return NULL;
        }
        return c;
}

void tecg_http_client_destroy(tecg_http_client_t *c) {
        if (!c)
                return;
        if (c->multi)
                curl_multi_cleanup(c->multi); /* closes cached connections */
        if (c->easy)
                curl_easy_cleanup(c->easy);
        free(c->url);
        free(c->url_shown);
        free(c->auth_header);
        free(c);
}

void tecg_http_client_cancel(tecg_http_client_t *c) {
        if (!c)
                return;
        atomic_store(&c->cancelled, 1);
        /* Wakes the curl_multi_poll() in progress, or the next one. */
        curl_multi_wakeup(c->multi);
}

const char *tecg_http_client_url(const tecg_http_client_t *c) {
        return c->url_shown;
}

void tecg_http_response_free(tecg_http_response_t *resp) {
        if (!resp)
                return;
        tecg_buf_free(&resp->body);
        resp->status = 0;
        resp->body_truncated = 0;
        resp->retry_after_s = 0;
        resp->new_connections = 0;
        resp->errstr[0] = '\0';
}

/* Extra headers for one request: the caller's, the bearer token, and an empty
 * "Expect:" so curl does not wait for "100 Continue" before large bodies. */
static tecg_err_t http_headers(const tecg_http_client_t *c, const char *const *headers,
                               int with_auth, struct curl_slist **out) {
        struct curl_slist *list = NULL, *tmp;
        tecg_err_t err = TECG_OK;

        for (size_t i = 0; headers && headers[i]; i++) {
                if (!(tmp = curl_slist_append(list, headers[i]))) {
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                list = tmp;
        }
        if (with_auth && c->auth_header) {
                if (!(tmp = curl_slist_append(list, c->auth_header))) {
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                list = tmp;
        }
        if (!(tmp = curl_slist_append(list, "Expect:"))) {
                err = TECG_ERR_NOMEM;
                goto done;
        }
        list = tmp;

done:
        if (err) {
                curl_slist_free_all(list);
                list = NULL;
        }
        *out = list;
        return err;
}

/* Runs the transfer set up on c->easy through the multi handle so that
 * tecg_http_client_cancel() can interrupt it, and fills resp. */
static tecg_err_t http_perform(tecg_http_client_t *c, tecg_http_response_t *resp) {
        tecg_err_t err = TECG_OK;
        CURLMcode mc = CURLM_OK;
        CURLcode res = CURLE_OK;
        int added = 0, running = 1, done_seen = 0;

        if (atomic_load(&c->cancelled)) {
                err = tecg_seterr(TECG_ERR_IO, resp->errstr, sizeof(resp->errstr),
                                  "request cancelled");
                goto done;
        }
        mc = curl_multi_add_handle(c->multi, c->easy);
        if (mc != CURLM_OK)
                goto done;
        added = 1;
        for (;;) {
                mc = curl_multi_perform(c->multi, &running);
                if (mc != CURLM_OK || !running)
                        break;
                if (atomic_load(&c->cancelled))
                        break;
                /* Curl's own timers (connect/total timeout) bound the wait;
                 * the 1 s cap is only a safety net. */
                mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
                if (mc != CURLM_OK)
                        break;
        }
        if (mc != CURLM_OK)
                goto done;
        if (running) {
                err = tecg_seterr(TECG_ERR_IO, resp->errstr, sizeof(resp->errstr),
                                  "request cancelled");
                goto done;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(c->multi, &left)))
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy) {
                        res = msg->data.result;
                        done_seen = 1;
                }
        if (!done_seen)
                res = CURLE_FAILED_INIT; /* cannot happen with running == 0 */

        if (c->nomem) {
                err = tecg_seterr(TECG_ERR_NOMEM, resp->errstr, sizeof(resp->errstr),
                                  "out of memory reading the response");
                goto done;
        }
        if (res != CURLE_OK) {
                err = tecg_seterr(TECG_ERR_IO, resp->errstr, sizeof(resp->errstr),
                                  "%s (curl error %d)",
                                  c->errbuf[0] ? c->errbuf : curl_easy_strerror(res), (int)res);
                goto done;
        }
        long status = 0, conns = 0;
        curl_off_t retry_after = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &conns);
        if (curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK ||
            retry_after < 0)
                retry_after = 0;
        resp->status = status;
        resp->new_connections = conns;
        resp->retry_after_s = retry_after > 86400 ? 86400 : (long)retry_after;
        if (tecg_buf_terminate(&resp->body) != TECG_OK)
                err = tecg_seterr(TECG_ERR_NOMEM, resp->errstr, sizeof(resp->errstr),
                                  "out of memory");

done:
        if (mc != CURLM_OK)
                err = tecg_seterr(TECG_ERR_IO, resp->errstr, sizeof(resp->errstr),
                                  "libcurl multi: %s", curl_multi_strerror(mc));
        if (added)
                curl_multi_remove_handle(c->multi, c->easy);
        if (err)
                resp->status = 0;
        c->resp = NULL;
        return err;
}

/* Common part of POST and GET: reset resp, set URL and headers, perform. */
static tecg_err_t http_request(tecg_http_client_t *c, const char *url, const char *const *headers,
                               int is_post, const void *body, size_t len,
                               tecg_http_response_t *resp) {
        struct curl_slist *hdrs = NULL;
        tecg_err_t err = TECG_OK;
        /* The token goes only to the URL it was configured for. */
        int with_auth = !url || strcmp(url, c->url) == 0;

        tecg_buf_reset(&resp->body);
        resp->status = 0;
        resp->body_truncated = 0;
        resp->retry_after_s = 0;
        resp->new_connections = 0;
        resp->errstr[0] = '\0';
        c->errbuf[0] = '\0';
        c->resp = resp;
        c->nomem = 0;

        if (url && http_has_crlf(url)) {
                err = tecg_seterr(TECG_ERR_INVALID, resp->errstr, sizeof(resp->errstr),
                                  "URL contains a line break");
                goto done;
        }
        for (size_t i = 0; headers && headers[i]; i++)
                if (http_has_crlf(headers[i])) {
                        err = tecg_seterr(TECG_ERR_INVALID, resp->errstr, sizeof(resp->errstr),
                                          "header %zu contains a line break", i);
                        goto done;
                }
        if (http_headers(c, headers, with_auth, &hdrs) != TECG_OK) {
                err = tecg_seterr(TECG_ERR_NOMEM, resp->errstr, sizeof(resp->errstr),
                                  "out of memory");
                goto done;
        }
        curl_easy_setopt(c->easy, CURLOPT_URL, url ? url : c->url);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
        if (is_post) {
                /* Borrowed: curl reads body during http_perform() only. */
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body ? body : "");
        } else {
                curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
        }
        err = http_perform(c, resp);

done:
        /* The handle must not keep pointers to freed or borrowed memory. */
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
        if (is_post)
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
        curl_slist_free_all(hdrs);
        c->resp = NULL;
        return err;
}

tecg_err_t tecg_http_post(tecg_http_client_t *c, const char *const *headers, const void *body,
                          size_t len, tecg_http_response_t *resp) {
        return http_request(c, NULL, headers, 1, body, len, resp);
}

tecg_err_t tecg_http_get(tecg_http_client_t *c, const char *url, const char *const *headers,
                         tecg_http_response_t *resp) {
        return http_request(c, url, headers, 0, NULL, 0, resp);
}
