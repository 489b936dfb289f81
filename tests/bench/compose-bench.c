/* compose-bench: what one composition of the dashboards costs
 * tecg-dashboard's engine (consumers/dashboard/dashboards.c), for the 26
 * nations of deploy/nations.csv and for a synthetic list of many more,
 * each with ten years of monthly reports. A benchmark, not a test
 * (tests/bench/README.md); operator-bench runs it and reports its figures.
 *
 *   compose-bench [--nations-csv PATH] [--nations N,...] [--years Y] [--reps R]
 *
 * For every size it builds the states by applying synthetic events with
 * tecg_nation_state_apply() (the aggregator's own code). Then, --reps
 * times, one nation's headcount changes and the documents are composed
 * again as the engine does after any change, timing per document and in
 * total: "compose", the document's text from tecg_compose_text() with
 * the engine's cache (only the changed nation's rows are built), the
 * published text (the version spliced in) and its Ed25519 signature; and,
 * apart, "whole": the same document built and serialised whole
 * (tecg_compose() and its dump), which the incremental text must equal
 * byte for byte (else it fails). Prints one line per size and
 * step (tab-separated: nations, years, document, step, median ms, min ms,
 * bytes); medians of --reps runs. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "compose.h"
#include "docsign.h"
#include "mission.h"
#include "nation_state.h"
#include "refdata.h"
#include "sign.h"

#define MAX_SIZES 8
#define MS_PER_MONTH (INT64_C(30) * 86400 * 1000)
/* 2005-01-01T00:00:00Z */
#define START_MS INT64_C(1104537600000)

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* The nations list: the CSV's, then synthetic codes (XAA, XAB, ...) up
 * to n. NULL on failure (reported). */
static tecg_nations_t *nations_of(const char *csv_path, size_t n) {
        char errstr[512];
        FILE *f = fopen(csv_path, "r");
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap + n * 32 + 64);
        tecg_nations_t *out = NULL;
        if (!f || !buf) {
                fprintf(stderr, "compose-bench: %s: cannot read\n", csv_path);
                goto done;
        }
        len = fread(buf, 1, cap, f);
        /* Codes already in the file, to count how many to add. */
        size_t have = 0;
        for (size_t i = 0; i + 1 < len; i++)
                if (buf[i] == '\n' && buf[i + 1] >= 'A' && buf[i + 1] <= 'Z' &&
                    strncmp(buf + i + 1, "code,", 5) != 0)
                        have++;
        if (len && buf[len - 1] != '\n')
                buf[len++] = '\n';
        for (size_t i = 0; have + i < n && i < 26 * 26 * 26; i++)
                len += (size_t)sprintf(buf + len, "X%c%c,Synthetic %zu,partner\n",
                                       'A' + (int)(i / 26 % 26), 'A' + (int)(i % 26), i);
        if (!(out = tecg_nations_parse(buf, len, csv_path, errstr, sizeof(errstr))))
                fprintf(stderr, "compose-bench: %s\n", errstr);
        else if (tecg_nations_count(out) > n) {
                /* Fewer than the file has: keep only the first n. */
                size_t keep = 0, lines = 0;
                for (size_t i = 0; i < len && lines <= n; i++)
                        if (buf[i] == '\n') {
                                keep = i + 1;
                                if (i + 1 < len && buf[i + 1] >= 'A' && buf[i + 1] <= 'Z' &&
                                    strncmp(buf + i + 1, "code,", 5) != 0)
                                        lines++;
                        }
                tecg_nations_destroy(out);
                out = tecg_nations_parse(buf, keep, csv_path, errstr, sizeof(errstr));
        }
done:
        if (f)
                fclose(f);
        free(buf);
        return out;
}

static const char *const currencies[] = {"EUR", "USD", "GBP", "NOK"};

/* Applies one event; exits on a refusal (the generator is wrong then). */
static void apply(tecg_nation_state_t *st, tecg_event_t *ev, unsigned *seq) {
        char errstr[256];
        bool changed;
        snprintf(ev->event_id, sizeof(ev->event_id), "%s-%u", st->nation, (*seq)++);
        memcpy(ev->nation, st->nation, 4);
        if (tecg_nation_state_apply(st, ev, &changed, errstr, sizeof(errstr))) {
                fprintf(stderr, "compose-bench: %s: %s\n", ev->event_id, errstr);
                exit(2);
        }
        st->version++;
}

/* A nation's state after `years` of monthly reports of every type: a
 * pledge and a disbursement, an equipment offer, two strength reports and
 * two training completions a month. */
static tecg_nation_state_t *state_of(const char *code, size_t index, int years) {
        tecg_nation_state_t *st = tecg_nation_state_new(code);
        unsigned seq = 0;
        if (!st)
                return NULL;
        for (int mo = 0; mo < years * 12; mo++) {
                tecg_event_t ev;
                int64_t t = START_MS + mo * MS_PER_MONTH + (int64_t)index * 1000;
                const char *cur = currencies[(index + (size_t)mo / 12) % 4];

                memset(&ev, 0, sizeof(ev));
                ev.type = TECG_EV_FUNDING;
                ev.occurred_at_ms = t;
                ev.u.funding.amount_minor = 100000 + mo;
                memcpy(ev.u.funding.currency, cur, 4);
                ev.u.funding.channel = (tecg_channel_t)(mo % TECG_CH__COUNT);
                ev.u.funding.stage = TECG_FS_PLEDGED;
                apply(st, &ev, &seq);
                ev.u.funding.stage = TECG_FS_DISBURSED;
                ev.u.funding.amount_minor = 50000 + mo;
                apply(st, &ev, &seq);

                memset(&ev, 0, sizeof(ev));
                ev.type = TECG_EV_EQUIPMENT;
                ev.occurred_at_ms = t;
                ev.u.equipment.item = "item";
                ev.u.equipment.category = (tecg_category_t)(mo % TECG_CAT__COUNT);
                ev.u.equipment.quantity = 1 + mo % 5;
                ev.u.equipment.has_value = true;
                ev.u.equipment.value_minor = 250000;
                memcpy(ev.u.equipment.currency, cur, 4);
                ev.u.equipment.stage = (tecg_equipment_stage_t)(mo % TECG_ES__COUNT);
                apply(st, &ev, &seq);

                for (int k = 0; k < 2; k++) {
                        memset(&ev, 0, sizeof(ev));
                        ev.type = TECG_EV_PERSONNEL;
                        ev.occurred_at_ms = t + k;
                        ev.u.personnel.role = (tecg_role_t)((mo + k) % TECG_ROLE__COUNT);
                        ev.u.personnel.location = (tecg_location_t)(k % TECG_LOC__COUNT);
                        ev.u.personnel.headcount = 10 + (mo + (int)index) % 40;
                        apply(st, &ev, &seq);

                        memset(&ev, 0, sizeof(ev));
                        ev.type = TECG_EV_TRAINING;
                        ev.occurred_at_ms = t + k;
                        ev.u.training.course = "course";
                        ev.u.training.level = (tecg_level_t)((mo + k) % TECG_LVL__COUNT);
                        ev.u.training.location = (tecg_location_t)(k % TECG_LOC__COUNT);
                        ev.u.training.trainees = 5 + mo % 20;
                        apply(st, &ev, &seq);
                }
        }
        return st;
}

/* whole: the documents built as trees and serialised whole (tecg_compose()
 * and its dump), as the engine did before it kept rows; not part of the
 * total. compose: what the engine does, tecg_compose_text() with its
 * cache, which builds only the rows of the nation that changed. */
enum { STEP_WHOLE, STEP_COMPOSE, STEP_TEXT, STEP_SIGN, STEP__COUNT };
static const char *const step_names[STEP__COUNT] = {"whole", "compose", "publish_text", "sign"};

/* One composition as the engine makes it, every document changed: the
 * time of each step per document into t[doc][step] (ms); bytes[doc] the
 * published text's size. The incremental text must equal the whole
 * document's. False on failure (reported). */
static bool compose_once(tecg_compose_cache_t *cache, const tecg_mission_t *m,
                         const tecg_nations_t *nations, const tecg_nation_state_t *const *states,
                         size_t n, const tecg_sign_key_t *key,
                         double t[TECG_DASH__COUNT][STEP__COUNT], size_t bytes[TECG_DASH__COUNT]) {
        char errstr[512];
        char *texts[TECG_DASH__COUNT] = {NULL};
        bool ok = true;
        int64_t now = START_MS + INT64_C(3650) * 86400 * 1000;

        /* The engine's steps for every document first, then the whole
         * documents: freeing their trees would charge the next step the
         * allocator's consolidation. */
        for (int which = 0; which < TECG_DASH__COUNT && ok; which++) {
                tecg_docsign_t sig;
                size_t cl = 0;
                double t0 = now_ms();
                char *ck = tecg_compose_text(cache, (tecg_dashboard_t)which, m, nations, states, n,
                                             now, &cl, errstr, sizeof(errstr));
                double t1 = now_ms();
                /* As dashboards.c's stamped_text() does it: the published
                 * text is the content's with the version spliced in. */
                char head[128];
                size_t skip = strlen("{\"dashboard\":\"\"") + strlen(tecg_dashboard_names[which]);
                int hn = snprintf(head, sizeof(head),
                                  "{\"dashboard\":\"%s\",\"version\":7,\"generated_at\":\"%s\"",
                                  tecg_dashboard_names[which], "2015-01-01T00:00:00.000Z");
                char *text = ck && cl > skip ? malloc((size_t)hn + cl - skip + 1) : NULL;
                if (text) {
                        memcpy(text, head, (size_t)hn);
                        memcpy(text + hn, ck + skip, cl - skip + 1);
                }
                double t2 = now_ms();
                ok = text && tecg_docsign_sign(key, tecg_dashboard_names[which], text, strlen(text),
                                               &sig, errstr, sizeof(errstr)) == TECG_OK;
                double t3 = now_ms();
                t[which][STEP_COMPOSE] = t1 - t0;
                t[which][STEP_TEXT] = t2 - t1;
                t[which][STEP_SIGN] = t3 - t2;
                bytes[which] = text ? strlen(text) : 0;
                texts[which] = ck;
                free(text);
                if (!ok)
                        fprintf(stderr, "compose-bench: %s: %s\n", tecg_dashboard_names[which],
                                ck ? "cannot sign" : errstr);
        }
        for (int which = 0; which < TECG_DASH__COUNT && ok; which++) {
                double t0 = now_ms();
                json_t *body = tecg_compose((tecg_dashboard_t)which, m, nations, states, n, now,
                                            errstr, sizeof(errstr));
                char *whole = body ? json_dumps(body, TECG_COMPOSE_DUMP_FLAGS) : NULL;
                json_decref(body);
                t[which][STEP_WHOLE] = now_ms() - t0;
                if (!whole || strcmp(whole, texts[which]) != 0) {
                        fprintf(stderr, "compose-bench: %s: %s\n", tecg_dashboard_names[which],
                                whole ? "the incremental text differs from the whole document's"
                                      : errstr);
                        ok = false;
                }
                free(whole);
        }
        for (int which = 0; which < TECG_DASH__COUNT; which++)
                free(texts[which]);
        malloc_trim(0); /* the whole trees' free chunks, consolidated here */
        return ok;
}

/* Median and minimum of v[0..n). Sorts v. */
static void stats(double *v, int n, double *median, double *min) {
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        *min = v[0];
}

static int bench_size(const char *csv, size_t want, int years, int reps,
                      const tecg_sign_key_t *key) {
        tecg_mission_t m;
        tecg_nations_t *nations = nations_of(csv, want);
        tecg_nation_state_t **states = NULL;
        const tecg_nation_state_t **cstates = NULL;
        double(*t)[TECG_DASH__COUNT][STEP__COUNT] = NULL;
        double *col = NULL, *total = NULL;
        size_t bytes[TECG_DASH__COUNT] = {0};
        int rc = 1;
        size_t n = nations ? tecg_nations_count(nations) : 0;
        tecg_compose_cache_t *cache = tecg_compose_cache_new();

        tecg_mission_init(&m);
        if (!nations || !cache)
                goto done;
        states = calloc(n, sizeof(*states));
        cstates = calloc(n, sizeof(*cstates));
        t = calloc((size_t)reps + 1, sizeof(*t));
        col = calloc((size_t)reps + 1, sizeof(double));
        total = calloc((size_t)reps + 1, sizeof(double));
        if (!states || !cstates || !t || !col || !total)
                goto done;
        double b0 = now_ms();
        for (size_t i = 0; i < n; i++) {
                if (!(states[i] = state_of(tecg_nations_at(nations, i)->code, i, years)))
                        goto done;
                cstates[i] = states[i];
        }
        fprintf(stderr, "compose-bench: %zu nations x %d years: states built in %.0f ms\n", n,
                years, now_ms() - b0);
        /* A first composition, not measured (allocator, caches). */
        if (!compose_once(cache, &m, nations, cstates, n, key, t[0], bytes))
                goto done;
        for (int r = 0; r < reps; r++) {
                /* One nation's headcount changes between two compositions:
                 * the engine composes everything again after any change. */
                tecg_event_t ev;
                unsigned seq = 1000000u + (unsigned)r;
                memset(&ev, 0, sizeof(ev));
                ev.type = TECG_EV_PERSONNEL;
                ev.occurred_at_ms = START_MS + (int64_t)years * 12 * MS_PER_MONTH + r;
                ev.u.personnel.role = TECG_ROLE_TRAINER;
                ev.u.personnel.location = TECG_LOC_IN_IRAQ;
                ev.u.personnel.headcount = 100 + r;
                apply(states[(size_t)r % n], &ev, &seq);
                if (!compose_once(cache, &m, nations, cstates, n, key, t[r], bytes))
                        goto done;
        }
        for (int r = 0; r < reps; r++) {
                total[r] = 0;
                for (int d = 0; d < TECG_DASH__COUNT; d++)
                        for (int s = STEP_COMPOSE; s < STEP__COUNT; s++)
                                total[r] += t[r][d][s];
        }
        for (int d = 0; d < TECG_DASH__COUNT; d++)
                for (int s = 0; s < STEP__COUNT; s++) {
                        double med, min;
                        for (int r = 0; r < reps; r++)
                                col[r] = t[r][d][s];
                        stats(col, reps, &med, &min);
                        printf("%zu\t%d\t%s\t%s\t%.3f\t%.3f\t%zu\n", n, years,
                               tecg_dashboard_names[d], step_names[s], med, min, bytes[d]);
                }
        double med, min;
        size_t all_bytes = 0;
        for (int d = 0; d < TECG_DASH__COUNT; d++)
                all_bytes += bytes[d];
        stats(total, reps, &med, &min);
        printf("%zu\t%d\tall\ttotal\t%.3f\t%.3f\t%zu\n", n, years, med, min, all_bytes);
        fflush(stdout);
        rc = 0;
done:
        for (size_t i = 0; states && i < n; i++)
                tecg_nation_state_destroy(states[i]);
        free(states);
        free(cstates);
        free(t);
        free(col);
        free(total);
        tecg_nations_destroy(nations);
        tecg_compose_cache_destroy(cache);
        return rc;
}

int main(int argc, char **argv) {
        char errstr[256];
        const char *csv = "deploy/nations.csv";
        size_t sizes[MAX_SIZES] = {26, 500};
        int nsizes = 2, years = 10, reps = 15, rc = 0;
        tecg_sign_key_t key;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--nations-csv") == 0 && i + 1 < argc) {
                        csv = argv[++i];
                } else if (strcmp(argv[i], "--nations") == 0 && i + 1 < argc) {
                        char *p = argv[++i], *end;
                        for (nsizes = 0; *p && nsizes < MAX_SIZES; p = *end ? end + 1 : end) {
                                unsigned long v = strtoul(p, &end, 10);
                                if (end == p || v < 1 || v > 26 * 26 + 26) {
                                        fprintf(stderr, "compose-bench: bad --nations\n");
                                        return 64;
                                }
                                sizes[nsizes++] = v;
                        }
                } else if (strcmp(argv[i], "--years") == 0 && i + 1 < argc) {
                        years = atoi(argv[++i]);
                } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
                        reps = atoi(argv[++i]);
                } else {
                        fprintf(stderr,
                                "usage: compose-bench [--nations-csv PATH] [--nations N,...] "
                                "[--years Y] [--reps R]\n");
                        return 64;
                }
        }
        if (years < 1 || years > 50 || reps < 1 || reps > 1000 || nsizes < 1) {
                fprintf(stderr, "compose-bench: --years 1-50, --reps 1-1000\n");
                return 64;
        }
        if (tecg_sign_init(errstr, sizeof(errstr)) ||
            tecg_sign_keygen("bench", &key, errstr, sizeof(errstr))) {
                fprintf(stderr, "compose-bench: %s\n", errstr);
                return 1;
        }
        printf("nations\tyears\tdocument\tstep\tmedian_ms\tmin_ms\tbytes\n");
        for (int s = 0; s < nsizes && rc == 0; s++)
                rc = bench_size(csv, sizes[s], years, reps, &key);
        tecg_sign_key_wipe(&key);
        return rc;
}
