#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "timefmt.h"

static const char *log_progname = "tecg";
static volatile int log_threshold = TECG_LOG_INFO;

static const char *const level_names[] = {"EMERG", "ALERT",  "CRIT", "ERROR",
                                          "WARN",  "NOTICE", "INFO", "DEBUG"};

void tecg_log_init(const char *progname, int level) {
        if (progname)
                log_progname = progname;
        tecg_log_set_level(level);
}

void tecg_log_set_level(int level) {
        if (level < TECG_LOG_EMERG)
                level = TECG_LOG_EMERG;
        if (level > TECG_LOG_DEBUG)
                level = TECG_LOG_DEBUG;
        log_threshold = level;
}

int tecg_log_get_level(void) {
        return log_threshold;
}

int tecg_log_level_parse(const char *s) {
        static const struct {
                const char *name;
                int level;
        } names[] = {{"emerg", 0},   {"alert", 1}, {"crit", 2},   {"err", 3},  {"error", 3},
                     {"warning", 4}, {"warn", 4},  {"notice", 5}, {"info", 6}, {"debug", 7}};
        if (!s || !*s)
                return -1;
        if (isdigit((unsigned char)s[0]) && s[1] == '\0')
                return s[0] - '0' <= 7 ? s[0] - '0' : -1;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcasecmp(names[i].name, s) == 0)
                        return names[i].level;
        return -1;
}

__attribute__((format(printf, 3, 0))) static void log_vwrite(int level, const char *facility,
                                                             const char *fmt, va_list ap) {
        char line[2048], now[TECG_TIME_RFC3339_SIZE];
        int n = snprintf(line, sizeof(line),
                         "%s %s[%d] %s %s: ", tecg_time_format_rfc3339_ms(tecg_wall_ms(), now),
                         log_progname, (int)getpid(), level_names[level], facility);
        if (n < (int)sizeof(line) - 1) {
                int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
                n = m < 0 ? n : n + m;
        }
        if (n > (int)sizeof(line) - 2)
                n = (int)sizeof(line) - 2; /* truncated: keep the newline */
        /* One line per event: a message with embedded newlines must not
         * look like several events to a log reader, and one carrying other
         * controls (a terminal escape in a file name) must not rewrite what
         * a terminal shows. */
        for (int i = 0; i < n; i++)
                if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                        line[i] = ' ';
        line[n++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, (size_t)n);
        (void)w; /* nowhere left to report a failing stderr */
}

void tecg_log(int level, const char *facility, const char *fmt, ...) {
        if (level > log_threshold)
                return;
        if (level < TECG_LOG_EMERG)
                level = TECG_LOG_EMERG;
        va_list ap;
        va_start(ap, fmt);
        log_vwrite(level, facility, fmt, ap);
        va_end(ap);
}

int tecg_log_limited(tecg_log_limit_t *lim, int level, const char *facility, const char *fmt, ...) {
        unsigned long suppressed = 0;
        bool write_it;
        int64_t now;
        va_list ap;

        if (level > log_threshold)
                return 0;
        if (level < TECG_LOG_EMERG)
                level = TECG_LOG_EMERG;
        now = tecg_mono_ms();
        pthread_mutex_lock(&lim->lock);
        if (lim->window_start_ms == 0 || now - lim->window_start_ms >= lim->interval_ms) {
                lim->window_start_ms = now;
                lim->used = 0;
                suppressed = lim->suppressed;
                lim->suppressed = 0;
        }
        write_it = lim->used < lim->burst;
        if (write_it)
                lim->used++;
        else
                lim->suppressed++;
        pthread_mutex_unlock(&lim->lock);
        if (suppressed)
                tecg_log(level, facility, "%lu similar messages suppressed", suppressed);
        if (!write_it)
                return 0;
        va_start(ap, fmt);
        log_vwrite(level, facility, fmt, ap);
        va_end(ap);
        return 1;
}

void tecg_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        (void)rk;
        char facility[64];
        snprintf(facility, sizeof(facility), "rdkafka/%s", fac);
        tecg_log(level > TECG_LOG_DEBUG ? TECG_LOG_DEBUG : level, facility, "%s", buf);
}
