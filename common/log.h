/* Logging: one line per event on stderr, syslog levels, a facility naming the
 * subsystem. stdout is left for data. librdkafka's own log lines are routed
 * here through tecg_log_rdkafka_cb so everything reads the same way:
 *
 *   2026-11-29T18:55:00.123Z tecg-producer[1234] INFO spool: FRA-1.ndjson: ...
 */
#ifndef TECG_LOG_H
#define TECG_LOG_H

#include <pthread.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef enum {
        TECG_LOG_EMERG = 0,
        TECG_LOG_ALERT,
        TECG_LOG_CRIT,
        TECG_LOG_ERR,
        TECG_LOG_WARNING,
        TECG_LOG_NOTICE,
        TECG_LOG_INFO,
        TECG_LOG_DEBUG
} tecg_log_level_t;

/* Sets the program name printed on each line (borrowed, must outlive the
 * process' logging) and the threshold: lines above `level` are dropped. */
void tecg_log_init(const char *progname, int level);
void tecg_log_set_level(int level);
int tecg_log_get_level(void);

/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit",
 * "alert", "emerg" or a number 0-7; -1 when not a level. */
int tecg_log_level_parse(const char *s);

/* Thread-safe: each line is written with a single write(2). */
void tecg_log(int level, const char *facility, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* librdkafka log_cb: rd_kafka_conf_set_log_cb(conf, tecg_log_rdkafka_cb). */
void tecg_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* A limit on one kind of message that a remote peer can provoke (a bad
 * request, a refused token): at most `burst` lines per `interval_ms`, so
 * a flood costs a few lines of log, not a disk. What is dropped is
 * counted and reported once, as "N similar messages suppressed", with the
 * first line of a later interval. Static storage with
 * TECG_LOG_LIMIT_INIT; shared by any number of threads. */
typedef struct {
        pthread_mutex_t lock;
        int64_t interval_ms;
        unsigned burst;
        int64_t window_start_ms; /* monotonic */
        unsigned used;
        unsigned long suppressed;
} tecg_log_limit_t;

#define TECG_LOG_LIMIT_INIT(burst_, interval_ms_) \
        { PTHREAD_MUTEX_INITIALIZER, (interval_ms_), (burst_), 0, 0, 0 }

/* tecg_log() within lim's budget; returns 1 if the line was written, 0 if
 * it was suppressed (or below the threshold). */
int tecg_log_limited(tecg_log_limit_t *lim, int level, const char *facility, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#define tecg_log_err(fac, ...) tecg_log(TECG_LOG_ERR, fac, __VA_ARGS__)
#define tecg_log_warn(fac, ...) tecg_log(TECG_LOG_WARNING, fac, __VA_ARGS__)
#define tecg_log_notice(fac, ...) tecg_log(TECG_LOG_NOTICE, fac, __VA_ARGS__)
#define tecg_log_info(fac, ...) tecg_log(TECG_LOG_INFO, fac, __VA_ARGS__)
#define tecg_log_debug(fac, ...) tecg_log(TECG_LOG_DEBUG, fac, __VA_ARGS__)

#endif
