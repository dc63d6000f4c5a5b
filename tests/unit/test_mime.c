/* test_mime.c — MIME parsing over tests/corpus and generated hostile input:
 * decoded headers, addresses, dates, body text, the part tree, the caps. */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "vellum/mime.h"

static char *corpus_path(const char *name)
{
	const char *src = getenv("VELLUM_SRCDIR");
	return xasprintf("%s/tests/corpus/%s", src ? src : ".", name);
}

static buf_t corpus(const char *name)
{
	buf_t b = {0};
	char *p = corpus_path(name);
	if (util_read_file(p, 1 << 20, &b) != UTIL_OK) {
		printf("Bail out! cannot read %s\n", p);
		exit(1);
	}
	free(p);
	return b;
}

static mime_msg_t *parse_buf(const buf_t *b)
{
	mime_msg_t *m = NULL;
	mime_status_t st = mime_parse(b->data, b->len, NULL, &m);
	if (st != MIME_OK) {
		printf("Bail out! mime_parse: %s\n", mime_strerror(st));
		exit(1);
	}
	return m;
}

static mime_msg_t *parse_file(const char *name)
{
	buf_t b = corpus(name);
	mime_msg_t *m = parse_buf(&b);
	buf_free(&b);
	return m;
}

static bool text_has(const mime_info_t *in, const char *s)
{
	return in->text.data && strstr((const char *)in->text.data, s) != NULL;
}

static int64_t utc(const char *s)
{
	int64_t us = 0;
	util_time_parse(s, &us);
	return us;
}

static void check_alternative(const mime_info_t *in, const char *label)
{
	is_str(in->subject, "Quarterly budget review", "%s: subject", label);
	is_int(in->from.n, 1, "%s: one From", label);
	is_str(in->from.v[0].name, "Alice Liddell", "%s: From name", label);
	is_str(in->from.v[0].addr, "alice@example.com", "%s: From address", label);
	is_int(in->to.n, 2, "%s: two To", label);
	is_str(in->to.v[1].addr, "carol@example.net", "%s: second To", label);
	ok(in->to.v[1].name == NULL, "%s: bare address has no name", label);
	is_str(in->cc.v[0].name, "Dave, the auditor", "%s: quoted Cc name with comma", label);
	is_int(in->date, utc("2024-03-04T09:15:00Z"), "%s: Date converted to UTC", label);
	ok(!(in->flags & (MIME_F_NO_DATE | MIME_F_UNPARSED | MIME_F_TRUNCATED)), "%s: clean flags",
	   label);
	is_str(in->message_id, "budget-2024-q1@example.com", "%s: Message-ID without <>", label);
	is_str(in->in_reply_to, "planning-42@example.com", "%s: In-Reply-To", label);
	ok(in->references[0] && in->references[1] && !in->references[2], "%s: two References",
	   label);
	is_str(in->references[0], "kickoff-1@example.com", "%s: first reference", label);
	ok(text_has(in, "marketing spend is over"), "%s: text/plain body", label);
	ok(text_has(in, "12%\xe2\x80\x94we"), "%s: quoted-printable UTF-8 decoded", label);
	ok(!text_has(in, "htmlonlysecret") && !text_has(in, "ignored title"),
	   "%s: the HTML alternative is not indexed twice", label);
	is_int(in->nparts, 5, "%s: five entities", label);
	if (in->nparts == 5) {
		is_str(in->parts[0].content_type, "multipart/mixed", "%s: part 1", label);
		is_str(in->parts[1].content_type, "multipart/alternative", "%s: part 2", label);
		ok(in->parts[2].body && !in->parts[2].attachment, "%s: part 3 is the body", label);
		ok(!in->parts[3].body && !in->parts[3].attachment,
		   "%s: part 4 is the unchosen html", label);
		is_int(in->parts[3].parent, 2, "%s: part 4's parent", label);
		is_str(in->parts[4].filename, "budget-q1.pdf", "%s: attachment filename", label);
		ok(in->parts[4].attachment, "%s: part 5 is an attachment", label);
		is_int(in->parts[4].size, 78, "%s: decoded attachment size", label);
	}
	is_int(in->attachment_count, 1, "%s: one attachment", label);
	ok(in->nheaders >= 10, "%s: headers listed", label);
}

static void test_alternative(void)
{
	buf_t b = corpus("alternative.eml");
	mime_msg_t *m = parse_buf(&b);
	check_alternative(mime_msg_info(m), "alternative");

	buf_t pdf = {0};
	ok(mime_part_content(m, 5, &pdf) == MIME_OK && pdf.len == 78 &&
	       !memcmp(pdf.data, "%PDF-1.4", 8),
	   "part 5 content is the decoded PDF");
	buf_free(&pdf);
	buf_t none = {0};
	ok(mime_part_content(m, 6, &none) == MIME_ENOTFOUND, "part 6 does not exist");
	ok(mime_part_content(m, 0, &none) == MIME_ENOTFOUND, "part 0 does not exist");
	mime_msg_free(m);

	/* The same message as SMTP carries it: CRLF line ends. */
	buf_t crlf = {0};
	for (size_t i = 0; i < b.len; i++) {
		if (b.data[i] == '\n')
			buf_append_byte(&crlf, '\r');
		buf_append_byte(&crlf, b.data[i]);
	}
	m = parse_buf(&crlf);
	check_alternative(mime_msg_info(m), "alternative CRLF");
	mime_msg_free(m);
	buf_free(&crlf);
	buf_free(&b);
}

static void test_rfc2047(void)
{
	mime_msg_t *m = parse_file("rfc2047.eml");
	const mime_info_t *in = mime_msg_info(m);
	is_str(in->subject, "Re: R\xc3\xa9sum\xc3\xa9 du caf\xc3\xa9 et cr\xc3\xa8me",
	       "RFC 2047 subject: B and Q words joined");
	is_str(in->from.v[0].name, "Andr\xc3\xa9 M\xc3\xbcller", "ISO-8859-1 Q display name");
	is_str(in->to.v[0].name, "J\xc3\xbcrgen \xc3\x96sterreich", "UTF-8 B display name");
	is_int(in->date, utc("2024-03-05T19:30:00Z"), "negative offset Date");
	ok(text_has(in, "Gr\xc3\xbc\xc3\x9f"
	                "e aus M\xc3\xbcnchen"),
	   "ISO-8859-1 quoted-printable body converted to UTF-8");
	mime_msg_free(m);
}

static void test_broken(void)
{
	mime_msg_t *m = parse_file("broken.eml");
	const mime_info_t *in = mime_msg_info(m);
	is_str(in->subject, "broken boundaries and no date", "broken: subject still read");
	is_str(in->from.v[0].addr, "mallory@example.com", "broken: From still read");
	ok(in->flags & MIME_F_NO_DATE, "broken: flagged without Date");
	ok(!(in->flags & MIME_F_UNPARSED), "broken: not unparsed");
	ok(in->flags & MIME_F_MALFORMED, "broken: flagged malformed");
	ok(text_has(in, "zebrafish"), "broken: text inside the unmatched boundary is indexed");
	mime_msg_free(m);

	m = parse_file("nul.eml");
	in = mime_msg_info(m);
	ok(text_has(in, "before after nulword"), "NUL byte in the body becomes a space");
	is_int(strlen((const char *)in->text.data), in->text.len, "no NUL left in the text");
	mime_msg_free(m);

	m = parse_file("garbage.eml");
	in = mime_msg_info(m);
	ok(in->flags & MIME_F_UNPARSED, "garbage: flagged unparsed");
	ok(in->subject == NULL && in->nparts == 0 && in->from.n == 0, "garbage: nothing invented");
	ok(in->references && !in->references[0], "garbage: empty references list");
	mime_msg_free(m);

	m = parse_file("nodate.eml");
	in = mime_msg_info(m);
	ok(in->flags & MIME_F_NO_DATE, "unparseable Date: flagged");
	is_int(in->date, 0, "unparseable Date: 0");
	is_int(in->to.n, 0, "empty group: no recipients");
	mime_msg_free(m);
}

static void test_html_only(void)
{
	mime_msg_t *m = parse_file("html-only.eml");
	const mime_info_t *in = mime_msg_info(m);
	ok(text_has(in, "Spring sale"), "heading text, &nbsp; as a space");
	ok(text_has(in, "Prices from \xe2\x82\xac"
	                "10 & free shipping \xe2\x80\x94 only "
	                "\xe4\xb8\xad\xe6\x96\x87 today."),
	   "named, decimal and hex character references");
	ok(text_has(in, "Caf\xc3\xa9 cr\xc3\xa8me &unknown; a < b"),
	   "windows-1252 converted; unknown entity and bare < kept");
	ok(!text_has(in, "tracker") && !text_has(in, "display:none"), "no script or style");
	ok(!text_has(in, "commentword"), "no comments");
	ok(in->html == NULL, "html not kept by default");
	mime_msg_free(m);

	buf_t b = corpus("html-only.eml");
	mime_opts_t o = {.keep_html = true};
	ok(mime_parse(b.data, b.len, &o, &m) == MIME_OK && mime_msg_info(m)->html &&
	       strstr(mime_msg_info(m)->html, "<h1>Spring&nbsp;sale</h1>"),
	   "keep_html keeps the HTML body (UTF-8)");
	mime_msg_free(m);
	buf_free(&b);
}

static void test_forwarded(void)
{
	mime_msg_t *m = parse_file("forwarded.eml");
	const mime_info_t *in = mime_msg_info(m);
	is_int(in->nparts, 4, "forwarded: four entities");
	if (in->nparts == 4) {
		is_str(in->parts[2].content_type, "message/rfc822", "part 3 is the forwarded mail");
		ok(in->parts[2].attachment && in->parts[2].container, "listed as an attachment");
		is_int(in->parts[3].parent, 3, "part 4 inside part 3");
		is_int(in->parts[3].depth, 2, "part 4 at depth 2");
	}
	ok(text_has(in, "See below."), "outer text");
	ok(text_has(in, "indemnity clause"), "forwarded text indexed");
	ok(text_has(in, "the contract draft"), "forwarded subject indexed");
	is_int(in->attachment_count, 1, "the forwarded mail counts as an attachment");
	mime_msg_free(m);
}

static void test_html_to_text(void)
{
	struct {
		const char *in, *want;
	} cases[] = {
	    {"<p>a</p><p>b</p>", "a\n\nb"},
	    {"x<br>y<br/>z", "x\ny\nz"},
	    {"  lead   and\n\ttrail  ", "lead and trail"},
	    {"<a href='x>y'>link</a>", "link"},
	    {"<!-- never closed", ""},
	    {"<script>never closed", ""},
	    {"<ScRiPt type=x>a</sCrIpT >b", "b"},
	    {"&#0;&#xD800;&#99999999;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"&amp&lt;&#65&#x42;", "&<AB"},
	    {"<unterminated", ""},
	    {"1 < 2 > 0", "1 < 2 > 0"},
	    {"<td>a</td><td>b</td>", "a b"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_t b = {0};
		size_t cut = mime_html_to_text(cases[i].in, strlen(cases[i].in), &b, 1000);
		buf_append_byte(&b, 0);
		is_str((const char *)b.data, cases[i].want, "html_to_text case %zu", i);
		is_int(cut, 0, "html_to_text case %zu: nothing cut", i);
		buf_free(&b);
	}
	buf_t b = {0};
	size_t cut = mime_html_to_text("abc def", 7, &b, 4);
	ok(b.len <= 4 && cut > 0, "cap respected and the cut reported (%zu kept, %zu cut)", b.len,
	   cut);
	buf_free(&b);
	/* A cut never splits a UTF-8 sequence. */
	cut = mime_html_to_text("\xc3\xa9\xc3\xa9", 4, &b, 3);
	ok(util_utf8_valid(b.data, b.len) && cut > 0, "cap keeps UTF-8 valid");
	buf_free(&b);
}

/* Generated hostile input: deep nesting, many parts, huge headers, huge
 * text, sizes beyond the input cap. */
static void test_hostile(void)
{
	mime_msg_t *m = NULL;
	ok(mime_parse(NULL, 5, NULL, &m) == MIME_EINVAL && !m, "NULL input refused");
	ok(mime_parse("x", MIME_INPUT_MAX + 1, NULL, &m) == MIME_ETOOBIG && !m,
	   "input beyond MIME_INPUT_MAX refused before reading");
	ok(mime_parse("", 0, NULL, &m) == MIME_OK && (mime_msg_info(m)->flags & MIME_F_UNPARSED),
	   "empty input: unparsed, not an error");
	mime_msg_free(m);

	buf_t b = {0};
	buf_append_str(&b, "From: deep@example.com\nSubject: deep\nMIME-Version: 1.0\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
	buf_append_str(&b, "Content-Type: text/plain\n\ndeepest words\n");
	for (int i = 99; i >= 0; i--)
		buf_printf(&b, "--b%d--\n", i);
	m = parse_buf(&b);
	const mime_info_t *in = mime_msg_info(m);
	is_str(in->subject, "deep", "100-deep nesting: parsed");
	ok(in->nparts <= MIME_DEPTH_MAX + 1, "100-deep nesting: walk bounded (%zu parts)",
	   in->nparts);
	ok(in->flags & MIME_F_TRUNCATED, "100-deep nesting: flagged truncated");
	mime_msg_free(m);
	buf_reset(&b);

	buf_append_str(&b, "From: many@example.com\nContent-Type: multipart/mixed; boundary=x\n\n");
	for (int i = 0; i < MIME_PARTS_MAX + 50; i++)
		buf_append_str(&b, "--x\nContent-Type: application/octet-stream\n\nz\n");
	buf_append_str(&b, "--x--\n");
	m = parse_buf(&b);
	in = mime_msg_info(m);
	is_int(in->nparts, MIME_PARTS_MAX, "many parts: listed up to MIME_PARTS_MAX");
	is_int(in->parts_dropped, 51, "many parts: the rest counted");
	ok(in->flags & MIME_F_TRUNCATED, "many parts: flagged truncated");
	mime_msg_free(m);
	buf_reset(&b);

	buf_append_str(&b, "From: long@example.com\nSubject: ");
	for (int i = 0; i < 2 << 20; i += 8)
		buf_append_str(&b, "longword");
	buf_append_str(&b, "\nX-Other: after\n\nbody after the long header\n");
	m = parse_buf(&b);
	in = mime_msg_info(m);
	ok(in->subject && strlen(in->subject) >= (2u << 20), "2 MB header line kept whole");
	ok(text_has(in, "body after the long header"), "2 MB header line: body still found");
	mime_msg_free(m);
	buf_reset(&b);

	buf_append_str(&b, "From: big@example.com\n\n");
	while (b.len < MIME_TEXT_MAX + 8192)
		buf_append_str(&b,
		               "0123456789 0123456789 0123456789 0123456789 0123456789 0123456\n");
	m = parse_buf(&b);
	in = mime_msg_info(m);
	is_int(in->text.len, MIME_TEXT_MAX, "text capped at MIME_TEXT_MAX");
	ok(in->text_cut >= 4096 && (in->flags & MIME_F_TRUNCATED),
	   "the cut is counted and flagged");
	mime_msg_free(m);
	buf_free(&b);
}

int main(void)
{
	mime_init();
	test_alternative();
	test_rfc2047();
	test_broken();
	test_html_only();
	test_forwarded();
	test_html_to_text();
	test_hostile();
	return tap_done();
}
