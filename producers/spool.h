/* The spool directory of one nation (docs/design.md §2):
 *
 *   incoming/  national system writes NAME.tmp, renames to NAME.ndjson
 *   done/      files whose every valid line Kafka acknowledged
 *   rejected/  NAME.errors ("NAME:LINE: reason" per rejected line) and
 *              NAME.ndjson (the rejected lines themselves, to fix and resend)
 */
#ifndef TECG_SPOOL_H
#define TECG_SPOOL_H

#include <stddef.h>

#include "err.h"

typedef struct tecg_spool tecg_spool_t;

/* Opens (creating the three subdirectories if missing) and checks that each
 * is a writable directory. */
tecg_spool_t *tecg_spool_open(const char *dir, char *errstr, size_t errstr_size);
void tecg_spool_close(tecg_spool_t *spool);

/* Lists incoming/ *.ndjson sorted by name (names only, *.tmp and anything
 * else ignored). *namesp is a malloc'd array of malloc'd strings the caller
 * frees with tecg_spool_names_free(). */
tecg_err_t tecg_spool_scan(tecg_spool_t *spool, char ***namesp, size_t *countp,
                           char *errstr, size_t errstr_size);
void tecg_spool_names_free(char **names, size_t count);

/* Path of incoming/NAME, done/NAME or rejected/NAME into out. */
const char *tecg_spool_incoming_path(const tecg_spool_t *spool, const char *name,
                                     char *out, size_t out_size);
const char *tecg_spool_rejected_path(const tecg_spool_t *spool, const char *name,
                                     const char *suffix, char *out,
                                     size_t out_size);

/* Moves incoming/NAME to done/NAME (done/NAME.1, .2... if the name was used
 * before: a file is never overwritten). fsyncs the directories so a crash
 * after return cannot bring the file back to incoming/. */
tecg_err_t tecg_spool_finish(tecg_spool_t *spool, const char *name,
                             char *errstr, size_t errstr_size);

const char *tecg_spool_dir(const tecg_spool_t *spool);

#endif
