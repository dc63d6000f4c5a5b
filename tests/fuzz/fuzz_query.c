/* fuzz_query.c — libFuzzer target for the query language's syntax check and
 * value grammar (indexer/query.c).  Any input must be accepted (yielding a
 * string for the QueryParser) or refused with a message naming a column;
 * never crash, leak or read out of bounds. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ix_private.h"
#include "vellum/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q = xstrndup((const char *)data, size);
	bool all = false;
	char *err = NULL;
	char *out = ixq_prepare(q, INT64_C(1700000000000000), &all, &err);
	if (out ? err != NULL : err == NULL)
		abort();
	if (err && !strstr(err, "column") && util_utf8_valid(data, size) && size <= 65536 &&
	    !memchr(data, 0, size))
		abort();
	free(out);
	free(err);
	int64_t lo, hi;
	err = NULL;
	if (!ixq_time_range(IXQ_F_DATE, q, INT64_C(1700000000000000), &lo, &hi, &err) && !err)
		abort();
	free(err);
	uint64_t slo, shi;
	err = NULL;
	if (!ixq_size_range(q, &slo, &shi, &err) && !err)
		abort();
	free(err);
	free(q);
	return 0;
}
