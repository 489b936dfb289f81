/* The docstore (consumers/docstore.h): latest version per document,
 * snapshots that outlive newer puts, change notification, and a few
 * thousand concurrent operations (run it under ASan/TSan to mean it). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docstore.h"
#include "testutil.h"

static tecg_err_t put(tecg_docstore_t *s, const char *name, uint64_t version, const char *json) {
        char errstr[256] = "";
        return tecg_docstore_put(s, name, version, json, strlen(json), errstr, sizeof(errstr));
}

/* {"a":[[...]]}: depth arrays nested in an object, written to out (room
 * for 2 * depth + 16 bytes). */
static const char *nested(char *out, int depth) {
        size_t n = (size_t)sprintf(out, "{\"a\":");
        for (int i = 0; i < depth; i++)
                out[n++] = '[';
        for (int i = 0; i < depth; i++)
                out[n++] = ']';
        out[n++] = '}';
        out[n] = '\0';
        return out;
}

static void test_put_get_versions(void **state) {
        tecg_docstore_t *s = tecg_docstore_new();
        tecg_doc_t d;
        char errstr[256];
        (void)state;

        assert_non_null(s);
        assert_int_equal(tecg_docstore_seq(s), 0);
        assert_int_equal(tecg_docstore_get(s, "funding", &d), TECG_ERR_NOT_FOUND);
        assert_null(d.json);
        tecg_doc_release(&d); /* zeroed: fine */

        assert_int_equal(put(s, "funding", 1, "{\"v\":1}"), TECG_OK);
        assert_int_equal(tecg_docstore_seq(s), 1);
        assert_int_equal(tecg_docstore_get(s, "funding", &d), TECG_OK);
        assert_string_equal(d.name, "funding");
        assert_int_equal(d.version, 1);
        assert_int_equal(d.len, 7);
        assert_string_equal(d.json, "{\"v\":1}");
        assert_int_equal(d.seq, 1);
        assert_true(d.updated_ms > 0);
        tecg_doc_release(&d);
        assert_null(d.ref);

        assert_int_equal(put(s, "funding", 2, "{\"v\":2}"), TECG_OK);
        assert_int_equal(tecg_docstore_get(s, "funding", &d), TECG_OK);
        assert_int_equal(d.version, 2);
        assert_string_equal(d.json, "{\"v\":2}");
        tecg_doc_release(&d);

        /* Stale: refused, nothing changes, no notification. */
        assert_int_equal(tecg_docstore_put(s, "funding", 1, "{\"v\":1}", 7, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_non_null(strstr(errstr, "stale"));
        assert_int_equal(tecg_docstore_seq(s), 2);

        /* Same version, same bytes: a no-op. Other bytes: replaced. */
        assert_int_equal(put(s, "funding", 2, "{\"v\":2}"), TECG_OK);
        assert_int_equal(tecg_docstore_seq(s), 2);
        assert_int_equal(put(s, "funding", 2, "{\"v\": 2}"), TECG_OK);
        assert_int_equal(tecg_docstore_seq(s), 3);
        assert_int_equal(tecg_docstore_get(s, "funding", &d), TECG_OK);
        assert_string_equal(d.json, "{\"v\": 2}");
        tecg_doc_release(&d);

        /* Refused: names and non-objects. errstr may be NULL. */
        assert_int_equal(tecg_docstore_put(s, "", 1, "{}", 2, NULL, 0), TECG_ERR_INVALID);
        assert_int_equal(tecg_docstore_put(s, "a/b", 1, "{}", 2, NULL, 0), TECG_ERR_INVALID);
        assert_int_equal(tecg_docstore_put(s, NULL, 1, "{}", 2, NULL, 0), TECG_ERR_INVALID);
        assert_int_equal(put(s, "x", 1, "[1,2]"), TECG_ERR_INVALID);
        assert_int_equal(put(s, "x", 1, "{\"a\":"), TECG_ERR_INVALID);
        /* As json_flat.h reads JSON: a duplicate key, bad UTF-8, nesting
         * deeper than 64 are refused, with where and why. */
        assert_int_equal(
                tecg_docstore_put(s, "x", 1, "{\"a\":1,\"a\":2}", 13, errstr, sizeof(errstr)),
                TECG_ERR_INVALID);
        assert_non_null(strstr(errstr, "x: not a JSON object: invalid JSON at byte offset"));
        assert_int_equal(put(s, "x", 1, "{\"a\":\"\xc3\x28\"}"), TECG_ERR_INVALID);
        char deep[2 * 70 + 16];
        assert_int_equal(put(s, "x", 1, nested(deep, 70)), TECG_ERR_INVALID);
        assert_int_equal(put(s, "deep", 1, nested(deep, 60)), TECG_OK); /* served */
        assert_int_equal(tecg_docstore_put(s, "x", 1, "{}garbage", 2, NULL, 0),
                         TECG_OK); /* len bounds the document */
        assert_int_equal(tecg_docstore_get(s, "x", &d), TECG_OK);
        assert_string_equal(d.json, "{}");
        tecg_doc_release(&d);

        tecg_docstore_destroy(s);
        tecg_docstore_destroy(NULL);
}

static void test_snapshot_outlives_puts(void **state) {
        tecg_docstore_t *s = tecg_docstore_new();
        tecg_doc_t old, cur;
        (void)state;

        assert_int_equal(put(s, "staffing", 7, "{\"fill_rate\":0.5}"), TECG_OK);
        assert_int_equal(tecg_docstore_get(s, "staffing", &old), TECG_OK);
        assert_int_equal(put(s, "staffing", 8, "{\"fill_rate\":0.75}"), TECG_OK);
        assert_int_equal(tecg_docstore_get(s, "staffing", &cur), TECG_OK);
        /* The old snapshot is still intact (ASan would catch a free). */
        assert_int_equal(old.version, 7);
        assert_string_equal(old.json, "{\"fill_rate\":0.5}");
        assert_int_equal(cur.version, 8);
        tecg_docstore_destroy(s);
        /* ...and even after the store is gone. */
        assert_string_equal(old.name, "staffing");
        assert_string_equal(cur.json, "{\"fill_rate\":0.75}");
        tecg_doc_release(&old);
        tecg_doc_release(&cur);
}

static void test_list(void **state) {
        tecg_docstore_t *s = tecg_docstore_new();
        tecg_doc_t *docs;
        size_t n;
        uint64_t seq;
        (void)state;

        assert_int_equal(tecg_docstore_list(s, &docs, &n, &seq), TECG_OK);
        assert_int_equal(n, 0);
        assert_null(docs);
        assert_int_equal(seq, 0);
        tecg_docs_release(docs, n);

        assert_int_equal(put(s, "training", 1, "{}"), TECG_OK);
        assert_int_equal(put(s, "funding", 4, "{}"), TECG_OK);
        assert_int_equal(put(s, "staffing", 2, "{}"), TECG_OK);
        assert_int_equal(put(s, "funding", 5, "{\"a\":1}"), TECG_OK);
        assert_int_equal(tecg_docstore_list(s, &docs, &n, &seq), TECG_OK);
        assert_int_equal(n, 3);
        assert_int_equal(seq, 4);
        assert_string_equal(docs[0].name, "funding");
        assert_int_equal(docs[0].version, 5);
        assert_int_equal(docs[0].seq, 4);
        assert_string_equal(docs[1].name, "staffing");
        assert_int_equal(docs[1].seq, 3);
        assert_string_equal(docs[2].name, "training");
        assert_int_equal(docs[2].seq, 1);
        tecg_docs_release(docs, n);
        tecg_docs_release(NULL, 0);
        tecg_docstore_destroy(s);
}

typedef struct {
        tecg_docstore_t *store;
        int delay_ms;
        int wakeup; /* 1: tecg_docstore_wakeup instead of a put */
} delayed_t;

static void *delayed_put(void *arg) {
        delayed_t *d = arg;
        tu_sleep_ms(d->delay_ms);
        if (d->wakeup)
                tecg_docstore_wakeup(d->store);
        else
                put(d->store, "funding", 9, "{\"late\":true}");
        return NULL;
}

static void test_wait_change(void **state) {
        tecg_docstore_t *s = tecg_docstore_new();
        uint64_t seq = 0;
        int64_t t0;
        pthread_t th;
        delayed_t d = {s, 100, 0};
        (void)state;

        /* Nothing happens: times out after about the timeout. */
        t0 = tu_now_ms();
        assert_int_equal(tecg_docstore_wait_change(s, &seq, 150), TECG_ERR_RETRY);
        assert_true(tu_now_ms() - t0 >= 140);
        assert_true(tu_now_ms() - t0 < 2000);
        assert_int_equal(seq, 0);
        assert_int_equal(tecg_docstore_wait_change(s, &seq, 0), TECG_ERR_RETRY);

        /* A put from another thread wakes the waiter long before 5 s. */
        assert_int_equal(pthread_create(&th, NULL, delayed_put, &d), 0);
        t0 = tu_now_ms();
        assert_int_equal(tecg_docstore_wait_change(s, &seq, 5000), TECG_OK);
        assert_true(tu_now_ms() - t0 < 2000);
        assert_int_equal(seq, 1);
        pthread_join(th, NULL);

        /* Already behind: returns at once. */
        seq = 0;
        assert_int_equal(tecg_docstore_wait_change(s, &seq, 0), TECG_OK);
        assert_int_equal(seq, 1);

        /* wakeup(): returns without a change, long before the timeout. */
        d.wakeup = 1;
        assert_int_equal(pthread_create(&th, NULL, delayed_put, &d), 0);
        t0 = tu_now_ms();
        assert_int_equal(tecg_docstore_wait_change(s, &seq, -1), TECG_ERR_RETRY);
        assert_true(tu_now_ms() - t0 < 2000);
        assert_int_equal(seq, 1);
        pthread_join(th, NULL);
        tecg_docstore_destroy(s);
}

/* Writers put {"n":VERSION} under a few names; readers check that what
 * they get is internally consistent and never goes back in version. */
#define NAMES 3
#define WRITERS 3
#define READERS 3
#define OPS 3000

typedef struct {
        tecg_docstore_t *store;
        int id;
        atomic_uint_fast64_t *next_version; /* per name */
        atomic_int *failures;
        atomic_int *writers_left;
} worker_t;

static const char *const names[NAMES] = {"funding", "staffing", "training"};

static void *writer(void *arg) {
        worker_t *w = arg;
        for (int i = 0; i < OPS; i++) {
                int k = (i + w->id) % NAMES;
                uint64_t v = atomic_fetch_add(&w->next_version[k], 1) + 1;
                char json[64];
                tecg_err_t err;
                snprintf(json, sizeof(json), "{\"n\":%llu}", (unsigned long long)v);
                err = tecg_docstore_put(w->store, names[k], v, json, strlen(json), NULL, 0);
                /* A writer that drew a lower version may lose the race:
                 * stale is the one acceptable refusal. */
                if (err != TECG_OK && err != TECG_ERR_INVALID)
                        atomic_fetch_add(w->failures, 1);
        }
        atomic_fetch_sub(w->writers_left, 1);
        return NULL;
}

static void *reader(void *arg) {
        worker_t *w = arg;
        uint64_t last[NAMES] = {0};
        uint64_t seq = 0;
        for (int i = 0; i < OPS; i++) {
                int k = i % NAMES;
                tecg_doc_t d;
                unsigned long long n = 0;
                if (i % 3 == 0) {
                        tecg_doc_t *docs;
                        size_t cnt;
                        if (tecg_docstore_list(w->store, &docs, &cnt, NULL))
                                atomic_fetch_add(w->failures, 1);
                        tecg_docs_release(docs, cnt);
                }
                if (i % 50 == 0 && atomic_load(w->writers_left) > 0)
                        tecg_docstore_wait_change(w->store, &seq, 5);
                if (tecg_docstore_get(w->store, names[k], &d) != TECG_OK)
                        continue;
                if (sscanf(d.json, "{\"n\":%llu}", &n) != 1 || n != d.version ||
                    d.version < last[k] || strcmp(d.name, names[k]) != 0)
                        atomic_fetch_add(w->failures, 1);
                last[k] = d.version;
                tecg_doc_release(&d);
        }
        return NULL;
}

static void test_concurrent(void **state) {
        tecg_docstore_t *s = tecg_docstore_new();
        atomic_uint_fast64_t next[NAMES];
        atomic_int failures = 0, writers_left = WRITERS;
        pthread_t th[WRITERS + READERS];
        worker_t w[WRITERS + READERS];
        (void)state;

        for (int k = 0; k < NAMES; k++)
                atomic_init(&next[k], 0);
        for (int i = 0; i < WRITERS + READERS; i++) {
                w[i] = (worker_t){s, i, next, &failures, &writers_left};
                assert_int_equal(pthread_create(&th[i], NULL, i < WRITERS ? writer : reader, &w[i]),
                                 0);
        }
        for (int i = 0; i < WRITERS + READERS; i++)
                pthread_join(th[i], NULL);
        assert_int_equal(atomic_load(&failures), 0);
        for (int k = 0; k < NAMES; k++) {
                tecg_doc_t d;
                assert_int_equal(tecg_docstore_get(s, names[k], &d), TECG_OK);
                assert_true(d.version <= atomic_load(&next[k]));
                tecg_doc_release(&d);
        }
        tecg_docstore_destroy(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_put_get_versions),
                cmocka_unit_test(test_snapshot_outlives_puts),
                cmocka_unit_test(test_list),
                cmocka_unit_test(test_wait_change),
                cmocka_unit_test(test_concurrent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
