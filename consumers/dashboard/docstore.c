/* Latest dashboard documents, shared by the composer and the HTTP threads.
 * See docstore.h for the contract. One mutex guards the table of current
 * snapshots and the sequence numbers; snapshots themselves are immutable
 * and reference-counted with C11 atomics, so a reader never holds the lock
 * while it writes to a socket. */
#include "docstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json_flat.h"

/* Deeper than any document tecg composes (a funding row nests 8 deep). */
#define DOC_DEPTH_MAX 64

/* One allocation: header, then name, json and signature, each
 * NUL-terminated. */
struct tecg_doc_blob {
        atomic_uint refs;
        uint64_t version;
        uint64_t seq;
        int64_t updated_ms;
        size_t len;
        char *name;
        char *json;
        char *signature; /* NULL: unsigned */
};

struct tecg_docstore {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        uint64_t seq;           /* +1 on every put that changes the store */
        uint64_t wakeups;       /* +1 on every tecg_docstore_wakeup() */
        tecg_doc_blob_t **docs; /* sorted by name */
        size_t ndocs;
        size_t cap;
};

static bool name_valid(const char *name) {
        size_t n = 0;
        if (!name)
                return false;
        for (; name[n]; n++) {
                char c = name[n];
                if (n >= TECG_DOCSTORE_NAME_MAX)
                        return false;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-'))
                        return false;
        }
        return n > 0;
}

static tecg_doc_blob_t *blob_new(const char *name, uint64_t version, const char *json, size_t len,
                                 const char *signature) {
        size_t nlen = strlen(name);
        size_t slen = signature ? strlen(signature) + 1 : 0;
        tecg_doc_blob_t *b;
        if (len > SIZE_MAX - sizeof(*b) - nlen - 2 - slen)
                return NULL;
        b = malloc(sizeof(*b) + nlen + 1 + len + 1 + slen);
        if (!b)
                return NULL;
        atomic_init(&b->refs, 1);
        b->version = version;
        b->seq = 0;
        b->updated_ms = tecg_wall_ms();
        b->len = len;
        b->name = (char *)(b + 1);
        memcpy(b->name, name, nlen + 1);
        b->json = b->name + nlen + 1;
        if (len)
                memcpy(b->json, json, len);
        b->json[len] = '\0';
        b->signature = NULL;
        if (signature) {
                b->signature = b->json + len + 1;
                memcpy(b->signature, signature, slen);
        }
        return b;
}

static void blob_ref(tecg_doc_blob_t *b) {
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

static void blob_unref(tecg_doc_blob_t *b) {
        if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
                free(b);
}

/* Takes a new reference for the caller. */
static void doc_fill(tecg_doc_t *out, tecg_doc_blob_t *b) {
        blob_ref(b);
        out->name = b->name;
        out->version = b->version;
        out->json = b->json;
        out->len = b->len;
        out->seq = b->seq;
        out->updated_ms = b->updated_ms;
        out->signature = b->signature;
        out->ref = b;
}

/* Index of `name`, or where it would be inserted (*found false). Locked. */
static size_t find_locked(const tecg_docstore_t *store, const char *name, bool *found) {
        size_t lo = 0, hi = store->ndocs;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(store->docs[mid]->name, name);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

tecg_docstore_t *tecg_docstore_new(void) {
        tecg_docstore_t *store = calloc(1, sizeof(*store));
        pthread_condattr_t attr;
        bool mutex_ok = false, attr_ok = false, cond_ok = false;
        if (!store)
                goto done;
        if (pthread_mutex_init(&store->lock, NULL) != 0)
                goto done;
        mutex_ok = true;
        if (pthread_condattr_init(&attr) != 0)
                goto done;
        attr_ok = true;
        /* Timeouts measured on the monotonic clock: a wall-clock step must
         * not stall or flood the SSE keep-alives. */
        if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0)
                goto done;
        if (pthread_cond_init(&store->changed, &attr) != 0)
                goto done;
        cond_ok = true;
done:
        if (attr_ok)
                pthread_condattr_destroy(&attr);
        if (store && !cond_ok) {
                if (mutex_ok)
                        pthread_mutex_destroy(&store->lock);
                free(store);
                store = NULL;
        }
        return store;
}

void tecg_docstore_destroy(tecg_docstore_t *store) {
        if (!store)
                return;
        for (size_t i = 0; i < store->ndocs; i++)
                blob_unref(store->docs[i]);
        free(store->docs);
        pthread_cond_destroy(&store->changed);
        pthread_mutex_destroy(&store->lock);
        free(store);
}

static bool same_signature(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

tecg_err_t tecg_docstore_put(tecg_docstore_t *store, const char *name, uint64_t version,
                             const char *json, size_t len, char *errstr, size_t errstr_size) {
        return tecg_docstore_put_signed(store, name, version, json, len, NULL, errstr, errstr_size);
}

tecg_err_t tecg_docstore_put_signed(tecg_docstore_t *store, const char *name, uint64_t version,
                                    const char *json, size_t len, const char *signature,
                                    char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_doc_blob_t *blob = NULL, *old = NULL;
        tecg_json_flat_t *parser = NULL;
        tecg_json_flat_doc_t parsed;
        char why[160];
        bool locked = false, found;
        size_t idx;

        if (!name_valid(name)) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "document name must be 1-%d characters of "
                                  "[A-Za-z0-9_-]",
                                  TECG_DOCSTORE_NAME_MAX);
                goto done;
        }
        /* Checked only to refuse what the server could not serve as JSON,
         * by a parser that builds no tree (a tree of every 300 kB version
         * cost more than composing it); the stored bytes are the caller's,
         * unchanged. */
        if (!(parser = tecg_json_flat_new(DOC_DEPTH_MAX))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
                goto done;
        }
        err = tecg_json_flat_parse(parser, json, len, &parsed, why, sizeof(why));
        if (err == TECG_ERR_NOMEM) {
                tecg_seterr(err, errstr, errstr_size, "%s: out of memory", name);
                goto done;
        }
        if (err || parsed.top.kind != TECG_JSON_FLAT_OBJECT) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "%s: not a JSON object%s%s", name, err ? ": " : "",
                                  err ? why : "");
                goto done;
        }
        blob = blob_new(name, version, json, len, signature);
        if (!blob) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
                goto done;
        }

        pthread_mutex_lock(&store->lock);
        locked = true;
        idx = find_locked(store, name, &found);
        if (found) {
                tecg_doc_blob_t *cur = store->docs[idx];
                if (version < cur->version) {
                        err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                          "%s: stale version %llu < %llu", name,
                                          (unsigned long long)version,
                                          (unsigned long long)cur->version);
                        goto done;
                }
                if (version == cur->version && len == cur->len &&
                    memcmp(json, cur->json, len) == 0 && same_signature(signature, cur->signature))
                        goto done; /* same document again: nothing changed */
                old = cur;
        } else {
                if (store->ndocs == store->cap) {
                        size_t cap = store->cap ? store->cap * 2 : 8;
                        tecg_doc_blob_t **p = realloc(store->docs, cap * sizeof(tecg_doc_blob_t *));
                        if (!p) {
                                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                                  "%s: out of memory", name);
                                goto done;
                        }
                        store->docs = p;
                        store->cap = cap;
                }
                memmove(store->docs + idx + 1, store->docs + idx,
                        (store->ndocs - idx) * sizeof(tecg_doc_blob_t *));
                store->ndocs++;
        }
        blob->seq = ++store->seq;
        store->docs[idx] = blob;
        blob = NULL;
        pthread_cond_broadcast(&store->changed);
done:
        if (locked)
                pthread_mutex_unlock(&store->lock);
        blob_unref(old); /* outside the lock: may free a large document */
        blob_unref(blob);
        tecg_json_flat_destroy(parser);
        return err;
}

tecg_err_t tecg_docstore_get(tecg_docstore_t *store, const char *name, tecg_doc_t *out) {
        tecg_err_t err = TECG_ERR_NOT_FOUND;
        bool found;
        size_t idx;

        memset(out, 0, sizeof(*out));
        if (!name)
                return err;
        pthread_mutex_lock(&store->lock);
        idx = find_locked(store, name, &found);
        if (found) {
                doc_fill(out, store->docs[idx]);
                err = TECG_OK;
        }
        pthread_mutex_unlock(&store->lock);
        return err;
}

void tecg_doc_release(tecg_doc_t *doc) {
        if (!doc)
                return;
        blob_unref(doc->ref);
        memset(doc, 0, sizeof(*doc));
}

tecg_err_t tecg_docstore_list(tecg_docstore_t *store, tecg_doc_t **docs, size_t *count,
                              uint64_t *seq) {
        tecg_err_t err = TECG_OK;
        tecg_doc_t *arr = NULL;

        *docs = NULL;
        *count = 0;
        pthread_mutex_lock(&store->lock);
        if (store->ndocs > 0) {
                arr = calloc(store->ndocs, sizeof(*arr));
                if (!arr) {
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                for (size_t i = 0; i < store->ndocs; i++)
                        doc_fill(&arr[i], store->docs[i]);
                *count = store->ndocs;
        }
        if (seq)
                *seq = store->seq;
        *docs = arr;
done:
        pthread_mutex_unlock(&store->lock);
        return err;
}

void tecg_docs_release(tecg_doc_t *docs, size_t count) {
        if (!docs)
                return;
        for (size_t i = 0; i < count; i++)
                tecg_doc_release(&docs[i]);
        free(docs);
}

uint64_t tecg_docstore_seq(tecg_docstore_t *store) {
        uint64_t seq;
        pthread_mutex_lock(&store->lock);
        seq = store->seq;
        pthread_mutex_unlock(&store->lock);
        return seq;
}

tecg_err_t tecg_docstore_wait_change(tecg_docstore_t *store, uint64_t *seq, int timeout_ms) {
        tecg_err_t err = TECG_ERR_RETRY;
        struct timespec deadline;
        uint64_t wakeups;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        if (timeout_ms > 0) {
                deadline.tv_sec += timeout_ms / 1000;
                deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
                if (deadline.tv_nsec >= 1000000000L) {
                        deadline.tv_sec++;
                        deadline.tv_nsec -= 1000000000L;
                }
        }
        pthread_mutex_lock(&store->lock);
        wakeups = store->wakeups;
        while (store->seq == *seq && store->wakeups == wakeups) {
                int rc;
                if (timeout_ms == 0)
                        break;
                if (timeout_ms < 0)
                        rc = pthread_cond_wait(&store->changed, &store->lock);
                else
                        rc = pthread_cond_timedwait(&store->changed, &store->lock, &deadline);
                if (rc == ETIMEDOUT)
                        break;
        }
        if (store->seq != *seq) {
                *seq = store->seq;
                err = TECG_OK;
        }
        pthread_mutex_unlock(&store->lock);
        return err;
}

void tecg_docstore_wakeup(tecg_docstore_t *store) {
        pthread_mutex_lock(&store->lock);
        store->wakeups++;
        pthread_cond_broadcast(&store->changed);
        pthread_mutex_unlock(&store->lock);
}
