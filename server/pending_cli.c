/* pending_cli.c — placeholders for sub-commands whose module has not landed.
 * The module that implements a command deletes its entry here (and this file
 * when it is empty); nothing here may remain when the foundation is done. */
#include "config.h"
#include "vellum/cli.h"

static int pending(const char *what)
{
	cli_error("%s: not built yet", what);
	return 70;
}

int cli_init_main(const char *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return pending("init"); }
int cli_user_main(const char *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return pending("user"); }
int cli_search_main(const char *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return pending("search"); }
int cli_show_main(const char *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return pending("show"); }
int cli_audit_main(const char *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return pending("audit"); }
