/* Milliseconds, the one unit of time in tecg. */
#ifndef TECG_CLOCK_H
#define TECG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic: for timeouts, intervals and back-off. */
static inline int64_t tecg_mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall clock since the Unix epoch: for what is shown or stored. */
static inline int64_t tecg_wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
