/* api_audit.c — GET /api/v1/audit?since=&user=&action=&after=&limit=
 *
 * Does: list the audit trail (admin on "*"), oldest first, with filters:
 * since (a date, date-time, or a duration back from now such as "24h"),
 * user (exact principal), action (exact, or a prefix like "user"), and
 * paging (after = the last seq seen, limit), answered from the trail's
 * query index (audit.h).  GET /api/v1/audit/verify checks the trail end to
 * end and names the first entry that is not as it was written.  Both are
 * themselves audited.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_private.h"

/* "2024-03-01", "2024-03-01T12:00:00Z" or "24h"/"7d" (ago). */
static bool since_parse(const char *s, int64_t *us)
{
	if (util_time_parse(s, us) == UTIL_OK)
		return true;
	util_duration_t d;
	if (util_parse_duration(s, &d) == UTIL_OK && !d.forever) {
		*us = util_duration_sub(util_now(), &d);
		return true;
	}
	return false;
}

void api_audit_list(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	audit_filter_t f = {
		.user = api_request_query(c->req, "user"),
		.action = api_request_query(c->req, "action"),
	};
	const char *since = api_request_query(c->req, "since");
	if (since && *since && !since_parse(since, &f.since)) {
		api_error(c, API_E_BAD_REQUEST,
		          "since: a date (2024-03-01), a time (2024-03-01T12:00:00Z) or a duration "
		          "ago (24h, 7d)");
		return;
	}
	uint64_t limit = 0;
	if (!api_uint_param(c, "after", &f.after) || !api_uint_param(c, "limit", &limit))
		return;
	f.limit = limit > AUDIT_LIST_MAX ? AUDIT_LIST_MAX : (size_t)limit;
	json_t *entries = NULL;
	bool more = false;
	uint64_t next = 0;
	if (audit_list(c->app->audit, &f, &entries, &more, &next) != AUDIT_OK) {
		json_decref(entries);
		api_error(c, API_E_UNAVAILABLE, "the audit trail cannot be read");
		return;
	}
	int64_t count = (int64_t)json_array_size(entries);
	json_t *d = json_object();
	if (f.user)
		json_object_set_new(d, "user", json_string(f.user));
	if (f.action)
		json_object_set_new(d, "action", json_string(f.action));
	if (since)
		json_object_set_new(d, "since", json_string(since));
	bool ok = api_audit(c, "audit.list", NULL, "ok", &count, d);
	json_decref(d);
	if (!ok) {
		json_decref(entries);
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "entries", entries);
	json_object_set_new(o, "more", json_boolean(more));
	if (more)
		json_object_set_new(o, "next_after", json_integer((json_int_t)next));
	api_json(c, 200, o);
	json_decref(o);
}

/* Problems listed in one verify answer; the count is always exact. */
#define AUDIT_VERIFY_PROBLEMS_MAX 1000

static void verify_cb(void *arg, uint64_t seq, const char *problem)
{
	json_t *a = arg;
	if (json_array_size(a) < AUDIT_VERIFY_PROBLEMS_MAX)
		json_array_append_new(a, json_pack("{s:o, s:o}", "seq",
		                                   seq ? json_integer((json_int_t)seq) : json_null(),
		                                   "problem", api_str(problem)));
}

void api_audit_verify(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	json_t *problems = json_array();
	audit_verify_report_t rep;
	if (audit_verify(c->app->audit, verify_cb, problems, &rep) != AUDIT_OK) {
		json_decref(problems);
		api_error(c, API_E_UNAVAILABLE, "the audit trail cannot be read");
		return;
	}
	/* Recorded when the trail still takes records; a trail that does not
	 * (damaged log, failed store) is exactly what this call must be able
	 * to report, so its answer does not depend on it. */
	int64_t count = (int64_t)rep.problems;
	json_t *d = json_pack("{s:b, s:I}", "intact", rep.problems == 0, "entries",
	                      (json_int_t)rep.entries);
	audit_event_t e = {.who = c->p->name, .from = c->req->client, .action = "audit.verify",
	                   .outcome = rep.problems ? "failed" : "ok", .count = count,
	                   .has_count = true, .detail = d};
	audit_record(c->app->audit, &e, NULL);
	json_decref(d);
	json_t *o = json_object();
	json_object_set_new(o, "intact", json_boolean(rep.problems == 0));
	json_object_set_new(o, "entries", json_integer((json_int_t)rep.entries));
	json_object_set_new(o, "head", json_integer((json_int_t)rep.head));
	json_object_set_new(o, "problem_count", json_integer((json_int_t)rep.problems));
	json_object_set_new(o, "first_bad",
	                    rep.first_bad ? json_integer((json_int_t)rep.first_bad) : json_null());
	json_object_set_new(o, "index_rebuilt", json_boolean(rep.index_rebuilt));
	json_object_set_new(o, "problems", problems);
	api_json(c, 200, o);
	json_decref(o);
}
