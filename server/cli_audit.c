/* cli_audit.c — `vellum audit [--since T] [--user U] [--action A] [--json]`
 * and `vellum audit --verify`.
 *
 * Does: page through GET /api/v1/audit (through the running server or
 * in-process) and print every matching entry, one per line:
 *   TIME  WHO  FROM  ACTION  TARGET  OUTCOME  [count=N]  [detail JSON]
 * or the entries as a JSON array (--json).  The listing is itself audited.
 * --verify asks GET /api/v1/audit/verify and prints each problem with the
 * entry it concerns; exit status 0 only when the trail is intact.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli_private.h"

static void audit_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] audit [--since T] [--user U] [--action A] [--json]\n"
	           "       vellum [-c FILE] audit --verify [--json]\n\n"
	           "Lists the audit trail, oldest first.  --since takes a date (2024-03-01), a\n"
	           "time (2024-03-01T12:00:00Z) or a duration ago (24h, 7d); --user an exact\n"
	           "principal (alice, cli:root); --action an action (login, search, user.create)\n"
	           "or its prefix (user).  --verify checks the whole trail (every entry\n"
	           "authenticated, in order, linked, none missing at the end) and names the\n"
	           "first entry that is not as written; exit status 1 if any.  Needs admin;\n"
	           "audited as cli:<user>.\n");
}

static void print_entry(json_t *e)
{
	const char *fields[] = {"time", "who", "from", "action", "target", "outcome"};
	for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
		if (k)
			fputs("  ", stdout);
		const char *v = json_string_value(json_object_get(e, fields[k]));
		cli_print_safe(stdout, v ? v : "-");
	}
	json_t *count = json_object_get(e, "count");
	if (json_is_integer(count))
		printf("  count=%lld", (long long)json_integer_value(count));
	json_t *d = json_object_get(e, "detail");
	if (d) {
		char *s = json_dumps(d, JSON_COMPACT | JSON_ENSURE_ASCII);
		fputs("  ", stdout);
		cli_print_safe(stdout, s);
		free(s);
	}
	fputc('\n', stdout);
}

static int audit_verify(cli_ctx_t *c, bool json)
{
	int status;
	json_t *j = NULL;
	if (!cli_call(c, "GET", "/api/v1/audit/verify", NULL, NULL, &status, &j))
		return 1;
	if (status != 200) {
		int rc = cli_api_error("audit --verify", status, j);
		json_decref(j);
		return rc;
	}
	bool intact = json_is_true(json_object_get(j, "intact"));
	if (json) {
		char *s = json_dumps(j, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else {
		json_t *p;
		size_t i;
		json_array_foreach(json_object_get(j, "problems"), i, p) {
			json_t *seq = json_object_get(p, "seq");
			if (json_is_integer(seq))
				printf("entry %lld: ", (long long)json_integer_value(seq));
			cli_print_safe(stdout, json_string_value(json_object_get(p, "problem")));
			fputc('\n', stdout);
		}
		json_t *fb = json_object_get(j, "first_bad");
		if (intact)
			printf("audit trail intact: %lld entries\n",
			       (long long)json_integer_value(json_object_get(j, "entries")));
		else if (json_is_integer(fb))
			printf("audit trail FAILS verification: %lld problems, first at entry %lld\n",
			       (long long)json_integer_value(json_object_get(j, "problem_count")),
			       (long long)json_integer_value(fb));
		else
			printf("audit trail FAILS verification: %lld problems\n",
			       (long long)json_integer_value(json_object_get(j, "problem_count")));
	}
	json_decref(j);
	return intact ? 0 : 1;
}

int cli_audit_main(const char *config_path, int argc, char **argv)
{
	const char *since = NULL, *user = NULL, *action = NULL;
	bool json = false, verify = false;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char **opt = !strcmp(s, "--since")  ? &since
		                 : !strcmp(s, "--user")   ? &user
		                 : !strcmp(s, "--action") ? &action
		                                          : NULL;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			audit_usage(stdout);
			return 0;
		} else if (opt && i + 1 < argc) {
			*opt = argv[++i];
		} else if (!strcmp(s, "--json")) {
			json = true;
		} else if (!strcmp(s, "--verify")) {
			verify = true;
		} else {
			cli_error("audit: unexpected argument '%s'", s);
			audit_usage(stderr);
			return 2;
		}
	}
	if (verify && (since || user || action)) {
		cli_error("audit: --verify checks the whole trail; it takes no filters");
		return 2;
	}
	cli_ctx_t *c = cli_ctx_open(config_path, "audit");
	if (!c)
		return 1;
	if (verify) {
		int vrc = audit_verify(c, json);
		cli_ctx_close(c);
		return vrc;
	}
	int rc = 0;
	char after[32] = "0";
	json_t *all = json ? json_array() : NULL;
	for (;;) {
		const char *query[] = {"since", since, "user", user, "action", action, "after", after,
		                       NULL};
		int status;
		json_t *j = NULL;
		if (!cli_call(c, "GET", "/api/v1/audit", query, NULL, &status, &j)) {
			rc = 1;
			break;
		}
		if (status != 200) {
			rc = cli_api_error("audit", status, j);
			json_decref(j);
			break;
		}
		json_t *e;
		size_t i;
		json_array_foreach(json_object_get(j, "entries"), i, e) {
			if (all)
				json_array_append(all, e);
			else
				print_entry(e);
		}
		bool more = json_is_true(json_object_get(j, "more"));
		snprintf(after, sizeof after, "%lld",
		         (long long)json_integer_value(json_object_get(j, "next_after")));
		json_decref(j);
		if (!more)
			break;
	}
	if (all && !rc) {
		char *s = json_dumps(all, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	json_decref(all);
	cli_ctx_close(c);
	return rc;
}
