/* test_metrics.c — registry, series identity, Prometheus text output. */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "vellum/metrics.h"

static double forty_two(void *arg)
{
	(void)arg;
	return 42;
}

int main(void)
{
	metrics_t *m = metrics_new();
	metric_t *a = metrics_counter(m, "vellum_smtp_messages_total", "Messages by reply",
	                              (const char *[]){"listener", "default", "code", "250", NULL});
	metric_t *a2 = metrics_counter(m, "vellum_smtp_messages_total", "Messages by reply",
	                               (const char *[]){"listener", "default", "code", "250", NULL});
	metric_t *b = metrics_counter(m, "vellum_smtp_messages_total", "Messages by reply",
	                              (const char *[]){"listener", "default", "code", "451", NULL});
	ok(a == a2, "same name and labels give the same series");
	ok(a != b, "other labels give another series");
	metric_inc(a);
	metric_add(a, 2);
	metric_inc(b);
	metric_t *other = metrics_counter(m, "vellum_http_requests_total", "HTTP", NULL);
	metric_inc(other);
	metric_t *g = metrics_gauge(m, "vellum_queue", "Q", (const char *[]){"n", "a\"b\\c", NULL});
	metric_set(g, 1.5);
	metric_t *h = metrics_histogram(m, "vellum_latency_seconds", "L", NULL,
	                                (const double[]){0.1, 1}, 2);
	metric_observe(h, 0.05);
	metric_observe(h, 0.5);
	metric_observe(h, 5);
	metrics_gauge_fn(m, "vellum_lag", "lag", NULL, forty_two, NULL);
	metric_inc(NULL); /* a module without a registry */

	buf_t out = {0};
	metrics_render(m, &out);
	const char *t = (const char *)out.data;
	ok(strstr(t, "# TYPE vellum_smtp_messages_total counter\n") != NULL, "TYPE line");
	ok(strstr(t, "vellum_smtp_messages_total{listener=\"default\",code=\"250\"} 3\n") != NULL,
	   "counter value with labels");
	ok(strstr(t, "vellum_smtp_messages_total{listener=\"default\",code=\"451\"} 1\n") != NULL,
	   "second series");
	const char *first = strstr(t, "# HELP vellum_smtp_messages_total");
	ok(first && !strstr(first + 1, "# HELP vellum_smtp_messages_total"),
	   "HELP printed once per name");
	ok(strstr(t, "vellum_http_requests_total 1\n") != NULL, "series without labels");
	ok(strstr(t, "vellum_queue{n=\"a\\\"b\\\\c\"} 1.5\n") != NULL, "label values escaped");
	ok(strstr(t, "vellum_latency_seconds_bucket{le=\"0.1\"} 1\n") != NULL, "bucket 0.1");
	ok(strstr(t, "vellum_latency_seconds_bucket{le=\"1\"} 2\n") != NULL, "bucket 1, cumulative");
	ok(strstr(t, "vellum_latency_seconds_bucket{le=\"+Inf\"} 3\n") != NULL, "bucket +Inf");
	ok(strstr(t, "vellum_latency_seconds_count 3\n") != NULL, "histogram count");
	ok(strstr(t, "vellum_latency_seconds_sum 5.55\n") != NULL, "histogram sum");
	ok(strstr(t, "vellum_lag 42\n") != NULL, "callback gauge");
	buf_free(&out);
	metrics_free(m);
	return tap_done();
}
