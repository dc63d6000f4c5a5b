/* api_audit.c — GET /api/v1/audit?since=&user=&action=&after=&limit=
 *
 * Does: list the audit trail (admin on "*"), oldest first, with filters:
 * since (a date, date-time, or a duration back from now such as "24h"),
 * user (exact principal), action (exact, or a prefix like "user"), and
 * paging (after = the last seq seen, limit).  The listing itself is audited.
 * Does not: verify the chain (GET /api/v1/audit/verify, issue 6).
 */
#include "config.h"

#include <errno.h>
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

static bool uint_param(api_ctx_t *c, const char *name, uint64_t *out)
{
	const char *s = api_request_query(c->req, name);
	if (!s || !*s)
		return true;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || *s == '-' || *s == '+') {
		api_error(c, API_E_BAD_REQUEST, "%s must be a non-negative integer", name);
		return false;
	}
	*out = v;
	return true;
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
	if (!uint_param(c, "after", &f.after) || !uint_param(c, "limit", &limit))
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
