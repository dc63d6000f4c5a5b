/* test_db.c — the SQLite database: migrations from an empty file, re-opening,
 * a newer schema, archives, users, grants and sessions on a real file. */
#include "config.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "vellum/db.h"
#include "vellum/log.h"

static char *dir;

static char *path_in(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static int raw_version(const char *path)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_open(path, &h) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT version FROM schema_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return v;
}

static void test_migrations(void)
{
	char *p = path_in("m.db");
	db_t *db;
	if (util_test_hooks_enabled()) {
		/* The first migration fails half-way: nothing of it may remain. */
		setenv("VELLUM_FAULTS", "db.migrate:1:EIO", 1);
		ok(db_open(p, &db) == DB_EIO, "a failed migration fails the open");
		is_int(raw_version(p), -1, "and leaves no version row behind (rolled back)");
	}
	ok(db_open(p, &db) == DB_OK, "open creates and migrates an empty file");
	is_int(db_schema_version(db), db_schema_latest(), "schema at the latest version");
	ok(db_schema_latest() >= 1, "there is at least one migration");
	struct stat st;
	ok(stat(p, &st) == 0 && (st.st_mode & 077) == 0, "database file is 0600");
	db_archive_t a = {.name = "default"};
	ok(db_archive_create(db, &a) == DB_OK, "a table of migration 1 is usable");
	db_close(db);
	is_int(raw_version(p), db_schema_latest(), "version row written");
	ok(db_open(p, &db) == DB_OK, "re-opening an up-to-date file works");
	ok(db_archive_exists(db, "default"), "and keeps its data");
	db_close(db);

	/* A file from a newer vellum is refused, never "migrated" backwards. */
	sqlite3 *h;
	sqlite3_open(p, &h);
	sqlite3_exec(h, "UPDATE schema_version SET version = 9999", NULL, NULL, NULL);
	sqlite3_close(h);
	ok(db_open(p, &db) == DB_ENEWER, "a newer schema is refused");
	free(p);

	p = path_in("garbage.db");
	util_write_file_atomic(p, "this is not sqlite, not at all, no header here....", 50, 0600);
	ok(db_open(p, &db) == DB_EIO, "a file that is not SQLite is refused");
	free(p);
	p = path_in("no/such/dir/x.db");
	ok(db_open(p, &db) == DB_EIO, "an unreachable path is refused");
	free(p);
}

static void test_names(void)
{
	ok(db_archive_name_valid("default"), "archive name default");
	ok(db_archive_name_valid("a0.b_c-d"), "archive name with . _ -");
	ok(!db_archive_name_valid("_audit"), "archive name starting with _ refused");
	ok(!db_archive_name_valid("Upper"), "upper case archive name refused");
	ok(!db_archive_name_valid(""), "empty archive name refused");
	ok(!db_archive_name_valid("a/b"), "slash refused");
	char longname[80];
	memset(longname, 'a', 65);
	longname[65] = 0;
	ok(!db_archive_name_valid(longname), "65-byte archive name refused");
	longname[64] = 0;
	ok(db_archive_name_valid(longname), "64-byte archive name accepted");
	ok(db_user_name_valid("alice@example.com"), "user name with @ .");
	ok(!db_user_name_valid("cli:root"), "':' refused in user names");
	ok(!db_user_name_valid("-x"), "leading '-' refused");
	ok(!db_user_name_valid("a b"), "space refused");
	ok(!db_user_name_valid("\xc3\xa9t\xc3\xa9"), "non-ASCII refused");
}

static void test_archives(db_t *db)
{
	char *addrs[] = {"journal@example.com", "*@example.org", "journal@example.com", NULL};
	char *doms[] = {"example.com", NULL};
	db_archive_t a = {
		.name = "legal",
		.addresses = addrs,
		.naddresses = 3,
		.internal_domains = doms,
		.ninternal_domains = 1,
		.compliance = true,
	};
	util_parse_duration("7y", &a.retention);
	util_parse_duration("2d", &a.quiet_alert);
	ok(db_archive_create(db, &a) == DB_OK, "create archive legal");
	ok(db_archive_create(db, &a) == DB_EEXIST, "a second create is EEXIST");
	db_archive_t bad = {.name = "Bad Name"};
	ok(db_archive_create(db, &bad) == DB_EINVAL, "invalid name is EINVAL");
	db_archive_t *g;
	ok(db_archive_get(db, "legal", &g) == DB_OK, "get legal");
	is_int(g->naddresses, 2, "repeated address stored once");
	is_str(g->addresses[0], "journal@example.com", "addresses keep their order (1)");
	is_str(g->addresses[1], "*@example.org", "addresses keep their order (2)");
	ok(g->addresses[2] == NULL, "address list NULL-terminated");
	is_int(g->retention.months, 84, "retention 7y round-trips");
	is_int(g->quiet_alert.seconds, 2 * 86400, "quiet_alert round-trips");
	ok(g->compliance, "compliance round-trips");
	is_str(g->internal_domains[0], "example.com", "internal domain");
	ok(g->created > 0, "created set");
	db_archive_free(g);
	ok(db_archive_get(db, "nope", &g) == DB_ENOTFOUND && !g, "unknown archive is ENOTFOUND");
	db_archive_t perm = {.name = "aaa"};
	perm.retention.forever = true;
	db_archive_create(db, &perm);
	db_archive_t *v;
	size_t n;
	ok(db_archive_list(db, &v, &n) == DB_OK && n == 2, "list has 2 archives");
	is_str(v[0].name, "aaa", "list sorted by name");
	ok(v[0].retention.forever, "permanent retention round-trips");
	db_archive_list_free(v, n);
}

static void test_users(db_t *db)
{
	ok(db_user_create(db, "alice", "$argon2id$fake") == DB_OK, "create alice");
	ok(db_user_create(db, "alice", "$argon2id$fake") == DB_EEXIST, "duplicate user EEXIST");
	ok(db_user_create(db, "cli:x", "h") == DB_EINVAL, "cli: name refused");
	ok(db_user_create(db, "bob", "") == DB_EINVAL, "empty hash refused");
	db_user_create(db, "bob", "h2");
	db_user_t *u;
	ok(db_user_get(db, "alice", &u) == DB_OK, "get alice");
	is_str(u->password_hash, "$argon2id$fake", "hash stored as given");
	ok(!u->disabled, "not disabled");
	db_user_free(u);
	ok(db_user_set_password(db, "alice", "h3") == DB_OK, "set password");
	ok(db_user_set_password(db, "zed", "h3") == DB_ENOTFOUND, "set password of nobody");
	ok(db_user_set_disabled(db, "alice", true) == DB_OK, "disable");
	db_user_get(db, "alice", &u);
	ok(u->disabled && !strcmp(u->password_hash, "h3"), "disabled, new hash");
	db_user_free(u);
	db_user_t *v;
	size_t n;
	ok(db_user_list(db, &v, &n) == DB_OK && n == 2 && !strcmp(v[0].name, "alice"),
	   "list users sorted");
	db_user_list_free(v, n);
}

static void test_grants(db_t *db)
{
	ok(db_grant_add(db, "alice", "auditor", "legal") == DB_OK, "grant auditor on legal");
	ok(db_grant_add(db, "alice", "auditor", "legal") == DB_EEXIST, "same grant twice EEXIST");
	ok(db_grant_add(db, "alice", "admin", "*") == DB_OK, "grant admin on *");
	ok(db_grant_add(db, "alice", "root", "*") == DB_EINVAL, "unknown role refused");
	ok(db_grant_add(db, "alice", "legal", "Bad") == DB_EINVAL, "bad archive refused");
	ok(db_grant_add(db, "nobody", "legal", "*") == DB_ENOTFOUND, "grant to nobody refused");
	db_grant_t *g;
	size_t n;
	ok(db_grant_list(db, "alice", &g, &n) == DB_OK && n == 2, "two grants");
	ok(n == 2 && !strcmp(g[0].role, "admin") && !strcmp(g[0].archive, "*") &&
	   !strcmp(g[1].role, "auditor") && !strcmp(g[1].archive, "legal"), "grants sorted");
	free(g);
	ok(db_grant_remove(db, "alice", "admin", "*") == DB_OK, "revoke");
	ok(db_grant_remove(db, "alice", "admin", "*") == DB_ENOTFOUND, "revoke twice ENOTFOUND");
	db_grant_list(db, "alice", &g, &n);
	is_int(n, 1, "one grant left");
	free(g);
}

static void test_sessions(db_t *db)
{
	db_session_t s = {.token_hash = "aa", .user = "bob", .csrf_token = "c1", .created = 100,
	                  .last_seen = 100, .client = "127.0.0.1"};
	ok(db_session_create(db, &s) == DB_OK, "create session");
	ok(db_session_create(db, &s) == DB_EEXIST, "same token hash twice refused");
	db_session_t bad = s;
	snprintf(bad.token_hash, sizeof bad.token_hash, "bb");
	snprintf(bad.user, sizeof bad.user, "nobody");
	ok(db_session_create(db, &bad) == DB_ENOTFOUND, "session of nobody refused");
	db_session_t g;
	ok(db_session_get(db, "aa", &g) == DB_OK && !strcmp(g.user, "bob") &&
	   !strcmp(g.csrf_token, "c1") && g.created == 100, "get session");
	ok(db_session_touch(db, "aa", 500) == DB_OK, "touch");
	db_session_get(db, "aa", &g);
	is_int(g.last_seen, 500, "last_seen updated");
	s.created = s.last_seen = 1000;
	snprintf(s.token_hash, sizeof s.token_hash, "cc");
	db_session_create(db, &s);
	uint64_t removed;
	ok(db_session_expire(db, 600, 0, &removed) == DB_OK && removed == 1, "expire idle one");
	ok(db_session_get(db, "aa", &g) == DB_ENOTFOUND, "expired session gone");
	ok(db_session_get(db, "cc", &g) == DB_OK, "fresh session kept");
	ok(db_session_delete_user(db, "bob") == DB_OK, "delete user's sessions");
	ok(db_session_get(db, "cc", &g) == DB_ENOTFOUND, "gone");
	ok(db_session_delete(db, "cc") == DB_ENOTFOUND, "delete unknown is ENOTFOUND");
}

static void test_session_flags(db_t *db)
{
	db_session_t s = {.token_hash = "f1", .user = "alice", .csrf_token = "c", .client = "x",
	                  .flags = DB_SESSION_ENROL_TOTP};
	s.created = s.last_seen = util_now();
	ok(db_session_create(db, &s) == DB_OK, "a session held to TOTP enrolment");
	db_session_t g;
	ok(db_session_get(db, "f1", &g) == DB_OK && g.flags == DB_SESSION_ENROL_TOTP,
	   "flags stored");
	ok(db_session_set_flags(db, "f1", 0) == DB_OK && db_session_get(db, "f1", &g) == DB_OK &&
	   g.flags == 0, "and cleared");
	ok(db_session_count(db, 0, 0) >= 1, "counted");
	ok(db_session_count(db, util_now() + 1, 0) == 0, "idle ones are not");
	db_session_delete(db, "f1");
}

static void test_audit_index(db_t *db)
{
	uint64_t through;
	ok(db_audit_index_through(db, &through) == DB_OK && through == 0, "empty index");
	db_audit_row_t rows[] = {
		{1, 100, "cli:root", "init", "{\"a\":1}"},
		{2, 200, "alice", "login", "{\"a\":2}"},
		{4, 300, "alice", "user.create", "{\"a\":4}"},
		{5, 400, "bob", "user.grant", "{\"a\":5}"},
		{6, 500, "bob", "username", "{\"a\":6}"},
	};
	ok(db_audit_index_add(db, rows, 5, 7) == DB_OK, "add rows");
	ok(db_audit_index_through(db, &through) == DB_OK && through == 7, "through recorded");
	ok(db_audit_index_add(db, rows, 1, 3) == DB_OK && db_audit_index_through(db, &through) == DB_OK &&
	   through == 7, "a repeated row is kept once; through never goes back");
	uint64_t *seqs;
	char **recs;
	size_t n;
	db_audit_query_t q = {.limit = 10};
	ok(db_audit_index_query(db, &q, &seqs, &recs, &n) == DB_OK && n == 5 && seqs[0] == 1 &&
	   seqs[4] == 6 && !strcmp(recs[2], "{\"a\":4}"), "all, in order");
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(seqs);
	free(recs);
	q = (db_audit_query_t){.action = "user", .limit = 10};
	ok(db_audit_index_query(db, &q, &seqs, &recs, &n) == DB_OK && n == 2 && seqs[0] == 4 &&
	   seqs[1] == 5, "action prefix: user.* but not username");
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(seqs);
	free(recs);
	q = (db_audit_query_t){.who = "alice", .since = 250, .limit = 10};
	ok(db_audit_index_query(db, &q, &seqs, &recs, &n) == DB_OK && n == 1 && seqs[0] == 4,
	   "who and since");
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(seqs);
	free(recs);
	q = (db_audit_query_t){.after = 2, .limit = 2};
	ok(db_audit_index_query(db, &q, &seqs, &recs, &n) == DB_OK && n == 2 && seqs[0] == 4 &&
	   seqs[1] == 5, "paging: after and limit");
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(seqs);
	free(recs);
	ok(db_audit_index_reset(db) == DB_OK && db_audit_index_through(db, &through) == DB_OK &&
	   through == 0, "reset");
	q = (db_audit_query_t){.limit = 10};
	ok(db_audit_index_query(db, &q, &seqs, &recs, &n) == DB_OK && n == 0, "and empty");
	free(seqs);
	free(recs);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	dir = tap_tmpdir("db");
	test_migrations();
	test_names();
	char *p = path_in("t.db");
	db_t *db;
	if (!ok(db_open(p, &db) == DB_OK, "open test database")) {
		printf("Bail out! cannot open\n");
		return 1;
	}
	test_archives(db);
	test_users(db);
	test_grants(db);
	test_sessions(db);
	test_session_flags(db);
	test_audit_index(db);
	db_close(db);
	free(p);
	tap_rmtree(dir);
	free(dir);
	return tap_done();
}
