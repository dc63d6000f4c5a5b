/* metrics.c — counters, gauges and histograms, rendered as Prometheus text.
 *
 * Does: keep series in a registry (mutex-protected list, looked up once per
 * series by callers), update them with atomics, render them grouped by
 * metric name with HELP/TYPE lines.  Does not: push anywhere, or expire
 * series.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/metrics.h"

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM, M_GAUGE_FN } metric_kind_t;

struct metric {
	metric_kind_t kind;
	char *name;
	char *help;
	char *labels;              /* rendered: a="x",b="y" (no braces), "" if none */
	_Atomic uint64_t count;    /* counter value; histogram count */
	_Atomic uint64_t gauge;    /* gauge value as double bits */
	_Atomic uint64_t sum;      /* histogram sum as double bits */
	double *bounds;
	size_t nbounds;
	_Atomic uint64_t *buckets; /* nbounds + 1 (the last is +Inf) */
	metric_gauge_fn fn;
	void *fn_arg;
	struct metric *next;
};

struct metrics {
	pthread_mutex_t lock;
	struct metric *head, *tail;
};

const double metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                          1,      2.5,     5,      10};
const size_t metrics_latency_nbuckets =
	sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0];

metrics_t *metrics_new(void)
{
	metrics_t *m = xcalloc(1, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_free(metrics_t *m)
{
	if (!m)
		return;
	struct metric *x = m->head;
	while (x) {
		struct metric *next = x->next;
		free(x->name);
		free(x->help);
		free(x->labels);
		free(x->bounds);
		free(x->buckets);
		free(x);
		x = next;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static char *render_labels(const char *const *labels)
{
	buf_t b = {0};
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		if (b.len)
			buf_append_byte(&b, ',');
		buf_printf(&b, "%s=\"", labels[i]);
		for (const char *p = labels[i + 1]; *p; p++) {
			if (*p == '\\' || *p == '"')
				buf_append_byte(&b, '\\');
			if (*p == '\n') {
				buf_append_str(&b, "\\n");
				continue;
			}
			buf_append_byte(&b, (uint8_t)*p);
		}
		buf_append_byte(&b, '"');
	}
	return buf_steal(&b);
}

static metric_t *lookup(metrics_t *m, metric_kind_t kind, const char *name, const char *help,
                        const char *const *labels, const double *bounds, size_t nbounds)
{
	if (!m)
		return NULL;
	char *lab = render_labels(labels);
	pthread_mutex_lock(&m->lock);
	for (struct metric *x = m->head; x; x = x->next) {
		if (!strcmp(x->name, name) && !strcmp(x->labels, lab)) {
			pthread_mutex_unlock(&m->lock);
			free(lab);
			return x;
		}
	}
	struct metric *x = xcalloc(1, sizeof *x);
	x->kind = kind;
	x->name = xstrdup(name);
	x->help = xstrdup(help ? help : "");
	x->labels = lab;
	if (kind == M_HISTOGRAM) {
		x->bounds = xmalloc((nbounds ? nbounds : 1) * sizeof *bounds);
		memcpy(x->bounds, bounds, nbounds * sizeof *bounds);
		x->nbounds = nbounds;
		x->buckets = xcalloc(nbounds + 1, sizeof *x->buckets);
	}
	/* Keep series of one name together so HELP/TYPE print once. */
	struct metric *after = NULL;
	for (struct metric *y = m->head; y; y = y->next)
		if (!strcmp(y->name, name))
			after = y;
	if (after) {
		x->next = after->next;
		after->next = x;
		if (m->tail == after)
			m->tail = x;
	} else {
		if (m->tail)
			m->tail->next = x;
		else
			m->head = x;
		m->tail = x;
	}
	pthread_mutex_unlock(&m->lock);
	return x;
}

metric_t *metrics_counter(metrics_t *m, const char *name, const char *help,
                          const char *const *labels)
{
	return lookup(m, M_COUNTER, name, help, labels, NULL, 0);
}

metric_t *metrics_gauge(metrics_t *m, const char *name, const char *help,
                        const char *const *labels)
{
	return lookup(m, M_GAUGE, name, help, labels, NULL, 0);
}

metric_t *metrics_histogram(metrics_t *m, const char *name, const char *help,
                            const char *const *labels, const double *bounds, size_t nbounds)
{
	return lookup(m, M_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void metrics_gauge_fn(metrics_t *m, const char *name, const char *help,
                      const char *const *labels, metric_gauge_fn cb, void *arg)
{
	metric_t *x = lookup(m, M_GAUGE_FN, name, help, labels, NULL, 0);
	if (!x)
		return;
	pthread_mutex_lock(&m->lock);
	x->fn = cb;
	x->fn_arg = arg;
	pthread_mutex_unlock(&m->lock);
}

static uint64_t dbits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

static double bitsd(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

void metric_add(metric_t *c, uint64_t n)
{
	if (c)
		atomic_fetch_add_explicit(&c->count, n, memory_order_relaxed);
}

void metric_inc(metric_t *c)
{
	metric_add(c, 1);
}

void metric_set(metric_t *g, double v)
{
	if (g)
		atomic_store_explicit(&g->gauge, dbits(v), memory_order_relaxed);
}

void metric_observe(metric_t *h, double v)
{
	if (!h || h->kind != M_HISTOGRAM)
		return;
	size_t i = 0;
	while (i < h->nbounds && v > h->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	uint64_t old = atomic_load_explicit(&h->sum, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&h->sum, &old, dbits(bitsd(old) + v),
	                                              memory_order_relaxed,
	                                              memory_order_relaxed))
		;
}

static void series(buf_t *out, const char *name, const char *suffix, const char *labels,
                   const char *extra, double v)
{
	buf_printf(out, "%s%s", name, suffix);
	if (*labels || extra) {
		buf_append_byte(out, '{');
		buf_append_str(out, labels);
		if (extra)
			buf_printf(out, "%s%s", *labels ? "," : "", extra);
		buf_append_byte(out, '}');
	}
	if (isinf(v))
		buf_append_str(out, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(out, " %.0f\n", v);
	else
		buf_printf(out, " %.9g\n", v);
}

static const char *type_name(metric_kind_t k)
{
	switch (k) {
	case M_COUNTER: return "counter";
	case M_HISTOGRAM: return "histogram";
	default: return "gauge";
	}
}

void metrics_render(metrics_t *m, buf_t *out)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	const char *last = NULL;
	for (struct metric *x = m->head; x; x = x->next) {
		if (!last || strcmp(last, x->name)) {
			buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
			           type_name(x->kind));
			last = x->name;
		}
		switch (x->kind) {
		case M_COUNTER:
			series(out, x->name, "", x->labels, NULL,
			       (double)atomic_load_explicit(&x->count, memory_order_relaxed));
			break;
		case M_GAUGE:
			series(out, x->name, "", x->labels, NULL,
			       bitsd(atomic_load_explicit(&x->gauge, memory_order_relaxed)));
			break;
		case M_GAUGE_FN:
			series(out, x->name, "", x->labels, NULL, x->fn ? x->fn(x->fn_arg) : 0);
			break;
		case M_HISTOGRAM: {
			uint64_t cum = 0;
			char le[64];
			for (size_t i = 0; i <= x->nbounds; i++) {
				cum += atomic_load_explicit(&x->buckets[i], memory_order_relaxed);
				if (i < x->nbounds)
					snprintf(le, sizeof le, "le=\"%g\"", x->bounds[i]);
				else
					snprintf(le, sizeof le, "le=\"+Inf\"");
				series(out, x->name, "_bucket", x->labels, le, (double)cum);
			}
			series(out, x->name, "_sum", x->labels, NULL,
			       bitsd(atomic_load_explicit(&x->sum, memory_order_relaxed)));
			series(out, x->name, "_count", x->labels, NULL,
			       (double)atomic_load_explicit(&x->count, memory_order_relaxed));
			break;
		}
		}
	}
	pthread_mutex_unlock(&m->lock);
}
