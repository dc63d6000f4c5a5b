/* audit.c — the audit trail over the store's "_audit" log.
 *
 * Does: serialise events as JSON records (format in audit.h), append them
 * durably through store_log_append, keep the query index in the database
 * up to date with the log (caught up before each listing, from where it
 * left off), list entries with filters from that index, and verify the
 * trail (the store's chain checks plus the entries' own consistency and
 * the index's agreement with the log).  Does not: decide what is audited
 * (the API and CLI do).
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/audit.h"
#include "vellum/db.h"
#include "vellum/log.h"
#include "vellum/store.h"
#include "vellum/util.h"

/* The largest audit record accepted when reading back (a search event holds
 * the query, at most a few KiB; anything beyond this is not ours). */
#define AUDIT_RECORD_MAX (1u << 20)
/* Index rows written per transaction while catching up. */
#define AUDIT_INDEX_BATCH 1000

struct audit {
	store_t *store;
	db_t *db;               /* the query index, or NULL */
	pthread_mutex_t mu;     /* one catch-up at a time */
};

const char *audit_strerror(audit_status_t st)
{
	switch (st) {
	case AUDIT_OK: return "ok";
	case AUDIT_EIO: return "audit trail unavailable";
	case AUDIT_EINVAL: return "invalid audit event";
	}
	return "unknown error";
}

audit_t *audit_new(store_t *store)
{
	audit_t *a = xcalloc(1, sizeof *a);
	a->store = store;
	pthread_mutex_init(&a->mu, NULL);
	if (store && !store_archive_exists(store, AUDIT_LOG)) {
		store_status_t st = store_archive_create(store, AUDIT_LOG);
		if (st != STORE_OK && st != STORE_EEXIST)
			log_warn("audit.create", "err=\"%s\"", store_strerror(st));
	}
	return a;
}

void audit_free(audit_t *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void audit_set_index(audit_t *a, db_t *db)
{
	if (a)
		a->db = db;
}

static json_t *event_json(const audit_event_t *e)
{
	int64_t now = util_now();
	char ts[UTIL_TIME_MAX];
	util_time_format(now, true, ts);
	json_t *o = json_object();
	json_object_set_new(o, "v", json_integer(AUDIT_FORMAT_VERSION));
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "time_us", json_integer(now));
	json_object_set_new(o, "who", json_string(e->who));
	json_object_set_new(o, "from", json_string(e->from ? e->from : "local"));
	json_object_set_new(o, "action", json_string(e->action));
	if (e->target)
		json_object_set_new(o, "target", json_string(e->target));
	json_object_set_new(o, "outcome", json_string(e->outcome ? e->outcome : "ok"));
	if (e->has_count)
		json_object_set_new(o, "count", json_integer(e->count));
	if (e->detail)
		json_object_set(o, "detail", e->detail);
	return o;
}

audit_status_t audit_record(audit_t *a, const audit_event_t *e, uint64_t *seq)
{
	if (!e->who || !e->action)
		return AUDIT_EINVAL;
	if (!a || !a->store)
		return AUDIT_EIO;
	json_t *o = event_json(e);
	/* Strings that are not valid UTF-8 make json_string return NULL, which
	 * set_new silently drops; the record then lacks a field rather than
	 * failing, but who/action come from us and are always valid. */
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!text)
		return AUDIT_EINVAL;
	uint64_t s = 0;
	store_status_t st = store_log_append(a->store, AUDIT_LOG, text, strlen(text), &s);
	free(text);
	if (st != STORE_OK) {
		log_error("audit.append", "action=%s err=\"%s\"", e->action, store_strerror(st));
		return AUDIT_EIO;
	}
	if (seq)
		*seq = s;
	return AUDIT_OK;
}

static bool action_matches(const char *want, const char *got)
{
	if (!want || !*want)
		return true;
	if (!got)
		return false;
	size_t n = strlen(want);
	return !strcmp(want, got) || (!strncmp(want, got, n) && got[n] == '.');
}

static bool entry_matches(const audit_filter_t *f, json_t *o)
{
	if (f->since && json_integer_value(json_object_get(o, "time_us")) < f->since)
		return false;
	const char *who = json_string_value(json_object_get(o, "who"));
	if (f->user && *f->user && (!who || strcmp(f->user, who)))
		return false;
	return action_matches(f->action, json_string_value(json_object_get(o, "action")));
}

static size_t page_limit(const audit_filter_t *f)
{
	size_t limit = f->limit ? f->limit : AUDIT_LIST_DEFAULT;
	return limit > AUDIT_LIST_MAX ? AUDIT_LIST_MAX : limit;
}

/* A log record as a JSON object, or NULL (logged) when it is not one. */
static json_t *record_parse(const void *p, size_t n, uint64_t seq)
{
	json_t *o = n <= AUDIT_RECORD_MAX ? json_loadb(p, n, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		log_warn("audit.record", "seq=%" PRIu64 " err=\"not a JSON object\"", seq);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Listing by scanning the log (no database). */
static audit_status_t list_scan(audit_t *a, const audit_filter_t *f, json_t *entries, bool *more,
                                uint64_t *next)
{
	size_t limit = page_limit(f);
	store_scan_t *sc;
	store_status_t st = store_scan_open(a->store, AUDIT_LOG, f->after, &sc);
	if (st == STORE_ENOTFOUND)
		return AUDIT_OK;   /* no trail yet: nothing recorded */
	if (st != STORE_OK) {
		log_error("audit.scan", "err=\"%s\"", store_strerror(st));
		return AUDIT_EIO;
	}
	const store_scan_item_t *it;
	while ((st = store_scan_next(sc, &it)) == STORE_OK && it) {
		if (it->type != STORE_ITEM_LOG)
			continue;
		json_t *o = record_parse(it->data, it->len, it->record_seq);
		if (!o || !entry_matches(f, o)) {
			json_decref(o);
			continue;
		}
		if (json_array_size(entries) == limit) {
			json_decref(o);
			*more = true;
			break;
		}
		json_object_set_new(o, "seq", json_integer((json_int_t)it->record_seq));
		json_array_append_new(entries, o);
		*next = it->record_seq;
	}
	store_scan_close(sc);
	if (st != STORE_OK) {
		log_error("audit.scan", "err=\"%s\"", store_strerror(st));
		return AUDIT_EIO;
	}
	return AUDIT_OK;
}

/* ---- the query index ---- */

typedef struct rows {
	db_audit_row_t v[AUDIT_INDEX_BATCH];
	size_t n;
} rows_t;

static void rows_clear(rows_t *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free((char *)r->v[i].who);
		free((char *)r->v[i].action);
		free((char *)r->v[i].record);
	}
	r->n = 0;
}

static void rows_add(rows_t *r, uint64_t seq, const void *data, size_t len)
{
	json_t *o = record_parse(data, len, seq);
	db_audit_row_t *w = &r->v[r->n++];
	w->seq = seq;
	w->time_us = json_integer_value(json_object_get(o, "time_us"));
	w->who = xstrdup(o ? json_string_value(json_object_get(o, "who")) : NULL);
	w->action = xstrdup(o ? json_string_value(json_object_get(o, "action")) : NULL);
	w->record = o ? xstrndup(data, len) : xstrdup("{}");
	json_decref(o);
}

/* Adds the records after the index's `through` to the index.  Caller holds
 * a->mu. */
static audit_status_t index_catch_up(audit_t *a)
{
	uint64_t through = 0, head = 0;
	if (db_audit_index_through(a->db, &through) != DB_OK)
		return AUDIT_EIO;
	store_status_t st = store_head(a->store, AUDIT_LOG, &head);
	if (st == STORE_ENOTFOUND)
		head = 0;
	else if (st != STORE_OK)
		return AUDIT_EIO;
	if (through > head) {
		/* The index describes a longer log than this one (a restored or
		 * replaced data dir): start over. */
		log_warn("audit.index_reset", "through=%" PRIu64 " head=%" PRIu64, through, head);
		if (db_audit_index_reset(a->db) != DB_OK)
			return AUDIT_EIO;
		through = 0;
	}
	if (through == head)
		return AUDIT_OK;
	store_scan_t *sc;
	if ((st = store_scan_open(a->store, AUDIT_LOG, through, &sc)) != STORE_OK) {
		log_error("audit.scan", "err=\"%s\"", store_strerror(st));
		return AUDIT_EIO;
	}
	rows_t *r = xcalloc(1, sizeof *r);
	uint64_t last = through;
	const store_scan_item_t *it;
	audit_status_t rc = AUDIT_OK;
	while (rc == AUDIT_OK && (st = store_scan_next(sc, &it)) == STORE_OK && it) {
		last = it->record_seq;
		if (it->type == STORE_ITEM_LOG)
			rows_add(r, it->record_seq, it->data, it->len);
		if (r->n == AUDIT_INDEX_BATCH) {
			rc = db_audit_index_add(a->db, r->v, r->n, last) == DB_OK ? AUDIT_OK : AUDIT_EIO;
			rows_clear(r);
		}
	}
	store_scan_close(sc);
	if (rc == AUDIT_OK && st != STORE_OK) {
		log_error("audit.scan", "err=\"%s\"", store_strerror(st));
		rc = AUDIT_EIO;
	}
	/* Everything up to the head seen at the start has been read. */
	if (rc == AUDIT_OK && db_audit_index_add(a->db, r->v, r->n, last > head ? last : head) != DB_OK)
		rc = AUDIT_EIO;
	rows_clear(r);
	free(r);
	return rc;
}

static audit_status_t list_index(audit_t *a, const audit_filter_t *f, json_t *entries,
                                 bool *more, uint64_t *next)
{
	size_t limit = page_limit(f);
	db_audit_query_t q = {
		.since = f->since,
		.who = f->user,
		.action = f->action,
		.after = f->after,
		.limit = limit + 1,   /* one more says whether there is a next page */
	};
	uint64_t *seqs;
	char **recs;
	size_t n;
	if (db_audit_index_query(a->db, &q, &seqs, &recs, &n) != DB_OK)
		return AUDIT_EIO;
	for (size_t i = 0; i < n; i++) {
		if (i == limit) {
			*more = true;
		} else {
			json_t *o = record_parse(recs[i], strlen(recs[i]), seqs[i]);
			if (o) {
				json_object_set_new(o, "seq", json_integer((json_int_t)seqs[i]));
				json_array_append_new(entries, o);
			}
			*next = seqs[i];
		}
		free(recs[i]);
	}
	free(seqs);
	free(recs);
	return AUDIT_OK;
}

audit_status_t audit_list(audit_t *a, const audit_filter_t *f, json_t **entries, bool *more,
                          uint64_t *next)
{
	*entries = json_array();
	*more = false;
	*next = 0;
	if (!a || !a->store)
		return AUDIT_EIO;
	if (!store_archive_exists(a->store, AUDIT_LOG))
		return AUDIT_OK;   /* no trail yet: nothing recorded */
	if (!a->db)
		return list_scan(a, f, *entries, more, next);
	pthread_mutex_lock(&a->mu);
	audit_status_t st = index_catch_up(a);
	pthread_mutex_unlock(&a->mu);
	if (st != AUDIT_OK) {
		/* The log is the truth: answer from it rather than not at all. */
		log_warn("audit.index", "err=\"cannot update the index; scanning the log\"");
		return list_scan(a, f, *entries, more, next);
	}
	return list_index(a, f, *entries, more, next);
}

/* ---- verification ---- */

typedef struct vstate {
	audit_verify_cb cb;
	void *arg;
	audit_verify_report_t *rep;
} vstate_t;

static void v_problem(vstate_t *v, uint64_t seq, const char *text)
{
	v->rep->problems++;
	if (seq && (!v->rep->first_bad || seq < v->rep->first_bad))
		v->rep->first_bad = seq;
	if (v->cb)
		v->cb(v->arg, seq, text);
}

/* The store names the sequence as "... seq N: ..." (store_verify.c). */
static void v_store_problem(void *arg, const char *archive, const char *problem)
{
	(void)archive;
	const char *p = strstr(problem, " seq ");
	uint64_t seq = p ? strtoull(p + 5, NULL, 10) : 0;
	v_problem(arg, seq, problem);
}

/* The index read alongside the log, a page at a time. */
typedef struct icursor {
	db_t *db;
	uint64_t after;    /* last seq handed out */
	uint64_t *seqs;
	char **recs;
	size_t n, pos;
	bool failed;
} icursor_t;

static void icursor_drop(icursor_t *ic)
{
	for (size_t i = 0; i < ic->n; i++)
		free(ic->recs[i]);
	free(ic->seqs);
	free(ic->recs);
	ic->seqs = NULL;
	ic->recs = NULL;
	ic->n = ic->pos = 0;
}

/* The next index row (seq, record), or false at its end. */
static bool icursor_next(icursor_t *ic, uint64_t *seq, const char **rec)
{
	if (ic->pos == ic->n) {
		icursor_drop(ic);
		db_audit_query_t q = {.after = ic->after, .limit = AUDIT_INDEX_BATCH};
		if (db_audit_index_query(ic->db, &q, &ic->seqs, &ic->recs, &ic->n) != DB_OK)
			ic->failed = true;
		if (ic->failed || !ic->n)
			return false;
	}
	*seq = ic->seqs[ic->pos];
	*rec = ic->recs[ic->pos++];
	ic->after = *seq;
	return true;
}

/* Is this log record the index's next row? */
static bool index_agrees(icursor_t *ic, const store_scan_item_t *it)
{
	uint64_t seq;
	const char *rec;
	return icursor_next(ic, &seq, &rec) && seq == it->record_seq && strlen(rec) == it->len &&
	       !memcmp(rec, it->data, it->len);
}

static void v_entry(vstate_t *v, const store_scan_item_t *it, int64_t *last_time)
{
	char msg[160];
	json_t *o = it->len <= AUDIT_RECORD_MAX ? json_loadb(it->data, it->len, 0, NULL) : NULL;
	int64_t t = json_integer_value(json_object_get(o, "time_us"));
	if (!json_is_object(o) || !json_string_value(json_object_get(o, "action"))) {
		snprintf(msg, sizeof msg, "entry %" PRIu64 ": not an audit record", it->record_seq);
		v_problem(v, it->record_seq, msg);
	} else if (t < *last_time) {
		snprintf(msg, sizeof msg, "entry %" PRIu64 ": time goes backwards", it->record_seq);
		v_problem(v, it->record_seq, msg);
	}
	*last_time = t > *last_time ? t : *last_time;
	json_decref(o);
}

/* Reads every entry in order: each must be an audit record whose time does
 * not go backwards, and the index must hold the same text at the same seq,
 * and nothing more.  *index_ok is false when the index disagrees. */
static void v_entries(audit_t *a, vstate_t *v, bool *index_ok)
{
	store_scan_t *sc;
	if (store_scan_open(a->store, AUDIT_LOG, 0, &sc) != STORE_OK)
		return;   /* the store check above already said why */
	int64_t last_time = 0;
	icursor_t ic = {.db = a->db};
	const store_scan_item_t *it;
	store_status_t st;
	while ((st = store_scan_next(sc, &it)) == STORE_OK && it) {
		if (it->type != STORE_ITEM_LOG)
			continue;
		v->rep->entries++;
		v_entry(v, it, &last_time);
		if (a->db && *index_ok && !index_agrees(&ic, it))
			*index_ok = false;
	}
	store_scan_close(sc);
	uint64_t seq;
	const char *rec;
	/* Rows for entries the log does not have. */
	if (a->db && *index_ok && st == STORE_OK && icursor_next(&ic, &seq, &rec))
		*index_ok = false;
	if (ic.failed)
		*index_ok = true;   /* could not compare: no verdict on the index */
	icursor_drop(&ic);
}

audit_status_t audit_verify(audit_t *a, audit_verify_cb cb, void *arg, audit_verify_report_t *out)
{
	memset(out, 0, sizeof *out);
	if (!a || !a->store)
		return AUDIT_EIO;
	if (!store_archive_exists(a->store, AUDIT_LOG))
		return AUDIT_OK;   /* nothing recorded yet: nothing to check */
	vstate_t v = {cb, arg, out};
	pthread_mutex_lock(&a->mu);
	if (a->db)
		index_catch_up(a);   /* so the comparison covers the whole log */
	store_verify_report_t sr;
	store_status_t st = store_verify(a->store, AUDIT_LOG, v_store_problem, &v, &sr);
	if (st != STORE_OK && !out->problems) {
		pthread_mutex_unlock(&a->mu);
		log_error("audit.verify", "err=\"%s\"", store_strerror(st));
		return AUDIT_EIO;
	}
	store_head(a->store, AUDIT_LOG, &out->head);
	bool index_ok = true;
	v_entries(a, &v, &index_ok);
	if (a->db && !index_ok) {
		v_problem(&v, 0, "the audit index in the database differs from the log; rebuilt");
		out->index_rebuilt = db_audit_index_reset(a->db) == DB_OK && index_catch_up(a) == AUDIT_OK;
	}
	pthread_mutex_unlock(&a->mu);
	return AUDIT_OK;
}
