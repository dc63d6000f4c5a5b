/* test_auth.c — passwords (right, wrong, disabled, unknown user), roles and
 * grants, the CLI principal, and the session token lifecycle on a real
 * database. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "vellum/auth.h"
#include "vellum/log.h"

static void test_passwords(void)
{
	char h[128];
	ok(auth_password_hash("correct horse", h) == AUTH_OK, "hash a password");
	ok(!strncmp(h, "$argon2id$", 10), "Argon2id string");
	ok(auth_password_verify(h, "correct horse"), "right password verifies");
	ok(!auth_password_verify(h, "correct horsE"), "wrong password does not");
	ok(!auth_password_verify("garbage", "x"), "garbage hash does not verify");
	char g1[AUTH_PASSWORD_GEN_LEN + 1], g2[AUTH_PASSWORD_GEN_LEN + 1];
	auth_password_generate(g1);
	auth_password_generate(g2);
	ok(strlen(g1) == AUTH_PASSWORD_GEN_LEN && strcmp(g1, g2), "generated passwords differ");
	ok(strcspn(g1, "0O1lI") == strlen(g1), "no look-alike characters");
	ok(auth_password_acceptable(g1), "a generated password is acceptable");
	ok(!auth_password_acceptable("short"), "too short refused");
	ok(!auth_password_acceptable("tab\there!"), "control character refused");
	ok(!auth_password_acceptable("bad \xff utf8"), "invalid UTF-8 refused");
	ok(auth_password_acceptable("gr\xc3\xbc\xc3\x9f" "e aus Wien"), "UTF-8 accepted");
}

static void test_users(db_t *db)
{
	ok(auth_user_create(db, "alice", "alice password") == AUTH_OK, "create alice");
	ok(auth_user_create(db, "alice", "alice password") == AUTH_EEXIST, "again: EEXIST");
	ok(auth_user_create(db, "bad name", "alice password") == AUTH_EINVAL, "bad name");
	ok(auth_user_create(db, "bob", "short") == AUTH_EINVAL, "short password");
	db_grant_add(db, "alice", "auditor", "default");
	db_grant_add(db, "alice", "legal", "other");
	auth_principal_t *p;
	ok(auth_check_password(db, "alice", "alice password", &p) == AUTH_OK, "right password");
	is_str(p ? p->name : NULL, "alice", "principal named");
	is_int(p ? p->ngrants : 0, 2, "principal carries the grants");
	ok(auth_has_role(p, ROLE_AUDITOR, "default"), "auditor on default");
	ok(!auth_has_role(p, ROLE_AUDITOR, "other"), "not auditor on other");
	ok(auth_has_role(p, ROLE_READ, "other"), "legal reads other");
	ok(!auth_has_role(p, ROLE_READ, "third"), "nothing on third");
	ok(!auth_has_role(p, ROLE_ADMIN, "default"), "not admin");
	ok(!auth_has_role(p, ROLE_READ, "*"), "no grant on * itself");
	ok(auth_has_role_any(p, ROLE_READ) && !auth_has_role_any(p, ROLE_ADMIN), "has_role_any");
	auth_principal_free(p);
	ok(auth_check_password(db, "alice", "wrong", &p) == AUTH_EDENIED && !p, "wrong password");
	ok(auth_check_password(db, "nobody", "x", &p) == AUTH_EDENIED, "unknown user");
	ok(auth_check_password(db, "a b", "x", &p) == AUTH_EDENIED, "invalid name");
	db_user_set_disabled(db, "alice", true);
	ok(auth_check_password(db, "alice", "alice password", &p) == AUTH_EDENIED,
	   "disabled user is refused with the right password");
	db_user_set_disabled(db, "alice", false);
	ok(auth_user_passwd(db, "alice", "new password!") == AUTH_OK, "change password");
	ok(auth_check_password(db, "alice", "alice password", &p) == AUTH_EDENIED, "old refused");
	ok(auth_check_password(db, "alice", "new password!", &p) == AUTH_OK, "new accepted");
	auth_principal_free(p);
	ok(auth_user_passwd(db, "nobody", "new password!") == AUTH_ENOTFOUND, "passwd of nobody");

	auth_principal_t *cli = auth_principal_cli("root");
	is_str(cli->name, "cli:root", "cli principal name");
	ok(auth_has_role(cli, ROLE_ADMIN, "x") && auth_has_role(cli, ROLE_AUDITOR, "*") &&
	   auth_has_role(cli, ROLE_LEGAL, "y") && !auth_has_role(cli, ROLE_INGEST, "x"),
	   "cli: admin, auditor, legal on *");
	auth_principal_free(cli);
	is_int(auth_role_parse("legal"), ROLE_LEGAL, "role parse");
	is_int(auth_role_parse("root"), 0, "unknown role");
	is_str(auth_role_name(ROLE_INGEST), "ingest", "role name");
}

static void test_unix(const char *dir)
{
	auth_principal_t *p;
	ok(auth_principal_unix(dir, getuid(), &p) == AUTH_OK && p &&
	   !strncmp(p->name, "cli:", 4), "the data dir's owner is cli:<user>");
	auth_principal_free(p);
	if (getuid() == 0) {
		ok(auth_principal_unix(dir, 0, &p) == AUTH_OK, "root is allowed");
		auth_principal_free(p);
	}
	ok(auth_principal_unix(dir, 4242, &p) == AUTH_EDENIED && !p, "another uid is denied");
}

static void test_sessions(db_t *db)
{
	auth_principal_t *p;
	auth_check_password(db, "alice", "new password!", &p);
	char token[AUTH_TOKEN_LEN + 1];
	ok(auth_session_create(db, p, "127.0.0.1", token) == AUTH_OK, "session created");
	is_int(strlen(token), AUTH_TOKEN_LEN, "token is 43 characters (256 bits)");
	ok(p->via == AUTH_VIA_SESSION && strlen(p->csrf_token) == AUTH_TOKEN_LEN, "csrf token set");
	db_session_t row;
	char hash[DB_TOKEN_HASH_HEX + 1];
	auth_token_hash(token, hash);
	ok(db_session_get(db, hash, &row) == DB_OK, "stored by its hash");
	ok(strcmp(row.token_hash, token) != 0, "the token itself is not stored");
	auth_session_opts_t o = {.idle = 60, .max = 3600};
	auth_principal_t *q;
	ok(auth_session_resolve(db, &o, token, &q) == AUTH_OK, "token resolves");
	is_str(q ? q->name : NULL, "alice", "to alice");
	ok(q && auth_str_equal(q->csrf_token, p->csrf_token), "with the session's csrf token");
	ok(q && auth_has_role(q, ROLE_AUDITOR, "default"), "with alice's grants");
	auth_principal_free(q);
	char other[AUTH_TOKEN_LEN + 1];
	memcpy(other, token, sizeof other);
	other[0] = other[0] == 'A' ? 'B' : 'A';
	ok(auth_session_resolve(db, &o, other, &q) == AUTH_ENOSESSION, "altered token refused");
	ok(auth_session_resolve(db, &o, "short", &q) == AUTH_ENOSESSION, "short token refused");
	ok(auth_session_resolve(db, &o, NULL, &q) == AUTH_ENOSESSION, "no token refused");

	/* Idle timeout: last seen two minutes ago with a 60 s idle limit. */
	db_session_touch(db, hash, util_now() - 120 * UTIL_US_PER_SEC);
	ok(auth_session_resolve(db, &o, token, &q) == AUTH_ENOSESSION, "idle session expires");
	ok(db_session_get(db, hash, &row) == DB_ENOTFOUND, "and is deleted");

	/* Absolute timeout. */
	auth_session_create(db, p, "127.0.0.1", token);
	auth_token_hash(token, hash);
	auth_session_opts_t tight = {.idle = 60, .max = 1};
	sleep(2);
	ok(auth_session_resolve(db, &tight, token, &q) == AUTH_ENOSESSION, "session_max enforced");

	/* Logout revokes; disabling a user ends its sessions. */
	auth_session_create(db, p, "127.0.0.1", token);
	ok(auth_session_revoke(db, p) == AUTH_OK, "revoke");
	ok(auth_session_resolve(db, &o, token, &q) == AUTH_ENOSESSION, "revoked token refused");
	ok(auth_session_revoke(db, p) == AUTH_ENOSESSION, "second revoke: no session");
	auth_session_create(db, p, "127.0.0.1", token);
	db_user_set_disabled(db, "alice", true);
	ok(auth_session_resolve(db, &o, token, &q) == AUTH_ENOSESSION, "disabled user's session");
	db_user_set_disabled(db, "alice", false);
	ok(auth_session_resolve(db, &o, token, &q) == AUTH_OK, "re-enabled");
	auth_principal_free(q);
	auth_user_passwd(db, "alice", "another password");
	ok(auth_session_resolve(db, &o, token, &q) == AUTH_ENOSESSION,
	   "a password change ends the sessions");
	auth_principal_t *cli = auth_principal_cli("root");
	ok(auth_session_revoke(db, cli) == AUTH_ENOSESSION, "cli principal has no session");
	auth_principal_free(cli);
	auth_principal_free(p);
	ok(auth_str_equal("abc", "abc") && !auth_str_equal("abc", "abd") &&
	   !auth_str_equal("abc", "ab") && !auth_str_equal(NULL, "a"), "constant-time compare");
}

/* RFC 6238 Appendix B: SHA-1 with the ASCII key "12345678901234567890"; the
 * 8-digit values given there, last six digits. */
static void test_totp_vectors(void)
{
	const char *key = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";   /* base32 of the key */
	static const struct {
		int64_t t;
		const char *code;
	} v[] = {{59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
	         {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char c[AUTH_TOTP_DIGITS + 1];
		ok(auth_totp_code(key, v[i].t / AUTH_TOTP_STEP, c) && !strcmp(c, v[i].code),
		   "RFC 6238 vector T=%lld: %s", (long long)v[i].t, v[i].code);
	}
	int64_t step;
	ok(auth_totp_match(key, "081804", 1111111109LL * UTIL_US_PER_SEC, &step) &&
	   step == 1111111109 / 30, "a code matches its own step");
	ok(auth_totp_match(key, "081804", (1111111109LL + 30) * UTIL_US_PER_SEC, &step),
	   "and one step later (clock drift)");
	ok(!auth_totp_match(key, "081804", (1111111109LL + 95) * UTIL_US_PER_SEC, &step),
	   "but not three steps later");
	ok(!auth_totp_match(key, "81804", 1111111109LL * UTIL_US_PER_SEC, &step),
	   "five digits refused");
	ok(!auth_totp_match(key, "08180x", 1111111109LL * UTIL_US_PER_SEC, &step),
	   "non-digits refused");
	char c[AUTH_TOTP_DIGITS + 1];
	ok(!auth_totp_code("not base32!", 1, c), "a key that is not base32 gives no code");
	char s1[AUTH_TOTP_B32_LEN + 1], s2[AUTH_TOTP_B32_LEN + 1];
	auth_totp_secret_new(s1);
	auth_totp_secret_new(s2);
	ok(strlen(s1) == AUTH_TOTP_B32_LEN && strcmp(s1, s2) && auth_totp_code(s1, 1, c),
	   "new keys: 32 base32 characters, random, usable");
	char *uri = auth_totp_uri("Vellum", "al ice@example.com", "ABC");
	is_str(uri, "otpauth://totp/Vellum:al%20ice%40example.com?secret=ABC&issuer=Vellum"
	            "&algorithm=SHA1&digits=6&period=30", "otpauth URI, account escaped");
	char *svg = auth_qr_svg(uri);
	ok(svg && !strncmp(svg, "<svg", 4) && strstr(svg, "</svg>") && strstr(svg, "<path"),
	   "the URI as an SVG QR code");
	free(svg);
	free(uri);
}

static void test_totp_user(db_t *db)
{
	char key[AUTH_TOTP_B32_LEN + 1], c[AUTH_TOTP_DIGITS + 1];
	auth_totp_secret_new(key);
	ok(auth_totp_verify(db, "alice", "123456") == AUTH_EDENIED, "no TOTP enrolled: denied");
	ok(db_user_set_totp(db, "alice", key) == DB_OK, "enrol alice");
	auth_totp_code(key, util_now() / UTIL_US_PER_SEC / AUTH_TOTP_STEP, c);
	ok(auth_totp_verify(db, "alice", c) == AUTH_OK, "the current code verifies");
	ok(auth_totp_verify(db, "alice", c) == AUTH_EDENIED, "the same code again is refused (replay)");
	auth_totp_code(key, util_now() / UTIL_US_PER_SEC / AUTH_TOTP_STEP - 1, c);
	ok(auth_totp_verify(db, "alice", c) == AUTH_EDENIED, "an earlier step after a later one: refused");
	ok(db_user_set_totp(db, "alice", NULL) == DB_OK, "remove");
	db_user_t *u;
	db_user_get(db, "alice", &u);
	ok(u && !u->totp_secret && !u->totp_enrolled, "gone from the user");
	db_user_free(u);
	ok(db_user_set_totp(db, "nobody", key) == DB_ENOTFOUND, "no such user");
}

static void test_tokens(db_t *db)
{
	char tok[AUTH_API_TOKEN_LEN + 1], tok2[AUTH_API_TOKEN_LEN + 1];
	db_grant_t g[] = {{"auditor", "default"}, {"ingest", "default"}};
	ok(auth_api_token_create(db, "ci", g, 2, "alice", 0, tok) == AUTH_OK, "create a token");
	ok(!strncmp(tok, AUTH_API_TOKEN_PREFIX, strlen(AUTH_API_TOKEN_PREFIX)) &&
	   strlen(tok) == AUTH_API_TOKEN_LEN, "vellum_ + 43 characters");
	ok(auth_api_token_create(db, "ci", g, 2, "alice", 0, tok2) == AUTH_EEXIST, "name taken");
	ok(auth_api_token_create(db, "none", g, 0, "alice", 0, tok2) == AUTH_EINVAL,
	   "a token without grants is refused");
	db_grant_t bad = {"root", "*"};
	ok(auth_api_token_create(db, "bad", &bad, 1, "alice", 0, tok2) == AUTH_EINVAL, "bad role");
	auth_principal_t *p;
	ok(auth_api_token_resolve(db, tok, &p) == AUTH_OK && p, "resolve");
	ok(p && !strcmp(p->name, "token:ci") && p->via == AUTH_VIA_TOKEN, "acts as token:ci");
	ok(auth_has_role(p, ROLE_AUDITOR, "default") && !auth_has_role(p, ROLE_AUDITOR, "other") &&
	   !auth_has_role_any(p, ROLE_ADMIN), "exactly its own grants");
	auth_principal_free(p);
	db_token_t *t;
	ok(db_token_get(db, "ci", &t) == DB_OK && strcmp(t->token_hash, tok) &&
	   strlen(t->token_hash) == 64, "stored hashed");
	ok(t && t->last_used > 0, "last use noted");
	db_token_free(t);
	char other[AUTH_API_TOKEN_LEN + 1];
	snprintf(other, sizeof other, "%s", tok);
	other[10] = other[10] == 'A' ? 'B' : 'A';
	ok(auth_api_token_resolve(db, other, &p) == AUTH_ENOSESSION, "a different token: refused");
	ok(auth_api_token_resolve(db, "vellum_short", &p) == AUTH_ENOSESSION, "malformed: refused");
	ok(auth_api_token_create(db, "old", g, 1, "alice", util_now() - 1, tok2) == AUTH_OK &&
	   auth_api_token_resolve(db, tok2, &p) == AUTH_ENOSESSION, "an expired token: refused");
	db_token_t *v;
	size_t n;
	ok(db_token_list(db, &v, &n) == DB_OK && n == 2 && !strcmp(v[0].name, "ci") &&
	   v[0].ngrants == 2, "list");
	db_token_list_free(v, n);
	ok(db_token_delete(db, "ci") == DB_OK, "revoke");
	ok(auth_api_token_resolve(db, tok, &p) == AUTH_ENOSESSION, "a revoked token: refused");
	ok(db_token_delete(db, "ci") == DB_ENOTFOUND, "revoke again: not found");
}

static void clock_set(const char *file, long long offset)
{
	FILE *f = fopen(file, "w");
	fprintf(f, "%lld\n", offset);
	fclose(f);
	usleep(20000);   /* a new mtime, so the clock hook re-reads it */
}

static void test_guard(const char *dir)
{
	auth_guard_t *g = auth_guard_new(2);
	ok(auth_guard_retry_after(g, "mallory", "10.0.0.1") == 0, "no failures: go ahead");
	for (int i = 0; i < AUTH_THROTTLE_USER_FAILS - 1; i++)
		auth_guard_failed(g, "mallory", "10.0.0.1");
	ok(auth_guard_retry_after(g, "mallory", "10.0.0.1") == 0, "below the limit: go ahead");
	auth_guard_failed(g, "mallory", "10.0.0.1");
	int64_t r = auth_guard_retry_after(g, "mallory", "10.0.0.2");
	ok(r > 0 && r <= AUTH_THROTTLE_LOCK_S, "at the limit the user is locked (%llds)", (long long)r);
	ok(auth_guard_retry_after(g, "trent", "10.0.0.1") == 0, "other users from that address: not yet");
	auth_guard_succeeded(g, "mallory");
	ok(auth_guard_retry_after(g, "mallory", "10.0.0.3") == 0, "a success clears the user");
	for (int i = 0; i < AUTH_THROTTLE_ADDR_FAILS; i++) {
		char u[32];
		snprintf(u, sizeof u, "spray%d", i);
		auth_guard_failed(g, u, "10.9.9.9");
	}
	ok(auth_guard_retry_after(g, "newname", "10.9.9.9") > 0,
	   "an address spraying many names is locked too");
	if (util_test_hooks_enabled()) {
		char *clock = xasprintf("%s/clock", dir);
		setenv("VELLUM_TEST_CLOCK_FILE", clock, 1);
		clock_set(clock, AUTH_THROTTLE_LOCK_S + 5);
		ok(auth_guard_retry_after(g, "newname", "10.9.9.9") == 0, "the lock ends with time");
		auth_guard_failed(g, "spray0", "10.9.9.9");
		int64_t again = auth_guard_retry_after(g, NULL, "10.9.9.9");
		ok(again > AUTH_THROTTLE_LOCK_S, "a failure after it locks for longer (%llds)",
		   (long long)again);
		clock_set(clock, 0);
		unsetenv("VELLUM_TEST_CLOCK_FILE");
		free(clock);
	}
	ok(auth_guard_hash_enter(g, 0) && auth_guard_hash_enter(g, 0), "two hash slots");
	int64_t t0 = util_monotonic_us();
	ok(!auth_guard_hash_enter(g, 100), "a third waits, then gives up");
	ok(util_monotonic_us() - t0 >= 90000, "after waiting");
	auth_guard_hash_leave(g);
	ok(auth_guard_hash_enter(g, 0), "a freed slot is taken");
	auth_guard_hash_leave(g);
	auth_guard_hash_leave(g);
	auth_guard_free(g);
}

static void test_rehash(db_t *db)
{
	/* A hash made with other (cheaper) parameters is replaced at the next
	 * login, with the same password still working. */
	char h[crypto_pwhash_STRBYTES];
	ok(crypto_pwhash_str(h, "legacy password", 15, crypto_pwhash_OPSLIMIT_MIN,
	                     crypto_pwhash_MEMLIMIT_MIN) == 0, "an old-parameter hash");
	ok(db_user_create(db, "legacy", h) == DB_OK, "user with it");
	auth_principal_t *p;
	ok(auth_check_password(db, "legacy", "legacy password", &p) == AUTH_OK, "login works");
	auth_principal_free(p);
	db_user_t *u;
	db_user_get(db, "legacy", &u);
	ok(u && strcmp(u->password_hash, h) &&
	   crypto_pwhash_str_needs_rehash(u->password_hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                                  crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0,
	   "rehashed with the current parameters");
	db_user_free(u);
	ok(auth_check_password(db, "legacy", "legacy password", &p) == AUTH_OK, "still logs in");
	auth_principal_free(p);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	char *dir = tap_tmpdir("auth");
	char *p = xasprintf("%s/t.db", dir);
	db_t *db;
	if (db_open(p, &db) != DB_OK) {
		printf("Bail out! db_open\n");
		return 1;
	}
	test_passwords();
	test_users(db);
	test_unix(dir);
	test_sessions(db);
	test_totp_vectors();
	test_totp_user(db);
	test_tokens(db);
	test_guard(dir);
	test_rehash(db);
	db_close(db);
	free(p);
	tap_rmtree(dir);
	free(dir);
	return tap_done();
}
