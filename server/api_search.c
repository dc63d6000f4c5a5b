/* api_search.c — GET /api/v1/search?q=&archive=&offset=&limit=&sort=
 *
 * Does: work out which archives the caller may search (auditor or legal,
 * per archive or on "*"), narrow them to the requested `archive` (one name
 * or a comma-separated list; asking for one not granted is 403), run the
 * query through the index, audit it (query, archives, result count) before
 * answering, and return the §5 result list.
 * Does not: parse the query (ix.h does; a query that does not parse is 400
 * with the parser's message, never an empty result).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "vellum/ix.h"
#include "vellum/metrics.h"

/* Archives named in one search request (a list beyond this is a mistake). */
#define SEARCH_ARCHIVES_MAX 256

typedef struct scope {
	bool all;              /* every archive */
	char **names;          /* else these (NULL-terminated, owned) */
	size_t n;
} scope_t;

static void scope_add(scope_t *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return;
	s->names = xrealloc(s->names, (s->n + 2) * sizeof *s->names);
	s->names[s->n++] = xstrdup(name);
	s->names[s->n] = NULL;
}

/* The archives the caller may read. */
static void scope_granted(const auth_principal_t *p, scope_t *s)
{
	for (size_t i = 0; i < p->ngrants; i++) {
		if (!(auth_role_parse(p->grants[i].role) & ROLE_READ))
			continue;
		if (!strcmp(p->grants[i].archive, "*"))
			s->all = true;
		else
			scope_add(s, p->grants[i].archive);
	}
}

/* Narrows to the `archive` parameter; answers 400/403 and returns false. */
static bool scope_requested(api_ctx_t *c, const char *param, scope_t *s)
{
	size_t n = 0;
	char **want = util_split_list(param, &n);
	bool ok = true;
	if (n > SEARCH_ARCHIVES_MAX) {
		api_error(c, API_E_BAD_REQUEST, "more than %d archives", SEARCH_ARCHIVES_MAX);
		ok = false;
	}
	scope_t out = {0};
	for (size_t i = 0; ok && i < n; i++) {
		if (!db_archive_name_valid(want[i])) {
			api_error(c, API_E_BAD_REQUEST, "archive: not an archive name");
			ok = false;
		} else if (!auth_has_role(c->p, ROLE_READ, want[i])) {
			api_error(c, API_E_FORBIDDEN, "%s may not search archive %s", c->p->name,
			          want[i]);
			ok = false;
		} else {
			scope_add(&out, want[i]);
		}
	}
	util_strv_free(want);
	util_strv_free(s->names);
	*s = out;
	if (!ok) {
		util_strv_free(s->names);
		*s = (scope_t){0};
	}
	return ok;
}

static bool num_param(api_ctx_t *c, const char *name, uint64_t max, uint64_t *out)
{
	const char *v = api_request_query(c->req, name);
	if (!v || !*v)
		return true;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || *v == '-' || *v == '+' || x > max) {
		api_error(c, API_E_BAD_REQUEST, "%s must be an integer from 0 to %llu", name,
		          (unsigned long long)max);
		return false;
	}
	*out = x;
	return true;
}

static json_t *hit_json(const ix_hit_t *h)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(h->id));
	json_object_set_new(o, "archive", json_string(h->archive));
	json_object_set_new(o, "date", api_time(h->date));
	json_object_set_new(o, "received", api_time(h->received));
	json_object_set_new(o, "from", json_string(h->from));
	json_object_set_new(o, "to", json_string(h->to));
	json_object_set_new(o, "subject", json_string(h->subject));
	json_object_set_new(o, "size", json_integer((json_int_t)h->size));
	json_object_set_new(o, "attachment_count", json_integer(h->attachment_count));
	json_object_set_new(o, "snippet", json_string(h->snippet));
	json_object_set_new(o, "journal", json_boolean(h->flags & IX_F_JOURNAL));
	json_object_set_new(o, "quarantined", json_boolean(h->flags & IX_F_QUARANTINED));
	json_object_set_new(o, "truncated", json_boolean(h->flags & IX_F_TRUNCATED));
	return o;
}

static json_t *scope_json(const scope_t *s)
{
	if (s->all)
		return json_string("*");
	json_t *a = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(a, json_string(s->names[i]));
	return a;
}

static void run_search(api_ctx_t *c, const char *q, const scope_t *s, ix_search_opts_t *o)
{
	o->all_archives = s->all;
	o->archives = (const char *const *)s->names;
	o->narchives = s->n;
	ix_result_t *res = NULL;
	char *err = NULL;
	int64_t t0 = util_monotonic_us();
	ix_status_t st = ix_search(c->app->ix, q, o, &res, &err);
	metric_observe(metrics_histogram(c->app->metrics, "vellum_search_seconds",
	                                 "Search latency", NULL, metrics_latency_buckets,
	                                 metrics_latency_nbuckets),
	               (double)(util_monotonic_us() - t0) / 1e6);
	json_t *d = json_pack("{s:s, s:o}", "query", q, "archives", scope_json(s));
	if (!d)   /* a query that is not UTF-8 is recorded without its text */
		d = json_pack("{s:s, s:o}", "query", "(not UTF-8)", "archives", scope_json(s));
	int64_t count = st == IX_OK ? (int64_t)res->total : 0;
	bool recorded = api_audit(c, "search", NULL, st == IX_OK ? "ok" : "failed",
	                          st == IX_OK ? &count : NULL, d);
	json_decref(d);
	if (!recorded) {
		/* answered 503 */
	} else if (st == IX_EQUERY) {
		api_error(c, API_E_BAD_QUERY, "%s", err ? err : "the query does not parse");
	} else if (st != IX_OK) {
		api_error(c, API_E_INTERNAL, "search failed: %s", err ? err : ix_strerror(st));
	} else {
		json_t *r = json_array();
		for (size_t i = 0; i < res->nhits; i++)
			json_array_append_new(r, hit_json(&res->hits[i]));
		json_t *out = json_pack("{s:I, s:b, s:I, s:o}", "total", (json_int_t)res->total,
		                        "total_exact", res->total_exact, "offset",
		                        (json_int_t)res->offset, "results", r);
		api_json(c, 200, out);
		json_decref(out);
	}
	free(err);
	ix_result_free(res);
}

void api_search(api_ctx_t *c)
{
	if (!auth_has_role_any(c->p, ROLE_READ)) {
		api_error(c, API_E_FORBIDDEN, "%s may not search mail (needs auditor or legal)",
		          c->p->name);
		return;
	}
	const char *q = api_request_query(c->req, "q");
	if (!q)
		q = "";
	if (strlen(q) > IX_QUERY_MAX) {
		api_error(c, API_E_BAD_REQUEST, "query longer than %d bytes", IX_QUERY_MAX);
		return;
	}
	ix_search_opts_t o = {0};
	uint64_t limit = 0;
	if (!num_param(c, "offset", UINT64_MAX, &o.offset) ||
	    !num_param(c, "limit", IX_LIMIT_MAX, &limit))
		return;
	o.limit = (size_t)limit;
	if (!ix_sort_parse(api_request_query(c->req, "sort"), &o.sort)) {
		api_error(c, API_E_BAD_REQUEST,
		          "sort: date, -date, received, -received or relevance");
		return;
	}
	scope_t s = {0};
	scope_granted(c->p, &s);
	const char *archive = api_request_query(c->req, "archive");
	if (archive && *archive && !scope_requested(c, archive, &s))
		return;
	run_search(c, q, &s, &o);
	util_strv_free(s.names);
}
