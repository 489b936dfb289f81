/* Prometheus text exposition (format 0.0.4), built into a buffer: served
 * on /metrics by the dashboard, written to a file by the other daemons for
 * node_exporter's textfile collector. */
#ifndef TECG_METRICS_H
#define TECG_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

typedef enum { TECG_METRIC_COUNTER, TECG_METRIC_GAUGE } tecg_metric_type_t;

/* Appends "# HELP", "# TYPE" and one sample. `labels` is the inside of the
 * braces (e.g. "nation=\"FRA\"") or NULL. */
tecg_err_t tecg_metrics_add(tecg_buf_t *out, tecg_metric_type_t type, const char *name,
                            const char *help, const char *labels, double value);

/* Rewrites an exposition built by tecg_metrics_add() so that each family
 * is one block: its HELP and TYPE once, then all its samples in the order
 * they came (the text format forbids a family in two places, and callers
 * add the samples of several label sets in loops). TECG_ERR_NOMEM. */
tecg_err_t tecg_metrics_group(tecg_buf_t *text);

/* Writes the buffer, grouped as by tecg_metrics_group(), to path atomically (temporary file, then rename), so a
 * scraper never reads half a file; mode 0644 whatever the umask. */
tecg_err_t tecg_metrics_write_file(const tecg_buf_t *metrics, const char *path, char *errstr,
                                   size_t errstr_size);

#endif
