/* db.h — the SQLite database: archives, users, grants, sessions, API
 * tokens, the audit trail's query index.
 *
 * One file, data_dir/vellum.db, in WAL mode, created and migrated on open
 * (a schema_version table; each migration runs in its own transaction, so a
 * crash leaves the file at the previous version).  The database holds what
 * is configuration-like and small; mail and the audit trail live in the
 * store.  This module knows the schema and nothing about HTTP, passwords
 * (it stores the hash string it is given) or roles' meaning.
 *
 * Threads: one connection behind a mutex; every function may be called from
 * any thread.  Times are microseconds since the epoch (util_now()).
 */
#ifndef VELLUM_DB_H
#define VELLUM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vellum/util.h"

typedef enum {
	DB_OK = 0,
	DB_EIO,         /* SQLite failed (logged with its message) */
	DB_ENOTFOUND,   /* no such row */
	DB_EEXIST,      /* the row already exists */
	DB_EINVAL,      /* a name or value that does not fit the schema */
	DB_ENEWER,      /* the file's schema is newer than this program */
} db_status_t;

const char *db_strerror(db_status_t st);

typedef struct db db_t;

/* Schema version this program writes (the last migration). */
int db_schema_latest(void);

/* Opens (creating if missing, mode 0600) and migrates path.  On success *out
 * is owned by the caller (db_close). */
db_status_t db_open(const char *path, db_t **out);
void db_close(db_t *db);
/* Version of the open file's schema. */
int db_schema_version(db_t *db);

/* ---- names ----
 * Archive names: [a-z0-9][a-z0-9._-]{0,63} (DESIGN.md; '_' names are internal
 * logs).  User names: [A-Za-z0-9][A-Za-z0-9._@+-]{0,63}; no ':' so that
 * "cli:<user>" can never be a stored user. */
#define DB_NAME_MAX 64
bool db_archive_name_valid(const char *name);
bool db_user_name_valid(const char *name);

/* ---- archives ---- */
typedef struct db_archive {
	char *name;
	char **addresses;          /* NULL-terminated: exact, "*@domain" or "*" */
	size_t naddresses;
	util_duration_t retention;
	char **internal_domains;   /* NULL-terminated */
	size_t ninternal_domains;
	util_duration_t quiet_alert;
	bool compliance;
	int64_t created;
} db_archive_t;

/* Inserts a; created = now when a->created is 0.  DB_EEXIST, DB_EINVAL. */
db_status_t db_archive_create(db_t *db, const db_archive_t *a);
/* One archive (caller frees with db_archive_free).  DB_ENOTFOUND. */
db_status_t db_archive_get(db_t *db, const char *name, db_archive_t **out);
/* All archives by name; *out is an array of *n (caller frees with
 * db_archive_list_free).  serve feeds this to the SMTP router. */
db_status_t db_archive_list(db_t *db, db_archive_t **out, size_t *n);
bool db_archive_exists(db_t *db, const char *name);
void db_archive_free(db_archive_t *a);
void db_archive_list_free(db_archive_t *v, size_t n);

/* ---- users ---- */
typedef struct db_user {
	char *name;
	char *password_hash;       /* crypto_pwhash_str string */
	bool disabled;
	int64_t created;
	int64_t password_changed;
	char *totp_secret;         /* base32 (RFC 4648) TOTP key, or NULL: not enrolled */
	int64_t totp_last_step;    /* last accepted time step (replay guard) */
	int64_t totp_enrolled;     /* when enrolled, 0 = never */
} db_user_t;

db_status_t db_user_create(db_t *db, const char *name, const char *password_hash);
/* Caller frees with db_user_free.  DB_ENOTFOUND. */
db_status_t db_user_get(db_t *db, const char *name, db_user_t **out);
/* All users by name (caller frees with db_user_list_free). */
db_status_t db_user_list(db_t *db, db_user_t **out, size_t *n);
db_status_t db_user_set_password(db_t *db, const char *name, const char *password_hash);
db_status_t db_user_set_disabled(db_t *db, const char *name, bool disabled);
/* Sets (secret non-NULL: enrolled now) or removes the user's TOTP key; the
 * replay guard restarts.  DB_ENOTFOUND for no user. */
db_status_t db_user_set_totp(db_t *db, const char *name, const char *secret);
/* Records that time step `step` was used, only if it is later than the last
 * one used: DB_EEXIST when it is not (a replayed code). */
db_status_t db_user_totp_use(db_t *db, const char *name, int64_t step);
void db_user_free(db_user_t *u);
void db_user_list_free(db_user_t *v, size_t n);

/* ---- grants: (user, role, archive or "*") ----
 * Roles are stored as their names: admin, auditor, legal, ingest. */
typedef struct db_grant {
	char role[16];
	char archive[DB_NAME_MAX + 1];   /* or "*" */
} db_grant_t;

/* DB_EEXIST when the same grant is already there; DB_ENOTFOUND for no user. */
db_status_t db_grant_add(db_t *db, const char *user, const char *role, const char *archive);
/* DB_ENOTFOUND when there was no such grant. */
db_status_t db_grant_remove(db_t *db, const char *user, const char *role, const char *archive);
/* The user's grants ordered by role, archive (caller frees *out with free()). */
db_status_t db_grant_list(db_t *db, const char *user, db_grant_t **out, size_t *n);

/* ---- sessions ----
 * Stored by the hex SHA-256 of the cookie token; the token itself never
 * reaches the database. */
#define DB_TOKEN_HASH_HEX 64
typedef struct db_session {
	char token_hash[DB_TOKEN_HASH_HEX + 1];
	char user[DB_NAME_MAX + 1];
	char csrf_token[64];
	int64_t created;
	int64_t last_seen;
	char client[64];
	uint32_t flags;            /* DB_SESSION_* */
} db_session_t;

/* The session may only enrol TOTP (require_totp_for_admin, first login). */
#define DB_SESSION_ENROL_TOTP 0x1u

db_status_t db_session_create(db_t *db, const db_session_t *s);
db_status_t db_session_get(db_t *db, const char *token_hash, db_session_t *out);
db_status_t db_session_touch(db_t *db, const char *token_hash, int64_t now);
db_status_t db_session_delete(db_t *db, const char *token_hash);
/* Every session of user (password change, disable). */
db_status_t db_session_delete_user(db_t *db, const char *user);
/* Sessions idle since before idle_before or created before created_before;
 * *removed gets the count (may be NULL). */
db_status_t db_session_expire(db_t *db, int64_t idle_before, int64_t created_before,
                              uint64_t *removed);
db_status_t db_session_set_flags(db_t *db, const char *token_hash, uint32_t flags);
/* Sessions not yet expired (created and last_seen after the limits), for the
 * sessions gauge.  -1 on error. */
int64_t db_session_count(db_t *db, int64_t idle_before, int64_t created_before);

/* ---- API tokens ----
 * Bearer tokens with their own grants, stored by the hex SHA-256 of the
 * token (the token is shown once, never stored). */
typedef struct db_token {
	char name[DB_NAME_MAX + 1];
	char token_hash[DB_TOKEN_HASH_HEX + 1];
	char created_by[DB_NAME_MAX + 8];
	int64_t created;
	int64_t last_used;         /* 0 = never */
	int64_t expires;           /* 0 = never */
	db_grant_t *grants;        /* owned */
	size_t ngrants;
} db_token_t;

/* Inserts t with its grants in one transaction.  DB_EEXIST when the name
 * (or, astronomically unlikely, the hash) is taken; DB_EINVAL for a bad
 * name, role or archive. */
db_status_t db_token_create(db_t *db, const db_token_t *t);
/* By name or by hash; caller frees with db_token_free.  DB_ENOTFOUND. */
db_status_t db_token_get(db_t *db, const char *name, db_token_t **out);
db_status_t db_token_get_by_hash(db_t *db, const char *token_hash, db_token_t **out);
/* All tokens by name (caller frees with db_token_list_free). */
db_status_t db_token_list(db_t *db, db_token_t **out, size_t *n);
/* Revokes (deletes) a token.  DB_ENOTFOUND. */
db_status_t db_token_delete(db_t *db, const char *name);
db_status_t db_token_touch(db_t *db, const char *name, int64_t now);
void db_token_free(db_token_t *t);
void db_token_list_free(db_token_t *v, size_t n);

/* ---- the audit trail's query index ----
 * A derived copy of the "_audit" log (audit.c keeps it): one row per record
 * with the fields the listing filters on, and how far into the log it is
 * complete.  The log stays the truth; the index can be dropped and rebuilt. */
typedef struct db_audit_row {
	uint64_t seq;              /* the record's chain position */
	int64_t time_us;
	const char *who;
	const char *action;
	const char *record;        /* the record's JSON text */
} db_audit_row_t;

/* Adds rows (existing seqs are kept) and sets `through` (the highest chain
 * position the index now covers), in one transaction. */
db_status_t db_audit_index_add(db_t *db, const db_audit_row_t *rows, size_t n, uint64_t through);
db_status_t db_audit_index_through(db_t *db, uint64_t *through);
/* Empties the index (then rebuilt from the log). */
db_status_t db_audit_index_reset(db_t *db);

typedef struct db_audit_query {
	int64_t since;             /* time_us >= since; 0 = any */
	const char *who;           /* exact, or NULL */
	const char *action;        /* exact, or prefix before '.', or NULL */
	uint64_t after;            /* seq > after */
	size_t limit;              /* rows wanted (the caller asks one more to see "more") */
} db_audit_query_t;

/* Matching rows in seq order: *seqs and *records are arrays of *n (caller
 * frees each record and both arrays). */
db_status_t db_audit_index_query(db_t *db, const db_audit_query_t *q, uint64_t **seqs,
                                 char ***records, size_t *n);

#endif
