/* Fuzz target: the id record codec (tecg_id_record_decode() of
 * consumers/aggregator/idstore.h), one input = one value of
 * tecg.event-ids. The first byte picks the key's event_id length (1-64),
 * the rest is the value.
 *
 * Invariants:
 *   - refused: TECG_ERR_INVALID and a reason on one line of UTF-8;
 *   - accepted: a status in range; LEGACY only from 1-20 ASCII digits;
 *     `by` keeps the event_id rule and is there exactly for the statuses
 *     that name another event; an effect exactly for ACTIVE, SUPERSEDED
 *     and RETRACTED, of the record's type, with the key's nation and id;
 *     a record re-encodes to the very same bytes (one spelling per
 *     record), and the encoding decodes to the same record. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "idstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char id[TECG_EVENT_ID_MAX + 1], err[512];
        tecg_id_record_t r, back;
        uint8_t out[TECG_ID_RECORD_MAX];
        if (size < 1)
                return 0;
        size_t idlen = 1 + data[0] % TECG_EVENT_ID_MAX;
        memset(id, 'a', idlen);
        id[idlen] = '\0';
        data++;
        size--;
        tecg_err_t rc = tecg_id_record_decode(data, size, "NLD", id, &r, err, sizeof(err));
        if (rc) {
                FZ_CHECK(rc == TECG_ERR_INVALID, "refused with %d", (int)rc);
                fz_check_reason("decode", err, sizeof(err));
                return 0;
        }
        FZ_CHECK(r.status >= TECG_ID_ACTIVE && r.status < TECG_ID__END, "status %d", (int)r.status);
        if (r.status == TECG_ID_LEGACY) {
                FZ_CHECK(size >= 1 && size <= 20, "legacy of %zu bytes", size);
                for (size_t i = 0; i < size; i++)
                        FZ_CHECK(data[i] >= '0' && data[i] <= '9', "legacy with a non-digit");
                return 0;
        }
        size_t bylen = strnlen(r.by, sizeof(r.by));
        FZ_CHECK(bylen < sizeof(r.by), "by not terminated");
        FZ_CHECK(!bylen || !tecg_event_id_check(r.by, bylen), "by breaks the id rule");
        FZ_CHECK((bylen > 0) == (r.status != TECG_ID_ACTIVE), "by and status disagree");
        bool effect = r.status == TECG_ID_ACTIVE || r.status == TECG_ID_SUPERSEDED ||
                      r.status == TECG_ID_RETRACTED;
        FZ_CHECK(effect == r.has_effect, "effect and status disagree");
        if (r.has_effect) {
                FZ_CHECK(r.effect.type == r.type && r.type < TECG_EV__COUNTED, "effect type");
                FZ_CHECK(strcmp(r.effect.nation, "NLD") == 0 && strcmp(r.effect.event_id, id) == 0,
                         "effect not of the key");
        }
        size_t n = tecg_id_record_encode(&r, out);
        FZ_CHECK(n == size && memcmp(out, data, n) == 0, "re-encoding differs (%zu of %zu bytes)",
                 n, size);
        FZ_CHECK(tecg_id_record_decode(out, n, "NLD", id, &back, err, sizeof(err)) == TECG_OK,
                 "own encoding refused: %s", err);
        FZ_CHECK(memcmp(&back, &r, sizeof(r)) == 0, "decode of the encoding differs");
        return 0;
}
