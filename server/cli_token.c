/* cli_token.c — `vellum token create|list|revoke NAME [--role R]...
 * [--archive A|*]... [--expires D]`.
 *
 * Does: manage API tokens through /api/v1/tokens (the running server's
 * control socket, or in-process).  `create` prints the token's value once;
 * it is stored only as a hash, so it cannot be shown again.  Each --role is
 * granted on each --archive (default "*").
 * Does not: touch the database itself — the API checks, changes and audits.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli_private.h"
#include "vellum/auth.h"

/* --role / --archive options accepted (roles x archives grants). */
#define TOKEN_OPTS_MAX 32

typedef struct token_args {
	const char *verb, *name, *expires;
	const char *roles[TOKEN_OPTS_MAX], *archives[TOKEN_OPTS_MAX];
	size_t nroles, narchives;
	bool json;
} token_args_t;

static void token_usage(FILE *f)
{
	fprintf(f,
	        "usage: vellum [-c FILE] token create NAME --role R... [--archive A|*]... "
	        "[--expires D]\n"
	        "       vellum [-c FILE] token list [--json]\n"
	        "       vellum [-c FILE] token revoke NAME\n\n"
	        "API tokens for scripts and monitoring: `Authorization: Bearer <token>` on any\n"
	        "route.  A token acts as token:NAME with exactly the grants it is created with:\n"
	        "each --role (admin, auditor, legal, ingest) on each --archive (default *).\n"
	        "--expires takes a date (2027-01-01) or a duration from now (90d).  The value\n"
	        "is printed once by `create` and stored only as a hash.  Needs admin.\n");
}

static int token_parse(int argc, char **argv, token_args_t *a)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		bool role = !strcmp(s, "--role"), arch = !strcmp(s, "--archive");
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			token_usage(stdout);
			return -1;
		} else if ((role || arch) && i + 1 < argc) {
			size_t *n = role ? &a->nroles : &a->narchives;
			if (*n == TOKEN_OPTS_MAX) {
				cli_error("token: too many %s", s);
				return 2;
			}
			(role ? a->roles : a->archives)[(*n)++] = argv[++i];
		} else if (!strcmp(s, "--expires") && i + 1 < argc) {
			a->expires = argv[++i];
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (s[0] == '-' && s[1]) {
			cli_error("token: unknown or incomplete option '%s'", s);
			return 2;
		} else if (!a->verb) {
			a->verb = s;
		} else if (!a->name) {
			a->name = s;
		} else {
			cli_error("token: unexpected argument '%s'", s);
			return 2;
		}
	}
	if (!a->verb ||
	    (strcmp(a->verb, "create") && strcmp(a->verb, "list") && strcmp(a->verb, "revoke"))) {
		if (a->verb)
			cli_error("token: unknown sub-command '%s' (create, list, revoke)",
			          a->verb);
		token_usage(stderr);
		return 2;
	}
	if (strcmp(a->verb, "list") && !a->name) {
		cli_error("token %s: needs a token name", a->verb);
		return 2;
	}
	if (!strcmp(a->verb, "create") && !a->nroles) {
		cli_error("token create: needs at least one --role");
		return 2;
	}
	for (size_t i = 0; i < a->nroles; i++)
		if (!auth_role_parse(a->roles[i])) {
			cli_error("token: unknown role '%s' (admin, auditor, legal, ingest)",
			          a->roles[i]);
			return 2;
		}
	return 0;
}

static void print_token(json_t *t)
{
	cli_print_safe(stdout, json_string_value(json_object_get(t, "name")));
	fputc('\t', stdout);
	json_t *g;
	size_t i;
	json_array_foreach(json_object_get(t, "grants"), i, g)
	{
		fputs(i ? "," : "", stdout);
		cli_print_safe(stdout, json_string_value(json_object_get(g, "role")));
		fputc(':', stdout);
		cli_print_safe(stdout, json_string_value(json_object_get(g, "archive")));
	}
	const char *lu = json_string_value(json_object_get(t, "last_used"));
	const char *ex = json_string_value(json_object_get(t, "expires"));
	printf("\tcreated %s by ", json_string_value(json_object_get(t, "created")));
	cli_print_safe(stdout, json_string_value(json_object_get(t, "created_by")));
	printf("\tlast used %s\texpires %s\n", lu ? lu : "never", ex ? ex : "never");
}

static int token_run(cli_ctx_t *c, const token_args_t *a)
{
	char path[160], what[96];
	snprintf(what, sizeof what, "token %s", a->verb);
	int status, want = 200, rc = 0;
	json_t *j = NULL;
	bool ok;
	if (!strcmp(a->verb, "list")) {
		ok = cli_call(c, "GET", "/api/v1/tokens", NULL, NULL, &status, &j);
	} else if (!strcmp(a->verb, "revoke")) {
		snprintf(path, sizeof path, "/api/v1/tokens/%s", a->name);
		ok = cli_call(c, "DELETE", path, NULL, NULL, &status, &j);
	} else {
		json_t *g = json_array();
		for (size_t r = 0; r < a->nroles; r++)
			for (size_t k = 0; k < (a->narchives ? a->narchives : 1); k++)
				json_array_append_new(
				    g, json_pack("{s:s, s:s}", "role", a->roles[r], "archive",
				                 a->narchives ? a->archives[k] : "*"));
		json_t *b = json_pack("{s:s, s:o}", "name", a->name, "grants", g);
		if (a->expires)
			json_object_set_new(b, "expires", json_string(a->expires));
		ok = cli_call(c, "POST", "/api/v1/tokens", NULL, b, &status, &j);
		json_decref(b);
		want = 201;
	}
	if (!ok)
		return 1;
	if (status != want) {
		rc = cli_api_error(what, status, j);
	} else if (!strcmp(a->verb, "list")) {
		if (a->json) {
			char *s = json_dumps(json_object_get(j, "tokens"), JSON_INDENT(2));
			if (s)
				puts(s);
			free(s);
		} else {
			json_t *t;
			size_t i;
			json_array_foreach(json_object_get(j, "tokens"), i, t) print_token(t);
		}
	} else if (!strcmp(a->verb, "revoke")) {
		printf("token %s revoked\n", a->name);
	} else {
		printf("token: %s\n", json_string_value(json_object_get(j, "token")));
		fprintf(stderr, "Shown once: store it now.  Use it as `Authorization: Bearer "
		                "<token>`.\n");
	}
	json_decref(j);
	return rc;
}

int cli_token_main(const char *config_path, int argc, char **argv)
{
	token_args_t a;
	int rc = token_parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	cli_ctx_t *c = cli_ctx_open(config_path, "token");
	if (!c)
		return 1;
	rc = token_run(c, &a);
	cli_ctx_close(c);
	return rc;
}
