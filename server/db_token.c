/* db_token.c — API tokens in the database: the tokens and token_grants
 * tables (migration 2).
 *
 * Does: insert a token with its grants in one transaction, look tokens up
 * by name or by the hash of their value, list, revoke (delete; the grants
 * go with it), note the last use.  Does not: generate or hash token values
 * or decide what a token may do (auth.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_private.h"
#include "vellum/util.h"

static db_status_t token_insert(db_t *db, const db_token_t *t)
{
	sqlite3_stmt *st;
	if (db_prepare(db,
	               "INSERT INTO tokens (name, token_hash, created, created_by, expires)"
	               " VALUES (?, ?, ?, ?, ?)",
	               &st) != DB_OK)
		return DB_EIO;
	db_bind_text(st, 1, t->name);
	db_bind_text(st, 2, t->token_hash);
	sqlite3_bind_int64(st, 3, t->created ? t->created : util_now());
	db_bind_text(st, 4, t->created_by);
	sqlite3_bind_int64(st, 5, t->expires);
	db_status_t rc = db_step_done(db, st, "token.insert");
	sqlite3_finalize(st);
	if (rc != DB_OK)
		return rc;
	if (db_prepare(db,
	               "INSERT OR IGNORE INTO token_grants (token, role, archive)"
	               " VALUES (?, ?, ?)",
	               &st) != DB_OK)
		return DB_EIO;
	for (size_t i = 0; i < t->ngrants && rc == DB_OK; i++) {
		sqlite3_reset(st);
		db_bind_text(st, 1, t->name);
		db_bind_text(st, 2, t->grants[i].role);
		db_bind_text(st, 3, t->grants[i].archive);
		rc = db_step_done(db, st, "token.grant");
	}
	sqlite3_finalize(st);
	return rc;
}

db_status_t db_token_create(db_t *db, const db_token_t *t)
{
	if (!db_user_name_valid(t->name) || strlen(t->token_hash) != DB_TOKEN_HASH_HEX)
		return DB_EINVAL;
	for (size_t i = 0; i < t->ngrants; i++) {
		const char *a = t->grants[i].archive;
		if (!db_role_valid(t->grants[i].role) ||
		    (strcmp(a, "*") && !db_archive_name_valid(a)))
			return DB_EINVAL;
	}
	pthread_mutex_lock(&db->lock);
	db_status_t rc = db_exec(db, "BEGIN IMMEDIATE", "token.begin");
	if (rc == DB_OK) {
		rc = token_insert(db, t);
		if (rc == DB_OK)
			rc = db_exec(db, "COMMIT", "token.commit");
		else
			db_exec(db, "ROLLBACK", "token.rollback");
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

#define TOKEN_COLS "name, token_hash, created, created_by, last_used, expires"

static db_status_t token_grants_load(db_t *db, db_token_t *t)
{
	sqlite3_stmt *st;
	if (db_prepare(db,
	               "SELECT role, archive FROM token_grants WHERE token = ?"
	               " ORDER BY role, archive",
	               &st) != DB_OK)
		return DB_EIO;
	db_bind_text(st, 1, t->name);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		t->grants = xrealloc(t->grants, (t->ngrants + 1) * sizeof *t->grants);
		db_grant_t *g = &t->grants[t->ngrants++];
		db_col_copy(st, 0, g->role, sizeof g->role);
		db_col_copy(st, 1, g->archive, sizeof g->archive);
	}
	sqlite3_finalize(st);
	return s == SQLITE_DONE ? DB_OK : db_fail(db, "token.grants");
}

static db_status_t token_fill(db_t *db, sqlite3_stmt *st, db_token_t *t)
{
	memset(t, 0, sizeof *t);
	db_col_copy(st, 0, t->name, sizeof t->name);
	db_col_copy(st, 1, t->token_hash, sizeof t->token_hash);
	t->created = sqlite3_column_int64(st, 2);
	db_col_copy(st, 3, t->created_by, sizeof t->created_by);
	t->last_used = sqlite3_column_int64(st, 4);
	t->expires = sqlite3_column_int64(st, 5);
	return token_grants_load(db, t);
}

static db_status_t token_get(db_t *db, const char *sql, const char *key, db_token_t **out)
{
	*out = NULL;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st;
	db_status_t rc = db_prepare(db, sql, &st);
	if (rc == DB_OK) {
		db_bind_text(st, 1, key);
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			db_token_t *t = xcalloc(1, sizeof *t);
			rc = token_fill(db, st, t);
			if (rc == DB_OK)
				*out = t;
			else
				db_token_free(t);
		} else {
			rc = s == SQLITE_DONE ? DB_ENOTFOUND : db_fail(db, "token.get");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&db->lock);
	return rc;
}

db_status_t db_token_get(db_t *db, const char *name, db_token_t **out)
{
	return token_get(db, "SELECT " TOKEN_COLS " FROM tokens WHERE name = ?", name, out);
}

db_status_t db_token_get_by_hash(db_t *db, const char *token_hash, db_token_t **out)
{
	return token_get(db, "SELECT " TOKEN_COLS " FROM tokens WHERE token_hash = ?", token_hash,
	                 out);
}

db_status_t db_token_list(db_t *db, db_token_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&db->lock);
	sqlite3_stmt *st = NULL;
	db_status_t rc = db_prepare(db, "SELECT " TOKEN_COLS " FROM tokens ORDER BY name", &st);
	db_token_t *v = NULL;
	size_t count = 0;
	int s = SQLITE_DONE;
	while (rc == DB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
		v = xrealloc(v, (count + 1) * sizeof *v);
		rc = token_fill(db, st, &v[count++]);
	}
	if (rc == DB_OK && s != SQLITE_DONE)
		rc = db_fail(db, "token.list");
	if (st)
		sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	if (rc != DB_OK) {
		db_token_list_free(v, count);
		return rc;
	}
	*out = v;
	*n = count;
	return DB_OK;
}

db_status_t db_token_delete(db_t *db, const char *name)
{
	return db_modify(db, "DELETE FROM tokens WHERE name = ?", "token.delete", 0, name, NULL,
	                 NULL);
}

db_status_t db_token_touch(db_t *db, const char *name, int64_t now)
{
	return db_modify(db, "UPDATE tokens SET last_used = :n WHERE name = ?", "token.touch", now,
	                 name, NULL, NULL);
}

void db_token_free(db_token_t *t)
{
	if (!t)
		return;
	free(t->grants);
	free(t);
}

void db_token_list_free(db_token_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].grants);
	free(v);
}
