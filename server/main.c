/* main.c — the `vellum` entry point: global options and sub-command dispatch.
 *
 * Does: parse `-c FILE`, `--version`, `--help`, pick the sub-command from the
 * table and run it.  Does not: open anything; each sub-command loads the
 * configuration and opens what it needs.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/cli.h"
#include "vellum/log.h"
#include "vellum/util.h"

const cli_command_t cli_commands[] = {
	{"serve", serve_main, "serve                     SMTP + HTTP + supervised indexer", false},
	{"init", cli_init_main, "init                      create data dir, keys, default archive, admin user", false},
	{"user", cli_user_main, "user add|list|passwd|grant|revoke|disable|enable|totp NAME [--role R] [--archive A|*]", false},
	{"token", cli_token_main, "token create|list|revoke NAME [--role R] [--archive A|*]", false},
	{"import", cli_import_main, "import [--archive A] PATH...  mbox, Maildir, .eml files/dirs, PST", false},
	{"search", cli_search_main, "search [--archive A] [--json] QUERY", false},
	{"show", cli_show_main, "show ID [--raw] [--inner]", false},
	{"audit", cli_audit_main, "audit [--since T] [--user U] [--action A] [--verify]", false},
	{"verify", cli_verify_main, "verify [--archive A]      exit 0 only if everything verifies", false},
	{"key", cli_key_main, "key rotate [--new-key-file FILE]", false},
	{"indexer", indexer_main, "indexer                   (internal: the indexer child of serve)", true},
	{NULL, NULL, NULL, false},
};

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("vellum: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] COMMAND [ARGS...]\n"
	           "       vellum --version | --help\n\n"
	           "Vellum: an email journaling destination and searchable archive.\n\n"
	           "Commands:\n");
	for (const cli_command_t *c = cli_commands; c->name; c++)
		if (!c->hidden)
			fprintf(f, "  %s\n", c->synopsis);
	fprintf(f, "\nOptions:\n"
	           "  -c FILE     configuration file (default: the embedded defaults;\n"
	           "              see vellum.conf(5))\n"
	           "  --version   print the version and build options\n"
	           "  --help      this text; `vellum COMMAND --help` for a command\n");
}

static void version(void)
{
	printf("vellum %s\n", PACKAGE_VERSION);
	if (util_test_hooks_enabled())
		printf("test hooks: enabled (fault injection, clock override) -- not for production\n");
#ifdef VELLUM_SANITIZERS
	printf("sanitizers: address, undefined\n");
#endif
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				cli_error("-c: needs a configuration file");
				return 2;
			}
			config_path = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--config=", 9)) {
			config_path = argv[i] + 9;
			i++;
		} else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			version();
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			cli_error("unknown option '%s' (try vellum --help)", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	for (const cli_command_t *c = cli_commands; c->name; c++)
		if (!strcmp(c->name, argv[i]))
			return c->fn(config_path, argc - i, argv + i);
	cli_error("unknown command '%s' (try vellum --help)", argv[i]);
	return 2;
}
