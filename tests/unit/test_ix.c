/* test_ix.c — the index through its C API, on real Xapian shards in a temp
 * dir: corpus messages parsed and indexed, then found by words, phrases,
 * fields, ranges; sort orders, paging, archive restriction, query errors,
 * visibility of new commits, duplicates, checkpoints and resume points. */
#include "config.h"

#include <string.h>

#include "indexer_private.h"
#include "ix_private.h"
#include "tap.h"
#include "vellum/ix.h"
#include "vellum/mime.h"

static int64_t utc(const char *s)
{
	int64_t us = 0;
	if (util_time_parse(s, &us) != UTIL_OK) {
		printf("Bail out! bad time %s\n", s);
		exit(1);
	}
	return us;
}

/* Parses a corpus file and indexes it with the given envelope. */
static void put_file(ix_writer_t *w, const char *file, const char *archive, uint64_t seq,
                     const char *received, const char *mail_from, const char *rcpt)
{
	const char *src = getenv("VELLUM_SRCDIR");
	char *path = xasprintf("%s/tests/corpus/%s", src ? src : ".", file);
	buf_t raw = {0};
	if (util_read_file(path, 1 << 20, &raw) != UTIL_OK) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	mime_msg_t *m = NULL;
	mime_parse(raw.data, raw.len, NULL, &m);
	const char *rcpts[] = {rcpt};
	indexer_env_t env = {.archive = archive,
	                     .seq = seq,
	                     .record_seq = seq * 10,
	                     .received = utc(received),
	                     .size = raw.len,
	                     .mail_from = mail_from,
	                     .rcpt = rcpts,
	                     .nrcpt = rcpt ? 1 : 0};
	indexer_doc_t d;
	indexer_doc_build(&d, &env, mime_msg_info(m), 0);
	char *err = NULL;
	ix_status_t st = ix_writer_put(w, &d.doc, &err);
	if (st != IX_OK) {
		printf("Bail out! ix_writer_put %s: %s\n", file, err);
		exit(1);
	}
	indexer_doc_free(&d);
	mime_msg_free(m);
	buf_free(&raw);
	free(path);
}

/* A minimal document without a message behind it. */
static void put_plain(ix_writer_t *w, const char *archive, uint64_t seq, int64_t received,
                      const char *subject, const char *from_addr)
{
	ix_addr_t from = {NULL, from_addr};
	ix_doc_t d = {.archive = archive,
	              .seq = seq,
	              .record_seq = seq,
	              .date = received,
	              .received = received,
	              .size = 100,
	              .subject = subject};
	d.addrs[IX_ADDR_FROM] = &from;
	d.naddrs[IX_ADDR_FROM] = from_addr ? 1 : 0;
	char *err = NULL;
	if (ix_writer_put(w, &d, &err) != IX_OK) {
		printf("Bail out! put %s-%llu: %s\n", archive, (unsigned long long)seq, err);
		exit(1);
	}
}

static void commit(ix_writer_t *w, const char *archive, uint64_t from, uint64_t done)
{
	char *err = NULL;
	if (ix_writer_commit(w, archive, from, done, &err) != IX_OK) {
		printf("Bail out! commit: %s\n", err);
		exit(1);
	}
}

static ix_t *ix;

/* Runs a query over all archives (or `archive`) and returns the ids joined
 * by spaces in result order (caller frees), or "ERR: message". */
static char *ids_opts(const char *q, const ix_search_opts_t *o, ix_result_t **keep)
{
	ix_result_t *r = NULL;
	char *err = NULL;
	ix_status_t st = ix_search(ix, q, o, &r, &err);
	if (st != IX_OK) {
		char *s = xasprintf("ERR %s: %s", ix_strerror(st), err ? err : "");
		free(err);
		return s;
	}
	buf_t b = {0};
	for (size_t i = 0; i < r->nhits; i++)
		buf_printf(&b, "%s%s", i ? " " : "", r->hits[i].id);
	if (keep)
		*keep = r;
	else
		ix_result_free(r);
	return b.data ? buf_steal(&b) : xstrdup("");
}

static char *ids_sorted(const char *q, ix_sort_t sort)
{
	ix_search_opts_t o = {.all_archives = true, .limit = 100, .sort = sort};
	return ids_opts(q, &o, NULL);
}

static char *ids(const char *q)
{
	return ids_sorted(q, IX_SORT_DATE_ASC);
}

#define finds(q, want)                       \
	do {                                 \
		char *got_ = ids(q);         \
		is_str(got_, want, "%s", q); \
		free(got_);                  \
	} while (0)

static void query_error(const char *q, const char *want_part)
{
	char *got = ids(q);
	ok(!strncmp(got, "ERR query does not parse: ", 26) && strstr(got, want_part),
	   "bad query %s -> %s", q, got);
	free(got);
}

static void index_corpus(ix_writer_t *w)
{
	put_file(w, "alternative.eml", "alpha", 1, "2024-03-04T09:20:00Z", "alice@example.com",
	         "journal-bob@example.org");
	put_file(w, "rfc2047.eml", "alpha", 2, "2024-03-05T19:31:00Z", "andre@example.de", NULL);
	put_file(w, "html-only.eml", "alpha", 3, "2024-03-07T12:01:00Z", "bounce@shop.example",
	         NULL);
	put_file(w, "forwarded.eml", "alpha", 4, "2024-04-08T09:00:00Z", "erin@example.com", NULL);
	put_file(w, "broken.eml", "alpha", 5, "2024-02-10T08:00:00Z", "mallory@example.com", NULL);
	put_file(w, "garbage.eml", "alpha", 6, "2024-04-01T00:00:00Z", "weird@sender.example",
	         "auditor@example.org");
	put_file(w, "nodate.eml", "beta", 1, "2024-03-10T10:00:00Z", "heidi@example.com", NULL);
	commit(w, "alpha", 0, 60);
	commit(w, "beta", 0, 10);
}

static void test_words_and_fields(void)
{
	finds("budget", "alpha-1");
	finds("Budget", "alpha-1");
	finds("\"quarterly budget\"", "alpha-1");
	finds("\"budget quarterly\"", "");
	finds("budg*", "alpha-1");
	finds("subject:quarterly", "alpha-1");
	finds("subject:marketing", "");
	finds("subject:\"quarterly budget\"", "alpha-1");
	finds("subject:\"budget quarterly\"", "");
	finds("body:marketing", "alpha-1");
	finds("Is:Unparsed", "alpha-6");
	finds("marketing", "alpha-1");
	finds("tracker", "");
	finds("htmlonlysecret", "");
	finds("cr\xc3\xa8me", "alpha-2 alpha-3");
	finds("m\xc3\xbcnchen", "alpha-2");
	finds("zebrafish", "alpha-5");
	finds("indemnity", "alpha-4");
	finds("\xe4\xb8\xad\xe6\x96\x87", "alpha-3");
	finds("from:alice@example.com", "alpha-1");
	finds("from:Alice@Example.COM", "alpha-1");
	finds("From:alice", "alpha-1");
	finds("from:\"Alice Liddell\"", "alpha-1");
	finds("from:\"Liddell Alice\"", "");
	finds("from:ali*", "alpha-1");
	finds("from:@example.de", "alpha-2");
	finds("from:example.de", "alpha-2");
	finds("from:Andr\xc3\xa9", "alpha-2");
	finds("to:carol@example.net", "alpha-1");
	finds("to:journal-bob@example.org", "alpha-1");
	finds("bcc:journal-bob@example.org", "alpha-1");
	finds("cc:dave@audit.example.com", "alpha-1");
	finds("cc:example.com", "alpha-1");
	finds("cc:carol@example.net", "");
	finds("participant:carol@example.net", "alpha-1");
	finds("to:auditor@example.org", "alpha-6");
	finds("is:unparsed", "alpha-6");
	finds("is:nodate", "alpha-5 beta-1 alpha-6");
	finds("has:attachment", "alpha-1 alpha-4");
	finds("filename:budget", "alpha-1");
	finds("message-id:budget-2024-q1@example.com", "alpha-1");
	finds("message-id:<budget-2024-q1@example.com>", "alpha-1");
	finds("archive:beta", "beta-1");
	finds("size:>1K", "alpha-1");
	finds("size:<100", "alpha-6");
}

static void test_boolean_and_ranges(void)
{
	finds("budget OR indemnity", "alpha-1 alpha-4");
	finds("budget indemnity", "");
	finds("budget AND NOT marketing", "");
	finds("(budget OR indemnity) -clause", "alpha-1");
	finds("NOT archive:alpha", "beta-1");
	finds("-archive:alpha", "beta-1");
	finds("-archive:alpha -is:nodate", "");
	finds("from:alice from:bob", "");
	finds("date:2024-03", "alpha-1 alpha-2 alpha-3 alpha-4 beta-1");
	finds("date:2024-03-04..2024-03-05", "alpha-1 alpha-2");
	finds("date:2024-03-06..", "alpha-3 alpha-4 beta-1 alpha-6");
	finds("date:..2024-02", "alpha-5");
	finds("after:2024-03-08 before:2024-04-02", "alpha-4 beta-1 alpha-6");
	finds("after:2024-03-09 before:2024-04-01", "beta-1");
	finds("before:2024-03-01", "alpha-5");
	finds("received:2024-04", "alpha-4 alpha-6");
	finds("received:2024/04/08", "alpha-4");
	finds("received:2024-03-04T09:20", "alpha-1");
	finds("received:2024-03-04T09:21", "");
	finds("date:2023", "");
	finds("*", "alpha-5 alpha-1 alpha-2 alpha-3 alpha-4 beta-1 alpha-6");
	finds("", "alpha-5 alpha-1 alpha-2 alpha-3 alpha-4 beta-1 alpha-6");
}

static void test_hit_fields(void)
{
	ix_result_t *r = NULL;
	ix_search_opts_t o = {.all_archives = true};
	char *got = ids_opts("budget", &o, &r);
	free(got);
	ok(r && r->nhits == 1, "one hit for budget");
	if (!r || r->nhits != 1)
		return;
	const ix_hit_t *h = &r->hits[0];
	is_str(h->id, "alpha-1", "id");
	is_str(h->archive, "alpha", "archive");
	is_int(h->seq, 1, "seq");
	is_int(h->record_seq, 10, "record locator");
	is_int(h->date, utc("2024-03-04T09:15:00Z"), "date from the header");
	is_int(h->received, utc("2024-03-04T09:20:00Z"), "received");
	is_str(h->from, "Alice Liddell <alice@example.com>", "from");
	is_str(h->to, "Bob Builder <bob@example.org>, carol@example.net", "to");
	is_str(h->subject, "Quarterly budget review", "subject");
	ok(!strncmp(h->snippet, "Hi Bob, Please find the quarterly budget attached.", 50),
	   "snippet: the start of the body, white space collapsed");
	ok(strlen(h->snippet) <= IX_SNIPPET_MAX, "snippet within IX_SNIPPET_MAX");
	is_int(h->attachment_count, 1, "attachment_count");
	ok(h->size > 1000, "size");
	is_int(h->flags, 0, "no flags");
	is_int(r->total, 1, "total");
	ok(r->total_exact, "total exact");
	ix_result_free(r);

	o.archives = (const char *[]){"alpha"};
	o.narchives = 1;
	o.all_archives = false;
	got = ids_opts("zebrafish", &o, &r);
	free(got);
	ok(r->nhits == 1 && (r->hits[0].flags & IX_F_NO_DATE) &&
	       r->hits[0].date == utc("2024-02-10T08:00:00Z"),
	   "no Date: dated by received time, flagged");
	ix_result_free(r);
	got = ids_opts("is:unparsed", &o, &r);
	free(got);
	ok(r->nhits == 1 && (r->hits[0].flags & IX_F_UNPARSED) &&
	       !strcmp(r->hits[0].from, "weird@sender.example") &&
	       !strcmp(r->hits[0].to, "auditor@example.org"),
	   "unparseable mail: listed with its envelope");
	ix_result_free(r);
}

static void test_sort_and_paging(void)
{
	char *s;
	s = ids_sorted("*", IX_SORT_DATE_DESC);
	is_str(s, "alpha-6 beta-1 alpha-4 alpha-3 alpha-2 alpha-1 alpha-5", "-date: newest first");
	free(s);
	s = ids_sorted("*", IX_SORT_RECEIVED_ASC);
	is_str(s, "alpha-5 alpha-1 alpha-2 alpha-3 beta-1 alpha-6 alpha-4", "received ascending");
	free(s);
	s = ids_sorted("*", IX_SORT_RECEIVED_DESC);
	is_str(s, "alpha-4 alpha-6 beta-1 alpha-3 alpha-2 alpha-1 alpha-5", "-received");
	free(s);
	s = ids_sorted("budget OR indemnity OR clause", IX_SORT_RELEVANCE);
	ok(!strncmp(s, "alpha-4", 7), "relevance: the message with both words first (%s)", s);
	free(s);

	ix_sort_t so;
	ok(ix_sort_parse(NULL, &so) && so == IX_SORT_DATE_DESC, "default sort is -date");
	ok(ix_sort_parse("received", &so) && so == IX_SORT_RECEIVED_ASC, "sort received");
	ok(!ix_sort_parse("size", &so), "unknown sort refused");

	/* Pages of 2 reach every match, in order, with the same total. */
	buf_t all = {0};
	for (uint64_t off = 0; off < 10; off += 2) {
		ix_result_t *r = NULL;
		ix_search_opts_t o = {.all_archives = true, .offset = off, .limit = 2};
		char *page = ids_opts("*", &o, &r);
		if (*page)
			buf_printf(&all, "%s%s", all.len ? " " : "", page);
		ok(r && r->total == 7 && r->total_exact && r->offset == off,
		   "page at %llu: total 7, exact", (unsigned long long)off);
		ix_result_free(r);
		free(page);
	}
	buf_append_byte(&all, 0);
	is_str((char *)all.data, "alpha-6 beta-1 alpha-4 alpha-3 alpha-2 alpha-1 alpha-5",
	       "pages joined = the whole list");
	buf_free(&all);

	ix_search_opts_t big = {.all_archives = true, .limit = 100000};
	ix_result_t *r = NULL;
	free(ids_opts("*", &big, &r));
	ok(r->nhits == 7, "limit above IX_LIMIT_MAX is capped, not refused");
	ix_result_free(r);
}

static void test_archive_restriction(void)
{
	ix_search_opts_t none = {0};
	char *s = ids_opts("*", &none, NULL);
	is_str(s, "", "zero-value options see no archive");
	free(s);
	ix_search_opts_t beta = {.archives = (const char *[]){"beta"}, .narchives = 1};
	s = ids_opts("*", &beta, NULL);
	is_str(s, "beta-1", "beta only");
	free(s);
	s = ids_opts("budget", &beta, NULL);
	is_str(s, "", "alpha's mail invisible to a beta-only caller");
	free(s);
	s = ids_opts("archive:alpha", &beta, NULL);
	is_str(s, "", "archive: cannot widen the caller's archives");
	free(s);
	ix_search_opts_t twice = {.archives = (const char *[]){"beta", "beta"}, .narchives = 2};
	s = ids_opts("*", &twice, NULL);
	is_str(s, "beta-1", "an archive listed twice counts once");
	free(s);
	ix_search_opts_t unknown = {.archives = (const char *[]){"gamma"}, .narchives = 1};
	s = ids_opts("*", &unknown, NULL);
	is_str(s, "", "an archive without shards: no results");
	free(s);
	ix_search_opts_t bad = {.archives = (const char *[]){"../alpha"}, .narchives = 1};
	s = ids_opts("*", &bad, NULL);
	ok(!strncmp(s, "ERR invalid argument", 20), "a path as archive name refused: %s", s);
	free(s);
}

static void test_query_errors(void)
{
	query_error("(budget", "'(' is never closed at column 1");
	query_error("budget AND (x OR y", "at column 12");
	query_error("budget)", "')' without '(' at column 7");
	query_error("budget AND", "query ends with an operator");
	query_error("OR budget", "'OR' needs a term before it at column 1");
	query_error("\"quarterly budget", "unterminated quote at column 1");
	query_error("frm:alice", "unknown field 'frm'");
	query_error("from:", "'from:' needs a value");
	query_error("from:(a b)", "not supported");
	query_error("date:yesterdayish", "date: cannot read 'yesterdayish' as a time");
	query_error("date:2024-13", "cannot read '2024-13'");
	query_error("date:2024-02-30", "cannot read");
	query_error("after:2024..2025", "take one time");
	query_error("size:>lots", "size: cannot read");
	query_error("is:starred", "unknown is:starred (known: is:journal");
	query_error("has:pdf", "unknown has:pdf");
	query_error("budget OR -clause", "after an operator");
	query_error("()", "empty parentheses");
	query_error("* budget", "'*' alone");
	query_error("\xff\xfe", "not valid UTF-8");
	query_error("- budget", "'-' must be followed by a term");
	char *s = ids("re: m\xc3\xbcnchen");
	is_str(s, "alpha-2", "a word ending in ':' is a word, not a field");
	free(s);
	/* Column counts characters, not bytes. */
	query_error("caf\xc3\xa9 (x", "at column 6");
	buf_t huge = {0};
	while (huge.len <= IX_QUERY_MAX)
		buf_append_str(&huge, "word ");
	query_error((const char *)huge.data, "longer than");
	buf_free(&huge);
	buf_t deep = {0};
	for (int i = 0; i < 40; i++)
		buf_append_byte(&deep, '(');
	buf_append_str(&deep, "x");
	for (int i = 0; i < 40; i++)
		buf_append_byte(&deep, ')');
	query_error((const char *)deep.data, "nested too deeply");
	buf_free(&deep);
}

static void test_time_values(void)
{
	int64_t lo, hi, now = utc("2024-06-15T12:00:00Z");
	char *err = NULL;
	ok(ixq_time_range(IXQ_F_RECEIVED, "24h", now, &lo, &hi, &err) &&
	       lo == utc("2024-06-14T12:00:00Z") && hi == INT64_MAX,
	   "received:24h = the last 24 hours");
	ok(ixq_time_range(IXQ_F_DATE, "2024", now, &lo, &hi, &err) && lo == utc("2024-01-01") &&
	       hi == utc("2025-01-01") - 1,
	   "a year");
	ok(ixq_time_range(IXQ_F_DATE, "2024-02", now, &lo, &hi, &err) && lo == utc("2024-02-01") &&
	       hi == utc("2024-03-01") - 1,
	   "a month (leap February)");
	ok(ixq_time_range(IXQ_F_DATE, "7d..1d", now, &lo, &hi, &err) &&
	       lo == utc("2024-06-08T12:00:00Z") && hi == utc("2024-06-14T12:00:00Z"),
	   "relative range");
	ok(ixq_time_range(IXQ_F_DATE, "1mo", now, &lo, &hi, &err) &&
	       lo == utc("2024-05-15T12:00:00Z"),
	   "calendar month back");
	ok(!ixq_time_range(IXQ_F_DATE, "12", now, &lo, &hi, &err), "a bare number is refused");
	free(err);
	err = NULL;
	ok(!ixq_time_range(IXQ_F_DATE, "..", now, &lo, &hi, &err), "an empty range is refused");
	free(err);
	uint64_t slo, shi;
	err = NULL;
	ok(ixq_size_range(">=1M", &slo, &shi, &err) && slo == 1u << 20 && shi == UINT64_MAX,
	   ">=1M");
	ok(ixq_size_range("10K..20K", &slo, &shi, &err) && slo == 10240 && shi == 20480,
	   "10K..20K");
	ok(!ixq_size_range("<0", &slo, &shi, &err), "<0 refused");
	free(err);
}

/* New commits are visible to the next search of an open ix_t; uncommitted
 * changes are not; re-putting a document replaces it. */
static void test_visibility(ix_writer_t *w)
{
	put_plain(w, "alpha", 7, utc("2024-04-20T00:00:00Z"), "platypus sighting",
	          "zoo@example.com");
	finds("platypus", "");
	commit(w, "alpha", 60, 70);
	finds("platypus", "alpha-7");
	put_plain(w, "alpha", 7, utc("2024-04-20T00:00:00Z"), "echidna sighting",
	          "zoo@example.com");
	commit(w, "alpha", 70, 71);
	finds("platypus", "");
	finds("echidna", "alpha-7");
	ix_result_t *r = NULL;
	ix_search_opts_t o = {.all_archives = true};
	free(ids_opts("*", &o, &r));
	is_int(r->total, 8, "re-put replaced, not added");
	ix_result_free(r);

	/* received:24h against the real clock. */
	put_plain(w, "alpha", 8, util_now() - 3600 * UTIL_US_PER_SEC, "recent", NULL);
	commit(w, "alpha", 71, 72);
	finds("received:24h", "alpha-8");
	finds("received:30min", "");
	finds("date:2h..", "alpha-8");

	/* A later arrival adds its envelope recipients. */
	char *err = NULL;
	const char *late[] = {"late-rcpt@example.org"};
	ok(ix_writer_add_arrival(w, "alpha", 3, utc("2024-03-07T12:01:00Z"), late, 1, &err) ==
	       IX_OK,
	   "arrival added");
	commit(w, "alpha", 72, 73);
	finds("to:late-rcpt@example.org", "alpha-3");
	finds("Spring", "alpha-3");
	ok(ix_writer_add_arrival(w, "alpha", 99, utc("2024-03-07T12:01:00Z"), late, 1, &err) ==
	       IX_ENOTFOUND,
	   "arrival of an unknown message: ENOTFOUND");
	free(err);
	err = NULL;
	ok(ix_writer_add_arrival(w, "alpha", 3, utc("2019-01-01"), late, 1, &err) == IX_ENOTFOUND,
	   "arrival in a month without a shard: ENOTFOUND, no shard created");
	free(err);

	/* The first arrival and a duplicate in the same uncommitted batch. */
	put_plain(w, "alpha", 20, utc("2024-04-25T00:00:00Z"), "same batch", NULL);
	const char *dup[] = {"dup-rcpt@example.org"};
	ok(ix_writer_add_arrival(w, "alpha", 20, utc("2024-04-25T00:00:00Z"), dup, 1, &err) ==
	       IX_OK,
	   "arrival of a message put in the same batch");
	commit(w, "alpha", 72, 73);
	finds("to:dup-rcpt@example.org", "alpha-20");

	/* A long address is cut the same way when indexed and when searched. */
	buf_t longaddr = {0};
	for (int i = 0; i < 300; i++)
		buf_append_byte(&longaddr, 'x');
	buf_append_str(&longaddr, "@example.com");
	put_plain(w, "alpha", 9, utc("2024-04-21T00:00:00Z"), "long sender", (char *)longaddr.data);
	commit(w, "alpha", 73, 74);
	char *q = xasprintf("from:%s", (char *)longaddr.data);
	finds(q, "alpha-9");
	free(q);
	buf_free(&longaddr);
}

/* Result-list fields stay bounded and valid UTF-8 whatever arrived. */
static void test_display_fields(ix_writer_t *w)
{
	buf_t raw = {0};
	buf_append_str(&raw, "From: x@example.com\nSubject: ");
	for (int i = 0; i < 500; i++)
		buf_append_str(&raw, "longsubject ");
	buf_append_str(&raw, "lastword\n\nbody\n");
	mime_msg_t *m = NULL;
	mime_parse(raw.data, raw.len, NULL, &m);
	const char *rcpt[] = {"r\xff@example.org"};
	indexer_env_t env = {.archive = "gamma",
	                     .seq = 1,
	                     .received = utc("2024-05-01"),
	                     .size = raw.len,
	                     .mail_from = "s\xfe@example.org",
	                     .rcpt = rcpt,
	                     .nrcpt = 1};
	indexer_doc_t d;
	indexer_doc_build(&d, &env, mime_msg_info(m), 0);
	char *err = NULL;
	ok(ix_writer_put(w, &d.doc, &err) == IX_OK, "long subject indexed");
	indexer_doc_free(&d);
	mime_msg_free(m);
	indexer_doc_build(&d, &env, NULL, 0);
	d.doc.seq = 2;
	ok(ix_writer_put(w, &d.doc, &err) == IX_OK, "envelope-only with 8-bit envelope indexed");
	indexer_doc_free(&d);
	commit(w, "gamma", 0, 2);
	buf_free(&raw);

	ix_result_t *r = NULL;
	ix_search_opts_t o = {
	    .archives = (const char *[]){"gamma"}, .narchives = 1, .sort = IX_SORT_DATE_ASC};
	free(ids_opts("lastword", &o, &r));
	ok(r && r->nhits == 1, "the last word of a long subject is indexed");
	if (r && r->nhits == 1) {
		size_t n = strlen(r->hits[0].subject);
		ok(n <= IX_SUBJECT_DISPLAY_MAX && !strcmp(r->hits[0].subject + n - 3, "..."),
		   "result-list subject cut at IX_SUBJECT_DISPLAY_MAX and marked");
	}
	ix_result_free(r);
	free(ids_opts("is:unparsed", &o, &r));
	ok(r && r->nhits == 1 && !strcmp(r->hits[0].from, "s?@example.org") &&
	       !strcmp(r->hits[0].to, "r?@example.org"),
	   "8-bit envelope bytes shown as '?'");
	ix_result_free(r);
}

static void test_checkpoints(ix_writer_t *w, const char *dir)
{
	char *err = NULL;
	uint64_t after = 99, done = 0;
	ok(ix_writer_resume_point(w, "alpha", &after, &err) == IX_OK && after == 73,
	   "resume point: the start of the newest batch (%llu)", (unsigned long long)after);
	ok(ix_archive_done(ix, "alpha", &done, &err) == IX_OK && done == 74, "done: 74");
	ok(ix_writer_resume_point(w, "nosuch", &after, &err) == IX_OK && after == 0,
	   "resume point of an archive never indexed: 0");

	/* A batch that touched only April: March stays at its older
	 * checkpoint; resume must start from the batch start, not from the
	 * newest checkpoint. */
	put_plain(w, "alpha", 10, utc("2024-04-22T00:00:00Z"), "april only", NULL);
	commit(w, "alpha", 74, 80);
	ok(ix_writer_resume_point(w, "alpha", &after, &err) == IX_OK && after == 74,
	   "resume after a one-shard batch: 74");

	/* Uncommitted work is dropped at close; a new writer resumes. */
	put_plain(w, "alpha", 11, utc("2024-04-23T00:00:00Z"), "uncommitted wombat", NULL);
	ix_writer_close(w);
	finds("wombat", "");
	ix_writer_t *w2 = NULL;
	ok(ix_writer_open(dir, &w2, &err) == IX_OK, "writer reopened");
	ok(ix_writer_resume_point(w2, "alpha", &after, &err) == IX_OK && after == 74,
	   "resume point survives a restart");

	/* Two writers on one shard: the second is refused. */
	ix_writer_t *w3 = NULL;
	ok(ix_writer_open(dir, &w3, &err) == IX_OK, "second writer object");
	put_plain(w2, "alpha", 12, utc("2024-04-24T00:00:00Z"), "first", NULL);
	ix_doc_t d = {.archive = "alpha", .seq = 13, .received = utc("2024-04-24T00:00:00Z")};
	ok(ix_writer_put(w3, &d, &err) == IX_ELOCKED && err, "second writer on a shard: ELOCKED");
	free(err);
	err = NULL;
	ix_doc_t bad = {.archive = "../etc", .seq = 1};
	ok(ix_writer_put(w2, &bad, &err) == IX_EINVAL && err, "bad archive name: EINVAL");
	free(err);
	ix_writer_close(w3);
	ix_writer_close(w2);
}

int main(void)
{
	mime_init();
	char *tmp = tap_tmpdir("ix");
	char *dir = xasprintf("%s/index", tmp);
	char *err = NULL;
	ix_writer_t *w = NULL;
	ok(ix_writer_open(dir, &w, &err) == IX_OK, "writer opened");
	index_corpus(w);
	ok(ix_open_dir(dir, &ix, &err) == IX_OK, "reader opened");

	test_words_and_fields();
	test_boolean_and_ranges();
	test_hit_fields();
	test_sort_and_paging();
	test_archive_restriction();
	test_query_errors();
	test_time_values();
	test_visibility(w);
	test_display_fields(w);
	test_checkpoints(w, dir);

	ix_close(ix);
	if (!getenv("KEEP"))
		tap_rmtree(tmp);
	free(dir);
	free(tmp);
	return tap_done();
}
