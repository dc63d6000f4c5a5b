/* audit.h — the audit trail: who did what, when, from where, with what result.
 *
 * Each event is one JSON record appended to the store's "_audit" log, which
 * is append-only and hash-chained like mail (store.h); store_log_append
 * returns only once the record is durable, so an access that could not be
 * recorded is refused by the caller (fail closed, DESIGN.md invariant 7).
 *
 * Record (format version 1), one JSON object per log record:
 *   {"v": 1, "time": "2026-11-23T10:31:46.123456Z", "time_us": <int>,
 *    "who": "alice" | "cli:root", "from": "127.0.0.1" | "unix:uid=0" | "local",
 *    "action": "login", "target": "...", "outcome": "ok", "count": 12,
 *    "detail": {...}}
 * target, count and detail are present only when given.  Listing adds
 * "seq": the record's position in the chain.
 *
 * Actions: init, archive.create, login, logout, search, message.view,
 * message.raw, message.part, message.body, message.submit, user.create,
 * user.passwd, user.grant, user.revoke, user.disable, user.enable,
 * user.totp.enrol, user.totp.remove, token.create, token.revoke, audit.list,
 * audit.verify (other modules add theirs: export.*, hold.*, ...).
 * Outcomes: ok, denied, failed, throttled.
 *
 * Listing reads a query index of the trail kept in the database (db.h
 * audit_index), caught up from the log before each listing, so a page costs
 * an indexed query plus the records appended since the last one — never a
 * scan of the whole log.  Without a database it scans the log.
 */
#ifndef VELLUM_AUDIT_H
#define VELLUM_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct db;

typedef enum {
	AUDIT_OK = 0,
	AUDIT_EIO,       /* the store refused or failed the append (logged by the store) */
	AUDIT_EINVAL,    /* missing who/action */
} audit_status_t;

const char *audit_strerror(audit_status_t st);

typedef struct audit audit_t;

#define AUDIT_LOG "_audit"
#define AUDIT_FORMAT_VERSION 1

/* Over an open read-write store (not owned).  Creates the "_audit" log if
 * the store has none yet.  NULL store gives a trail that refuses everything
 * (AUDIT_EIO) — for read-only tools.  Caller frees with audit_free. */
audit_t *audit_new(struct store *store);
void audit_free(audit_t *a);
/* Lists through the query index in db (borrowed, must outlive a); rebuilt
 * from the log when it does not match it. */
void audit_set_index(audit_t *a, struct db *db);

typedef struct audit_event {
	const char *who;        /* principal name; required */
	const char *from;       /* client address, "unix:uid=N" or "local"; NULL = "local" */
	const char *action;     /* required */
	const char *target;     /* user name, message id, archive...; NULL = none */
	const char *outcome;    /* NULL = "ok" */
	int64_t count;          /* results, recorded only when has_count */
	bool has_count;
	json_t *detail;         /* borrowed; extra fields (query, archives) or NULL */
} audit_event_t;

/* Appends one record; returns once it is durable.  *seq (may be NULL) gets
 * its chain position. */
audit_status_t audit_record(audit_t *a, const audit_event_t *e, uint64_t *seq);

typedef struct audit_filter {
	int64_t since;          /* us; 0 = from the start */
	const char *user;       /* exact "who"; NULL = anyone */
	const char *action;     /* exact action, or a prefix before '.' ("user"
	                           matches user.create); NULL = any */
	uint64_t after;         /* only records with seq > after (paging) */
	size_t limit;           /* 0 = AUDIT_LIST_DEFAULT; capped at AUDIT_LIST_MAX */
} audit_filter_t;

/* Entries per page: the default, and the most one call returns (a page is
 * held in memory as JSON). */
#define AUDIT_LIST_DEFAULT 1000
#define AUDIT_LIST_MAX 10000

/* Matching records in chain order: *entries is a new JSON array (caller
 * json_decref's); *more is true when the page filled up before the end and
 * *next is the seq to pass as `after` for the next page. */
audit_status_t audit_list(audit_t *a, const audit_filter_t *f, json_t **entries, bool *more,
                          uint64_t *next);

/* ---- verification ----
 * Checks the trail end to end: the store's chain checks on the "_audit" log
 * (every record authenticated, in sequence, linked, reaching the recorded
 * head: an edited, removed, reordered or truncated entry shows at its
 * sequence number), that every record is an audit entry with times that
 * never go backwards, and that the query index agrees with the log (a
 * mismatching index is rebuilt and reported). */
typedef struct audit_verify_report {
	uint64_t entries;        /* records read */
	uint64_t head;           /* the log's recorded head */
	uint64_t problems;       /* 0 = intact */
	uint64_t first_bad;      /* seq of the first entry with a problem, 0 = none or unknown */
	bool index_rebuilt;
} audit_verify_report_t;

/* Called per problem with the entry's seq (0 when not tied to one) and a
 * one-line description. */
typedef void (*audit_verify_cb)(void *arg, uint64_t seq, const char *problem);
/* AUDIT_OK when the check ran (problems are in the report); AUDIT_EIO when
 * the log could not be read at all. */
audit_status_t audit_verify(audit_t *a, audit_verify_cb cb, void *arg, audit_verify_report_t *out);

#endif
