/* db_audit.c — the audit trail's query index (migration 2).
 *
 * Does: keep one row per audit record (seq, time, who, action, the record's
 * JSON) and the chain position up to which the rows are complete, and
 * answer filtered, paged queries from SQLite indexes instead of re-reading
 * the whole log.  Does not: read the log or decide when to catch up
 * (audit.c does both), or vouch for anything: the log is the truth, and
 * `audit --verify` checks the log, not this copy.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "db_private.h"
#include "vellum/util.h"

static db_status_t audit_rows_insert(db_t *db, const db_audit_row_t *rows, size_t n,
                                     uint64_t through)
{
	sqlite3_stmt *st;
	if (db_prepare(db,
	               "INSERT OR IGNORE INTO audit_index (seq, time_us, who, action, record)"
	               " VALUES (?, ?, ?, ?, ?)",
	               &st) != DB_OK)
		return DB_EIO;
	db_status_t rc = DB_OK;
	for (size_t i = 0; i < n && rc == DB_OK; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)rows[i].seq);
		sqlite3_bind_int64(st, 2, rows[i].time_us);
		db_bind_text(st, 3, rows[i].who ? rows[i].who : "");
		db_bind_text(st, 4, rows[i].action ? rows[i].action : "");
		db_bind_text(st, 5, rows[i].record);
		rc = db_step_done(db, st, "audit_index.insert");
	}
	sqlite3_finalize(st);
	if (rc != DB_OK)
		return rc;
	if (db_prepare(db, "UPDATE audit_index_state SET through = max(through, ?)", &st) != DB_OK)
		return DB_EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)through);
	rc = db_step_done(db, st, "audit_index.through");
	sqlite3_finalize(st);
	return rc;
}

db_status_t db_audit_index_add(db_t *db, const db_audit_row_t *rows, size_t n, uint64_t through)
{
	pthread_mutex_lock(&db->lock);
	db_status_t rc = db_exec(db, "BEGIN IMMEDIATE", "audit_index.begin");
	if (rc == DB_OK) {
		rc = audit_rows_insert(db, rows, n, through);
		if (rc == DB_OK)
			rc = db_exec(db, "COMMIT", "audit_index.commit");
		else
			db_exec(db, "ROLLBACK", "audit_index.rollback");
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_audit_index_through(db_t *db, uint64_t *through)
{
	*through = 0;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, "SELECT through FROM audit_index_state", &st);
	if (rc == DB_OK) {
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW)
			*through = (uint64_t)sqlite3_column_int64(st, 0);
		else if (s != SQLITE_DONE)
			rc = db_fail(db, "audit_index.state");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_audit_index_reset(db_t *db)
{
	pthread_mutex_lock(&db->lock);
	db_status_t rc = db_exec(db,
	                         "BEGIN IMMEDIATE; DELETE FROM audit_index;"
	                         " UPDATE audit_index_state SET through = 0; COMMIT",
	                         "audit_index.reset");
	if (rc != DB_OK)
		db_exec(db, "ROLLBACK", "audit_index.rollback");
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_audit_index_query(db_t *db, const db_audit_query_t *q, uint64_t **seqs,
                                 char ***records, size_t *n)
{
	*seqs = NULL;
	*records = NULL;
	*n = 0;
	/* Every filter is always bound; an empty one matches everything, so
	 * one statement (and SQLite's choice of index) covers all cases. */
	static const char sql[] =
	    "SELECT seq, record FROM audit_index WHERE seq > ?1 AND time_us >= ?2"
	    " AND (?3 = '' OR who = ?3)"
	    " AND (?4 = '' OR action = ?4 OR substr(action, 1, length(?4) + 1) = ?4 || '.')"
	    " ORDER BY seq LIMIT ?5";
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, sql, &st);
	if (rc == DB_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)q->after);
		sqlite3_bind_int64(st, 2, q->since);
		db_bind_text(st, 3, q->who ? q->who : "");
		db_bind_text(st, 4, q->action ? q->action : "");
		sqlite3_bind_int64(st, 5, (sqlite3_int64)q->limit);
		int s;
		size_t cap = 0;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				*seqs = xrealloc(*seqs, cap * sizeof **seqs);
				*records = xrealloc(*records, cap * sizeof **records);
			}
			(*seqs)[*n] = (uint64_t)sqlite3_column_int64(st, 0);
			(*records)[*n] = db_col_text(st, 1);
			(*n)++;
		}
		if (s != SQLITE_DONE)
			rc = db_fail(db, "audit_index.query");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}
