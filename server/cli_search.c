/* cli_search.c — `vellum search` and `vellum show`.
 *
 * Does: call /api/v1/search and /api/v1/messages/{id}[/raw] (through the
 * running server, or in-process), print a result table, a message summary,
 * the JSON as the API gave it (--json), or the exact raw bytes (--raw).
 * Does not: search or read anything itself — the API checks grants and
 * audits the access.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_private.h"

static void search_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] search [--archive A] [--json] [--limit N] [--offset N]\n"
	           "                             [--sort date|-date|received|-received|relevance] QUERY\n\n"
	           "Searches the archives (DESIGN.md §6 query language; the words of QUERY are\n"
	           "joined by spaces).  Prints ID, date, from and subject per result, newest\n"
	           "first, and on standard error how many there are in all.  --json prints the\n"
	           "API's answer.  Audited as cli:<user>.\n");
}

static void show_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] show [--raw [--inner] | --json] ID\n\n"
	           "Shows a message's envelope, arrivals, headers and integrity data; --raw\n"
	           "writes the exact bytes that arrived to standard output; --inner the original\n"
	           "message inside a journal report instead.  Audited as cli:<user>.\n");
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));
	if (s)
		puts(s);
	free(s);
}

static void print_results(json_t *j, const char *offset)
{
	json_t *h;
	size_t i;
	json_array_foreach(json_object_get(j, "results"), i, h) {
		const char *fields[] = {"id", "date", "from", "subject"};
		for (size_t k = 0; k < 4; k++) {
			if (k)
				fputc('\t', stdout);
			cli_print_safe(stdout, json_string_value(json_object_get(h, fields[k])));
		}
		fputc('\n', stdout);
	}
	size_t n = json_array_size(json_object_get(j, "results"));
	unsigned long long total = (unsigned long long)json_integer_value(json_object_get(j, "total"));
	unsigned long long off = offset ? strtoull(offset, NULL, 10) : 0;
	if (n < total)
		fprintf(stderr, "%zu shown (from %llu) of %s%llu results; use --offset/--limit for more\n",
		        n, off + (n ? 1 : 0),
		        json_is_true(json_object_get(j, "total_exact")) ? "" : "about ", total);
	else
		fprintf(stderr, "%llu result%s\n", total, total == 1 ? "" : "s");
}

int cli_search_main(const char *config_path, int argc, char **argv)
{
	const char *archive = NULL, *limit = NULL, *offset = NULL, *sort = NULL;
	bool json = false;
	buf_t q = {0};
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char **opt = !strcmp(s, "--archive") ? &archive
		                 : !strcmp(s, "--limit")   ? &limit
		                 : !strcmp(s, "--offset")  ? &offset
		                 : !strcmp(s, "--sort")    ? &sort
		                                           : NULL;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			search_usage(stdout);
			buf_free(&q);
			return 0;
		} else if (opt && i + 1 < argc) {
			*opt = argv[++i];
		} else if (!strcmp(s, "--json")) {
			json = true;
		} else if (!strcmp(s, "--")) {
			for (i++; i < argc; i++)
				buf_printf(&q, "%s%s", q.len ? " " : "", argv[i]);
		} else if (s[0] == '-' && s[1] && !opt) {
			cli_error("search: unknown option '%s'", s);
			buf_free(&q);
			return 2;
		} else if (opt) {
			cli_error("search: %s needs a value", s);
			buf_free(&q);
			return 2;
		} else {
			buf_printf(&q, "%s%s", q.len ? " " : "", s);
		}
	}
	cli_ctx_t *c = cli_ctx_open(config_path, "search");
	if (!c) {
		buf_free(&q);
		return 1;
	}
	const char *query[] = {"q",    q.len ? (const char *)q.data : "",
	                       "archive", archive, "limit", limit, "offset", offset, "sort", sort,
	                       NULL};
	int status, rc = 0;
	json_t *j = NULL;
	if (!cli_call(c, "GET", "/api/v1/search", query, NULL, &status, &j))
		rc = 1;
	else if (status != 200)
		rc = cli_api_error("search", status, j);
	else if (json)
		print_json(j);
	else
		print_results(j, offset);
	json_decref(j);
	cli_ctx_close(c);
	buf_free(&q);
	return rc;
}

static void print_field(const char *label, json_t *v)
{
	fputs(label, stdout);
	if (json_is_string(v))
		cli_print_safe(stdout, json_string_value(v));
	else if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else
		fputs("-", stdout);
	fputc('\n', stdout);
}

static void print_message(json_t *m)
{
	print_field("id:        ", json_object_get(m, "id"));
	print_field("received:  ", json_object_get(m, "received"));
	print_field("size:      ", json_object_get(m, "size"));
	print_field("sha256:    ", json_object_get(m, "sha256"));
	json_t *st = json_object_get(m, "store");
	print_field("segment:   ", json_object_get(st, "segment"));
	print_field("record:    ", json_object_get(st, "record_seq"));
	print_field("verified:  ", json_object_get(json_object_get(m, "integrity"), "verified"));
	json_t *w;
	size_t wi;
	json_array_foreach(json_object_get(m, "warnings"), wi, w)
		print_field("warning:   ", w);
	json_t *a;
	size_t i;
	json_array_foreach(json_object_get(m, "arrivals"), i, a) {
		printf("arrival %zu:\n", i + 1);
		print_field("  received:  ", json_object_get(a, "received"));
		print_field("  listener:  ", json_object_get(a, "listener"));
		print_field("  client:    ", json_object_get(a, "client_addr"));
		print_field("  helo:      ", json_object_get(a, "helo"));
		print_field("  mail from: ", json_object_get(a, "mail_from"));
		json_t *r;
		size_t k;
		json_array_foreach(json_object_get(a, "rcpt"), k, r)
			print_field("  rcpt to:   ", r);
	}
	json_t *h;
	size_t k;
	json_array_foreach(json_object_get(m, "headers"), k, h) {
		cli_print_safe(stdout, json_string_value(json_object_get(h, "name")));
		fputs(": ", stdout);
		cli_print_safe(stdout, json_string_value(json_object_get(h, "value")));
		fputc('\n', stdout);
	}
}

int cli_show_main(const char *config_path, int argc, char **argv)
{
	bool raw = false, json = false, inner = false;
	const char *id = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			show_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--raw")) {
			raw = true;
		} else if (!strcmp(argv[i], "--inner")) {
			inner = raw = true;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' || id) {
			cli_error("show: unexpected argument '%s'", argv[i]);
			show_usage(stderr);
			return 2;
		} else {
			id = argv[i];
		}
	}
	if (!id || (raw && json)) {
		show_usage(stderr);
		return 2;
	}
	cli_ctx_t *c = cli_ctx_open(config_path, "show");
	if (!c)
		return 1;
	char path[256], what[160];
	snprintf(what, sizeof what, "show %s", id);
	snprintf(path, sizeof path, "/api/v1/messages/%s%s", id, raw ? "/raw" : "");
	int status, rc = 0;
	json_t *j = NULL;
	const char *query[] = {"inner", inner ? "1" : NULL, NULL};
	bool ok = raw ? cli_call_stream(c, path, query, STDOUT_FILENO, &status, &j)
	              : cli_call(c, "GET", path, NULL, NULL, &status, &j);
	if (!ok)
		rc = 1;
	else if (status != 200)
		rc = cli_api_error(what, status, j);
	else if (json)
		print_json(j);
	else if (!raw)
		print_message(j);
	json_decref(j);
	cli_ctx_close(c);
	return rc;
}
