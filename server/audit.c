/* audit.c — the audit trail over the store's "_audit" log.
 *
 * Does: serialise events as JSON records (format in audit.h), append them
 * durably through store_log_append, and list them back with filters by
 * scanning the log in chain order.  Does not: decide what is audited (the
 * API and CLI do), or verify the chain (store_verify does; `audit --verify`
 * comes with issue 6).
 *
 * Listing scans the whole log each time: the trail grows by human actions
 * (logins, searches), and a page is bounded by AUDIT_LIST_MAX.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vellum/audit.h"
#include "vellum/log.h"
#include "vellum/store.h"
#include "vellum/util.h"

/* The largest audit record accepted when reading back (a search event holds
 * the query, at most a few KiB; anything beyond this is not ours). */
#define AUDIT_RECORD_MAX (1u << 20)

struct audit {
	store_t *store;
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
	if (store && !store_archive_exists(store, AUDIT_LOG)) {
		store_status_t st = store_archive_create(store, AUDIT_LOG);
		if (st != STORE_OK && st != STORE_EEXIST)
			log_warn("audit.create", "err=\"%s\"", store_strerror(st));
	}
	return a;
}

void audit_free(audit_t *a)
{
	free(a);
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

audit_status_t audit_list(audit_t *a, const audit_filter_t *f, json_t **entries, bool *more,
                          uint64_t *next)
{
	*entries = json_array();
	*more = false;
	*next = 0;
	if (!a || !a->store)
		return AUDIT_EIO;
	size_t limit = f->limit ? f->limit : AUDIT_LIST_DEFAULT;
	if (limit > AUDIT_LIST_MAX)
		limit = AUDIT_LIST_MAX;
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
		if (it->type != STORE_ITEM_LOG || it->len > AUDIT_RECORD_MAX)
			continue;
		json_t *o = json_loadb(it->data, it->len, 0, NULL);
		if (!json_is_object(o)) {
			log_warn("audit.record", "seq=%llu err=\"not a JSON object\"",
			         (unsigned long long)it->record_seq);
			json_decref(o);
			continue;
		}
		if (!entry_matches(f, o)) {
			json_decref(o);
			continue;
		}
		if (json_array_size(*entries) == limit) {
			json_decref(o);
			*more = true;
			break;
		}
		json_object_set_new(o, "seq", json_integer((json_int_t)it->record_seq));
		json_array_append_new(*entries, o);
		*next = it->record_seq;
	}
	store_scan_close(sc);
	if (st != STORE_OK) {
		log_error("audit.scan", "err=\"%s\"", store_strerror(st));
		return AUDIT_EIO;
	}
	return AUDIT_OK;
}
