/* test_ingest.c — the routing table: exact addresses, *@domain, *, listener
 * restrictions, case, invalid rows, hostile lengths. */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "vellum/ingest.h"
#include "vellum/log.h"

/* The archive names a lookup returns, space-separated, into out. */
static const char *route(const ingest_routes_t *r, const char *addr, char *out, size_t n)
{
	size_t idx[64];
	size_t k = ingest_routes_lookup(r, addr, strlen(addr), idx);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		if (i)
			strncat(out, " ", n - strlen(out) - 1);
		strncat(out, ingest_routes_archive(r, idx[i]), n - strlen(out) - 1);
	}
	return out;
}

static void test_patterns(void)
{
	ok(ingest_pattern_valid("*"), "'*' valid");
	ok(ingest_pattern_valid("*@example.com"), "'*@domain' valid");
	ok(ingest_pattern_valid("journal@example.com"), "exact address valid");
	ok(ingest_pattern_valid("\"a b\"@example.com") == false, "space refused");
	ok(ingest_pattern_valid("\"a@b\"@example.com"), "quoted '@' in the local part");
	ok(!ingest_pattern_valid(""), "empty refused");
	ok(!ingest_pattern_valid("example.com"), "no '@' refused");
	ok(!ingest_pattern_valid("@example.com"), "empty local part refused");
	ok(!ingest_pattern_valid("a@"), "empty domain refused");
	ok(!ingest_pattern_valid("j*@example.com"), "partial wildcard refused");
	ok(!ingest_pattern_valid("*@*.example.com"), "wildcard domain refused");
	ok(!ingest_pattern_valid("**"), "'**' refused");
	ok(!ingest_pattern_valid("<a@b>"), "angle brackets refused");
	ok(!ingest_pattern_valid("a\r\n@b"), "control bytes refused");
	ok(!ingest_pattern_valid("a@b\xff"), "invalid UTF-8 refused");
	ok(ingest_pattern_valid("j\xc3\xb6rg@example.de"), "UTF-8 address valid");

	ok(ingest_archive_name_valid("default"), "name 'default'");
	ok(ingest_archive_name_valid("legal-2024.q1_x"), "name with . _ -");
	ok(!ingest_archive_name_valid("_audit"), "'_' names are internal logs");
	ok(!ingest_archive_name_valid("Legal"), "upper case refused");
	ok(!ingest_archive_name_valid(""), "empty name refused");
	char n65[66];
	memset(n65, 'a', 65);
	n65[65] = 0;
	ok(!ingest_archive_name_valid(n65), "65-byte name refused");
	n65[64] = 0;
	ok(ingest_archive_name_valid(n65), "64-byte name accepted");
}

static void test_routes(void)
{
	const char *def[] = {"*"};
	const char *legal[] = {"*@legal.example", "counsel@example.com"};
	const char *ceo[] = {"CEO@Example.com", "ceo@example.com", "bad pattern",
	                     "*@sub.example.com"};
	const char *none[] = {NULL};
	ingest_archive_t a[] = {
	    {"default", def, 1},  {"legal", legal, 2}, {"ceo", ceo, 4},
	    {"Bad-Name", def, 1}, {"empty", none, 0},
	};
	size_t skipped = 0;
	char out[256];
	ingest_routes_t *r = ingest_routes_new(a, 5, NULL, 0, &skipped);
	is_int(skipped, 2, "one invalid pattern and one invalid name skipped");
	is_int(ingest_routes_count(r), 4, "four archives in the table");
	is_str(route(r, "someone@else.example", out, sizeof out), "default", "catch-all only");
	is_str(route(r, "ceo@example.com", out, sizeof out), "default ceo",
	       "exact address, listed twice in different case, found once");
	is_str(route(r, "CEO@EXAMPLE.COM", out, sizeof out), "default ceo", "case ignored");
	is_str(route(r, "anyone@legal.example", out, sizeof out), "default legal", "*@domain");
	is_str(route(r, "anyone@LEGAL.example", out, sizeof out), "default legal",
	       "*@domain, domain case ignored");
	is_str(route(r, "anyone@x.legal.example", out, sizeof out), "default",
	       "*@domain does not match subdomains");
	is_str(route(r, "x@sub.example.com", out, sizeof out), "default ceo", "*@sub.domain");
	is_str(route(r, "counsel@example.com", out, sizeof out), "default legal",
	       "exact address in a second archive");
	is_str(route(r, "Postmaster", out, sizeof out), "default", "postmaster via '*'");
	is_str(route(r, "", out, sizeof out), "default", "empty address only matches '*'");
	ingest_routes_free(r);

	/* Without a catch-all, unknown recipients route nowhere. */
	r = ingest_routes_new(a + 1, 2, NULL, 0, NULL);
	is_str(route(r, "someone@else.example", out, sizeof out), "", "no archive: refused");
	is_str(route(r, "ceo@example.com", out, sizeof out), "ceo", "exact still routes");
	ingest_routes_free(r);

	/* A listener restricted to some archives. */
	const char *only[] = {"legal", "nonexistent"};
	r = ingest_routes_new(a, 5, only, 2, NULL);
	is_int(ingest_routes_count(r), 1, "restricted table holds only 'legal'");
	is_str(route(r, "someone@else.example", out, sizeof out), "",
	       "catch-all of an archive outside the listener is not used");
	is_str(route(r, "a@legal.example", out, sizeof out), "legal", "allowed archive routes");
	ingest_routes_free(r);

	/* Hostile lengths and bytes. */
	r = ingest_routes_new(a, 2, NULL, 0, NULL);
	char big[INGEST_ADDR_MAX + 10];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	size_t idx[4];
	is_int(ingest_routes_lookup(r, big, strlen(big), idx), 0,
	       "address over INGEST_ADDR_MAX routes nowhere");
	is_int(ingest_routes_lookup(r, "a\0@legal.example", 16, idx), 0, "NUL inside refused");
	ingest_routes_free(r);

	r = ingest_routes_new(NULL, 0, NULL, 0, NULL);
	is_int(ingest_routes_count(r), 0, "empty table");
	is_int(ingest_routes_lookup(r, "a@b", 3, idx), 0, "empty table routes nowhere");
	ingest_routes_free(r);
	ingest_routes_free(NULL);
}

static void test_list(void)
{
	ingest_archive_list_t l = {0};
	const char *addrs[] = {"a@b.example", "*@c.example"};
	ingest_archive_list_add(&l, "one", addrs, 2);
	ingest_archive_list_add(&l, "two", NULL, 0);
	is_int(l.n, 2, "list holds two archives");
	is_str(l.v[0].addresses[1], "*@c.example", "addresses copied");
	ingest_routes_t *r = ingest_routes_new(l.v, l.n, NULL, 0, NULL);
	char out[64];
	is_str(route(r, "x@c.example", out, sizeof out), "one", "table from a list");
	ingest_routes_free(r);
	ingest_archive_list_free(&l);
	ok(l.n == 0 && l.v == NULL, "list freed and empty");
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERROR);
	test_patterns();
	test_routes();
	test_list();
	return tap_done();
}
