/* tecg-ctl validate (tools/ctl/ctl_validate.h): the producer's validator,
 * limits and encoder over a whole input, FILE:LINE: reason per bad line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "ctl_validate.h"
#include "refdata.h"
#include "testutil.h"

#define GOOD                                                                              \
        "{\"type\":\"personnel\",\"event_id\":\"g1\",\"nation\":\"NLD\",\"occurred_at\":" \
        "\"2005-02-22T09:00:00Z\",\"role\":\"TRAINER\",\"location\":\"IN_IRAQ\",\"headcount\":3}"

static char *run(const char *input, size_t len, const char *nation, size_t max_line, bool json,
                 tecg_ctl_validate_counts_t *counts) {
        char errstr[512], path[1024];
        snprintf(path, sizeof(path), "%s/deploy/nations.csv", tu_source_dir());
        tecg_nations_t *nations = tecg_nations_load(path, errstr, sizeof(errstr));
        assert_non_null(nations);
        tecg_validate_limits_t limits;
        tecg_validate_limits_init(&limits);
        limits.max_line_bytes = max_line;
        tecg_validator_t *v = tecg_validator_new(nations, nation, &limits, errstr, sizeof(errstr));
        tecg_avro_t *avro = tecg_avro_new(errstr, sizeof(errstr));
        assert_non_null(v);
        assert_non_null(avro);
        int fd = memfd_create("input", 0);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, input, len), (ssize_t)len);
        lseek(fd, 0, SEEK_SET);
        char *out = NULL;
        size_t out_len = 0;
        FILE *fp = open_memstream(&out, &out_len);
        memset(counts, 0, sizeof(*counts));
        assert_int_equal(tecg_ctl_validate_fd(v, avro, max_line, fd, "in.ndjson", json, fp, counts,
                                              errstr, sizeof(errstr)),
                         TECG_OK);
        fclose(fp);
        close(fd);
        tecg_avro_destroy(avro);
        tecg_validator_destroy(v);
        tecg_nations_destroy(nations);
        return out;
}

static void test_bad_lines_with_their_line_numbers(void **state) {
        (void)state;
        tecg_ctl_validate_counts_t c;
        char big[3000];
        memset(big, 'x', sizeof(big));
        char input[4096];
        int n = snprintf(input, sizeof(input), "%s\nnot json\r\n%s\n\n%.*s\n%s", GOOD, GOOD,
                         (int)sizeof(big), big, GOOD);
        char *out = run(input, (size_t)n, NULL, 2048, false, &c);
        assert_int_equal(c.lines, 6);
        assert_int_equal(c.bad, 3);
        assert_non_null(strstr(out, "in.ndjson:2: invalid JSON"));
        assert_non_null(strstr(out, "in.ndjson:4: "));
        assert_non_null(strstr(out, "in.ndjson:5: line is 3000 bytes, longer than "
                                    "limits.line.bytes (2048 bytes)\n"));
        assert_null(strstr(out, "in.ndjson:1:"));
        free(out);

        /* Another nation's event is bad for this producer. */
        out = run(GOOD "\n", strlen(GOOD) + 1, "DEU", 2048, true, &c);
        assert_int_equal(c.bad, 1);
        json_error_t jerr;
        json_t *j = json_loads(out, 0, &jerr);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "file")), "in.ndjson");
        assert_int_equal(json_integer_value(json_object_get(j, "line")), 1);
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "'nation'"));
        json_decref(j);
        free(out);

        out = run("", 0, NULL, 2048, false, &c);
        assert_int_equal(c.lines, 0);
        assert_string_equal(out, "");
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_lines_with_their_line_numbers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
