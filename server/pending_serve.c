/* pending_serve.c — placeholder until serve.c lands (deleted then). */
#include "config.h"
#include "vellum/cli.h"

int serve_main(const char *c, int argc, char **argv)
{
	(void)c; (void)argc; (void)argv;
	cli_error("serve: not built yet");
	return 70;
}
