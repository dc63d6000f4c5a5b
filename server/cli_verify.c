/* cli_verify.c — `vellum verify [--archive A] [--json] [--quiet]`.
 *
 * Does: call GET /api/v1/verify (through the running server's control
 * socket, or in-process under the data-dir lock when none runs), print every
 * problem with its exact location, the notes (deletions, quarantines,
 * anchoring) unless --quiet, and one summary line per archive; exit 0 only
 * when everything verifies.  The verification is audited ("verify").
 * Does not: check anything itself (the store does) or repair anything.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli_private.h"

static void verify_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] verify [--archive A] [--json] [--quiet]\n\n"
	           "Re-reads every record of every archive and log (or of archive A) and checks\n"
	           "it: framing, decryption, decompression, sequence, the hash chain across\n"
	           "segments, every signature, that sealed segments end with their seal, the\n"
	           "SHA-256 of every message, and that the chain reaches the recorded head.\n"
	           "Prints each problem as \"ARCHIVE: segment FILE offset N seq N: what\", then a\n"
	           "summary per archive with the sequence up to which a signature anchors the\n"
	           "chain.  Records removed by retention, a purge or an archive deletion are\n"
	           "reported as such (signed deletion records), not as problems.  --quiet\n"
	           "prints problems and summaries only; --json the API's answer.\n\n"
	           "Exit status: 0 when everything verifies, 1 when anything does not (or the\n"
	           "check could not run), 2 for a usage error.  Needs admin; audited as\n"
	           "cli:<user>.  Runs through the server when one is running.\n");
}

static void print_list(const char *archive, json_t *a, const char *key, const char *prefix)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(a, key), i, e)
	{
		fputs(prefix, stdout);
		cli_print_safe(stdout, archive);
		fputs(": ", stdout);
		cli_print_safe(stdout, json_string_value(e));
		fputc('\n', stdout);
	}
}

static void print_archive(json_t *a, bool quiet)
{
	const char *name = json_string_value(json_object_get(a, "archive"));
	if (!name)
		return;
#define N(k) ((long long)json_integer_value(json_object_get(a, k)))
	print_list(name, a, "problems", "");
	if (N("problem_count") > (long long)json_array_size(json_object_get(a, "problems")))
		printf("%s: ... %lld problems in all\n", name, N("problem_count"));
	if (!quiet)
		print_list(name, a, "notes", "note: ");
	printf("%s: %s: %lld records, %lld messages, %lld segments; anchored up to seq %lld;"
	       " %lld signatures; %lld deletions (%lld records removed)%s\n",
	       name, N("problem_count") ? "PROBLEMS" : "ok", N("records"), N("messages"),
	       N("segments"), N("anchored_seq"), N("signatures"), N("deletions"),
	       N("deleted_records"), N("quarantined") ? ", quarantined segments" : "");
#undef N
}

int cli_verify_main(const char *config_path, int argc, char **argv)
{
	const char *archive = NULL;
	bool json = false, quiet = false;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			verify_usage(stdout);
			return 0;
		} else if (!strcmp(s, "--archive") && i + 1 < argc) {
			archive = argv[++i];
		} else if (!strcmp(s, "--json")) {
			json = true;
		} else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
			quiet = true;
		} else {
			cli_error("verify: unexpected argument '%s'", s);
			verify_usage(stderr);
			return 2;
		}
	}
	cli_ctx_t *c = cli_ctx_open(config_path, "verify");
	if (!c)
		return 1;
	const char *query[] = {"archive", archive, NULL};
	int status = 0;
	json_t *j = NULL;
	int rc = 1;
	if (cli_call(c, "GET", "/api/v1/verify", query, NULL, &status, &j)) {
		if (status != 200) {
			rc = cli_api_error("verify", status, j);
		} else if (json) {
			char *s = json_dumps(j, JSON_INDENT(2));
			if (s)
				puts(s);
			free(s);
			rc = json_is_true(json_object_get(j, "clean")) ? 0 : 1;
		} else {
			json_t *a;
			size_t i;
			json_array_foreach(json_object_get(j, "archives"), i, a)
			    print_archive(a, quiet);
			bool clean = json_is_true(json_object_get(j, "clean"));
			long long np =
			    (long long)json_integer_value(json_object_get(j, "problem_count"));
			if (clean)
				printf("verify: everything verifies\n");
			else
				printf("verify: %lld problem%s\n", np, np == 1 ? "" : "s");
			rc = clean ? 0 : 1;
		}
	}
	json_decref(j);
	cli_ctx_close(c);
	return rc;
}
