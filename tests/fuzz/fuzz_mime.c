/* fuzz_mime.c — libFuzzer target for MIME parsing (indexer/mime.c) and the
 * HTML-to-text converter.  Any input must parse to a summary whose strings
 * are valid UTF-8 and whose caps hold, and free cleanly; never crash, hang,
 * leak or read out of bounds. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s)
{
	if (s && !util_utf8_valid((const uint8_t *)s, strlen(s)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mime_init();
	mime_msg_t *m = NULL;
	mime_opts_t o = {.keep_html = true};
	if (mime_parse(data, size, &o, &m) != MIME_OK || !m)
		abort();
	const mime_info_t *in = mime_msg_info(m);
	check_str(in->subject);
	check_str(in->message_id);
	if (in->text.len > MIME_TEXT_MAX || in->nparts > MIME_PARTS_MAX || !in->references)
		abort();
	if (in->text.len && (!util_utf8_valid(in->text.data, in->text.len) ||
	                     memchr(in->text.data, 0, in->text.len)))
		abort();
	for (size_t i = 0; i < in->from.n; i++) {
		check_str(in->from.v[i].name);
		check_str(in->from.v[i].addr);
	}
	for (size_t i = 0; i < in->nparts; i++) {
		if (in->parts[i].num != i + 1 || in->parts[i].parent >= in->parts[i].num)
			abort();
		buf_t b = {0};
		if (mime_part_content(m, in->parts[i].num, &b) != MIME_OK)
			abort();
		buf_free(&b);
	}
	mime_msg_free(m);

	buf_t t = {0};
	mime_html_to_text((const char *)data, size, &t, 4096);
	if (t.len > 4096)
		abort();
	buf_free(&t);
	return 0;
}
