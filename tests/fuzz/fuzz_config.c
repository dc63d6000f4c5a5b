/* fuzz_config.c — libFuzzer target for the vellum.conf parser.
 * Any input must either load (and free cleanly) or fail with a message that
 * names the file; never crash, leak or read out of bounds. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	config_t *c = NULL;
	char *err = NULL;
	config_status_t st =
		config_load_string((const char *)data, size, "fuzz.conf", "/fuzz", &c, &err);
	if (st == CONFIG_OK) {
		if (!c || err)
			abort();
	} else if (c || !err || strncmp(err, "fuzz.conf", 9) != 0) {
		abort();
	}
	config_free(c);
	free(err);
	return 0;
}
