/* metrics.h — the metrics registry behind GET /metrics (Prometheus text 0.0.4).
 *
 * Modules look a series up once (name + label set) and keep the pointer; the
 * hot path is then one atomic add.  Series live as long as the registry.
 * Callback gauges let a module report a value computed at scrape time
 * (indexer lag, segments per archive) without a thread of its own.
 */
#ifndef VELLUM_METRICS_H
#define VELLUM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vellum/util.h"

typedef struct metrics metrics_t;
typedef struct metric metric_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* Labels are given as a NULL-terminated list of name, value pairs:
 *   metrics_counter(m, "vellum_smtp_messages_total", "Messages by reply",
 *                   (const char *[]){"listener", "default", "code", "250", NULL});
 * Values are escaped on output.  The same name + labels returns the same
 * series; the pointer is owned by the registry.  NULL m returns NULL, and the
 * update functions accept NULL, so modules can run without a registry. */
metric_t *metrics_counter(metrics_t *m, const char *name, const char *help,
                          const char *const *labels);
metric_t *metrics_gauge(metrics_t *m, const char *name, const char *help,
                        const char *const *labels);
/* Histogram with the given upper bounds (seconds or bytes, ascending); +Inf
 * is implicit.  bounds is copied. */
metric_t *metrics_histogram(metrics_t *m, const char *name, const char *help,
                            const char *const *labels, const double *bounds, size_t nbounds);

void metric_add(metric_t *c, uint64_t n);          /* counters */
void metric_inc(metric_t *c);
void metric_set(metric_t *g, double v);            /* gauges */
void metric_observe(metric_t *h, double v);        /* histograms */

/* A gauge whose value is computed at scrape time by cb(arg).  The callback
 * runs on the HTTP thread serving /metrics and must be thread-safe. */
typedef double (*metric_gauge_fn)(void *arg);
void metrics_gauge_fn(metrics_t *m, const char *name, const char *help,
                      const char *const *labels, metric_gauge_fn cb, void *arg);

/* Standard latency buckets in seconds (100 µs .. 10 s). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

/* Appends the whole registry in Prometheus text format to out. */
void metrics_render(metrics_t *m, buf_t *out);

#endif
