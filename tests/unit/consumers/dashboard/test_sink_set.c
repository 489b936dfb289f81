/* The set of sinks a reload replaces (consumers/dashboard/sink.h,
 * tecg_sinks_*): unchanged members kept as they are, new ones given the
 * last version of each dashboard, removed ones gone from what the HTTP
 * threads see, and a failed update changing nothing. Against the test
 * receiver (tests/unit/util/testserver.h) and dead addresses. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sink.h"
#include "testserver.h"
#include "testutil.h"

typedef struct {
        tu_net_t net;
        tecg_sinks_t *set;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f || !(f->set = tecg_sinks_new()))
                return -1;
        tu_net_init(&f->net);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_sinks_destroy(f->set, 0);
        tu_net_release(&f->net);
        free(f);
        return 0;
}

static tecg_sink_options_t options(const char *name, const char *url) {
        return (tecg_sink_options_t){.name = name,
                                     .url = url,
                                     .timeout_ms = 10000,
                                     .backoff_initial_ms = 20,
                                     .backoff_max_ms = 2000};
}

typedef struct {
        tecg_sink_t *members[8];
        size_t n;
} seen_t;

static void collect(tecg_sink_t *sink, void *opaque) {
        seen_t *seen = opaque;
        if (seen->n < 8)
                seen->members[seen->n++] = sink;
}

static seen_t members(tecg_sinks_t *set) {
        seen_t seen = {.n = 0};
        tecg_sinks_foreach(set, collect, &seen);
        assert_int_equal(seen.n, tecg_sinks_count(set));
        return seen;
}

static tecg_sink_t *member(tecg_sinks_t *set, const char *name) {
        seen_t seen = members(set);
        for (size_t i = 0; i < seen.n; i++)
                if (strcmp(tecg_sink_name(seen.members[i]), name) == 0)
                        return seen.members[i];
        return NULL;
}

static void offer(tecg_sinks_t *set, const char *dashboard, uint64_t version) {
        char json[128];
        int n = snprintf(json, sizeof(json), "{\"dashboard\":\"%s\",\"version\":%" PRIu64 "}",
                         dashboard, version);
        assert_int_equal(tecg_sinks_offer_signed(set, dashboard, version, json, (size_t)n, NULL),
                         TECG_OK);
}

static void update(tecg_sinks_t *set, const tecg_sink_options_t *o, size_t n, size_t want_added,
                   size_t want_removed, size_t want_kept) {
        char err[512];
        size_t added = 99, removed = 99, kept = 99;
        tecg_err_t rc = tecg_sinks_update(set, o, n, &added, &removed, &kept, err, sizeof(err));
        if (rc)
                print_error("tecg_sinks_update: %s\n", err);
        assert_int_equal(rc, TECG_OK);
        assert_int_equal(added, want_added);
        assert_int_equal(removed, want_removed);
        assert_int_equal(kept, want_kept);
}

/* A sink added later gets the last version of every dashboard offered
 * before it joined; the one that stays is the same sink, its counters
 * intact. */
static void test_added_sink_gets_current_versions(void **state) {
        fixture_t *f = *state;
        char dead[128];
        assert_true(tu_closed_port(dead, sizeof(dead)) > 0);
        tu_server_start(&f->net.srv, NULL);
        tecg_sink_options_t o[2] = {options("old", dead), options("new", f->net.srv.url)};

        update(f->set, o, 1, 1, 0, 0);
        tecg_sink_t *old = member(f->set, "old");
        assert_non_null(old);
        offer(f->set, "funding", 3);
        offer(f->set, "funding", 4);
        offer(f->set, "staffing", 7);

        update(f->set, o, 2, 1, 0, 1);
        assert_ptr_equal(member(f->set, "old"), old);
        tecg_sink_t *fresh = member(f->set, "new");
        assert_non_null(fresh);
        assert_int_equal(tecg_sink_wait_delivered(fresh, "funding", 4, 20000), TECG_OK);
        assert_int_equal(tecg_sink_wait_delivered(fresh, "staffing", 7, 20000), TECG_OK);

        /* Offers after the update reach both. */
        offer(f->set, "funding", 5);
        assert_int_equal(tecg_sink_wait_delivered(fresh, "funding", 5, 20000), TECG_OK);
        tecg_sink_stats_t st;
        tecg_sink_stats(old, &st);
        assert_true(st.pending >= 1); /* still trying the dead address */
}

/* A removed sink leaves the set; a sink whose options changed is a new
 * sink under the same name. */
static void test_removed_and_changed(void **state) {
        fixture_t *f = *state;
        char dead[128];
        assert_true(tu_closed_port(dead, sizeof(dead)) > 0);
        tu_server_start(&f->net.srv, NULL);
        tecg_sink_options_t o[2] = {options("a", f->net.srv.url), options("b", dead)};
        update(f->set, o, 2, 2, 0, 0);
        offer(f->set, "training", 1);
        tecg_sink_t *a = member(f->set, "a");

        /* b goes, with its pending version: no wait on its dead address. */
        update(f->set, o, 1, 0, 1, 1);
        assert_int_equal(tecg_sinks_count(f->set), 1);
        assert_null(member(f->set, "b"));
        assert_ptr_equal(member(f->set, "a"), a);

        /* a's timeout changes: a new sink "a", given training 1 again. */
        o[0].timeout_ms = 5000;
        update(f->set, o, 1, 1, 1, 0);
        tecg_sink_t *a2 = member(f->set, "a");
        assert_non_null(a2);
        assert_int_equal(tecg_sink_wait_delivered(a2, "training", 1, 20000), TECG_OK);

        /* The same options again: nothing happens. */
        update(f->set, o, 1, 0, 0, 1);
        assert_ptr_equal(member(f->set, "a"), a2);

        update(f->set, o, 0, 0, 1, 0);
        assert_int_equal(tecg_sinks_count(f->set), 0);
}

/* An update with a sink that cannot be made changes nothing. */
static void test_failed_update_changes_nothing(void **state) {
        fixture_t *f = *state;
        char err[512];
        tu_server_start(&f->net.srv, NULL);
        tecg_sink_options_t o[2] = {options("a", f->net.srv.url), options("bad", "ftp://x/")};
        update(f->set, o, 1, 1, 0, 0);
        tecg_sink_t *a = member(f->set, "a");
        o[0].timeout_ms = 3000; /* would replace a */
        assert_int_not_equal(tecg_sinks_update(f->set, o, 2, NULL, NULL, NULL, err, sizeof(err)),
                             TECG_OK);
        assert_non_null(strstr(err, "bad"));
        assert_int_equal(tecg_sinks_count(f->set), 1);
        assert_ptr_equal(member(f->set, "a"), a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_added_sink_gets_current_versions, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_removed_and_changed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_update_changes_nothing, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
