/* test_auth.c — passwords (right, wrong, disabled, unknown user), roles and
 * grants, the CLI principal, and the session token lifecycle on a real
 * database. */
#include "config.h"

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
	db_close(db);
	free(p);
	tap_rmtree(dir);
	free(dir);
	return tap_done();
}
