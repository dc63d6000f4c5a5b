/* smtp_data.c — the DATA phase: finding the end of the data, dot-unstuffing.
 *
 * Does: scan message data as it arrives, in chunks split anywhere, and
 * produce the message bytes exactly as the client meant them (RFC 5321
 * §4.5.2: a line's leading "." is removed), stopping at the end-of-data line.
 * Flags bare LF and bare CR and lines longer than max_line; for BDAT chunks,
 * which are stored as sent, only bare LF and bare CR.  Does not: buffer
 * the message (output goes straight to the store) or change anything else
 * in it: line endings stay as they arrived.
 *
 * Lines end only at CRLF, and the data ends only at CRLF "." CRLF: a bare LF
 * or bare CR never ends a line, so sequences like "\n.\n", "\r.\r",
 * "\r\n.\n" or "\n.\r\n" are message data.  That closes SMTP smuggling
 * (CVE-2023-51764 class): a client cannot hide a second transaction inside
 * a message that another server would have split in two.
 *
 * At a line start a "." is always consumed: it is either the stuffing dot
 * or the start of the terminator.  If ".\r" is not followed by "\n" the CR
 * was held back and is emitted with the next byte (hence SMTP_DATA_SLACK).
 *
 *   LINE_START  '.' -> DOT         (dot dropped)
 *   DOT         '\r' -> DOT_CR     (CR held back)
 *   DOT_CR      '\n' -> end of data
 *   any         '\r' -> CR ; CR '\n' -> LINE_START ; other bytes -> BODY
 */
#include "config.h"

#include <string.h>

#include "smtp_private.h"

enum { S_LINE_START = 0, S_BODY, S_CR, S_DOT, S_DOT_CR };

void smtp_data_init(smtp_data_t *d, uint64_t max_line)
{
	memset(d, 0, sizeof *d);
	d->state = S_LINE_START;
	d->max_line = max_line;
}

/* Counts octets of the current line (the CR of its CRLF is not counted). */
static inline void line_octets(smtp_data_t *d, size_t k)
{
	d->line += k;
	if (d->max_line && d->line > d->max_line)
		d->long_line = true;
}
#define line_octet(d) line_octets((d), 1)

size_t smtp_data_scan(smtp_data_t *d, const uint8_t *in, size_t n, uint8_t *out, size_t *outn,
                      bool *done)
{
	size_t i = 0, o = 0, next_cr = 0;
	bool cr_known = false;
	*done = false;
	while (i < n) {
		if (d->state == S_BODY) {
			/* Fast path: find the next CR or LF with memchr (SIMD in
			 * libc) and copy the run of ordinary bytes in one go.  The
			 * next CR is remembered, so input with many LFs and no CR
			 * is not rescanned to its end for every line. */
			if (!cr_known || next_cr < i) {
				const uint8_t *cr = memchr(in + i, '\r', n - i);
				next_cr = cr ? (size_t)(cr - in) : n;
				cr_known = true;
			}
			size_t lim = next_cr;
			const uint8_t *lf = memchr(in + i, '\n', lim - i);
			size_t k = lf ? (size_t)(lf - in) : lim;
			memcpy(out + o, in + i, k - i);
			o += k - i;
			line_octets(d, k - i);
			i = k;
			if (i == n)
				break;
		}
		uint8_t c = in[i++];
		switch (d->state) {
		case S_LINE_START:
			if (c == '.') {
				line_octet(d);
				d->state = S_DOT;
				continue;
			}
			break;
		case S_DOT:
			if (c == '\r') {
				d->state = S_DOT_CR;
				continue;
			}
			break;
		case S_DOT_CR:
			if (c == '\n') {
				d->state = S_LINE_START;
				d->line = 0;
				*outn = o;
				*done = true;
				return i;
			}
			/* ".\r" then something else: the CR was a bare CR. */
			out[o++] = '\r';
			line_octet(d);
			d->flags |= STORE_ENV_BARE_CR;
			d->state = S_BODY;
			break;
		case S_CR:
			if (c == '\n') {
				out[o++] = c;
				d->line = 0;
				d->state = S_LINE_START;
				continue;
			}
			d->flags |= STORE_ENV_BARE_CR;
			line_octet(d); /* the CR turned out to be part of the line */
			d->state = S_BODY;
			break;
		default: break;
		}
		/* Generic byte in the middle of a line (or first of a line). */
		out[o++] = c;
		if (c == '\r') {
			d->state = S_CR; /* counted once we know it is not CRLF */
		} else {
			if (c == '\n')
				d->flags |= STORE_ENV_BARE_LF;
			line_octet(d);
			d->state = S_BODY;
		}
	}
	*outn = o;
	return i;
}

/* ---- BDAT: bare CR / bare LF only (the bytes themselves are not touched) ---- */

uint32_t smtp_bdat_flags(bool *prev_cr, const uint8_t *p, size_t n)
{
	uint32_t f = 0;
	size_t i = 0;
	if (n && *prev_cr && p[0] != '\n')
		f |= STORE_ENV_BARE_CR;
	const uint8_t *cr = NULL;
	bool cr_known = false;
	while (i < n) {
		/* Jump to the next CR or LF: ordinary bytes are most of the data.
		 * The next CR is remembered (no rescan per LF: linear time). */
		if (!cr_known || (cr && (size_t)(cr - p) < i)) {
			cr = memchr(p + i, '\r', n - i);
			cr_known = true;
		}
		const uint8_t *lf = memchr(p + i, '\n', (cr ? (size_t)(cr - p) : n) - i);
		const uint8_t *q = lf ? lf : cr;
		if (!q)
			break;
		size_t k = (size_t)(q - p);
		if (*q == '\n') {
			if (k == 0 ? !*prev_cr : p[k - 1] != '\r')
				f |= STORE_ENV_BARE_LF;
		} else if (k + 1 < n && p[k + 1] != '\n') {
			f |= STORE_ENV_BARE_CR;
		}
		i = k + 1;
	}
	if (n)
		*prev_cr = p[n - 1] == '\r';
	return f;
}

uint32_t smtp_bdat_flags_end(bool prev_cr)
{
	return prev_cr ? STORE_ENV_BARE_CR : 0;
}
