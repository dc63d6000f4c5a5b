/* db.c — the SQLite database: schema, migrations, archives, users, grants,
 * sessions.
 *
 * Does: open data_dir/vellum.db in WAL mode with synchronous=FULL (a user or
 * grant change is durable when the call returns), apply the migrations
 * below in order, one transaction each, and offer typed accessors.  Does
 * not: hash passwords, decide what a role may do, or hold mail.
 *
 * Migrations are append-only: never edit one that has shipped; add the next.
 * The file's version is the single row of schema_version.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db_private.h"
#include "vellum/log.h"
#include "vellum/util.h"


static const char *const migrations[] = {
	/* 1: the foundation (issue 2). */
	"CREATE TABLE archives ("
	"  name TEXT PRIMARY KEY,"
	"  retention TEXT NOT NULL,"
	"  quiet_alert TEXT NOT NULL,"
	"  compliance INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE archive_addresses ("
	"  archive TEXT NOT NULL REFERENCES archives(name) ON DELETE CASCADE,"
	"  address TEXT NOT NULL,"
	"  UNIQUE (archive, address));"
	"CREATE TABLE archive_internal_domains ("
	"  archive TEXT NOT NULL REFERENCES archives(name) ON DELETE CASCADE,"
	"  domain TEXT NOT NULL,"
	"  UNIQUE (archive, domain));"
	"CREATE TABLE users ("
	"  name TEXT PRIMARY KEY,"
	"  password_hash TEXT NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  password_changed INTEGER NOT NULL);"
	"CREATE TABLE grants ("
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  role TEXT NOT NULL CHECK (role IN ('admin','auditor','legal','ingest')),"
	"  archive TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (user, role, archive));"
	"CREATE TABLE sessions ("
	"  token_hash TEXT PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  csrf_token TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  client TEXT NOT NULL);"
	"CREATE INDEX sessions_user ON sessions(user);",
	/* 2: identity and audit (issue 6): TOTP per user, session flags, API
	 * tokens with their own grants, the audit trail's query index. */
	"ALTER TABLE users ADD COLUMN totp_secret TEXT;"
	"ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN totp_enrolled INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE tokens ("
	"  name TEXT PRIMARY KEY,"
	"  token_hash TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  last_used INTEGER NOT NULL DEFAULT 0,"
	"  expires INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE token_grants ("
	"  token TEXT NOT NULL REFERENCES tokens(name) ON DELETE CASCADE,"
	"  role TEXT NOT NULL CHECK (role IN ('admin','auditor','legal','ingest')),"
	"  archive TEXT NOT NULL,"
	"  PRIMARY KEY (token, role, archive));"
	"CREATE TABLE audit_index ("
	"  seq INTEGER PRIMARY KEY,"
	"  time_us INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  record TEXT NOT NULL);"
	"CREATE INDEX audit_index_time ON audit_index(time_us);"
	"CREATE INDEX audit_index_who ON audit_index(who, seq);"
	"CREATE INDEX audit_index_action ON audit_index(action, seq);"
	"CREATE TABLE audit_index_state (through INTEGER NOT NULL);"
	"INSERT INTO audit_index_state VALUES (0);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

const char *db_strerror(db_status_t st)
{
	switch (st) {
	case DB_OK: return "ok";
	case DB_EIO: return "database error";
	case DB_ENOTFOUND: return "not found";
	case DB_EEXIST: return "already exists";
	case DB_EINVAL: return "invalid name or value";
	case DB_ENEWER: return "database schema is newer than this program";
	}
	return "unknown error";
}

int db_schema_latest(void)
{
	return NMIGRATIONS;
}

bool db_archive_name_valid(const char *s)
{
	return util_name_valid(s);   /* the one rule (util.h) */
}

bool db_user_name_valid(const char *s)
{
	if (!s || !*s || strlen(s) > DB_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isascii((unsigned char)*p) ||
		    (!isalnum((unsigned char)*p) && !strchr("._@+-", *p)))
			return false;
	return true;
}

/* ---- statement helpers ---- */

db_status_t db_fail(db_t *db, const char *what)
{
	log_error("db.sqlite", "op=%s path=%s err=\"%s\"", what, db->path, sqlite3_errmsg(db->h));
	return DB_EIO;
}

db_status_t db_prepare(db_t *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(db, "prepare");
	return DB_OK;
}

void db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

char *db_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return xstrdup(t ? (const char *)t : "");
}

void db_col_copy(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, n, "%s", t ? (const char *)t : "");
}

/* Steps a statement that returns no rows; maps constraint failures. */
db_status_t db_step_done(db_t *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return DB_OK;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		int ext = sqlite3_extended_errcode(db->h);
		if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
			return DB_EEXIST;
		if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
			return DB_ENOTFOUND;
		return DB_EINVAL;
	}
	return db_fail(db, what);
}

db_status_t db_exec(db_t *db, const char *sql, const char *what)
{
	char *err = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("db.sqlite", "op=%s path=%s err=\"%s\"", what, db->path, err ? err : "?");
		sqlite3_free(err);
		return DB_EIO;
	}
	return DB_OK;
}

/* ---- open and migrate ---- */

static db_status_t read_version(db_t *db, int *v)
{
	sqlite3_stmt *st;
	*v = 0;
	if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
	         "schema_version") != DB_OK)
		return DB_EIO;
	if (db_prepare(db, "SELECT max(version) FROM schema_version", &st) != DB_OK)
		return DB_EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return DB_OK;
}

static db_status_t migrate_one(db_t *db, int to)
{
	if (db_exec(db, "BEGIN IMMEDIATE", "migrate.begin") != DB_OK)
		return DB_EIO;
	char *set = xasprintf("DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", to);
	db_status_t st = db_exec(db, migrations[to - 1], "migrate");
	if (st == DB_OK)
		st = db_exec(db, set, "migrate.version");
	free(set);
	if (st == DB_OK && util_fault("db.migrate"))
		st = DB_EIO;
	if (st != DB_OK) {
		db_exec(db, "ROLLBACK", "migrate.rollback");
		return st;
	}
	if (db_exec(db, "COMMIT", "migrate.commit") != DB_OK)
		return DB_EIO;
	/* Creating a new file is routine; upgrading an existing one is news. */
	log_event(to == 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "db.migrate", "path=%s version=%d",
	          db->path, to);
	return DB_OK;
}

static db_status_t migrate(db_t *db)
{
	int v;
	if (read_version(db, &v) != DB_OK)
		return DB_EIO;
	if (v > NMIGRATIONS) {
		log_error("db.schema", "path=%s version=%d known=%d", db->path, v, NMIGRATIONS);
		return DB_ENEWER;
	}
	for (int to = v + 1; to <= NMIGRATIONS; to++)
		if (migrate_one(db, to) != DB_OK)
			return DB_EIO;
	db->version = NMIGRATIONS;
	return DB_OK;
}

db_status_t db_open(const char *path, db_t **out)
{
	*out = NULL;
	db_t *db = xcalloc(1, sizeof *db);
	db->path = xstrdup(path);
	pthread_mutex_init(&db->lock, NULL);
	/* Created 0600: password hashes and session hashes live here. */
	mode_t old = umask(077);
	int rc = sqlite3_open_v2(path, &db->h,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                         NULL);
	umask(old);
	db_status_t st = DB_OK;
	if (rc != SQLITE_OK) {
		log_error("db.open", "path=%s err=\"%s\"", path,
		          db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		st = DB_EIO;
	}
	if (st == DB_OK)
		sqlite3_busy_timeout(db->h, 5000);
	if (st == DB_OK)
		st = db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
		          "pragma");
	if (st == DB_OK)
		st = migrate(db);
	if (st != DB_OK) {
		db_close(db);
		return st;
	}
	*out = db;
	return DB_OK;
}

void db_close(db_t *db)
{
	if (!db)
		return;
	if (db->h)
		sqlite3_close_v2(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db->path);
	free(db);
}

int db_schema_version(db_t *db)
{
	return db->version;
}

/* ---- archives ---- */

static db_status_t insert_list(db_t *db, const char *sql, const char *name, char *const *v,
                               size_t n)
{
	sqlite3_stmt *st;
	if (db_prepare(db, sql, &st) != DB_OK)
		return DB_EIO;
	db_status_t rc = DB_OK;
	for (size_t i = 0; i < n && rc == DB_OK; i++) {
		sqlite3_reset(st);
		db_bind_text(st, 1, name);
		db_bind_text(st, 2, v[i]);
		rc = db_step_done(db, st, "archive.list_insert");
		if (rc == DB_EEXIST)   /* a repeated address is the same address */
			rc = DB_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static db_status_t archive_insert(db_t *db, const db_archive_t *a)
{
	char ret[32], quiet[32];
	util_duration_format(&a->retention, ret, sizeof ret);
	util_duration_format(&a->quiet_alert, quiet, sizeof quiet);
	sqlite3_stmt *st;
	if (db_prepare(db, "INSERT INTO archives (name, retention, quiet_alert, compliance, created)"
	                " VALUES (?, ?, ?, ?, ?)", &st) != DB_OK)
		return DB_EIO;
	db_bind_text(st, 1, a->name);
	db_bind_text(st, 2, ret);
	db_bind_text(st, 3, quiet);
	sqlite3_bind_int(st, 4, a->compliance);
	sqlite3_bind_int64(st, 5, a->created ? a->created : util_now());
	db_status_t rc = db_step_done(db, st, "archive.insert");
	sqlite3_finalize(st);
	if (rc == DB_OK)
		rc = insert_list(db, "INSERT INTO archive_addresses (archive, address) VALUES (?, ?)",
		                 a->name, a->addresses, a->naddresses);
	if (rc == DB_OK)
		rc = insert_list(db, "INSERT INTO archive_internal_domains (archive, domain)"
		                     " VALUES (?, ?)",
		                 a->name, a->internal_domains, a->ninternal_domains);
	return rc;
}

db_status_t db_archive_create(db_t *db, const db_archive_t *a)
{
	if (!db_archive_name_valid(a->name))
		return DB_EINVAL;
	pthread_mutex_lock(&db->lock);
	db_status_t rc = db_exec(db, "BEGIN IMMEDIATE", "archive.begin");
	if (rc == DB_OK) {
		rc = archive_insert(db, a);
		if (rc == DB_OK)
			rc = db_exec(db, "COMMIT", "archive.commit");
		else
			db_exec(db, "ROLLBACK", "archive.rollback");
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

static db_status_t load_list(db_t *db, const char *sql, const char *name, char ***out, size_t *n)
{
	sqlite3_stmt *st;
	*out = xcalloc(1, sizeof **out);
	*n = 0;
	if (db_prepare(db, sql, &st) != DB_OK)
		return DB_EIO;
	db_bind_text(st, 1, name);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = xrealloc(*out, (*n + 2) * sizeof **out);
		(*out)[(*n)++] = db_col_text(st, 0);
		(*out)[*n] = NULL;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? DB_OK : db_fail(db, "archive.list_load");
}

static db_status_t archive_fill(db_t *db, sqlite3_stmt *st, db_archive_t *a)
{
	memset(a, 0, sizeof *a);
	a->name = db_col_text(st, 0);
	char *ret = db_col_text(st, 1), *quiet = db_col_text(st, 2);
	if (util_parse_duration(ret, &a->retention) != UTIL_OK)
		log_warn("db.archive", "name=%s bad_retention=%s", a->name, ret);
	if (util_parse_duration(quiet, &a->quiet_alert) != UTIL_OK)
		log_warn("db.archive", "name=%s bad_quiet_alert=%s", a->name, quiet);
	free(ret);
	free(quiet);
	a->compliance = sqlite3_column_int(st, 3) != 0;
	a->created = sqlite3_column_int64(st, 4);
	db_status_t rc = load_list(db,
	                           "SELECT address FROM archive_addresses WHERE archive = ?"
	                           " ORDER BY rowid",
	                           a->name, &a->addresses, &a->naddresses);
	if (rc == DB_OK)
		rc = load_list(db,
		               "SELECT domain FROM archive_internal_domains WHERE archive = ?"
		               " ORDER BY rowid",
		               a->name, &a->internal_domains, &a->ninternal_domains);
	return rc;
}

#define ARCHIVE_COLS "name, retention, quiet_alert, compliance, created"

db_status_t db_archive_get(db_t *db, const char *name, db_archive_t **out)
{
	*out = NULL;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "SELECT " ARCHIVE_COLS " FROM archives WHERE name = ?", &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, name);
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			db_archive_t *a = xcalloc(1, sizeof *a);
			rc = archive_fill(db, st, a);
			if (rc == DB_OK)
				*out = a;
			else
				db_archive_free(a);
		} else {
			rc = s == SQLITE_DONE ? DB_ENOTFOUND : db_fail(db, "archive.get");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_archive_list(db_t *db, db_archive_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	db_status_t rc = db_prepare(db, "SELECT " ARCHIVE_COLS " FROM archives ORDER BY name", &st);
	db_archive_t *v = NULL;
	size_t count = 0;
	int s = SQLITE_DONE;
	while (rc == DB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
		v = xrealloc(v, (count + 1) * sizeof *v);
		rc = archive_fill(db, st, &v[count++]);
	}
	if (rc == DB_OK && s != SQLITE_DONE)
		rc = db_fail(db, "archive.list");
	if (st)
		sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	if (rc != DB_OK) {
		db_archive_list_free(v, count);
		return rc;
	}
	*out = v;
	*n = count;
	return DB_OK;
}

bool db_archive_exists(db_t *db, const char *name)
{
	db_archive_t *a;
	if (db_archive_get(db, name, &a) != DB_OK)
		return false;
	db_archive_free(a);
	return true;
}

static void archive_clear(db_archive_t *a)
{
	free(a->name);
	util_strv_free(a->addresses);
	util_strv_free(a->internal_domains);
}

void db_archive_free(db_archive_t *a)
{
	if (!a)
		return;
	archive_clear(a);
	free(a);
}

void db_archive_list_free(db_archive_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		archive_clear(&v[i]);
	free(v);
}

/* ---- users ---- */

db_status_t db_user_create(db_t *db, const char *name, const char *hash)
{
	if (!db_user_name_valid(name) || !hash || !*hash)
		return DB_EINVAL;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "INSERT INTO users (name, password_hash, disabled, created,"
	                             " password_changed) VALUES (?, ?, 0, ?, ?)", &st);
	if (rc == DB_OK) {
		int64_t now = util_now();
		db_bind_text(st, 1, name);
		db_bind_text(st, 2, hash);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, now);
		rc = db_step_done(db, st, "user.create");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

static void user_fill(sqlite3_stmt *st, db_user_t *u)
{
	u->name = db_col_text(st, 0);
	u->password_hash = db_col_text(st, 1);
	u->disabled = sqlite3_column_int(st, 2) != 0;
	u->created = sqlite3_column_int64(st, 3);
	u->password_changed = sqlite3_column_int64(st, 4);
	const unsigned char *t = sqlite3_column_text(st, 5);
	u->totp_secret = t && *t ? xstrdup((const char *)t) : NULL;
	u->totp_last_step = sqlite3_column_int64(st, 6);
	u->totp_enrolled = sqlite3_column_int64(st, 7);
}

#define USER_COLS                                                                         \
	"name, password_hash, disabled, created, password_changed, totp_secret, totp_last_step, " \
	"totp_enrolled"

db_status_t db_user_get(db_t *db, const char *name, db_user_t **out)
{
	*out = NULL;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "SELECT " USER_COLS " FROM users WHERE name = ?", &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, name);
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			*out = xcalloc(1, sizeof **out);
			user_fill(st, *out);
		} else {
			rc = s == SQLITE_DONE ? DB_ENOTFOUND : db_fail(db, "user.get");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_user_list(db_t *db, db_user_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "SELECT " USER_COLS " FROM users ORDER BY name", &st);
	if (rc == DB_OK) {
		int s;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			memset(&(*out)[*n], 0, sizeof **out);
			user_fill(st, &(*out)[(*n)++]);
		}
		if (s != SQLITE_DONE)
			rc = db_fail(db, "user.list");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

/* Runs an UPDATE/DELETE with text parameters; DB_ENOTFOUND when no row changed. */
db_status_t db_modify(db_t *db, const char *sql, const char *what, int64_t num,
                          const char *a, const char *b, const char *c)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, sql, &st);
	if (rc == DB_OK) {
		int i = 1;
		if (strstr(sql, ":n"))  /* a leading numeric parameter, named :n */
			sqlite3_bind_int64(st, i++, num);
		const char *args[] = {a, b, c};
		for (size_t k = 0; k < 3 && args[k]; k++)
			db_bind_text(st, i++, args[k]);
		rc = db_step_done(db, st, what);
		if (rc == DB_OK && sqlite3_changes(db->h) == 0)
			rc = DB_ENOTFOUND;
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_user_set_password(db_t *db, const char *name, const char *hash)
{
	if (!hash || !*hash)
		return DB_EINVAL;
	/* :n is bound first (the time), then the text parameters in order. */
	return db_modify(db, "UPDATE users SET password_changed = :n, password_hash = ? WHERE name = ?",
	              "user.passwd", util_now(), hash, name, NULL);
}

db_status_t db_user_set_disabled(db_t *db, const char *name, bool disabled)
{
	return db_modify(db, "UPDATE users SET disabled = :n WHERE name = ?", "user.disable",
	              disabled, name, NULL, NULL);
}

db_status_t db_user_set_totp(db_t *db, const char *name, const char *secret)
{
	if (secret && !*secret)
		return DB_EINVAL;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "UPDATE users SET totp_secret = ?, totp_last_step = 0,"
	                             " totp_enrolled = ? WHERE name = ?", &st);
	if (rc == DB_OK) {
		if (secret)
			db_bind_text(st, 1, secret);
		else
			sqlite3_bind_null(st, 1);
		sqlite3_bind_int64(st, 2, secret ? util_now() : 0);
		db_bind_text(st, 3, name);
		rc = db_step_done(db, st, "user.totp");
		if (rc == DB_OK && sqlite3_changes(db->h) == 0)
			rc = DB_ENOTFOUND;
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_user_totp_use(db_t *db, const char *name, int64_t step)
{
	/* One statement, so two logins racing with the same code cannot both
	 * win: only the first moves totp_last_step. */
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "UPDATE users SET totp_last_step = ? WHERE name = ?"
	                             " AND totp_last_step < ?", &st);
	if (rc == DB_OK) {
		sqlite3_bind_int64(st, 1, step);
		db_bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, step);
		rc = db_step_done(db, st, "user.totp_use");
		if (rc == DB_OK && sqlite3_changes(db->h) == 0)
			rc = DB_EEXIST;
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

static void user_clear(db_user_t *u)
{
	free(u->name);
	if (u->password_hash)
		explicit_bzero(u->password_hash, strlen(u->password_hash));
	free(u->password_hash);
	if (u->totp_secret)
		explicit_bzero(u->totp_secret, strlen(u->totp_secret));
	free(u->totp_secret);
}

void db_user_free(db_user_t *u)
{
	if (!u)
		return;
	user_clear(u);
	free(u);
}

void db_user_list_free(db_user_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		user_clear(&v[i]);
	free(v);
}

/* ---- grants ---- */

bool db_role_valid(const char *r)
{
	return r && (!strcmp(r, "admin") || !strcmp(r, "auditor") || !strcmp(r, "legal") ||
	             !strcmp(r, "ingest"));
}

db_status_t db_grant_add(db_t *db, const char *user, const char *role, const char *archive)
{
	if (!db_role_valid(role) || !archive || (strcmp(archive, "*") && !db_archive_name_valid(archive)))
		return DB_EINVAL;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "INSERT INTO grants (user, role, archive, created)"
	                             " VALUES (?, ?, ?, ?)", &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, user);
		db_bind_text(st, 2, role);
		db_bind_text(st, 3, archive);
		sqlite3_bind_int64(st, 4, util_now());
		rc = db_step_done(db, st, "grant.add");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_grant_remove(db_t *db, const char *user, const char *role, const char *archive)
{
	return db_modify(db, "DELETE FROM grants WHERE user = ? AND role = ? AND archive = ?",
	              "grant.remove", 0, user, role, archive);
}

db_status_t db_grant_list(db_t *db, const char *user, db_grant_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "SELECT role, archive FROM grants WHERE user = ?"
	                             " ORDER BY role, archive", &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, user);
		int s;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			db_col_copy(st, 0, (*out)[*n].role, sizeof (*out)[*n].role);
			db_col_copy(st, 1, (*out)[*n].archive, sizeof (*out)[*n].archive);
			(*n)++;
		}
		if (s != SQLITE_DONE)
			rc = db_fail(db, "grant.list");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

/* ---- sessions ---- */

db_status_t db_session_create(db_t *db, const db_session_t *s)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "INSERT INTO sessions (token_hash, user, csrf_token, created,"
	                             " last_seen, client, flags) VALUES (?, ?, ?, ?, ?, ?, ?)", &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, s->token_hash);
		db_bind_text(st, 2, s->user);
		db_bind_text(st, 3, s->csrf_token);
		sqlite3_bind_int64(st, 4, s->created);
		sqlite3_bind_int64(st, 5, s->last_seen);
		db_bind_text(st, 6, s->client);
		sqlite3_bind_int64(st, 7, s->flags);
		rc = db_step_done(db, st, "session.create");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_session_get(db_t *db, const char *token_hash, db_session_t *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "SELECT token_hash, user, csrf_token, created, last_seen, client,"
	                             " flags FROM sessions WHERE token_hash = ?", &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, token_hash);
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			db_col_copy(st, 0, out->token_hash, sizeof out->token_hash);
			db_col_copy(st, 1, out->user, sizeof out->user);
			db_col_copy(st, 2, out->csrf_token, sizeof out->csrf_token);
			out->created = sqlite3_column_int64(st, 3);
			out->last_seen = sqlite3_column_int64(st, 4);
			db_col_copy(st, 5, out->client, sizeof out->client);
			out->flags = (uint32_t)sqlite3_column_int64(st, 6);
		} else {
			rc = s == SQLITE_DONE ? DB_ENOTFOUND : db_fail(db, "session.get");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_session_touch(db_t *db, const char *token_hash, int64_t now)
{
	return db_modify(db, "UPDATE sessions SET last_seen = :n WHERE token_hash = ?", "session.touch",
	              now, token_hash, NULL, NULL);
}

db_status_t db_session_delete(db_t *db, const char *token_hash)
{
	return db_modify(db, "DELETE FROM sessions WHERE token_hash = ?", "session.delete", 0,
	              token_hash, NULL, NULL);
}

db_status_t db_session_delete_user(db_t *db, const char *user)
{
	db_status_t rc = db_modify(db, "DELETE FROM sessions WHERE user = ?", "session.delete_user", 0,
	                        user, NULL, NULL);
	return rc == DB_ENOTFOUND ? DB_OK : rc;
}

db_status_t db_session_expire(db_t *db, int64_t idle_before, int64_t created_before,
                              uint64_t *removed)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "DELETE FROM sessions WHERE last_seen < ? OR created < ?", &st);
	if (rc == DB_OK) {
		sqlite3_bind_int64(st, 1, idle_before);
		sqlite3_bind_int64(st, 2, created_before);
		rc = db_step_done(db, st, "session.expire");
		if (removed)
			*removed = rc == DB_OK ? (uint64_t)sqlite3_changes(db->h) : 0;
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_session_set_flags(db_t *db, const char *token_hash, uint32_t flags)
{
	return db_modify(db, "UPDATE sessions SET flags = :n WHERE token_hash = ?", "session.flags",
	              flags, token_hash, NULL, NULL);
}

int64_t db_session_count(db_t *db, int64_t idle_before, int64_t created_before)
{
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	int64_t n = -1;
	if (db_prepare(db, "SELECT count(*) FROM sessions WHERE last_seen >= ? AND created >= ?",
	            &st) == DB_OK) {
		sqlite3_bind_int64(st, 1, idle_before);
		sqlite3_bind_int64(st, 2, created_before);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		else
			db_fail(db, "session.count");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return n;
}
