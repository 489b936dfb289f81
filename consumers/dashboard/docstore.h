/* The latest version of each dashboard document (docs/design.md §5), shared between
 * the thread that composes them (tecg-dashboard's main loop puts) and the
 * HTTP server's threads (they get, list and wait for changes).
 *
 * A stored document is an immutable, reference-counted snapshot: a reader
 * takes a reference under the lock and then writes it to a socket without
 * the lock, while the writer may already have replaced it. Putting never
 * blocks on a slow reader.
 *
 * Change notification: every put that changes the store increments one
 * store-wide sequence number and wakes the waiters of
 * tecg_docstore_wait_change(). Each snapshot carries the sequence number of
 * the put that made it, so a subscriber that remembers the last sequence it
 * has seen can tell which documents changed since (see tecg_docstore_list).
 * A subscriber that is slower than the puts sees only the latest version of
 * a document, never a queue of stale ones: documents are states, not events.
 *
 * Ownership: the store copies what it is given; a tecg_doc_t filled by get
 * or list holds one reference that tecg_doc_release() drops. Snapshots stay
 * valid after newer puts and even after tecg_docstore_destroy(). */
#ifndef TECG_DOCSTORE_H
#define TECG_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Longest accepted document name; names are [A-Za-z0-9_-]{1,64}. */
#define TECG_DOCSTORE_NAME_MAX 64

typedef struct tecg_docstore tecg_docstore_t;
typedef struct tecg_doc_blob tecg_doc_blob_t; /* private */

/* One snapshot. All pointers point into the snapshot's own memory and stay
 * valid until tecg_doc_release(). json is NUL-terminated (len excludes the
 * NUL) and is exactly the bytes that were put. */
typedef struct {
        const char *name;
        uint64_t version;
        const char *json;
        size_t len;
        uint64_t seq;       /* store sequence number of the put */
        int64_t updated_ms; /* wall clock (ms since the epoch) of the put */
        /* The version's Tecg-Signature value (docsign.h), NULL when the
         * documents are not signed. Made once per version by whoever made
         * the version, so every reader hands out the same one. */
        const char *signature;
        tecg_doc_blob_t *ref;
} tecg_doc_t;

/* An empty store; NULL on allocation failure. */
tecg_docstore_t *tecg_docstore_new(void);

/* Frees the store. NULL ok. Snapshots still held by readers stay valid; no
 * thread may be inside a tecg_docstore_* call on this store any more. */
void tecg_docstore_destroy(tecg_docstore_t *store);

/* Stores a copy of `json` (len bytes, a JSON object) as the latest version
 * of document `name`, and notifies the waiters.
 *  - TECG_ERR_INVALID: bad name, or json is not a JSON object (as
 *    json_flat.h reads JSON: strict UTF-8, no duplicate keys, at most 64
 *    nested objects and arrays);
 *  - TECG_ERR_INVALID "stale": version is lower than the stored one (the
 *    store keeps the latest; nothing changes);
 *  - the same version with the same bytes is a no-op (TECG_OK, no
 *    notification); the same version with other bytes replaces it.
 * errstr may be NULL. */
tecg_err_t tecg_docstore_put(tecg_docstore_t *store, const char *name, uint64_t version,
                             const char *json, size_t len, char *errstr, size_t errstr_size);

/* The same, with the version's signature (a Tecg-Signature value,
 * docsign.h; NULL for none) kept beside the bytes it signs. A put of the
 * same version with the same bytes and signature is the no-op. */
tecg_err_t tecg_docstore_put_signed(tecg_docstore_t *store, const char *name, uint64_t version,
                                    const char *json, size_t len, const char *signature,
                                    char *errstr, size_t errstr_size);

/* Fills *out with a reference to the latest snapshot of `name`.
 * TECG_ERR_NOT_FOUND (and *out zeroed) when there is none. */
tecg_err_t tecg_docstore_get(tecg_docstore_t *store, const char *name, tecg_doc_t *out);

/* Drops the reference held by *doc and zeroes it. NULL and zeroed docs ok. */
void tecg_doc_release(tecg_doc_t *doc);

/* All current snapshots, sorted by name, in one consistent view: *docs is a
 * malloc'ed array of *count references (NULL when empty) and *seq (may be
 * NULL) the store sequence number that view reflects. Free with
 * tecg_docs_release(). Document names are the `name` fields. */
tecg_err_t tecg_docstore_list(tecg_docstore_t *store, tecg_doc_t **docs, size_t *count,
                              uint64_t *seq);

/* Releases every snapshot of a list and frees the array. NULL ok. */
void tecg_docs_release(tecg_doc_t *docs, size_t count);

/* The current store sequence number (0 for a store never put to). */
uint64_t tecg_docstore_seq(tecg_docstore_t *store);

/* Blocks until the store sequence number differs from *seq, at most
 * timeout_ms (< 0: no limit), then sets *seq to the current number.
 *  - TECG_OK: the store changed (*seq advanced);
 *  - TECG_ERR_RETRY: timeout, or woken by tecg_docstore_wakeup(): the
 *    caller re-checks its own stop condition and waits again. */
tecg_err_t tecg_docstore_wait_change(tecg_docstore_t *store, uint64_t *seq, int timeout_ms);

/* Wakes every waiter of tecg_docstore_wait_change() without a change, so a
 * server that is stopping does not wait for its timeouts. */
void tecg_docstore_wakeup(tecg_docstore_t *store);

#endif
