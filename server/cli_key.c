/* cli_key.c — `vellum key rotate [--new-key-file FILE]`.
 *
 * Does: call POST /api/v1/keys/rotate (through the running server, or
 * in-process under the data-dir lock), print the old and new master key
 * fingerprints and how many archive keys were re-wrapped.  The rotation is
 * audited ("key.rotate").  Does not: touch keys itself (the store does).
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli_private.h"

static void key_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] key rotate [--new-key-file FILE]\n\n"
	           "Re-wraps every archive key under a new master key.  No message is\n"
	           "re-encrypted: each archive key, and the segment keys it wraps, stay the same.\n"
	           "With master_key_file configured, a new random key replaces that file (or\n"
	           "the key in FILE: 64 hex digits, mode 0600); an interrupted rotation is\n"
	           "finished at the next start.  With master_key_command configured, give the\n"
	           "new key as FILE, then make the command print it before the next start.\n"
	           "Keep the previous key until every backup made with it has expired.\n"
	           "Needs admin; audited as cli:<user>.  Runs through the server when one is\n"
	           "running.\n");
}

int cli_key_main(const char *config_path, int argc, char **argv)
{
	const char *file = NULL;
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		key_usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "rotate") != 0) {
		cli_error("key: expected 'rotate'");
		key_usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			key_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--new-key-file") && i + 1 < argc) {
			file = argv[++i];
		} else {
			cli_error("key rotate: unexpected argument '%s'", argv[i]);
			key_usage(stderr);
			return 2;
		}
	}
	/* The server reads the file: give it a path that means the same there. */
	char abs[PATH_MAX];
	if (file && !realpath(file, abs)) {
		cli_error("key rotate: %s: cannot resolve the path", file);
		return 1;
	}
	cli_ctx_t *c = cli_ctx_open(config_path, "key rotate");
	if (!c)
		return 1;
	json_t *body = file ? json_pack("{s:s}", "new_key_file", abs) : json_object();
	int status = 0;
	json_t *j = NULL;
	int rc = 1;
	if (cli_call(c, "POST", "/api/v1/keys/rotate", NULL, body, &status, &j)) {
		if (status != 200) {
			rc = cli_api_error("key rotate", status, j);
		} else {
			printf("master key rotated: %s -> %s; %lld archive keys re-wrapped\n",
			       json_string_value(json_object_get(j, "old_key")),
			       json_string_value(json_object_get(j, "new_key")),
			       (long long)json_integer_value(json_object_get(j, "archives")));
			rc = 0;
		}
	}
	json_decref(body);
	json_decref(j);
	cli_ctx_close(c);
	return rc;
}
