/* test_audit.c — the audit trail on a real store: records, their JSON
 * shape, listing with since/user/action filters and paging, persistence
 * across re-opening, and refusal without a store. */
#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testapp.h"
#include "vellum/audit.h"
#include "vellum/log.h"

static json_t *list(audit_t *a, const audit_filter_t *f, bool *more, uint64_t *next)
{
	json_t *e = NULL;
	bool m;
	uint64_t n;
	if (audit_list(a, f, &e, more ? more : &m, next ? next : &n) != AUDIT_OK) {
		json_decref(e);
		return NULL;
	}
	return e;
}

static void test_record(audit_t *a, uint64_t *first)
{
	json_t *d = json_pack("{s:s, s:[s]}", "query", "from:x", "archives", "default");
	audit_event_t e = {.who = "alice", .from = "127.0.0.1", .action = "search",
	                   .count = 3, .has_count = true, .detail = d};
	uint64_t s1 = 0, s2 = 0;
	ok(audit_record(a, &e, &s1) == AUDIT_OK && s1 > 0, "record a search");
	json_decref(d);
	audit_event_t l = {.who = "bob", .action = "login", .target = "bob", .outcome = "failed"};
	ok(audit_record(a, &l, &s2) == AUDIT_OK && s2 == s1 + 1, "record a failed login, next seq");
	audit_event_t v = {.who = "alice", .from = "127.0.0.1", .action = "message.view",
	                   .target = "default-1"};
	audit_record(a, &v, NULL);
	audit_event_t u = {.who = "cli:root", .action = "user.create", .target = "erin"};
	audit_record(a, &u, NULL);
	audit_event_t bad = {.who = "x"};
	ok(audit_record(a, &bad, NULL) == AUDIT_EINVAL, "an event without action is refused");
	*first = s1;
}

static void test_list(audit_t *a, uint64_t first)
{
	audit_filter_t all = {.after = first - 1};
	json_t *e = list(a, &all, NULL, NULL);
	is_int(json_array_size(e), 4, "four records listed");
	json_t *s = json_array_get(e, 0);
	is_str(json_string_value(json_object_get(s, "who")), "alice", "who");
	is_str(json_string_value(json_object_get(s, "from")), "127.0.0.1", "from");
	is_str(json_string_value(json_object_get(s, "action")), "search", "action");
	is_str(json_string_value(json_object_get(s, "outcome")), "ok", "outcome defaults to ok");
	is_int(json_integer_value(json_object_get(s, "count")), 3, "count");
	is_str(json_string_value(json_object_get(json_object_get(s, "detail"), "query")), "from:x",
	       "detail kept");
	is_int(json_integer_value(json_object_get(s, "v")), AUDIT_FORMAT_VERSION, "format version");
	ok(json_string_value(json_object_get(s, "time")) &&
	   json_integer_value(json_object_get(s, "time_us")) > 0, "time recorded");
	is_int(json_integer_value(json_object_get(s, "seq")), first, "seq added on listing");
	json_t *l = json_array_get(e, 1);
	ok(!json_object_get(l, "count"), "no count when none was given");
	is_str(json_string_value(json_object_get(l, "from")), "local", "from defaults to local");
	json_decref(e);

	audit_filter_t fu = {.user = "alice", .after = first - 1};
	e = list(a, &fu, NULL, NULL);
	is_int(json_array_size(e), 2, "user filter: alice's two");
	json_decref(e);
	audit_filter_t fa = {.action = "login", .after = first - 1};
	e = list(a, &fa, NULL, NULL);
	is_int(json_array_size(e), 1, "action filter: one login");
	json_decref(e);
	audit_filter_t fp = {.action = "user"};
	e = list(a, &fp, NULL, NULL);
	ok(json_array_size(e) >= 1, "action prefix 'user' matches user.create");
	size_t i;
	json_t *x;
	bool only_user = true;
	json_array_foreach(e, i, x)
		only_user &= !strncmp(json_string_value(json_object_get(x, "action")), "user.", 5);
	ok(only_user, "and nothing else");
	json_decref(e);
	audit_filter_t fm = {.action = "messa"};
	e = list(a, &fm, NULL, NULL);
	is_int(json_array_size(e), 0, "a partial word is not a prefix match");
	json_decref(e);
	audit_filter_t fs = {.since = util_now() + 3600 * UTIL_US_PER_SEC};
	e = list(a, &fs, NULL, NULL);
	is_int(json_array_size(e), 0, "since in the future: nothing");
	json_decref(e);
	audit_filter_t fs2 = {.since = util_now() - 3600 * UTIL_US_PER_SEC, .user = "bob"};
	e = list(a, &fs2, NULL, NULL);
	is_int(json_array_size(e), 1, "since an hour ago + user");
	json_decref(e);

	/* Paging: two at a time reaches all four. */
	audit_filter_t pg = {.after = first - 1, .limit = 2};
	bool more;
	uint64_t next;
	e = list(a, &pg, &more, &next);
	ok(json_array_size(e) == 2 && more && next == first + 1, "first page of two, more");
	json_decref(e);
	pg.after = next;
	e = list(a, &pg, &more, &next);
	ok(json_array_size(e) == 2, "second page of two");
	json_decref(e);
	pg.after = next;
	e = list(a, &pg, &more, &next);
	ok(json_array_size(e) == 0 && !more, "then nothing more");
	json_decref(e);
}

/* The same listing from the query index (app's trail) and from a scan of
 * the log (a trail without a database), for a few filters; past one batch
 * of the index's catch-up. */
static void test_index(testapp_t *t)
{
	audit_t *scan = audit_new(t->app->store);
	for (int i = 0; i < 1050; i++) {
		char who[16];
		snprintf(who, sizeof who, "u%d", i % 7);
		audit_event_t e = {.who = who, .action = i % 3 ? "search" : "message.view"};
		audit_record(t->app->audit, &e, NULL);
	}
	audit_filter_t filters[] = {
		{.limit = AUDIT_LIST_MAX},
		{.user = "u3", .limit = 50},
		{.action = "message", .limit = 100},
		{.action = "search", .user = "u1", .after = 500, .limit = 20},
	};
	for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
		bool m1, m2;
		uint64_t n1, n2;
		json_t *a = list(t->app->audit, &filters[i], &m1, &n1);
		json_t *b = list(scan, &filters[i], &m2, &n2);
		ok(a && b && json_equal(a, b) && m1 == m2 && n1 == n2,
		   "filter %zu: the index answers as the log does (%zu entries)", i, json_array_size(a));
		json_decref(a);
		json_decref(b);
	}
	audit_free(scan);
	audit_verify_report_t rep;
	ok(audit_verify(t->app->audit, NULL, NULL, &rep) == AUDIT_OK && rep.problems == 0 &&
	   rep.entries > 1050 && !rep.index_rebuilt, "the trail verifies (%llu entries)",
	   (unsigned long long)rep.entries);
	/* Someone edits the index (not the log): verify says so and rebuilds it. */
	sqlite3 *h;
	char *dbp = config_data_path(t->app->cfg, "vellum.db");
	sqlite3_open(dbp, &h);
	sqlite3_exec(h, "UPDATE audit_index SET record = '{\"v\":1}' WHERE seq = 5", NULL, NULL,
	             NULL);
	sqlite3_close(h);
	free(dbp);
	ok(audit_verify(t->app->audit, NULL, NULL, &rep) == AUDIT_OK && rep.problems == 1 &&
	   rep.index_rebuilt, "an edited index: one problem, rebuilt from the log");
	ok(audit_verify(t->app->audit, NULL, NULL, &rep) == AUDIT_OK && rep.problems == 0,
	   "and then it verifies");
	audit_filter_t all = {.limit = 10};
	json_t *e = list(t->app->audit, &all, NULL, NULL);
	ok(json_integer_value(json_object_get(json_array_get(e, 4), "seq")) == 5 &&
	   json_object_get(json_array_get(e, 4), "action"), "the rebuilt index lists entry 5 as logged");
	json_decref(e);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	testapp_t *t = testapp_new("audit", NULL);
	uint64_t first = 0;
	test_record(t->app->audit, &first);
	test_list(t->app->audit, first);
	test_index(t);

	/* Records survive closing and re-opening the store. */
	char *text = xasprintf("[storage]\ndata_dir = %s/var\nmaster_key_file = %s/master.key\n"
	                       "min_free = 1M\n", t->dir, t->dir);
	app_close(t->app);
	config_t *cfg;
	char *err;
	config_load_string(text, strlen(text), "t", t->dir, &cfg, &err);
	free(text);
	ok(app_open(cfg, APP_DIRECT, &t->app) == APP_OK, "re-open");
	audit_filter_t f = {.user = "bob"};
	json_t *e = list(t->app->audit, &f, NULL, NULL);
	is_int(json_array_size(e), 1, "records persist");
	json_decref(e);

	audit_t *none = audit_new(NULL);
	audit_event_t ev = {.who = "a", .action = "b"};
	ok(audit_record(none, &ev, NULL) == AUDIT_EIO, "no store: recording refused (fail closed)");
	audit_free(none);
	testapp_free(t);
	return tap_done();
}
