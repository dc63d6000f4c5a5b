/* cli.h — the `vellum` sub-commands (DESIGN.md §3).
 *
 * Every sub-command has the same shape: it gets the -c config path (NULL for
 * the embedded defaults) and its own argv, with argv[0] the sub-command name,
 * and returns the process exit status.  Errors go to stderr as
 * "vellum: <what>: <why>" (cli_error).
 *
 * Sub-commands that read or change state talk to a running server over the
 * control socket (the HTTP API, authenticated by SO_PEERCRED as cli:<user>)
 * and, when none runs, take the data-dir lock and call the same API handlers
 * in-process.  main.c holds the dispatch table.
 */
#ifndef VELLUM_CLI_H
#define VELLUM_CLI_H

#include <stdbool.h>

typedef int (*cli_cmd_fn)(const char *config_path, int argc, char **argv);

typedef struct cli_command {
	const char *name;
	cli_cmd_fn fn;
	const char *synopsis;  /* one line for `vellum --help` */
	bool hidden;           /* internal (e.g. the indexer child) */
} cli_command_t;

/* The table, terminated by a NULL name (main.c). */
extern const cli_command_t cli_commands[];

/* Prints "vellum: <formatted>" and a newline on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* server/serve.c */
int serve_main(const char *config_path, int argc, char **argv);
/* indexer/indexer.c: the supervised indexer child (internal) */
int indexer_main(const char *config_path, int argc, char **argv);
/* server/cli_*.c */
int cli_init_main(const char *config_path, int argc, char **argv);
int cli_user_main(const char *config_path, int argc, char **argv);
int cli_search_main(const char *config_path, int argc, char **argv);
int cli_show_main(const char *config_path, int argc, char **argv);
int cli_audit_main(const char *config_path, int argc, char **argv);
int cli_token_main(const char *config_path, int argc, char **argv);
int cli_import_main(const char *config_path, int argc, char **argv);
/* server/cli_verify.c, server/cli_key.c (the store's commands) */
int cli_verify_main(const char *config_path, int argc, char **argv);
int cli_key_main(const char *config_path, int argc, char **argv);

#endif
