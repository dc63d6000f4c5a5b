/* test_smtp.c — the SMTP module's pure parts: command parser, MAIL/RCPT
 * paths and parameters, the DATA end-of-data scanner and dot-unstuffing (at
 * every split point of the input, smuggling sequences included), and the
 * reply table. */
#include "config.h"

#include <string.h>

#include "smtp_private.h"
#include "tap.h"

/* ---- command lines ---- */

static void test_cmd_parse(void)
{
	const char *arg;
	size_t argn;
	bool bad;
	struct {
		const char *line;
		smtp_cmd_t cmd;
		const char *arg;
	} cases[] = {
	    {"EHLO client.example", SMTP_CMD_EHLO, "client.example"},
	    {"ehlo client.example", SMTP_CMD_EHLO, "client.example"},
	    {"HeLo x", SMTP_CMD_HELO, "x"},
	    {"MAIL FROM:<a@b>", SMTP_CMD_MAIL, "FROM:<a@b>"},
	    {"RCPT TO:<a@b>   ", SMTP_CMD_RCPT, "TO:<a@b>"},
	    {"DATA", SMTP_CMD_DATA, ""},
	    {"data ", SMTP_CMD_DATA, ""},
	    {"QUIT", SMTP_CMD_QUIT, ""},
	    {"NOOP hello there", SMTP_CMD_NOOP, "hello there"},
	    {"RSET", SMTP_CMD_RSET, ""},
	    {"VRFY joe", SMTP_CMD_VRFY, "joe"},
	    {"HELP", SMTP_CMD_HELP, ""},
	    {"STARTTLS", SMTP_CMD_STARTTLS, ""},
	    {"BDAT 10 LAST", SMTP_CMD_BDAT, "10 LAST"},
	    {"AUTH PLAIN", SMTP_CMD_AUTH, "PLAIN"},
	    {"EXPN list", SMTP_CMD_EXPN, "list"},
	    {"GET / HTTP/1.1", SMTP_CMD_HTTP, "/ HTTP/1.1"},
	    {"POST /x HTTP/1.0", SMTP_CMD_HTTP, "/x HTTP/1.0"},
	    {"MAILX FROM:<a@b>", SMTP_CMD_UNKNOWN, "FROM:<a@b>"},
	    {"MAI", SMTP_CMD_UNKNOWN, ""},
	    {"", SMTP_CMD_UNKNOWN, ""},
	    {"\tNOOP", SMTP_CMD_UNKNOWN, "NOOP"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		smtp_cmd_t c =
		    smtp_cmd_parse(cases[i].line, strlen(cases[i].line), &arg, &argn, &bad);
		ok(c == cases[i].cmd && !bad && argn == strlen(cases[i].arg) &&
		       !memcmp(arg, cases[i].arg, argn),
		   "command '%s' -> %s '%s'", cases[i].line, smtp_cmd_name(cases[i].cmd),
		   cases[i].arg);
	}
	const char nul[] = "NOOP a\0b";
	smtp_cmd_parse(nul, sizeof nul - 1, &arg, &argn, &bad);
	ok(bad, "NUL inside a command line is refused");
	smtp_cmd_parse("NOOP a\rb", 8, &arg, &argn, &bad);
	ok(bad, "CR inside a command line is refused");
	smtp_cmd_parse("NOOP \x1b[31m", 10, &arg, &argn, &bad);
	ok(bad, "escape byte refused");
	smtp_cmd_parse("NOOP caf\xc3\xa9", 10, &arg, &argn, &bad);
	ok(!bad, "UTF-8 in a command line is not a control byte");
}

/* ---- MAIL / RCPT ---- */

static smtp_reply_id_t mail(const char *arg, smtp_path_t *p, smtp_mail_params_t *mp)
{
	return smtp_parse_mail(arg, strlen(arg), p, mp);
}

static void test_mail(void)
{
	smtp_path_t p;
	smtp_mail_params_t mp;
	ok(mail("FROM:<alice@example.com>", &p, &mp) == SMTP_R_OK &&
	       !strcmp(p.addr, "alice@example.com") && mp.textn == 0,
	   "plain MAIL FROM");
	ok(mail("from:<>", &p, &mp) == SMTP_R_OK && p.len == 0 && p.addr[0] == 0,
	   "null reverse-path");
	ok(mail("FROM: <a@b.example>", &p, &mp) == SMTP_R_OK && !strcmp(p.addr, "a@b.example"),
	   "space after the colon tolerated");
	ok(mail("FROM:a@b.example", &p, &mp) == SMTP_R_OK && !strcmp(p.addr, "a@b.example"),
	   "path without brackets tolerated");
	ok(mail("FROM:<a@b> SIZE=1234 BODY=8BITMIME", &p, &mp) == SMTP_R_OK && mp.has_size &&
	       mp.size == 1234 && mp.body == SMTP_BODY_8BITMIME &&
	       mp.textn == strlen("SIZE=1234 BODY=8BITMIME") &&
	       !memcmp(mp.text, "SIZE=1234 BODY=8BITMIME", mp.textn),
	   "SIZE and BODY parsed, parameter text kept");
	ok(mail("FROM:<a@b> body=7bit  size=0", &p, &mp) == SMTP_R_OK &&
	       mp.body == SMTP_BODY_7BIT && mp.has_size && mp.size == 0,
	   "parameters case-insensitive, extra spaces");
	ok(mail("FROM:<@relay1,@relay2:joe@example.com>", &p, &mp) == SMTP_R_OK &&
	       !strcmp(p.addr, "joe@example.com"),
	   "source route accepted and dropped");
	ok(mail("FROM:<\"john doe\"@example.com>", &p, &mp) == SMTP_R_OK &&
	       !strcmp(p.addr, "\"john doe\"@example.com"),
	   "quoted local part with a space");
	ok(mail("FROM:<\"a>b\\\"c\"@example.com>", &p, &mp) == SMTP_R_OK &&
	       !strcmp(p.addr, "\"a>b\\\"c\"@example.com"),
	   "quoted local part with '>' and an escaped quote");
	ok(mail("FROM:<joe@[192.0.2.1]>", &p, &mp) == SMTP_R_OK, "address literal");
	ok(mail("FROM:<joe@[IPv6:2001:db8::1]>", &p, &mp) == SMTP_R_OK, "IPv6 address literal");
	ok(mail("FROM:<j\xc3\xb6rg@example.de> SMTPUTF8", &p, &mp) == SMTP_R_OK && mp.smtputf8 &&
	       p.non_ascii,
	   "UTF-8 address with SMTPUTF8");
	ok(mail("FROM:<j\xc3\xb6rg@example.de>", &p, &mp) == SMTP_R_NEED_UTF8,
	   "UTF-8 address without SMTPUTF8 -> 553 5.6.7");
	ok(mail("FROM:<j\xc3rg@example.de> SMTPUTF8", &p, &mp) == SMTP_R_ADDR_SYNTAX,
	   "invalid UTF-8 refused");
	ok(mail("FROM:<a@b> SIZE=99999999999999999999999", &p, &mp) == SMTP_R_PARAM_SYNTAX,
	   "SIZE overflow refused");
	ok(mail("FROM:<a@b> SIZE=18446744073709551616", &p, &mp) == SMTP_R_PARAM_SYNTAX,
	   "SIZE 2^64 refused");
	ok(mail("FROM:<a@b> SIZE=18446744073709551615", &p, &mp) == SMTP_R_OK &&
	       mp.size == UINT64_MAX,
	   "SIZE 2^64-1 parses (then refused as too big by policy)");
	ok(mail("FROM:<a@b> SIZE=12a", &p, &mp) == SMTP_R_PARAM_SYNTAX, "SIZE not a number");
	ok(mail("FROM:<a@b> SIZE", &p, &mp) == SMTP_R_PARAM_SYNTAX, "SIZE without value");
	ok(mail("FROM:<a@b> SIZE=1 SIZE=2", &p, &mp) == SMTP_R_PARAM_SYNTAX, "duplicate SIZE");
	ok(mail("FROM:<a@b> BODY=BINARYMIME", &p, &mp) == SMTP_R_PARAM_UNKNOWN,
	   "BODY=BINARYMIME not offered");
	ok(mail("FROM:<a@b> AUTH=<>", &p, &mp) == SMTP_R_PARAM_UNKNOWN, "AUTH= not offered");
	ok(mail("FROM:<a@b> SMTPUTF8=yes", &p, &mp) == SMTP_R_PARAM_SYNTAX,
	   "SMTPUTF8 takes no value");
	ok(mail("FROM:<a@b> =x", &p, &mp) == SMTP_R_PARAM_SYNTAX, "empty keyword");
	ok(mail("FROM:<a@b> X=a=b", &p, &mp) == SMTP_R_PARAM_SYNTAX, "'=' inside a value");
	ok(mail("FROM:<a@b>SIZE=1", &p, &mp) == SMTP_R_PARAM_SYNTAX, "no space before parameters");
	ok(mail("TO:<a@b>", &p, &mp) == SMTP_R_PARAM_SYNTAX, "MAIL TO: refused");
	ok(mail("FROM<a@b>", &p, &mp) == SMTP_R_PARAM_SYNTAX, "missing colon");
	ok(mail("FROM:<a@b", &p, &mp) == SMTP_R_PARAM_SYNTAX, "missing '>'");
	ok(mail("FROM:", &p, &mp) == SMTP_R_PARAM_SYNTAX, "missing path");
	ok(mail("FROM:<a@>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "empty domain");
	ok(mail("FROM:<@b>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "route without mailbox");
	ok(mail("FROM:<ab>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "no '@'");
	ok(mail("FROM:<a b@c>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "unquoted space");
	ok(mail("FROM:<a@b..c>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "empty domain label");
	ok(mail("FROM:<a@b@c>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "two '@'");
	ok(mail("FROM:<\"unterminated@b>", &p, &mp) != SMTP_R_OK, "unterminated quote");
	ok(mail("FROM:<a@[1.2.3.4>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "unterminated literal");
	ok(mail("FROM:<a@exa mple>", &p, &mp) == SMTP_R_ADDR_SYNTAX, "space in domain");
	char longp[700];
	memset(longp, 'a', sizeof longp);
	memcpy(longp, "FROM:<", 6);
	memcpy(longp + sizeof longp - 8, "@b.com>", 8);
	ok(mail(longp, &p, &mp) == SMTP_R_ADDR_SYNTAX, "path longer than SMTP_PATH_MAX");
}

static smtp_reply_id_t rcpt(const char *arg, bool utf8, smtp_path_t *p)
{
	return smtp_parse_rcpt(arg, strlen(arg), utf8, p);
}

static void test_rcpt(void)
{
	smtp_path_t p;
	ok(rcpt("TO:<journal@example.com>", false, &p) == SMTP_R_OK &&
	       !strcmp(p.addr, "journal@example.com"),
	   "plain RCPT TO");
	ok(rcpt("to: <journal@example.com>", false, &p) == SMTP_R_OK, "lower case, space");
	ok(rcpt("TO:<Postmaster>", false, &p) == SMTP_R_OK && !strcmp(p.addr, "Postmaster"),
	   "<Postmaster> without a domain (RFC 5321 4.1.1.3)");
	ok(rcpt("TO:<bob>", false, &p) == SMTP_R_ADDR_SYNTAX, "other local-only address refused");
	ok(rcpt("TO:<>", false, &p) == SMTP_R_ADDR_SYNTAX, "null forward-path refused");
	ok(rcpt("TO:<a@b> NOTIFY=NEVER", false, &p) == SMTP_R_PARAM_UNKNOWN,
	   "DSN parameter not offered");
	ok(rcpt("TO:<a@b> %%%", false, &p) == SMTP_R_PARAM_SYNTAX, "garbage after the path");
	ok(rcpt("TO:<\xe7\x94\xa8\xe6\x88\xb7@example.cn>", false, &p) == SMTP_R_NEED_UTF8,
	   "UTF-8 recipient without SMTPUTF8");
	ok(rcpt("TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.cn>", true, &p) == SMTP_R_OK,
	   "UTF-8 recipient and domain with SMTPUTF8");
	ok(rcpt("FROM:<a@b>", false, &p) == SMTP_R_PARAM_SYNTAX, "RCPT FROM: refused");
}

static void test_helo(void)
{
	ok(smtp_parse_helo("mx.example.com", 14) == SMTP_R_OK, "HELO domain");
	ok(smtp_parse_helo("[192.0.2.1]", 11) == SMTP_R_OK, "HELO literal");
	ok(smtp_parse_helo("", 0) == SMTP_R_HELO_SYNTAX, "HELO without argument");
	ok(smtp_parse_helo("a b", 3) == SMTP_R_HELO_SYNTAX, "HELO with two words");
	char big[300];
	memset(big, 'a', sizeof big);
	ok(smtp_parse_helo(big, sizeof big) == SMTP_R_HELO_SYNTAX, "HELO longer than 255");
}

/* ---- DATA ---- */

typedef struct scan_result {
	buf_t out;
	bool done;
	size_t consumed; /* input bytes up to and including the terminator */
	uint32_t flags;
	bool long_line;
} scan_result_t;

/* Feeds input in chunks of the given sizes (0 ends the list; the last size
 * repeats), as the network would split it. */
static void scan_chunks(const char *in, size_t n, const size_t *sizes, uint64_t max_line,
                        scan_result_t *r)
{
	smtp_data_t d;
	smtp_data_init(&d, max_line);
	memset(r, 0, sizeof *r);
	size_t pos = 0, k = 0;
	uint8_t out[4096 + SMTP_DATA_SLACK];
	while (pos < n && !r->done) {
		size_t len = sizes[k];
		if (sizes[k + 1])
			k++;
		if (len > n - pos)
			len = n - pos;
		size_t outn;
		bool done;
		size_t used = smtp_data_scan(&d, (const uint8_t *)in + pos, len, out, &outn, &done);
		buf_append(&r->out, out, outn);
		pos += used;
		if (done) {
			r->done = true;
		} else if (used != len) {
			diag("scanner stopped early without the end");
			break;
		}
	}
	r->consumed = pos;
	r->flags = d.flags;
	r->long_line = d.long_line;
}

struct data_case {
	const char *name;
	const char *in;
	const char *out; /* message bytes */
	bool done;
	const char *rest; /* input left after the end-of-data line */
	uint32_t flags;
};

static const struct data_case data_cases[] = {
    {"simple", "Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n", true, "", 0},
    {"empty message", ".\r\n", "", true, "", 0},
    {"only a blank line", "\r\n.\r\n", "\r\n", true, "", 0},
    {"stuffed dot line", "a\r\n..\r\n.\r\n", "a\r\n.\r\n", true, "", 0},
    {"stuffed dot text", "..x\r\n.\r\n", ".x\r\n", true, "", 0},
    {"leading dot removed", ".x\r\n.\r\n", "x\r\n", true, "", 0},
    {"double-stuffed", "...\r\n.\r\n", "..\r\n", true, "", 0},
    {"dot mid-line kept", "a.b\r\n.\r\n", "a.b\r\n", true, "", 0},
    {"pipelined after end", "a\r\n.\r\nQUIT\r\n", "a\r\n", true, "QUIT\r\n", 0},
    {"no end yet", "a\r\nb\r\n", "a\r\nb\r\n", false, "", 0},
    {"no end: dot line without CRLF", "a\r\n.", "a\r\n", false, "", 0},
    {"no end: dot CR", "a\r\n.\r", "a\r\n", false, "", 0},
    /* Smuggling sequences: none of them ends the data. */
    {"smuggle LF.LF", "a\n.\nMAIL FROM:<x@y>\r\n", "a\n.\nMAIL FROM:<x@y>\r\n", false, "",
     STORE_ENV_BARE_LF},
    {"smuggle CR.CR", "a\r.\rMAIL FROM:<x@y>\r\n", "a\r.\rMAIL FROM:<x@y>\r\n", false, "",
     STORE_ENV_BARE_CR},
    {"smuggle CRLF.LF", "a\r\n.\nMAIL FROM:<x@y>\r\n", "a\r\n\nMAIL FROM:<x@y>\r\n", false, "",
     STORE_ENV_BARE_LF},
    {"smuggle LF.CRLF", "a\n.\r\nMAIL FROM:<x@y>\r\n", "a\n.\r\nMAIL FROM:<x@y>\r\n", false, "",
     STORE_ENV_BARE_LF},
    {"smuggle CR.LF", "a\r.\nMAIL FROM:<x@y>\r\n", "a\r.\nMAIL FROM:<x@y>\r\n", false, "",
     STORE_ENV_BARE_CR | STORE_ENV_BARE_LF},
    {"smuggle CRLF.CR", "a\r\n.\rMAIL\r\n", "a\r\n\rMAIL\r\n", false, "", STORE_ENV_BARE_CR},
    {"smuggle CRLF.CRCRLF", "a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n", true, "", STORE_ENV_BARE_CR},
    {"smuggle then real end",
     "x\n.\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n",
     "x\n.\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nevil\r\n", true, "QUIT\r\n",
     STORE_ENV_BARE_LF},
    {"bare LF at line start", "a\r\n\n.\r\n", "a\r\n\n.\r\n", false, "", STORE_ENV_BARE_LF},
    {"bare CR before CRLF", "a\r\r\n.\r\n", "a\r\r\n", true, "", STORE_ENV_BARE_CR},
    {"CRLF inside no-dot", "a\r\n.b\r\n..\r\n.\r\n", "a\r\nb\r\n.\r\n", true, "", 0},
    {"NUL and 8-bit kept", "a\0\xff\r\n.\r\n", "a\0\xff\r\n", true, "", 0},
};

/* Strings with NULs need explicit lengths: compute from the literal when
 * the case holds one ("NUL and 8-bit kept"). */
static size_t case_len(const char *s, const char *name)
{
	if (!strcmp(name, "NUL and 8-bit kept"))
		return 8;
	return strlen(s);
}

static size_t case_outlen(const char *s, const char *name)
{
	if (!strcmp(name, "NUL and 8-bit kept"))
		return 5;
	return strlen(s);
}

static void check_case(const struct data_case *c, const size_t *sizes, const char *how)
{
	size_t n = case_len(c->in, c->name), outn = case_outlen(c->out, c->name);
	scan_result_t r;
	scan_chunks(c->in, n, sizes, 0, &r);
	size_t rest = strlen(c->rest);
	bool good = r.done == c->done && r.out.len == outn && !memcmp(r.out.data, c->out, outn) &&
	            r.flags == c->flags && (!c->done || r.consumed == n - rest);
	if (!good) {
		ok(0, "%s %s", c->name, how);
		diag("done=%d consumed=%zu flags=%u outlen=%zu", r.done, r.consumed, r.flags,
		     r.out.len);
	}
	buf_free(&r.out);
}

static void test_data_splits(void)
{
	for (size_t i = 0; i < sizeof data_cases / sizeof data_cases[0]; i++) {
		const struct data_case *c = &data_cases[i];
		size_t n = case_len(c->in, c->name);
		int before = tap_failed;
		size_t whole[] = {n ? n : 1, 0};
		check_case(c, whole, "(whole)");
		size_t bytes[] = {1, 0};
		check_case(c, bytes, "(byte by byte)");
		for (size_t split = 1; split < n; split++) {
			size_t two[] = {split, n - split, 0};
			char how[64];
			snprintf(how, sizeof how, "(split at %zu)", split);
			check_case(c, two, how);
		}
		/* Three pieces at every pair of split points. */
		for (size_t a = 1; a < n; a++)
			for (size_t b = a + 1; b < n; b++) {
				size_t three[] = {a, b - a, n - b, 0};
				char how[64];
				snprintf(how, sizeof how, "(split at %zu and %zu)", a, b);
				check_case(c, three, how);
			}
		if (tap_failed == before)
			ok(1, "DATA '%s' at every split point", c->name);
	}
}

static void test_data_lines(void)
{
	size_t whole[] = {4096, 0};
	scan_result_t r;
	scan_chunks("0123456789\r\n.\r\n", 15, whole, 10, &r);
	ok(r.done && !r.long_line, "a line of exactly max_line octets is fine");
	buf_free(&r.out);
	scan_chunks("01234567890\r\n.\r\n", 16, whole, 10, &r);
	ok(r.done && r.long_line, "a line of max_line + 1 octets is flagged");
	buf_free(&r.out);
	scan_chunks("..23456789\r\n.\r\n", 15, whole, 10, &r);
	ok(r.done && !r.long_line, "the stuffing dot counts as sent");
	buf_free(&r.out);
	size_t ones[] = {1, 0};
	scan_chunks("0123456789\r\r\n.\r\n", 16, ones, 10, &r);
	ok(r.done && r.long_line, "a bare CR counts as a line octet");
	buf_free(&r.out);

	/* A 998-octet line starting with a dot, and dot lines, round trip. */
	buf_t msg = {0}, wire = {0};
	buf_append_str(&msg, ".");
	for (int i = 0; i < 997; i++)
		buf_append_byte(&msg, (uint8_t)('a' + i % 26));
	buf_append_str(&msg, "\r\n.\r\n..\r\n.x\r\nend\r\n");
	/* stuff it as a client would */
	size_t ls = 0;
	for (size_t i = 0; i < msg.len; i++) {
		if (i == ls && msg.data[i] == '.')
			buf_append_byte(&wire, '.');
		buf_append_byte(&wire, msg.data[i]);
		if (msg.data[i] == '\n')
			ls = i + 1;
	}
	buf_append_str(&wire, ".\r\n");
	size_t chunks[] = {7, 0};
	scan_chunks((const char *)wire.data, wire.len, chunks, 1000, &r);
	ok(r.done && !r.long_line && r.out.len == msg.len && !memcmp(r.out.data, msg.data, msg.len),
	   "dot-stuffing round trip of '.', '..', '.x' and a 998-octet line");
	buf_free(&r.out);
	buf_free(&msg);
	buf_free(&wire);
}

/* ---- BDAT and AUTH arguments ---- */

static void test_bdat_args(void)
{
	uint64_t n;
	bool last;
	ok(smtp_parse_bdat("0 LAST", 6, &n, &last) == SMTP_R_OK && n == 0 && last, "0 LAST");
	ok(smtp_parse_bdat("123", 3, &n, &last) == SMTP_R_OK && n == 123 && !last, "123");
	ok(smtp_parse_bdat("7  last", 7, &n, &last) == SMTP_R_OK && n == 7 && last,
	   "lower-case last, two spaces");
	ok(smtp_parse_bdat("18446744073709551615", 20, &n, &last) == SMTP_R_OK && n == UINT64_MAX,
	   "UINT64_MAX");
	const char *bad[] = {"",
	                     "LAST",
	                     "-1",
	                     "+1",
	                     "1x",
	                     "1.0",
	                     "18446744073709551616",
	                     "000000000000000000001",
	                     "1 LAST x",
	                     "1 FIRST",
	                     "1\tLASTX",
	                     " "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(smtp_parse_bdat(bad[i], strlen(bad[i]), &n, &last) == SMTP_R_PARAM_SYNTAX,
		   "BDAT '%s' refused", bad[i]);
}

static void test_auth_args(void)
{
	smtp_sasl_mech_t m;
	const char *ir;
	size_t irn;
	ok(smtp_parse_auth("PLAIN", 5, &m, &ir, &irn) == SMTP_R_OK && m == SMTP_SASL_PLAIN && !ir,
	   "PLAIN");
	ok(smtp_parse_auth("login dXNlcg==", 14, &m, &ir, &irn) == SMTP_R_OK &&
	       m == SMTP_SASL_LOGIN && irn == 8 && !strncmp(ir, "dXNlcg==", 8),
	   "login with an initial response");
	ok(smtp_parse_auth("CRAM-MD5", 8, &m, &ir, &irn) == SMTP_R_AUTH_MECH,
	   "CRAM-MD5 not offered");
	ok(smtp_parse_auth("", 0, &m, &ir, &irn) == SMTP_R_PARAM_SYNTAX, "no mechanism");
	ok(smtp_parse_auth("PLAIN a b", 9, &m, &ir, &irn) == SMTP_R_PARAM_SYNTAX, "two responses");

	uint8_t out[64];
	size_t n;
	ok(smtp_sasl_decode("*", 1, out, sizeof out, &n) == SMTP_R_AUTH_CANCEL, "* cancels");
	ok(smtp_sasl_decode("=", 1, out, sizeof out, &n) == SMTP_R_OK && n == 0, "= is empty");
	ok(smtp_sasl_decode("AGFsaWNlAHNlY3JldA==", 20, out, sizeof out, &n) == SMTP_R_OK &&
	       n == 13 && !memcmp(out, "\0alice\0secret", 13),
	   "decode PLAIN response");
	const char *bad64[] = {"AGFsaWNl!HNlY3JldA==",
	                       "AGFsaWNlAHNlY3JldA",
	                       "AGFsaWNlAHNlY3JldA=",
	                       "",
	                       "====",
	                       "AGFs aWNl"};
	for (size_t i = 0; i < sizeof bad64 / sizeof bad64[0]; i++)
		ok(smtp_sasl_decode(bad64[i], strlen(bad64[i]), out, sizeof out, &n) ==
		       SMTP_R_AUTH_BAD64,
		   "bad base64 '%s'", bad64[i]);
	char big[200];
	memset(big, 'A', sizeof big);
	ok(smtp_sasl_decode(big, sizeof big, out, sizeof out, &n) == SMTP_R_AUTH_BAD64,
	   "response longer than the buffer refused");

	char user[SMTP_SASL_USER_MAX + 1], pass[SMTP_SASL_PASS_MAX + 1];
	ok(smtp_sasl_plain_split((const uint8_t *)"\0alice\0secret", 13, user, pass) == SMTP_R_OK &&
	       !strcmp(user, "alice") && !strcmp(pass, "secret"),
	   "PLAIN split");
	ok(smtp_sasl_plain_split((const uint8_t *)"alice\0alice\0pw", 14, user, pass) == SMTP_R_OK,
	   "authzid equal to the user");
	ok(smtp_sasl_plain_split((const uint8_t *)"root\0alice\0pw", 13, user, pass) ==
	       SMTP_R_AUTH_FAILED,
	   "proxy authorization refused");
	ok(smtp_sasl_plain_split((const uint8_t *)"\0alice", 6, user, pass) == SMTP_R_AUTH_BAD64,
	   "one NUL only");
	ok(smtp_sasl_plain_split((const uint8_t *)"\0\0pw", 4, user, pass) == SMTP_R_AUTH_BAD64,
	   "empty user");
	ok(smtp_sasl_plain_split((const uint8_t *)"\0a\0p\0w", 6, user, pass) == SMTP_R_AUTH_BAD64,
	   "NUL in the password");
	uint8_t longu[SMTP_SASL_USER_MAX + 8];
	memset(longu, 'u', sizeof longu);
	longu[0] = 0;
	longu[sizeof longu - 2] = 0;
	ok(smtp_sasl_plain_split(longu, sizeof longu, user, pass) == SMTP_R_AUTH_BAD64,
	   "user name over SMTP_SASL_USER_MAX refused");
}

static void test_bdat_flags(void)
{
	struct {
		const char *in;
		uint32_t want;
	} cases[] = {
	    {"a\r\nb\r\n", 0},
	    {"a\nb", STORE_ENV_BARE_LF},
	    {"a\rb", STORE_ENV_BARE_CR},
	    {"a\r", STORE_ENV_BARE_CR},
	    {"\n", STORE_ENV_BARE_LF},
	    {"\r\r\n", STORE_ENV_BARE_CR},
	    {"\r\n\n\r", STORE_ENV_BARE_LF | STORE_ENV_BARE_CR},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const uint8_t *p = (const uint8_t *)cases[i].in;
		size_t n = strlen(cases[i].in);
		bool all = true;
		/* Every split point gives the same answer as the whole. */
		for (size_t cut = 0; cut <= n; cut++) {
			bool cr = false;
			uint32_t f = smtp_bdat_flags(&cr, p, cut);
			f |= smtp_bdat_flags(&cr, p + cut, n - cut);
			f |= smtp_bdat_flags_end(cr);
			if (f != cases[i].want)
				all = false;
		}
		ok(all, "BDAT flags of case %zu at every split", i);
	}
}

/* ---- replies ---- */

static void test_replies(void)
{
	bool order = true, classes = true;
	for (int i = 0; i < SMTP_R__COUNT; i++) {
		const smtp_reply_t *r = smtp_reply_get((smtp_reply_id_t)i);
		if ((int)r->id != i)
			order = false;
		if (r->code < 200 || r->code > 599 || !r->text[0] ||
		    (r->enhanced && r->enhanced[0] != (char)('0' + r->code / 100)))
			classes = false;
		if (r->closes && r->code != 421 && r->code != 221)
			classes = false;
	}
	ok(order, "reply table in enum order");
	ok(classes, "reply codes match their enhanced class; only 221/421 close");

	struct {
		store_status_t st;
		unsigned code;
		const char *enh;
	} want[] = {
	    {STORE_OK, 250, "2.0.0"},        {STORE_EIO, 451, "4.3.0"},
	    {STORE_EFAILED, 451, "4.3.0"},   {STORE_EBUSY, 451, "4.3.0"},
	    {STORE_ENOSPC, 452, "4.3.1"},    {STORE_ETOOBIG, 552, "5.3.4"},
	    {STORE_ENOTFOUND, 451, "4.3.0"}, {STORE_ESHUTDOWN, 421, "4.3.2"},
	    {STORE_EKEY, 451, "4.3.0"},      {STORE_ECORRUPT, 451, "4.3.0"},
	    {STORE_EINVAL, 451, "4.3.0"},    {STORE_EREADONLY, 451, "4.3.0"},
	    {STORE_ELOCKED, 451, "4.3.0"},   {STORE_EEXIST, 451, "4.3.0"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const smtp_reply_t *r = smtp_reply_get(smtp_reply_for_store(want[i].st));
		ok(r->code == want[i].code && !strcmp(r->enhanced, want[i].enh),
		   "store status %d -> %u %s", (int)want[i].st, want[i].code, want[i].enh);
	}
	bool unique = true;
	for (int st = STORE_OK; st <= STORE_ESHUTDOWN; st++) {
		int rows = 0;
		for (int i = 0; i < SMTP_R__COUNT; i++)
			rows += smtp_reply_get((smtp_reply_id_t)i)->store_status == st;
		if (rows > 1)
			unique = false;
	}
	ok(unique, "no store status has two rows");

	buf_t b = {0};
	smtp_reply_format(&b, SMTP_R_TOO_BIG, NULL, NULL);
	is_str((char *)b.data, "552 5.3.4 Message too big\r\n", "format 552");
	buf_reset(&b);
	smtp_reply_format(&b, SMTP_R_GREETING, "mx.example", NULL);
	is_str((char *)b.data, "220 mx.example ESMTP Vellum\r\n", "greeting with host name");
	buf_reset(&b);
	smtp_reply_format(&b, SMTP_R_SHUTDOWN, "mx.example", NULL);
	is_str((char *)b.data, "421 4.3.2 mx.example Service shutting down, try again later\r\n",
	       "421 with host name");
	buf_reset(&b);
	smtp_reply_format(&b, SMTP_R_STORED, NULL, "default-42 legal-7");
	is_str((char *)b.data, "250 2.0.0 Stored: default-42 legal-7\r\n", "250 with ids");
	buf_reset(&b);
	smtp_reply_format(&b, SMTP_R_OK, NULL, "bad\r\nINJECTED");
	is_str((char *)b.data, "250 2.0.0 OK: bad??INJECTED\r\n", "control bytes in extra cleaned");
	buf_reset(&b);
	char big[2000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	smtp_reply_format(&b, SMTP_R_OK, NULL, big);
	ok(b.len <= SMTP_REPLY_MAX && b.data[b.len - 2] == '\r' && b.data[b.len - 1] == '\n',
	   "long extra cut to SMTP_REPLY_MAX (%zu)", b.len);
	buf_free(&b);
}

int main(void)
{
	test_cmd_parse();
	test_mail();
	test_rcpt();
	test_helo();
	test_data_splits();
	test_data_lines();
	test_replies();
	test_bdat_args();
	test_auth_args();
	test_bdat_flags();
	return tap_done();
}
