/* pending_indexer.c — placeholder until the indexer module lands (deleted then). */
#include "config.h"
#include "vellum/cli.h"

int indexer_main(const char *c, int argc, char **argv)
{
	(void)c; (void)argc; (void)argv;
	cli_error("indexer: not built yet");
	return 70;
}
