/* store_catalog.c — the per-archive catalog (SQLite): message seq → hash,
 * size, arrivals → record locations, (hash, segment) → content references of
 * the active segment (dedup), the highest message seq ever allocated (ids are
 * never reused, even after the newest messages are purged), and the deleted
 * ranges of the chain.
 *
 * Does: open/create the schema, the few queries the writer and readers need.
 * Does not: decide anything — it is derived data, rebuilt from the segments by
 * store_archive.c whenever it is missing, unreadable or out of step
 * (doc/format.md §8).  Each connection is used by one thread at a time (the
 * writer's by the writer, the readers' under archive.cat_r_lock).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_private.h"
#include "vellum/log.h"

#define CAT_SCHEMA_VERSION 2
/* A reader waits this long for the writer's checkpoint (WAL) before failing. */
#define CAT_BUSY_MS 10000

enum {
	Q_LAST_SEQ,
	Q_SET_LAST_SEQ,
	Q_MAX_MSG,
	Q_NOTE_MSG,
	Q_MSG_BY_SHA,
	Q_CONTENT_FIND,
	Q_ADD_MSG,
	Q_ADD_ARR,
	Q_ADD_CONTENT,
	Q_MSG,
	Q_ARRIVALS,
	Q_SEG_ARRIVALS,
	Q_ARR_GET,
	Q_ARR_DEL,
	Q_MSG_LEFT,
	Q_MSG_DEL,
	Q_RANGE_MSGS,
	Q_RANGE_DEL,
	Q_SEG_DEL_ARR,
	Q_SEG_DEL_CONTENT,
	Q_ORPHANS_DEL,
	Q_GAPS_GET,
	Q_GAPS_CLEAR,
	Q_GAPS_ADD,
	Q_COUNT,
};

static const char *const cat_sql[Q_COUNT] = {
    [Q_LAST_SEQ] = "SELECT v FROM meta WHERE k = 'last_seq'",
    [Q_SET_LAST_SEQ] = "INSERT OR REPLACE INTO meta(k, v) VALUES ('last_seq', ?1)",
    [Q_MAX_MSG] = "SELECT max(coalesce((SELECT max(seq) FROM messages), 0),"
                  " coalesce((SELECT v FROM meta WHERE k = 'msg_seq_max'), 0))",
    [Q_NOTE_MSG] = "UPDATE meta SET v = max(v, ?1) WHERE k = 'msg_seq_max'",
    [Q_MSG_BY_SHA] = "SELECT seq FROM messages WHERE sha256 = ?1",
    [Q_CONTENT_FIND] = "SELECT refs FROM contents WHERE sha256 = ?1 AND segment = ?2",
    [Q_ADD_MSG] = "INSERT OR IGNORE INTO messages(seq, sha256, size, received) "
                  "VALUES (?1, ?2, ?3, ?4)",
    [Q_ADD_ARR] = "INSERT OR REPLACE INTO arrivals(record_seq, msg_seq, segment, offset, "
                  "received, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_ADD_CONTENT] = "INSERT OR IGNORE INTO contents(sha256, segment, refs) VALUES (?1, ?2, ?3)",
    [Q_MSG] = "SELECT sha256, size, received FROM messages WHERE seq = ?1",
    [Q_ARRIVALS] = "SELECT record_seq, msg_seq, segment, offset, received, size FROM arrivals "
                   "WHERE msg_seq = ?1 ORDER BY record_seq",
    [Q_SEG_ARRIVALS] = "SELECT record_seq, msg_seq, segment, offset, received, size FROM "
                       "arrivals WHERE segment = ?1 ORDER BY record_seq",
    [Q_ARR_GET] = "SELECT msg_seq FROM arrivals WHERE record_seq = ?1",
    [Q_ARR_DEL] = "DELETE FROM arrivals WHERE record_seq = ?1",
    [Q_MSG_LEFT] = "SELECT count(*) FROM arrivals WHERE msg_seq = ?1",
    [Q_MSG_DEL] = "DELETE FROM messages WHERE seq = ?1",
    [Q_RANGE_MSGS] = "SELECT DISTINCT msg_seq FROM arrivals WHERE record_seq BETWEEN ?1 AND ?2",
    [Q_RANGE_DEL] = "DELETE FROM arrivals WHERE record_seq BETWEEN ?1 AND ?2",
    [Q_SEG_DEL_ARR] = "DELETE FROM arrivals WHERE segment = ?1",
    [Q_SEG_DEL_CONTENT] = "DELETE FROM contents WHERE segment = ?1",
    [Q_ORPHANS_DEL] = "DELETE FROM messages WHERE seq NOT IN (SELECT msg_seq FROM arrivals)",
    [Q_GAPS_GET] = "SELECT first, last, prev_link, end_link FROM gaps ORDER BY first",
    [Q_GAPS_CLEAR] = "DELETE FROM gaps",
    [Q_GAPS_ADD] = "INSERT INTO gaps(first, last, prev_link, end_link) VALUES (?1, ?2, ?3, ?4)",
};

static const char cat_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE,"
    " size INTEGER NOT NULL, received INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS arrivals(record_seq INTEGER PRIMARY KEY,"
    " msg_seq INTEGER NOT NULL, segment INTEGER NOT NULL, offset INTEGER NOT NULL,"
    " received INTEGER NOT NULL, size INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS arrivals_by_msg ON arrivals(msg_seq, record_seq);"
    "CREATE INDEX IF NOT EXISTS arrivals_by_seg ON arrivals(segment, record_seq);"
    "CREATE TABLE IF NOT EXISTS contents(sha256 BLOB NOT NULL, segment INTEGER NOT NULL,"
    " refs BLOB NOT NULL, PRIMARY KEY(sha256, segment));"
    "CREATE TABLE IF NOT EXISTS gaps(first INTEGER PRIMARY KEY, last INTEGER NOT NULL,"
    " prev_link BLOB NOT NULL, end_link BLOB NOT NULL);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES ('schema', 2);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES ('last_seq', 0);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES ('msg_seq_max', 0);";

struct store_cat {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *q[Q_COUNT];
};

static store_status_t cat_fail(store_cat_t *c, const char *what)
{
	char q[LOG_Q_MAX], m[LOG_Q_MAX];
	log_error("store.catalog", "path=%s op=%s err=%s", log_q(q, sizeof q, c->path), what,
	          log_q(m, sizeof m, sqlite3_errmsg(c->db)));
	return STORE_EIO;
}

void store_cat_close(store_cat_t *c)
{
	if (!c)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(c->q[i]);
	sqlite3_close(c->db);
	free(c->path);
	free(c);
}

void store_cat_remove(const char *dir)
{
	static const char *const names[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm"};
	for (size_t i = 0; i < 3; i++) {
		char *p = util_path_join(dir, names[i]);
		unlink(p);
		free(p);
	}
}

static bool cat_schema_ok(store_cat_t *c)
{
	sqlite3_stmt *st = NULL;
	bool ok = sqlite3_prepare_v2(c->db, "SELECT v FROM meta WHERE k = 'schema'", -1, &st,
	                             NULL) == SQLITE_OK &&
	          sqlite3_step(st) == SQLITE_ROW &&
	          sqlite3_column_int64(st, 0) == CAT_SCHEMA_VERSION;
	sqlite3_finalize(st);
	return ok;
}

store_status_t store_cat_open(const char *dir, bool readonly, store_cat_t **out)
{
	*out = NULL;
	store_cat_t *c = xcalloc(1, sizeof *c);
	c->path = util_path_join(dir, "catalog.db");
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (readonly && access(c->path, F_OK) != 0) {
		store_cat_close(c);
		return STORE_ENOTFOUND;
	}
	if (sqlite3_open_v2(c->path, &c->db, flags | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		store_status_t st = c->db ? cat_fail(c, "open") : STORE_EIO;
		store_cat_close(c);
		return st;
	}
	sqlite3_busy_timeout(c->db, CAT_BUSY_MS);
	if (!readonly) {
		/* synchronous=NORMAL: the catalog is derived and replayed from the
		 * segments after a crash, so its own fsyncs buy nothing.  No
		 * automatic checkpoints: they would fsync inside a group commit;
		 * the writer checkpoints once a second instead (store_cat_checkpoint). */
		if (sqlite3_exec(c->db,
		                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		                 " PRAGMA wal_autocheckpoint=0;",
		                 NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(c->db, cat_schema, NULL, NULL, NULL) != SQLITE_OK) {
			store_status_t st = cat_fail(c, "schema");
			store_cat_close(c);
			return st;
		}
	}
	if (!cat_schema_ok(c)) {
		char q[LOG_Q_MAX];
		log_warn("store.catalog", "path=%s msg=%s", log_q(q, sizeof q, c->path),
		         "unknown catalog schema");
		store_cat_close(c);
		return STORE_ECORRUPT;
	}
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(c->db, cat_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->q[i],
		                       NULL) != SQLITE_OK) {
			store_status_t st = cat_fail(c, "prepare");
			store_cat_close(c);
			return st;
		}
	*out = c;
	return STORE_OK;
}

static store_status_t cat_exec(store_cat_t *c, const char *sql)
{
	return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? STORE_OK
	                                                               : cat_fail(c, sql);
}

void store_cat_checkpoint(store_cat_t *c)
{
	int log = 0, done = 0;
	if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) !=
	    SQLITE_OK)
		cat_fail(c, "checkpoint"); /* logged; the WAL just grows until the next one */
}

store_status_t store_cat_begin(store_cat_t *c)
{
	return cat_exec(c, "BEGIN IMMEDIATE");
}
store_status_t store_cat_commit(store_cat_t *c)
{
	return cat_exec(c, "COMMIT");
}
void store_cat_rollback(store_cat_t *c)
{
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs a prepared statement expecting at most one row: SQLITE_ROW,
 * SQLITE_DONE, or an error (logged, returned as -1). */
static int cat_step(store_cat_t *c, int q)
{
	int rc = sqlite3_step(c->q[q]);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cat_fail(c, cat_sql[q]);
		return -1;
	}
	return rc;
}

static store_status_t cat_u64(store_cat_t *c, int q, uint64_t *v)
{
	sqlite3_stmt *st = c->q[q];
	int rc = cat_step(c, q);
	*v = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc < 0 ? STORE_EIO : STORE_OK;
}

store_status_t store_cat_last_seq(store_cat_t *c, uint64_t *seq)
{
	return cat_u64(c, Q_LAST_SEQ, seq);
}
store_status_t store_cat_max_msg(store_cat_t *c, uint64_t *seq)
{
	return cat_u64(c, Q_MAX_MSG, seq);
}

store_status_t store_cat_set_last_seq(store_cat_t *c, uint64_t seq)
{
	sqlite3_stmt *st = c->q[Q_SET_LAST_SEQ];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	int rc = cat_step(c, Q_SET_LAST_SEQ);
	sqlite3_reset(st);
	return rc < 0 ? STORE_EIO : STORE_OK;
}

store_status_t store_cat_msg_by_sha(store_cat_t *c, const uint8_t sha[32], uint64_t *msg_seq)
{
	sqlite3_stmt *st = c->q[Q_MSG_BY_SHA];
	sqlite3_bind_blob(st, 1, sha, 32, SQLITE_STATIC);
	int rc = cat_step(c, Q_MSG_BY_SHA);
	if (rc == SQLITE_ROW)
		*msg_seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc < 0 ? STORE_EIO : rc == SQLITE_ROW ? STORE_OK : STORE_ENOTFOUND;
}

static void refs_pack(const store_ref_t *refs, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 8; k++) {
			out[16 * i + (size_t)k] = (uint8_t)(refs[i].seq >> (8 * k));
			out[16 * i + 8 + (size_t)k] = (uint8_t)(refs[i].offset >> (8 * k));
		}
}

store_status_t store_cat_content_find(store_cat_t *c, const uint8_t sha[32], uint64_t seg,
                                      store_ref_t **refs, size_t *nrefs)
{
	sqlite3_stmt *st = c->q[Q_CONTENT_FIND];
	sqlite3_bind_blob(st, 1, sha, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seg);
	int rc = cat_step(c, Q_CONTENT_FIND);
	store_status_t res = rc < 0 ? STORE_EIO : STORE_ENOTFOUND;
	if (rc == SQLITE_ROW) {
		const uint8_t *b = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		if (b && n && n % 16 == 0 && n / 16 <= STORE_CHUNKS_MAX) {
			*nrefs = n / 16;
			*refs = xcalloc(*nrefs, sizeof **refs);
			for (size_t i = 0; i < *nrefs; i++)
				for (int k = 7; k >= 0; k--) {
					(*refs)[i].seq =
					    (*refs)[i].seq << 8 | b[16 * i + (size_t)k];
					(*refs)[i].offset =
					    (*refs)[i].offset << 8 | b[16 * i + 8 + (size_t)k];
				}
			res = STORE_OK;
		}
	}
	sqlite3_reset(st);
	return res;
}

store_status_t store_cat_add(store_cat_t *c, const store_env_rec_t *e, uint64_t record_seq,
                             uint64_t seg, uint64_t off)
{
	sqlite3_stmt *m = c->q[Q_ADD_MSG], *a = c->q[Q_ADD_ARR], *ct = c->q[Q_ADD_CONTENT];
	sqlite3_bind_int64(m, 1, (sqlite3_int64)e->msg_seq);
	sqlite3_bind_blob(m, 2, e->sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int64(m, 3, (sqlite3_int64)e->size);
	sqlite3_bind_int64(m, 4, e->arr.received);
	int rc = cat_step(c, Q_ADD_MSG);
	sqlite3_reset(m);
	if (rc < 0)
		return STORE_EIO;
	sqlite3_bind_int64(a, 1, (sqlite3_int64)record_seq);
	sqlite3_bind_int64(a, 2, (sqlite3_int64)e->msg_seq);
	sqlite3_bind_int64(a, 3, (sqlite3_int64)seg);
	sqlite3_bind_int64(a, 4, (sqlite3_int64)off);
	sqlite3_bind_int64(a, 5, e->arr.received);
	sqlite3_bind_int64(a, 6, (sqlite3_int64)e->size);
	rc = cat_step(c, Q_ADD_ARR);
	sqlite3_reset(a);
	if (rc < 0)
		return STORE_EIO;
	uint8_t *packed = xmalloc(e->nrefs * 16);
	refs_pack(e->refs, e->nrefs, packed);
	sqlite3_bind_blob(ct, 1, e->sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int64(ct, 2, (sqlite3_int64)seg);
	sqlite3_bind_blob(ct, 3, packed, (int)(e->nrefs * 16), SQLITE_STATIC);
	rc = cat_step(c, Q_ADD_CONTENT);
	sqlite3_reset(ct);
	sqlite3_clear_bindings(ct);
	free(packed);
	return rc < 0 ? STORE_EIO : STORE_OK;
}

store_status_t store_cat_msg(store_cat_t *c, uint64_t msg_seq, store_cat_msg_t *msg)
{
	sqlite3_stmt *st = c->q[Q_MSG];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)msg_seq);
	int rc = cat_step(c, Q_MSG);
	store_status_t res = rc < 0 ? STORE_EIO : STORE_ENOTFOUND;
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(msg->sha256, sqlite3_column_blob(st, 0), 32);
		msg->size = (uint64_t)sqlite3_column_int64(st, 1);
		msg->received = sqlite3_column_int64(st, 2);
		res = STORE_OK;
	}
	sqlite3_reset(st);
	return res;
}

static store_status_t cat_arr_list(store_cat_t *c, int q, uint64_t key, store_cat_arr_t **out,
                                   size_t *n)
{
	sqlite3_stmt *st = c->q[q];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)key);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc;
	while ((rc = cat_step(c, q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 4;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		store_cat_arr_t *a = &(*out)[*n];
		a->record_seq = (uint64_t)sqlite3_column_int64(st, 0);
		a->msg_seq = (uint64_t)sqlite3_column_int64(st, 1);
		a->segment = (uint64_t)sqlite3_column_int64(st, 2);
		a->offset = (uint64_t)sqlite3_column_int64(st, 3);
		a->received = sqlite3_column_int64(st, 4);
		a->size = (uint64_t)sqlite3_column_int64(st, 5);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return STORE_EIO;
	}
	return STORE_OK;
}

store_status_t store_cat_arrivals(store_cat_t *c, uint64_t msg_seq, store_cat_arr_t **out,
                                  size_t *n)
{
	store_status_t st = cat_arr_list(c, Q_ARRIVALS, msg_seq, out, n);
	return st == STORE_OK && *n == 0 ? STORE_ENOTFOUND : st;
}

store_status_t store_cat_seg_arrivals(store_cat_t *c, uint64_t seg, store_cat_arr_t **out,
                                      size_t *n)
{
	return cat_arr_list(c, Q_SEG_ARRIVALS, seg, out, n);
}

/* Runs a statement with up to two integer parameters and no result rows. */
static store_status_t cat_run(store_cat_t *c, int q, uint64_t p1, uint64_t p2)
{
	sqlite3_stmt *st = c->q[q];
	int np = sqlite3_bind_parameter_count(st);
	if (np >= 1)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)p1);
	if (np >= 2)
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p2);
	int rc = cat_step(c, q);
	sqlite3_reset(st);
	return rc < 0 ? STORE_EIO : STORE_OK;
}

store_status_t store_cat_note_msg_seq(store_cat_t *c, uint64_t seq)
{
	return cat_run(c, Q_NOTE_MSG, seq, 0);
}

store_status_t store_cat_arrival_remove(store_cat_t *c, uint64_t record_seq, bool *msg_gone,
                                        uint64_t *msg_seq)
{
	*msg_gone = false;
	uint64_t m = 0;
	sqlite3_stmt *st = c->q[Q_ARR_GET];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)record_seq);
	int rc = cat_step(c, Q_ARR_GET);
	if (rc == SQLITE_ROW)
		m = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc < 0)
		return STORE_EIO;
	if (rc != SQLITE_ROW)
		return STORE_ENOTFOUND;
	if (msg_seq)
		*msg_seq = m;
	uint64_t left = 0;
	store_status_t s2 = cat_run(c, Q_ARR_DEL, record_seq, 0);
	if (s2 == STORE_OK) {
		sqlite3_stmt *l = c->q[Q_MSG_LEFT];
		sqlite3_bind_int64(l, 1, (sqlite3_int64)m);
		rc = cat_step(c, Q_MSG_LEFT);
		left = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(l, 0) : 1;
		sqlite3_reset(l);
		if (rc < 0)
			s2 = STORE_EIO;
	}
	if (s2 == STORE_OK && left == 0) {
		s2 = cat_run(c, Q_MSG_DEL, m, 0);
		*msg_gone = s2 == STORE_OK;
	}
	return s2;
}

store_status_t store_cat_range_remove(store_cat_t *c, uint64_t first, uint64_t last)
{
	store_status_t st = cat_run(c, Q_RANGE_DEL, first, last);
	return st == STORE_OK ? cat_run(c, Q_ORPHANS_DEL, 0, 0) : st;
}

store_status_t store_cat_seg_remove(store_cat_t *c, uint64_t seg)
{
	store_status_t st = cat_run(c, Q_SEG_DEL_ARR, seg, 0);
	if (st == STORE_OK)
		st = cat_run(c, Q_SEG_DEL_CONTENT, seg, 0);
	return st == STORE_OK ? cat_run(c, Q_ORPHANS_DEL, 0, 0) : st;
}

store_status_t store_cat_seg_sealed(store_cat_t *c, uint64_t seg)
{
	return cat_run(c, Q_SEG_DEL_CONTENT, seg, 0);
}

store_status_t store_cat_gaps_get(store_cat_t *c, store_gap_t **out, size_t *n)
{
	sqlite3_stmt *st = c->q[Q_GAPS_GET];
	*out = NULL;
	*n = 0;
	int rc;
	while ((rc = cat_step(c, Q_GAPS_GET)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 2) != 32 || sqlite3_column_bytes(st, 3) != 32)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		store_gap_t *g = &(*out)[(*n)++];
		g->first = (uint64_t)sqlite3_column_int64(st, 0);
		g->last = (uint64_t)sqlite3_column_int64(st, 1);
		memcpy(g->prev_link, sqlite3_column_blob(st, 2), 32);
		memcpy(g->end_link, sqlite3_column_blob(st, 3), 32);
	}
	sqlite3_reset(st);
	return rc < 0 ? STORE_EIO : STORE_OK;
}

store_status_t store_cat_gaps_set(store_cat_t *c, const store_gap_t *g, size_t n)
{
	store_status_t st = cat_run(c, Q_GAPS_CLEAR, 0, 0);
	sqlite3_stmt *q = c->q[Q_GAPS_ADD];
	for (size_t i = 0; i < n && st == STORE_OK; i++) {
		sqlite3_bind_int64(q, 1, (sqlite3_int64)g[i].first);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)g[i].last);
		sqlite3_bind_blob(q, 3, g[i].prev_link, 32, SQLITE_STATIC);
		sqlite3_bind_blob(q, 4, g[i].end_link, 32, SQLITE_STATIC);
		int rc = cat_step(c, Q_GAPS_ADD);
		sqlite3_reset(q);
		if (rc < 0)
			st = STORE_EIO;
	}
	return st;
}

store_status_t store_cat_segstats(store_cat_t *c, store_cat_segstat_t **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	*out = NULL;
	*n = 0;
	const char *sql =
	    "SELECT segment, count(*), count(DISTINCT msg_seq), coalesce(sum(size), 0),"
	    " min(received), max(received) FROM arrivals GROUP BY segment"
	    " ORDER BY segment";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, "segstats");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		store_cat_segstat_t *g = &(*out)[(*n)++];
		g->segment = (uint64_t)sqlite3_column_int64(st, 0);
		g->arrivals = (uint64_t)sqlite3_column_int64(st, 1);
		g->messages = (uint64_t)sqlite3_column_int64(st, 2);
		g->raw_bytes = (uint64_t)sqlite3_column_int64(st, 3);
		g->rmin = sqlite3_column_int64(st, 4);
		g->rmax = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? STORE_OK : cat_fail(c, "segstats");
}

store_status_t store_cat_segstat(store_cat_t *c, uint64_t seg, store_cat_segstat_t *out)
{
	sqlite3_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	out->segment = seg;
	const char *sql = "SELECT count(*), count(DISTINCT msg_seq), coalesce(sum(size), 0),"
	                  " coalesce(min(received), 0), coalesce(max(received), 0)"
	                  " FROM arrivals WHERE segment = ?1";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, "segstat");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seg);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->arrivals = (uint64_t)sqlite3_column_int64(st, 0);
		out->messages = (uint64_t)sqlite3_column_int64(st, 1);
		out->raw_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		out->rmin = sqlite3_column_int64(st, 3);
		out->rmax = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? STORE_OK : cat_fail(c, "segstat");
}

store_status_t store_cat_stats(store_cat_t *c, store_archive_stats_t *out)
{
	sqlite3_stmt *st = NULL;
	const char *sql = "SELECT (SELECT count(*) FROM messages), count(*), "
	                  "coalesce(sum(size), 0), coalesce(max(received), 0) FROM arrivals";
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, "stats");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->messages = (uint64_t)sqlite3_column_int64(st, 0);
		out->arrivals = (uint64_t)sqlite3_column_int64(st, 1);
		out->raw_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		out->last_received = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? STORE_OK : cat_fail(c, "stats");
}
