/* fuzz_smtp.c — libFuzzer target for the SMTP parsers and the DATA scanner.
 *
 * Every line of the input goes through the command parser and, whatever its
 * verb, through the MAIL, RCPT, BDAT and AUTH argument parsers, the SASL
 * decoder and PLAIN splitter, the EHLO check and the routing pattern check;
 * the BDAT bare CR/LF detector must agree whole and in pieces.  The whole input also goes through
 * the end-of-data scanner twice — in one piece and in chunks whose sizes come from the input — and
 * both runs must agree on the message bytes, the end position and the flags (a differential check
 * of the streaming state machine).  Never crash, overrun or disagree.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_private.h"
#include "vellum/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_lines(const uint8_t *data, size_t size)
{
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		size_t len = i - start;
		if (len > SMTP_CMD_MAX)
			len = SMTP_CMD_MAX;
		char *line = malloc(len + 1);
		memcpy(line, data + start, len);
		line[len] = '\0';
		const char *arg;
		size_t argn;
		bool bad;
		smtp_cmd_parse(line, len, &arg, &argn, &bad);
		if (arg < line || arg + argn > line + len)
			abort();
		smtp_path_t p;
		smtp_mail_params_t mp;
		if (smtp_parse_mail(arg, argn, &p, &mp) == SMTP_R_OK &&
		    (p.len > SMTP_PATH_MAX || strlen(p.addr) != p.len ||
		     mp.text + mp.textn > arg + argn))
			abort();
		if (smtp_parse_rcpt(arg, argn, data[0] & 1, &p) == SMTP_R_OK &&
		    (p.len == 0 || strlen(p.addr) != p.len))
			abort();
		smtp_parse_helo(arg, argn);
		uint64_t csize;
		bool clast;
		smtp_parse_bdat(arg, argn, &csize, &clast);
		smtp_sasl_mech_t mech;
		const char *ir;
		size_t irn;
		if (smtp_parse_auth(arg, argn, &mech, &ir, &irn) == SMTP_R_OK && ir &&
		    (ir < arg || ir + irn > arg + argn))
			abort();
		uint8_t dec[SMTP_SASL_USER_MAX + SMTP_SASL_PASS_MAX + 3];
		size_t decn;
		if (smtp_sasl_decode(line, len, dec, sizeof dec, &decn) == SMTP_R_OK) {
			char user[SMTP_SASL_USER_MAX + 1], pass[SMTP_SASL_PASS_MAX + 1];
			if (decn > sizeof dec)
				abort();
			if (smtp_sasl_plain_split(dec, decn, user, pass) == SMTP_R_OK &&
			    (!user[0] || strlen(user) > SMTP_SASL_USER_MAX))
				abort();
		}
		ingest_pattern_valid(line);
		free(line);
		start = i + 1;
	}
}

typedef struct scan {
	buf_t out;
	size_t end; /* input position after the terminator, or size */
	uint32_t flags;
	bool done, long_line;
} scan_t;

static void scan(const uint8_t *data, size_t size, const uint8_t *sizes, size_t nsizes, scan_t *r)
{
	smtp_data_t d;
	smtp_data_init(&d, 1000);
	memset(r, 0, sizeof *r);
	uint8_t *out = malloc(size + SMTP_DATA_SLACK);
	size_t pos = 0, k = 0;
	while (pos < size && !r->done) {
		size_t len = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : size - pos;
		if (len > size - pos)
			len = size - pos;
		size_t outn;
		size_t used = smtp_data_scan(&d, data + pos, len, out, &outn, &r->done);
		if (used > len || outn > len + SMTP_DATA_SLACK || (!r->done && used != len))
			abort();
		buf_append(&r->out, out, outn);
		pos += used;
	}
	free(out);
	r->end = pos;
	r->flags = d.flags;
	r->long_line = d.long_line;
}

/* BDAT flags: in one piece and split at every 7th byte must agree. */
static void bdat_flags(const uint8_t *data, size_t size)
{
	bool cr = false;
	uint32_t whole = smtp_bdat_flags(&cr, data, size) | smtp_bdat_flags_end(cr);
	uint32_t parts = 0;
	cr = false;
	for (size_t pos = 0; pos < size; pos += 7)
		parts |= smtp_bdat_flags(&cr, data + pos, size - pos < 7 ? size - pos : 7);
	parts |= smtp_bdat_flags_end(cr);
	if (whole != parts)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_lines(data, size);
	bdat_flags(data, size);
	scan_t whole, pieces;
	scan(data, size, NULL, 0, &whole);
	scan(data, size, data, size < 16 ? size : 16, &pieces);
	if (whole.done != pieces.done || whole.end != pieces.end || whole.flags != pieces.flags ||
	    whole.long_line != pieces.long_line || whole.out.len != pieces.out.len ||
	    (whole.out.len && memcmp(whole.out.data, pieces.out.data, whole.out.len)))
		abort();
	buf_free(&whole.out);
	buf_free(&pieces.out);
	return 0;
}
