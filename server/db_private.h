/* db_private.h — shared by db.c and the db_*.c files: the connection and
 * the statement helpers.  Not for other modules. */
#ifndef VELLUM_DB_PRIVATE_H
#define VELLUM_DB_PRIVATE_H

#include <pthread.h>
#include <sqlite3.h>

#include "vellum/db.h"

struct db {
	sqlite3 *h;
	pthread_mutex_t lock; /* one statement sequence at a time */
	char *path;
	int version;
};

/* Each logs SQLite's message once (db.sqlite) and returns DB_EIO on
 * failure; callers hold db->lock. */
db_status_t db_fail(db_t *db, const char *what);
db_status_t db_prepare(db_t *db, const char *sql, sqlite3_stmt **st);
db_status_t db_exec(db_t *db, const char *sql, const char *what);
/* Steps a statement that returns no rows; constraint failures become
 * DB_EEXIST (unique/primary key), DB_ENOTFOUND (foreign key), DB_EINVAL. */
db_status_t db_step_done(db_t *db, sqlite3_stmt *st, const char *what);
void db_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Column i as a new string ("" for NULL), or copied into out[n]. */
char *db_col_text(sqlite3_stmt *st, int i);
void db_col_copy(sqlite3_stmt *st, int i, char *out, size_t n);
/* Runs an UPDATE/DELETE under the lock: an optional leading integer
 * parameter written ":n" in sql, then up to three text parameters.
 * DB_ENOTFOUND when no row changed. */
db_status_t db_modify(db_t *db, const char *sql, const char *what, int64_t num, const char *a,
                      const char *b, const char *c);
/* Role names the schema accepts. */
bool db_role_valid(const char *role);

#endif
