/* api_health.c — GET /healthz, GET /metrics, GET /api/v1/openapi.json.
 *
 * Does: /healthz combines what an operator's monitor must know (DESIGN.md
 * §5, issue 6): the store accepts writes, the indexer child runs and how
 * far it lags behind the store, and whether any archive has been quiet for
 * longer than its quiet_alert — a journal feed that silently stopped.
 * Status "ok" (200), "degraded" (200: working, but someone should look) or
 * "failing" (503: mail cannot be stored).  /metrics renders the registry
 * (from [http] metrics_allow without credentials; elsewhere with a bearer
 * token or an admin session).  /api/v1/openapi.json serves the OpenAPI 3
 * document compiled in from doc/api/openapi.json.
 * Does not: collect the metrics of other modules (each registers its own).
 */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "vellum/db.h"
#include "vellum/ix.h"
#include "vellum/metrics.h"
#include "vellum/store.h"

/* The compiled-in OpenAPI document (server/openapi_doc.c, generated). */
extern const char vellum_openapi_json[];
extern const size_t vellum_openapi_json_len;

/* ---- /healthz ---- */

static void problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *problems, const char *fmt, ...)
{
	va_list ap;
	buf_t b = {0};
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	json_array_append_new(problems, api_str((const char *)b.data));
	buf_free(&b);
}

static json_t *health_store(api_ctx_t *c, json_t *problems, bool *failing)
{
	store_status_t st = store_writable(c->app->store);
	if (st != STORE_OK) {
		*failing = true;
		problem(problems, "the store does not accept writes: %s", store_strerror(st));
	}
	return json_pack("{s:b, s:o}", "writable", st == STORE_OK, "error",
	                 st == STORE_OK ? json_null() : json_string(store_strerror(st)));
}

/* One archive's quiet check; true when quiet for longer than quiet_alert.
 * An archive that never received anything counts from its creation. */
static json_t *health_archive(api_ctx_t *c, const db_archive_t *a, int64_t now, bool *quiet)
{
	store_archive_stats_t stats = {0};
	bool have = store_archive_stats(c->app->store, a->name, &stats) == STORE_OK;
	int64_t since = stats.last_received ? stats.last_received : a->created;
	const util_duration_t *q = &a->quiet_alert;
	bool enabled = !q->forever && (q->seconds || q->months);
	*quiet = enabled && util_duration_add(since, q) < now;
	char qa[32];
	util_duration_format(q, qa, sizeof qa);
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "last_received",
	                    have && stats.last_received ? api_time(stats.last_received)
	                                                : json_null());
	json_object_set_new(o, "quiet_alert", json_string(enabled ? qa : "off"));
	json_object_set_new(o, "quiet", json_boolean(*quiet));
	json_object_set_new(o, "quiet_seconds", json_integer((now - since) / UTIL_US_PER_SEC));
	uint64_t head = 0, done = 0;
	if (store_head(c->app->store, a->name, &head) == STORE_OK && c->app->ix) {
		char *err = NULL;
		if (ix_archive_done(c->app->ix, a->name, &done, &err) == IX_OK)
			json_object_set_new(
			    o, "index_lag",
			    json_integer(head > done ? (json_int_t)(head - done) : 0));
		free(err);
	}
	return o;
}

static json_t *health_archives(api_ctx_t *c, json_t *problems, bool *degraded, uint64_t *lag)
{
	json_t *arr = json_array();
	db_archive_t *v = NULL;
	size_t n = 0;
	if (db_archive_list(c->app->db, &v, &n) != DB_OK) {
		problem(problems, "the database cannot list archives");
		*degraded = true;
		return arr;
	}
	int64_t now = util_now();
	for (size_t i = 0; i < n; i++) {
		bool quiet;
		json_t *o = health_archive(c, &v[i], now, &quiet);
		if (quiet) {
			*degraded = true;
			problem(problems,
			        "archive %s has received nothing for %llds (quiet_alert %s)",
			        v[i].name,
			        (long long)json_integer_value(json_object_get(o, "quiet_seconds")),
			        json_string_value(json_object_get(o, "quiet_alert")));
		}
		*lag += (uint64_t)json_integer_value(json_object_get(o, "index_lag"));
		json_array_append_new(arr, o);
	}
	db_archive_list_free(v, n);
	return arr;
}

void api_healthz(api_ctx_t *c)
{
	json_t *problems = json_array();
	bool failing = false, degraded = false;
	uint64_t lag = 0;
	json_t *store = health_store(c, problems, &failing);
	json_t *archives = health_archives(c, problems, &degraded, &lag);
	json_t *indexer = json_object();
	if (c->app->indexer_alive) {
		bool alive = c->app->indexer_alive(c->app->indexer_alive_arg);
		json_object_set_new(indexer, "alive", json_boolean(alive));
		if (!alive) {
			degraded = true;
			problem(problems, "the indexer is not running: new mail is stored but not "
			                  "searchable");
		}
	} else {
		json_object_set_new(indexer, "alive", json_null()); /* nobody supervises one */
	}
	json_object_set_new(indexer, "lag", json_integer((json_int_t)lag));
	const char *status = atomic_load(&c->app->stopping) ? "stopping"
	                     : failing                      ? "failing"
	                     : degraded                     ? "degraded"
	                                                    : "ok";
	json_t *o = json_object();
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "store", store);
	json_object_set_new(o, "indexer", indexer);
	json_object_set_new(o, "archives", archives);
	json_object_set_new(o, "problems", problems);
	json_object_set_new(o, "time", api_time(util_now()));
	api_json(c, failing || !strcmp(status, "stopping") ? 503 : 200, o);
	json_decref(o);
}

/* ---- /metrics ---- */

static bool metrics_allowed(api_ctx_t *c)
{
	const config_t *cfg = c->app->cfg;
	if (c->req->transport != API_VIA_TCP)
		return true;
	return c->req->client_sa && util_cidr_match(cfg->http.metrics_allow,
	                                            cfg->http.n_metrics_allow, c->req->client_sa);
}

void api_metrics(api_ctx_t *c)
{
	/* Off the allowed networks: any API token (a scraper gets its own, of
	 * whatever role), or an admin. */
	if (!metrics_allowed(c) && !(c->p && c->p->via == AUTH_VIA_TOKEN) &&
	    !api_require(c, ROLE_ADMIN, NULL))
		return;
	api_response_t *r = c->resp;
	json_decref(r->json);
	r->json = NULL;
	buf_reset(&r->body);
	metrics_render(c->app->metrics, &r->body);
	free(r->content_type);
	r->content_type = xstrdup("text/plain; version=0.0.4; charset=utf-8");
	r->status = 200;
}

static double sessions_active(void *arg)
{
	app_t *app = arg;
	int64_t now = util_now();
	int64_t n = db_session_count(app->db, now - app->cfg->http.session_idle * UTIL_US_PER_SEC,
	                             now - app->cfg->http.session_max * UTIL_US_PER_SEC);
	return n < 0 ? 0 : (double)n;
}

void api_metrics_register(app_t *app)
{
	metrics_gauge_fn(app->metrics, "vellum_http_sessions", "Browser sessions not yet expired",
	                 NULL, sessions_active, app);
	/* Created up front so they show (at zero) before the first event. */
	static const char *const outcomes[] = {"ok", "failed", "throttled", "totp_required", NULL};
	for (size_t i = 0; outcomes[i]; i++)
		metrics_counter(app->metrics, "vellum_http_logins_total", "Logins by outcome",
		                (const char *[]){"outcome", outcomes[i], NULL});
	metrics_histogram(app->metrics, API_SEARCH_METRIC, "Search latency", NULL,
	                  metrics_latency_buckets, metrics_latency_nbuckets);
}

/* ---- /api/v1/openapi.json ---- */

void api_openapi(api_ctx_t *c)
{
	/* Served as written: an OpenAPI document is not one of our JSON shapes,
	 * so it carries x-vellum-format-version instead of format_version
	 * (the OpenAPI schema forbids unknown top-level keys). */
	api_response_t *r = c->resp;
	json_decref(r->json);
	r->json = NULL;
	buf_reset(&r->body);
	buf_append(&r->body, vellum_openapi_json, vellum_openapi_json_len);
	free(r->content_type);
	r->content_type = xstrdup("application/json");
	api_response_header(r, "Cache-Control", "no-cache");
	r->status = 200;
}
