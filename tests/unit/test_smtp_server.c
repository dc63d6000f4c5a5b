/* test_smtp_server.c — the SMTP server in-process, over real sockets on
 * 127.0.0.1, into a real store in a temporary data dir.
 *
 * A raw-socket client checks the protocol (reply table, pipelining, limits,
 * policies, smuggling, dot-stuffing, shutdown); Python's smtplib and swaks
 * (when installed) send messages as real clients do.  Every stored message is
 * read back through store.h and compared byte for byte and by SHA-256.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tap.h"
#include "vellum/app.h"
#include "vellum/config.h"
#include "vellum/ingest.h"
#include "vellum/log.h"
#include "vellum/metrics.h"
#include "vellum/smtp.h"
#include "vellum/store.h"
#include "vellum/util.h"

static app_t app;
static smtp_server_t *server;
static char addrs[8][SMTP_ADDR_STRMAX];
static atomic_int extra_route; /* the routing callback adds "extra" when set */

enum { L_DEFAULT = 0, L_LEGAL, L_DENIED, L_PERCLIENT, L_SLOW };

/* ---- a raw SMTP client ---- */

typedef struct client {
	int fd;
	buf_t in;
} client_t;

static bool client_open(client_t *c, int listener)
{
	struct sockaddr_storage ss;
	size_t len;
	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (util_hostport_parse(addrs[listener], &ss, &len) != UTIL_OK)
		return false;
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {10, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return connect(c->fd, (struct sockaddr *)&ss, (socklen_t)len) == 0;
}

static void client_close(client_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}

static void csend(client_t *c, const void *p, size_t n)
{
	if (util_write_all(c->fd, p, n) != UTIL_OK)
		diag("send failed: %s", strerror(errno));
}

static void csends(client_t *c, const char *s)
{
	csend(c, s, strlen(s));
}

/* Reads one whole reply (all its lines); caller frees.  NULL on EOF or
 * timeout. */
static char *creply(client_t *c)
{
	for (;;) {
		/* a complete reply ends with a line "NNN " ... CRLF */
		size_t start = 0;
		for (size_t i = 0; i < c->in.len; i++) {
			if (c->in.data[i] != '\n')
				continue;
			if (i - start >= 3 && (i - start == 4 || c->in.data[start + 3] == ' ' ||
			                       c->in.data[start + 3] == '\r')) {
				char *r = xstrndup((char *)c->in.data, i + 1);
				memmove(c->in.data, c->in.data + i + 1, c->in.len - i - 1);
				c->in.len -= i + 1;
				return r;
			}
			start = i + 1;
		}
		char tmp[4096];
		ssize_t n = read(c->fd, tmp, sizeof tmp);
		if (n <= 0)
			return NULL;
		buf_append(&c->in, tmp, (size_t)n);
	}
}

/* Reads a reply and checks that it starts with want. */
static bool expect(client_t *c, const char *want, const char *what)
{
	char *r = creply(c);
	bool good = r && !strncmp(r, want, strlen(want));
	ok(good, "%s: %s", what, want);
	if (!good)
		diag("got: %s", r ? r : "(nothing)");
	free(r);
	return good;
}

/* Reads a reply, checks it is a 250 with ids, returns the ids (caller frees). */
static char *expect_stored(client_t *c, const char *what)
{
	char *r = creply(c);
	const char *p = r ? strstr(r, "Stored: ") : NULL;
	ok(r && !strncmp(r, "250 ", 4) && p, "%s: stored", what);
	if (!p) {
		diag("got: %s", r ? r : "(nothing)");
		free(r);
		return NULL;
	}
	char *ids = xstrdup(p + 8);
	ids[strcspn(ids, "\r\n")] = '\0';
	free(r);
	return ids;
}

static bool at_eof(client_t *c)
{
	char tmp[64];
	return c->in.len == 0 && read(c->fd, tmp, sizeof tmp) == 0;
}

static void hello(client_t *c, int listener)
{
	client_open(c, listener);
	char *g = creply(c);
	free(g);
	csends(c, "EHLO client.test\r\n");
	free(creply(c));
}

/* ---- reading the store ---- */

static bool split_id(const char *id, char *archive, uint64_t *seq)
{
	const char *dash = strrchr(id, '-');
	if (!dash || dash == id || (size_t)(dash - id) > STORE_NAME_MAX)
		return false;
	memcpy(archive, id, (size_t)(dash - id));
	archive[dash - id] = '\0';
	*seq = strtoull(dash + 1, NULL, 10);
	return true;
}

/* Reads message `id` ("default-3") back and compares bytes and SHA-256. */
static bool stored_equals(const char *id, const void *want, size_t n, uint32_t *flags)
{
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;
	if (!split_id(id, archive, &seq))
		return false;
	store_msg_t *m;
	if (store_msg_get(app.store, archive, seq, &m) != STORE_OK)
		return false;
	uint8_t sha[32];
	crypto_hash_sha256(sha, want, n);
	bool good = m->size == n && !memcmp(m->sha256, sha, 32);
	if (flags)
		*flags = m->narrivals ? m->arrivals[0].flags : 0;
	store_msg_free(m);
	store_reader_t *r;
	if (store_msg_open(app.store, archive, seq, &r) != STORE_OK)
		return false;
	buf_t got = {0};
	uint8_t tmp[8192];
	size_t k;
	while (store_reader_read(r, tmp, sizeof tmp, &k) == STORE_OK && k)
		buf_append(&got, tmp, k);
	store_reader_close(r);
	good = good && got.len == n && !memcmp(got.data, want, n);
	if (!good)
		diag("stored %zu bytes, wanted %zu", got.len, n);
	buf_free(&got);
	return good;
}

static uint64_t arrivals(const char *archive)
{
	store_archive_stats_t st;
	if (store_archive_stats(app.store, archive, &st) != STORE_OK)
		return 0;
	return st.arrivals;
}

/* Sends one message (already dot-stuffed wire bytes) and returns the ids. */
static char *send_message(client_t *c, const char *from, const char *to, const void *wire, size_t n,
                          const char *what)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", from, to);
	csends(c, cmd);
	free(creply(c));
	free(creply(c));
	char *r = creply(c);
	bool go = r && !strncmp(r, "354", 3);
	free(r);
	if (!go) {
		ok(0, "%s: 354", what);
		return NULL;
	}
	csend(c, wire, n);
	return expect_stored(c, what);
}

/* ---- tests ---- */

static void test_basics(void)
{
	client_t c;
	ok(client_open(&c, L_DEFAULT), "connect to the default listener");
	expect(&c, "220 test.vellum ESMTP", "greeting");
	csends(&c, "EHLO client.test\r\n");
	char *r = creply(&c);
	ok(r && strstr(r, "250-test.vellum\r\n") && strstr(r, "250-PIPELINING\r\n") &&
	       strstr(r, "250-SIZE 65536\r\n") && strstr(r, "250-8BITMIME\r\n") &&
	       strstr(r, "250-SMTPUTF8\r\n") && strstr(r, "250-ENHANCEDSTATUSCODES\r\n") &&
	       strstr(r, "250 CHUNKING\r\n") && !strstr(r, "STARTTLS") && !strstr(r, "AUTH"),
	   "EHLO lists PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING; "
	   "no STARTTLS without a certificate, no AUTH without users");
	free(r);

#define MSG1 "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"
	const char msg[] = MSG1;
	uint64_t before = arrivals("default");
	char *ids = send_message(&c, "a@example.com", "b@example.com", MSG1 ".\r\n",
	                         sizeof msg - 1 + 3, "simple message");
	ok(ids && !strncmp(ids, "default-", 8) && !strchr(ids, ' '), "one id in 'default' (%s)",
	   ids ? ids : "-");
	ok(ids && stored_equals(ids, msg, sizeof msg - 1, NULL), "stored bytes and SHA-256 match");
	is_int(arrivals("default"), before + 1, "one arrival more");
	free(ids);

	csends(&c, "NOOP\r\n");
	expect(&c, "250 2.0.0", "NOOP");
	csends(&c, "VRFY joe\r\n");
	expect(&c, "252 2.5.0", "VRFY");
	csends(&c, "HELP\r\n");
	expect(&c, "214 2.0.0", "HELP");
	csends(&c, "EXPN list\r\n");
	expect(&c, "502 5.5.1", "EXPN not implemented");
	csends(&c, "STARTTLS\r\n");
	expect(&c, "502 5.5.1", "STARTTLS not offered without a certificate");
	csends(&c, "AUTH PLAIN AGFiAGM=\r\n");
	expect(&c, "502 5.5.1", "AUTH not offered without users");
	csends(&c, "FOO\r\n");
	expect(&c, "500 5.5.1", "unknown command");
	csends(&c, "RSET extra\r\n");
	expect(&c, "501 5.5.4", "RSET with an argument");
	csends(&c, "QUIT\r\n");
	expect(&c, "221 2.0.0", "QUIT");
	ok(at_eof(&c), "closed after QUIT");
	client_close(&c);
}

static void test_sequence(void)
{
	client_t c;
	client_open(&c, L_DEFAULT);
	free(creply(&c));
	csends(&c, "MAIL FROM:<a@example.com>\r\n");
	expect(&c, "503 5.5.1", "MAIL before EHLO");
	csends(&c, "EHLO\r\n");
	expect(&c, "501 5.5.4", "EHLO without a domain");
	csends(&c, "HELO client.test\r\n");
	expect(&c, "250 test.vellum", "HELO");
	csends(&c, "RCPT TO:<b@example.com>\r\n");
	expect(&c, "503 5.5.1", "RCPT before MAIL");
	csends(&c, "DATA\r\n");
	expect(&c, "503 5.5.1", "DATA before MAIL");
	csends(&c, "MAIL FROM:<>\r\n");
	expect(&c, "250 2.1.0", "null sender");
	csends(&c, "MAIL FROM:<a@example.com>\r\n");
	expect(&c, "503 5.5.1", "nested MAIL");
	csends(&c, "DATA\r\n");
	expect(&c, "554 5.5.1", "DATA without a recipient");
	csends(&c, "RCPT TO:<nobody@nowhere.example>\r\n");
	expect(&c, "550 5.1.1", "recipient no archive accepts");
	csends(&c, "RCPT TO:<\"quoted local\"@example.com>\r\n");
	expect(&c, "250 2.1.5", "quoted local part");
	csends(&c, "RCPT TO:<Postmaster>\r\n");
	expect(&c, "550 5.1.1", "postmaster without a catch-all archive");
	csends(&c, "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n");
	expect(&c, "555 5.5.4", "unknown RCPT parameter");
	csends(&c, "RCPT TO:<b@example.com\r\n");
	expect(&c, "501 5.5.4", "unbalanced bracket");
	csends(&c, "RCPT TO:<r2@example.com>\r\nRCPT TO:<r3@example.com>\r\n");
	expect(&c, "250 2.1.5", "second recipient");
	expect(&c, "250 2.1.5", "third recipient (max_recipients = 3)");
	csends(&c, "RCPT TO:<r4@example.com>\r\n");
	expect(&c, "452 4.5.3", "fourth recipient over max_recipients");
	csends(&c, "RSET\r\n");
	expect(&c, "250 2.0.0", "RSET");
	csends(&c, "RCPT TO:<b@example.com>\r\n");
	expect(&c, "503 5.5.1", "RSET ended the transaction");
	csends(&c, "MAIL FROM:<a@example.com> SIZE=65537\r\n");
	expect(&c, "552 5.3.4", "SIZE over max_message_size");
	csends(&c, "MAIL FROM:<a@example.com> SIZE=65536 BODY=8BITMIME\r\n");
	expect(&c, "250 2.1.0", "SIZE at the limit, 8BITMIME");
	csends(&c, "RCPT TO:<j\xc3\xb6rg@example.com>\r\n");
	expect(&c, "553 5.6.7", "UTF-8 recipient without SMTPUTF8");
	csends(&c, "RSET\r\nMAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8\r\n");
	expect(&c, "250", "RSET");
	expect(&c, "250 2.1.0", "UTF-8 sender with SMTPUTF8");
	csends(&c, "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@example.com>\r\n");
	expect(&c, "250 2.1.5", "UTF-8 recipient in an SMTPUTF8 transaction");
	csends(&c, "MAIL FROM:<a@example.com> AUTH=<>\r\n");
	expect(&c, "503 5.5.1", "MAIL inside a transaction");
	csends(&c, "QUIT\r\n");
	expect(&c, "221", "QUIT");
	client_close(&c);
}

static void test_pipelining(void)
{
	client_t c;
	hello(&c, L_DEFAULT);
	uint64_t before = arrivals("default");
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
	           "RCPT TO:<x@nowhere.example>\r\nDATA\r\n");
	expect(&c, "250 2.1.0", "pipelined MAIL");
	expect(&c, "250 2.1.5", "pipelined RCPT");
	expect(&c, "550 5.1.1", "pipelined unknown RCPT");
	expect(&c, "354", "pipelined DATA");
	const char body[] = "Subject: pipelined\r\n\r\nbody\r\n";
	csends(&c, "Subject: pipelined\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@example.com>\r\n"
	           "RCPT TO:<c@example.com>\r\nDATA\r\nSubject: two\r\n\r\n.\r\nQUIT\r\n");
	char *ids = expect_stored(&c, "first pipelined message");
	ok(ids && stored_equals(ids, body, sizeof body - 1, NULL), "first message bytes");
	free(ids);
	expect(&c, "250 2.1.0", "MAIL after DATA in one packet");
	expect(&c, "250 2.1.5", "RCPT");
	expect(&c, "354", "DATA");
	ids = expect_stored(&c, "second pipelined message");
	ok(ids && stored_equals(ids, "Subject: two\r\n\r\n", 16, NULL), "second message bytes");
	free(ids);
	expect(&c, "221", "QUIT answered after the store");
	is_int(arrivals("default"), before + 2, "two arrivals");
	client_close(&c);
}

static void test_data_limits(void)
{
	client_t c;
	hello(&c, L_DEFAULT);
	/* Oversized: read to the end, then 552, session still usable. */
	uint64_t before = arrivals("default");
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
	expect(&c, "250", "MAIL");
	expect(&c, "250", "RCPT");
	expect(&c, "354", "DATA");
	buf_t big = {0};
	for (int i = 0; i < 1200; i++)
		buf_append_str(&big,
		               "0123456789012345678901234567890123456789012345678901234567890123"
		               "456789\r\n");
	buf_append_str(&big, ".\r\nNOOP\r\n");
	csend(&c, big.data, big.len);
	buf_free(&big);
	expect(&c, "552 5.3.4", "oversized message read to its end, then refused");
	expect(&c, "250 2.0.0", "NOOP after the refusal: session in sync");
	is_int(arrivals("default"), before, "nothing stored");

	/* A command line over 512 octets. */
	char line[700];
	memset(line, 'x', sizeof line);
	memcpy(line, "NOOP ", 5);
	memcpy(line + sizeof line - 2, "\r\n", 2);
	csend(&c, line, sizeof line);
	expect(&c, "500 5.5.2", "command over 512 octets");
	/* 100 KB without a line end, then one. */
	buf_t flood = {0};
	for (int i = 0; i < 100 * 1024 / 64; i++)
		buf_append_str(&flood,
		               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	buf_append_str(&flood, "\r\nNOOP\r\n");
	csend(&c, flood.data, flood.len);
	buf_free(&flood);
	expect(&c, "500 5.5.2", "100 KB line answered once");
	expect(&c, "250 2.0.0", "then in sync");
	csends(&c, "NOOP \x01\r\n");
	expect(&c, "500 5.5.2", "control byte in a command");

	/* RSET mid-transaction stores nothing. */
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRSET\r\n");
	expect(&c, "250", "MAIL");
	expect(&c, "250", "RCPT");
	expect(&c, "250 2.0.0", "RSET");
	is_int(arrivals("default"), before, "RSET mid-transaction stores nothing");
	client_close(&c);

	/* A client that hangs up inside DATA stores nothing. */
	hello(&c, L_DEFAULT);
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
	free(creply(&c));
	free(creply(&c));
	free(creply(&c));
	csends(&c, "Subject: cut\r\n\r\nhalf a message");
	client_close(&c);
	usleep(200000);
	is_int(arrivals("default"), before, "a message cut off by EOF is not stored");

	/* Too many errors. */
	hello(&c, L_DEFAULT);
	buf_t bogus = {0};
	for (int i = 0; i < 25; i++)
		buf_append_str(&bogus, "BOGUS\r\n");
	/* In one write: the server closes with input unread, and must not
	 * let a reset destroy its last replies. */
	csend(&c, bogus.data, bogus.len);
	buf_free(&bogus);
	char *r;
	int n500 = 0;
	bool closed = false;
	while ((r = creply(&c)) != NULL) {
		if (!strncmp(r, "500", 3))
			n500++;
		if (!strncmp(r, "421 4.7.0", 9))
			closed = true;
		free(r);
	}
	ok(closed && n500 == 21, "after 21 bad commands: 421 4.7.0 and closed (%d)", n500);
	client_close(&c);

	/* An HTTP request is told off and closed. */
	client_open(&c, L_DEFAULT);
	free(creply(&c));
	csends(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(&c, "421 4.7.0", "HTTP request refused");
	ok(at_eof(&c), "and the connection closed");
	client_close(&c);
}

/* Each smuggling sequence, followed by a pipelined fake transaction, then
 * the real end: exactly one message, bytes as sent (after unstuffing). */
static void test_smuggling(void)
{
	static const struct {
		const char *name, *seq, *stored;
		uint32_t flags;
	} cases[] = {
	    {"\\n.\\n", "\n.\n", "\n.\n", STORE_ENV_BARE_LF},
	    {"\\r.\\r", "\r.\r", "\r.\r", STORE_ENV_BARE_CR},
	    {"\\r.\\n", "\r.\n", "\r.\n", STORE_ENV_BARE_CR | STORE_ENV_BARE_LF},
	    {"\\n.\\r\\n", "\n.\r\n", "\n.\r\n", STORE_ENV_BARE_LF},
	    {"\\r\\n.\\n", "\r\n.\n", "\r\n\n", STORE_ENV_BARE_LF},
	    {"\\r\\n.\\r", "\r\n.\r", "\r\n\r", STORE_ENV_BARE_CR},
	    {"\\n..\\n", "\n..\n", "\n..\n", STORE_ENV_BARE_LF},
	    {"\\r\\n\\x01.\\r\\n", "\r\n\x01.\r\n", "\r\n\x01.\r\n", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		client_t c;
		hello(&c, L_DEFAULT);
		uint64_t before = arrivals("default");
		const char *fake =
		    "MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\n"
		    "DATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n";
		buf_t wire = {0}, want = {0};
		buf_printf(&wire, "Subject: smuggle\r\n\r\nbefore%s%s.\r\nNOOP\r\n", cases[i].seq,
		           fake);
		buf_printf(&want, "Subject: smuggle\r\n\r\nbefore%s%s", cases[i].stored, fake);
		csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
		free(creply(&c));
		free(creply(&c));
		free(creply(&c));
		csend(&c, wire.data, wire.len);
		char what[64];
		snprintf(what, sizeof what, "smuggling %s", cases[i].name);
		char *ids = expect_stored(&c, what);
		uint32_t flags = 0;
		ok(ids && stored_equals(ids, want.data, want.len, &flags),
		   "%s: one message, bytes preserved", what);
		ok((flags & (STORE_ENV_BARE_LF | STORE_ENV_BARE_CR)) == cases[i].flags,
		   "%s: bare LF/CR flags in the envelope (%u)", what, flags);
		expect(&c, "250 2.0.0", "the NOOP after the real end is a command");
		is_int(arrivals("default"), before + 1, "exactly one message stored");
		free(ids);
		buf_free(&wire);
		buf_free(&want);
		client_close(&c);
	}
}

/* Sends a BDAT chunk: the command and its bytes in one write. */
static void bdat(client_t *c, const void *p, size_t n, bool last)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "BDAT %zu%s\r\n", n, last ? " LAST" : "");
	buf_t b = {0};
	buf_append_str(&b, cmd);
	buf_append(&b, p, n);
	csend(c, b.data, b.len);
	buf_free(&b);
}

static void test_bdat(void)
{
	client_t c;
	uint32_t flags = 0;
	hello(&c, L_DEFAULT);
	uint64_t before = arrivals("default");

	/* Several chunks, one boundary inside a CRLF, CRLF.CRLF and a fake
	 * transaction inside a chunk, all pipelined in one write. */
	const char part1[] = "Subject: chunks\r\n\r\nline one\r";
	const char part2[] = "\nline two\r\n.\r\nMAIL FROM:<evil@example.com>\r\n";
	const char part3[] = "RCPT TO:<victim@example.com>\r\nDATA\r\n";
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
	bdat(&c, part1, sizeof part1 - 1, false);
	bdat(&c, part2, sizeof part2 - 1, false);
	bdat(&c, part3, sizeof part3 - 1, true);
	csends(&c, "NOOP\r\n");
	expect(&c, "250 2.1.0", "BDAT: MAIL");
	expect(&c, "250 2.1.5", "BDAT: RCPT");
	expect(&c, "250 2.0.0 Chunk received: 28 octets", "first chunk");
	expect(&c, "250 2.0.0 Chunk received", "second chunk");
	char *ids = expect_stored(&c, "BDAT LAST");
	buf_t want = {0};
	buf_append_str(&want, part1);
	buf_append_str(&want, part2);
	buf_append_str(&want, part3);
	ok(ids && stored_equals(ids, want.data, want.len, &flags),
	   "chunks reassembled byte for byte, CRLF.CRLF inside a chunk is data");
	ok((flags & STORE_ENV_BDAT) && !(flags & (STORE_ENV_BARE_CR | STORE_ENV_BARE_LF)),
	   "envelope: BDAT, no bare CR across the chunk boundary (flags %u)", flags);
	buf_free(&want);
	free(ids);
	expect(&c, "250 2.0.0", "the NOOP after LAST is a command");
	is_int(arrivals("default"), before + 1, "one message from three chunks");

	/* BDAT 0 LAST ends a message; bare CR/LF flagged. */
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
	bdat(&c, "Subject: z\r\n\r\nbare\nlf and cr\r", 30, false);
	csends(&c, "BDAT 0 LAST\r\n");
	expect(&c, "250", "MAIL");
	expect(&c, "250", "RCPT");
	expect(&c, "250 2.0.0 Chunk received", "chunk ending in CR");
	ids = expect_stored(&c, "BDAT 0 LAST");
	ok(ids && stored_equals(ids, "Subject: z\r\n\r\nbare\nlf and cr\r", 30, &flags) &&
	       (flags & STORE_ENV_BARE_LF) && (flags & STORE_ENV_BARE_CR),
	   "BDAT 0 LAST: stored, bare LF and final bare CR flagged (%u)", flags);
	free(ids);

	/* MAIL, RCPT and DATA during BDAT: 503, the transaction goes on. */
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
	bdat(&c, "Subject: mid\r\n", 14, false);
	csends(&c, "MAIL FROM:<x@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n");
	bdat(&c, "\r\nbody\r\n", 8, true);
	expect(&c, "250", "MAIL");
	expect(&c, "250", "RCPT");
	expect(&c, "250 2.0.0 Chunk", "chunk");
	expect(&c, "503 5.5.1", "MAIL during BDAT");
	expect(&c, "503 5.5.1", "RCPT during BDAT");
	expect(&c, "503 5.5.1", "DATA during BDAT");
	ids = expect_stored(&c, "BDAT after the refused commands");
	ok(ids && stored_equals(ids, "Subject: mid\r\n\r\nbody\r\n", 22, NULL),
	   "the transaction survived MAIL/RCPT/DATA during BDAT");
	free(ids);

	/* Malformed sizes: 501, nothing consumed, the next line is a command. */
	const char *bad[] = {"BDAT",
	                     "BDAT -1",
	                     "BDAT 1x",
	                     "BDAT +5",
	                     "BDAT 1.5",
	                     "BDAT 123456789012345678901",
	                     "BDAT 99999999999999999999",
	                     "BDAT 10 NOTLAST",
	                     "BDAT 10 LAST x",
	                     "BDAT LAST"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char line[128];
		snprintf(line, sizeof line, "%s\r\nNOOP\r\n", bad[i]);
		csends(&c, line);
		snprintf(line, sizeof line, "malformed '%s'", bad[i]);
		expect(&c, "501 5.5.4", line);
		expect(&c, "250 2.0.0", "next line is a command");
	}

	/* Errors: the announced bytes are still read, then recovery. */
	csends(&c, "RSET\r\n");
	expect(&c, "250", "RSET");
	bdat(&c, "MAIL FROM:<evil@example.com>\r\n", 30, true);
	expect(&c, "503 5.5.1", "BDAT without MAIL: 503 after its bytes");
	csends(&c, "MAIL FROM:<a@example.com>\r\n");
	bdat(&c, "NOOP\r\n", 6, true);
	expect(&c, "250", "MAIL");
	expect(&c, "554 5.5.1", "BDAT without a recipient: 554, bytes read");
	csends(&c, "RCPT TO:<b@example.com>\r\n");
	expect(&c, "250", "RCPT still possible after the refused BDAT");
	/* 64K is the limit: a 70000-octet chunk is read and refused; the
	 * pipelined rest of the transaction gets 503, its bytes read too. */
	size_t big = 70000;
	char *blob = xmalloc(big);
	memset(blob, 'x', big);
	memcpy(blob, "RSET\r\n", 6);
	bdat(&c, blob, big, false);
	bdat(&c, "QUIT\r\n", 6, true);
	csends(&c, "NOOP\r\n");
	expect(&c, "552 5.3.4", "chunk over max_message_size: 552 after reading it");
	expect(&c, "503 5.5.1", "the next chunk of the failed transaction: 503");
	expect(&c, "250 2.0.0", "in step: NOOP answered");
	free(blob);
	uint64_t mid = arrivals("default");
	ids = send_message(&c, "a@example.com", "b@example.com", "Subject: after\r\n\r\n.\r\n", 21,
	                   "a DATA message after the BDAT errors");
	free(ids);
	is_int(arrivals("default"), mid + 1, "recovered");

	/* RSET between chunks drops the message; EOF inside a chunk too. */
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
	bdat(&c, "Subject: dropped\r\n", 18, false);
	csends(&c, "RSET\r\nBDAT 3 LAST\r\nabc");
	expect(&c, "250", "MAIL");
	expect(&c, "250", "RCPT");
	expect(&c, "250 2.0.0 Chunk", "chunk");
	expect(&c, "250 2.0.0", "RSET during BDAT");
	expect(&c, "503 5.5.1", "BDAT LAST after RSET: no transaction");
	uint64_t n0 = arrivals("default");
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 100 LAST\r\n"
	           "only part");
	expect(&c, "250", "MAIL");
	expect(&c, "250", "RCPT");
	client_close(&c);
	usleep(200000);
	is_int(arrivals("default"), n0, "nothing stored from an aborted or cut BDAT");
}

static void test_dot_stuffing(void)
{
	client_t c;
	hello(&c, L_DEFAULT);
	buf_t msg = {0}, wire = {0};
	buf_append_str(&msg, "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n");
	for (int i = 0; i < 998; i++)
		buf_append_byte(&msg, i == 0 ? '.' : (uint8_t)('a' + i % 26));
	buf_append_str(&msg, "\r\n8bit: \xc3\xa9\xff\r\nend\r\n");
	size_t ls = 0;
	for (size_t i = 0; i < msg.len; i++) {
		if (i == ls && msg.data[i] == '.')
			buf_append_byte(&wire, '.');
		buf_append_byte(&wire, msg.data[i]);
		if (msg.data[i] == '\n')
			ls = i + 1;
	}
	buf_append_str(&wire, ".\r\n");
	char *ids = send_message(&c, "a@example.com", "b@example.com", wire.data, wire.len,
	                         "dot-stuffed message");
	ok(ids && stored_equals(ids, msg.data, msg.len, NULL),
	   "dot-stuffing round trip of '.', '..', '.x', a 998-octet line and 8-bit bytes");
	free(ids);
	buf_free(&msg);
	buf_free(&wire);
	client_close(&c);
}

static void test_routing(void)
{
	client_t c;
	hello(&c, L_DEFAULT);
#define MSG2 "Subject: to counsel\r\n\r\nprivileged\r\n"
	const char msg[] = MSG2;
	char *ids = send_message(&c, "a@example.com", "counsel@example.com", MSG2 ".\r\n",
	                         sizeof msg - 1 + 3, "two archives");
	char id1[80] = "", id2[80] = "";
	if (ids)
		sscanf(ids, "%79s %79s", id1, id2);
	ok(!strncmp(id1, "default-", 8) && !strncmp(id2, "legal-", 6),
	   "both archives answer with an id (%s)", ids ? ids : "-");
	ok(stored_equals(id1, msg, sizeof msg - 1, NULL) &&
	       stored_equals(id2, msg, sizeof msg - 1, NULL),
	   "the same bytes in both archives");
	free(ids);

	/* Archives change: the next transaction routes with the new table. */
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<x@extra.example>\r\nRSET\r\n");
	expect(&c, "250", "MAIL");
	expect(&c, "550 5.1.1", "no archive for extra.example yet");
	expect(&c, "250", "RSET");
	atomic_store(&extra_route, 1);
	atomic_fetch_add(&app.archives_gen, 1);
	ids = send_message(&c, "a@example.com", "x@extra.example", MSG2 ".\r\n", sizeof msg - 1 + 3,
	                   "after archives_gen moved");
	ok(ids && !strncmp(ids, "extra-", 6), "routed to the new archive (%s)", ids ? ids : "-");
	free(ids);
	client_close(&c);

	/* A listener restricted to "legal". */
	hello(&c, L_LEGAL);
	csends(&c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRSET\r\n");
	expect(&c, "250", "MAIL");
	expect(&c, "550 5.1.1", "restricted listener: archive 'default' not fed");
	expect(&c, "250", "RSET");
	ids = send_message(&c, "a@example.com", "counsel@example.com", MSG2 ".\r\n",
	                   sizeof msg - 1 + 3, "restricted listener");
	ok(ids && !strncmp(ids, "legal-", 6) && !strchr(ids, ' '), "stored in 'legal' only (%s)",
	   ids ? ids : "-");
	free(ids);
	client_close(&c);
}

static void test_policy(void)
{
	client_t c, d, e;
	client_open(&c, L_DENIED);
	expect(&c, "554 5.7.1 test.vellum", "denied network: 554 greeting");
	csends(&c, "EHLO x\r\nMAIL FROM:<a@example.com>\r\n");
	expect(&c, "503 5.5.1", "only QUIT after 554 (EHLO)");
	expect(&c, "503 5.5.1", "only QUIT after 554 (MAIL)");
	csends(&c, "QUIT\r\n");
	expect(&c, "221", "QUIT after 554");
	client_close(&c);

	/* max_connections = 2 on "legal" */
	client_open(&c, L_LEGAL);
	expect(&c, "220", "first connection");
	client_open(&d, L_LEGAL);
	expect(&d, "220", "second connection");
	client_open(&e, L_LEGAL);
	expect(&e, "421 4.7.0", "third connection over max_connections");
	ok(at_eof(&e), "and closed");
	client_close(&e);
	client_close(&d);
	/* The server notices the close on its own time: retry for a while. */
	char *r = NULL;
	for (int i = 0; i < 50; i++) {
		usleep(100000);
		client_open(&e, L_LEGAL);
		r = creply(&e);
		if (r && !strncmp(r, "220", 3))
			break;
		free(r);
		r = NULL;
		client_close(&e);
	}
	ok(r != NULL, "a slot is free again once a client left");
	free(r);
	client_close(&e);
	client_close(&c);

	/* max_per_client = 2 on "perclient" */
	client_open(&c, L_PERCLIENT);
	expect(&c, "220", "first from this client");
	client_open(&d, L_PERCLIENT);
	expect(&d, "220", "second from this client");
	client_open(&e, L_PERCLIENT);
	expect(&e, "421 4.7.0", "third from the same address over max_per_client");
	client_close(&e);
	client_close(&d);
	client_close(&c);
}

typedef struct flood {
	client_t *c;
	int n;
} flood_t;

static void *flood_writer(void *arg)
{
	flood_t *f = arg;
	for (int i = 0; i < f->n; i++)
		csends(f->c, "NOOP\r\n");
	return NULL;
}

/* Many idle clients and one that pipelines without reading do not hold up
 * a normal client; the reader that finally reads gets every answer. */
static void test_concurrency(void)
{
	enum { IDLE = 50, NOOPS = 20000 };
	client_t idle[IDLE];
	for (int i = 0; i < IDLE; i++) {
		client_open(&idle[i], L_DEFAULT);
		free(creply(&idle[i]));
	}
	client_t slow, c;
	hello(&slow, L_DEFAULT);
	flood_t f = {&slow, NOOPS};
	pthread_t th;
	pthread_create(&th, NULL, flood_writer, &f);
	usleep(200000); /* the flood fills the slow reader's output */
	hello(&c, L_DEFAULT);
	char *ids = send_message(&c, "a@example.com", "b@example.com", "Subject: busy\r\n\r\n.\r\n",
	                         20, "message while 50 idle and one non-reading client wait");
	ok(ids && stored_equals(ids, "Subject: busy\r\n\r\n", 17, NULL), "stored byte-exact");
	free(ids);
	client_close(&c);
	int got = 0, other = 0;
	for (int i = 0; i < NOOPS; i++) {
		char *r = creply(&slow);
		if (!r) {
			diag("no reply after %d: %s", i, strerror(errno));
			break;
		}
		if (!strncmp(r, "250 2.0.0", 9))
			got++;
		else if (other++ < 3)
			diag("unexpected reply %d: %s", i, r);
		free(r);
	}
	pthread_join(th, NULL);
	is_int(got, NOOPS, "the non-reading client gets all %d answers once it reads", NOOPS);
	client_close(&slow);
	for (int i = 0; i < IDLE; i++)
		client_close(&idle[i]);
}

static void test_timeouts(void)
{
	client_t c;
	client_open(&c, L_SLOW);
	expect(&c, "220", "slow listener greeting");
	sleep(2);
	expect(&c, "421 4.4.2", "idle timeout (1s)");
	client_close(&c);

	/* A client that keeps talking is cut at session_timeout (3s). */
	client_open(&c, L_SLOW);
	free(creply(&c));
	bool cut = false;
	for (int i = 0; i < 12 && !cut; i++) {
		csends(&c, "NOOP\r\n");
		char *r = creply(&c);
		if (r && !strncmp(r, "421 4.4.2", 9))
			cut = true;
		free(r);
		usleep(500000);
	}
	ok(cut, "session timeout (3s) cuts a client that never idles");
	client_close(&c);
}

static void run_external(void)
{
	const char *dir = getenv("VELLUM_SRCDIR");
	(void)dir;
	char port[16];
	const char *colon = strrchr(addrs[L_DEFAULT], ':');
	snprintf(port, sizeof port, "%s", colon + 1);

	/* Python smtplib: several messages on one connection, RSET in between. */
	if (system("python3 -c 'import smtplib' 2>/dev/null") == 0) {
		char cmd[4096];
		snprintf(cmd, sizeof cmd,
		         "python3 - <<'EOF'\n"
		         "import smtplib\n"
		         "s = smtplib.SMTP('127.0.0.1', %s, timeout=10)\n"
		         "s.ehlo('py.test')\n"
		         "for i in range(3):\n"
		         "    s.mail('py@example.com')\n"
		         "    s.rcpt('b@example.com')\n"
		         "    if i == 1:\n"
		         "        s.rset()\n"
		         "        continue\n"
		         "    code, resp = s.data(b'Subject: py %%d\\r\\n\\r\\n.leading "
		         "dot\\r\\nline\\r\\n' %% i)\n"
		         "    print(code, resp.decode())\n"
		         "s.quit()\n"
		         "EOF\n",
		         port);
		FILE *p = popen(cmd, "r");
		char line[512];
		int stored = 0, good = 0;
		while (p && fgets(line, sizeof line, p)) {
			char *id = strstr(line, "Stored: ");
			if (!strncmp(line, "250", 3) && id) {
				stored++;
				id += 8;
				id[strcspn(id, "\r\n ")] = '\0';
				char want[128];
				int n = snprintf(want, sizeof want,
				                 "Subject: py %d\r\n\r\n.leading dot\r\nline\r\n",
				                 stored == 1 ? 0 : 2);
				good += stored_equals(id, want, (size_t)n, NULL);
			}
		}
		if (p)
			pclose(p);
		ok(stored == 2 && good == 2,
		   "smtplib: 2 messages stored byte-exact, RSET one not (%d/%d)", stored, good);
	} else {
		ok(1, "# SKIP python3 not available");
	}

	/* swaks with --pipeline */
	if (system("swaks --version >/dev/null 2>&1") == 0) {
		char *tmp = tap_tmpdir("swaks");
		char *file = util_path_join(tmp, "msg.eml");
		/* swaks always ends the data with its own CRLF before ".": what
		 * it transports is the file plus "\r\n". */
		const char body[] = "From: swaks@example.com\r\nTo: b@example.com\r\n"
		                    "Subject: swaks test\r\n\r\nSent by swaks.\r\n..dot\r\n\r\n";
		util_write_file_atomic(file, body, sizeof body - 3, 0600);
		char cmd[4096];
		snprintf(
		    cmd, sizeof cmd,
		    "swaks --server 127.0.0.1 --port %s --ehlo swaks.test --from swaks@example.com "
		    "--to b@example.com --pipeline --data @%s 2>&1",
		    port, file);
		FILE *p = popen(cmd, "r");
		char line[512];
		char id[128] = "";
		while (p && fgets(line, sizeof line, p)) {
			char *s = strstr(line, "250 2.0.0 Stored: ");
			if (s) {
				snprintf(id, sizeof id, "%s", s + 18);
				id[strcspn(id, "\r\n ")] = '\0';
			}
		}
		if (p)
			pclose(p);
		ok(id[0] && stored_equals(id, body, sizeof body - 1, NULL),
		   "swaks --pipeline: stored byte-exact (%s)", id);
		tap_rmtree(tmp);
		free(file);
		free(tmp);
	} else {
		ok(1, "# SKIP swaks not available");
	}
}

static void test_metrics(void)
{
	buf_t b = {0};
	metrics_render(app.metrics, &b);
	buf_append_byte(&b, 0);
	const char *t = (const char *)b.data;
	ok(strstr(t, "vellum_smtp_messages_total{listener=\"default\",code=\"250\"}") != NULL,
	   "messages by listener and reply code");
	ok(strstr(t, "vellum_smtp_messages_total{listener=\"default\",code=\"552\"}") != NULL,
	   "refused messages counted by code");
	ok(strstr(t, "vellum_smtp_sessions_total{listener=\"default\"}") != NULL, "sessions");
	ok(strstr(t, "vellum_smtp_bytes_received_total{listener=\"default\"}") != NULL, "bytes in");
	ok(strstr(t, "vellum_smtp_archive_messages_total{listener=\"default\",archive=\"legal\","
	             "code=\"250\"}") != NULL,
	   "messages accepted by listener and archive");
	ok(strstr(t, "vellum_smtp_archive_messages_total{listener=\"default\",archive="
	             "\"default\",code=\"552\"}") != NULL,
	   "messages rejected by listener, archive and code");
	ok(strstr(t, "vellum_smtp_archive_last_received_seconds{listener=\"default\",archive="
	             "\"default\"}") != NULL &&
	       strstr(t, "vellum_smtp_last_received_seconds{listener=\"default\"}") != NULL,
	   "last received per listener and per listener and archive");
	smtp_feed_info_t *feeds;
	size_t nf = smtp_server_feeds(server, &feeds);
	bool found = false;
	for (size_t i = 0; i < nf; i++)
		if (!strcmp(feeds[i].listener, "legal") && !strcmp(feeds[i].archive, "legal"))
			found = feeds[i].accepted >= 1 && feeds[i].last_received > 0;
	ok(found, "smtp_server_feeds reports listener 'legal' -> archive 'legal' (%zu feeds)", nf);
	smtp_feed_info_free(feeds, nf);
	ok(smtp_server_last_received(server, "default") > 0 &&
	       smtp_server_last_received(server, "nope") == -1,
	   "smtp_server_last_received");
	ok(strstr(t, "vellum_smtp_envelope_refused_total{listener=\"default\",code=\"550\"}") !=
	       NULL,
	   "refused recipients by code");
	ok(strstr(t, "vellum_smtp_connections_refused_total{listener=\"legal\",code=\"421\"} 1") !=
	       NULL,
	   "connections refused at max_connections");
	ok(strstr(t, "vellum_smtp_connections_refused_total{listener=\"denied\",code=\"554\"} 1") !=
	       NULL,
	   "connections from a denied network");
	buf_free(&b);
}

static void test_shutdown(pthread_t th)
{
	client_t c, d;
	hello(&c, L_DEFAULT);
	hello(&d, L_DEFAULT);
	csends(&d, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
	free(creply(&d));
	free(creply(&d));
	free(creply(&d));
	csends(&d, "Subject: half\r\n\r\n");
	usleep(100000);
	uint64_t before = arrivals("default");
	smtp_server_stop(server);
	expect(&c, "421 4.3.2", "idle session told 421 on shutdown");
	expect(&d, "421 4.3.2", "session inside DATA told 421 on shutdown");
	pthread_join(th, NULL);
	is_int(arrivals("default"), before, "the half message is not stored");
	client_t e;
	ok(!client_open(&e, L_DEFAULT), "listener closed after stop");
	client_close(&e);
	client_close(&c);
	client_close(&d);
}

/* ---- set-up ---- */

static int routes_cb(void *arg, ingest_archive_list_t *out)
{
	const config_t *cfg = arg;
	for (size_t i = 0; i < cfg->narchives; i++)
		ingest_archive_list_add(out, cfg->archives[i].name,
		                        (const char *const *)cfg->archives[i].addresses,
		                        cfg->archives[i].naddresses);
	if (atomic_load(&extra_route)) {
		const char *x[] = {"*@extra.example"};
		ingest_archive_list_add(out, "extra", x, 1);
	}
	return 0;
}

static void *run_thread(void *arg)
{
	(void)arg;
	smtp_server_run(server);
	return NULL;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!getenv("VELLUM_LOG_LEVEL"))
		log_set_level(LOG_LEVEL_WARN);
	if (sodium_init() < 0)
		return 1;
	char *tmp = tap_tmpdir("smtp");
	buf_t conf = {0};
	buf_printf(&conf,
	           "[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\nmin_free = 0\n"
	           "[smtp]\nlisten = 127.0.0.1:0\nhostname = test.vellum\nmax_message_size = 64K\n"
	           "max_recipients = 3\n"
	           "[listener \"legal\"]\nlisten = 127.0.0.1:0\nhostname = test.vellum\n"
	           "archives = legal\nmax_connections = 2\n"
	           "[listener \"denied\"]\nlisten = 127.0.0.1:0\nhostname = test.vellum\n"
	           "allow_clients = 10.0.0.0/8\n"
	           "[listener \"perclient\"]\nlisten = 127.0.0.1:0\nmax_per_client = 2\n"
	           "[listener \"slow\"]\nlisten = 127.0.0.1:0\nidle_timeout = 1s\n"
	           "session_timeout = 3s\n"
	           "[archive \"default\"]\naddresses = *@example.com\n"
	           "[archive \"legal\"]\naddresses = *@legal.example counsel@example.com\n",
	           tmp, tmp);
	config_t *cfg;
	char *err = NULL;
	if (config_load_string((char *)conf.data, conf.len, "test.conf", tmp, &cfg, &err) !=
	    CONFIG_OK) {
		printf("Bail out! config: %s\n", err);
		return 1;
	}
	buf_free(&conf);
	char *data = util_path_join(tmp, "data");
	util_mkdir_p(data, 0700);
	free(data);
	store_t *store = NULL;
	if (store_init_keys(cfg) != STORE_OK || store_open(cfg, NULL, &store) != STORE_OK ||
	    store_archive_create(store, "default") != STORE_OK ||
	    store_archive_create(store, "legal") != STORE_OK ||
	    store_archive_create(store, "extra") != STORE_OK) {
		printf("Bail out! cannot open a store in %s\n", tmp);
		return 1;
	}
	app.cfg = cfg;
	app.store = store;
	app.metrics = metrics_new();
	app.lock_fd = -1;

	smtp_opts_t opts = {.archives = routes_cb, .archives_arg = cfg};
	smtp_status_t st = smtp_server_new(&app, &opts, &server);
	ok(st == SMTP_OK, "server binds %zu listeners (%s)", cfg->nlisteners, smtp_strerror(st));
	if (st != SMTP_OK)
		return tap_done();
	is_int(smtp_server_listener_count(server), 5, "five listeners");
	for (size_t i = 0; i < smtp_server_listener_count(server); i++)
		smtp_server_addr(server, i, addrs[i], sizeof addrs[i]);
	ok(!strncmp(addrs[0], "127.0.0.1:", 10) && strcmp(addrs[0], "127.0.0.1:0") &&
	       !strcmp(smtp_server_listener_name(server, 0), "default"),
	   "bound address of 'default' with a real port (%s)", addrs[0]);

	/* A second server on the same port fails clearly. */
	config_t *cfg2;
	char conf2[256];
	snprintf(conf2, sizeof conf2, "[storage]\ndata_dir = %s/data\n[smtp]\nlisten = %s\n", tmp,
	         addrs[0]);
	config_load_string(conf2, strlen(conf2), "dup.conf", tmp, &cfg2, &err);
	app_t app2 = {.cfg = cfg2, .store = store};
	smtp_server_t *dup = NULL;
	log_set_level(LOG_LEVEL_OFF);
	ok(smtp_server_new(&app2, NULL, &dup) == SMTP_EBIND && !dup, "port in use: SMTP_EBIND");
	log_set_level(getenv("VELLUM_LOG_LEVEL") ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	config_free(cfg2);

	pthread_t th;
	pthread_create(&th, NULL, run_thread, NULL);
	test_basics();
	test_sequence();
	test_pipelining();
	test_data_limits();
	test_smuggling();
	test_bdat();
	test_dot_stuffing();
	test_routing();
	test_policy();
	test_concurrency();
	test_timeouts();
	run_external();
	test_metrics();
	test_shutdown(th);

	smtp_server_free(server);
	store_close(store);
	metrics_free(app.metrics);
	config_free(cfg);
	tap_rmtree(tmp);
	free(tmp);
	return tap_done();
}
