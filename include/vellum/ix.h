/* ix.h — the search index: a plain C API over Xapian (indexer/xapian.cc).
 *
 * Layout (DESIGN.md §8): one Xapian database per archive per calendar month
 * of received time (UTC), at <data_dir>/index/<archive>/<YYYY-MM>.  Documents
 * are keyed by message id ("<archive>-<seq>"), so indexing is idempotent.
 * Document data holds the record locator and the result-list fields only;
 * bodies are never stored, only their terms.  Each shard records in its own
 * metadata, in the same commit as the documents, how far through the
 * archive's chain it is complete (see ix_writer_commit).
 *
 * Two sides:
 *   - the writer (ix_writer_*): the indexer process only; one per index.
 *   - the reader (ix_open / ix_search): the server's HTTP API and the CLI;
 *     every search sees everything committed before it started.
 *
 * Errors: every function returns ix_status_t; where it takes `char **err`,
 * a failure also sets *err to a malloc'd one-line message (caller frees;
 * err may be NULL).  No C++ exception ever crosses this header.
 *
 * Threads: an ix_t may be shared by threads (each search uses its own Xapian
 * handles).  An ix_writer_t belongs to one thread.
 */
#ifndef VELLUM_IX_H
#define VELLUM_IX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vellum/config.h"

typedef enum {
	IX_OK = 0,
	IX_EQUERY,    /* the query does not parse: *err says what and where (HTTP 400) */
	IX_EINVAL,    /* bad argument (archive name, NULL document field) */
	IX_ENOTFOUND, /* no such document */
	IX_EIO,       /* the database could not be opened, read or written */
	IX_ECORRUPT,  /* Xapian reports the database corrupt */
	IX_ELOCKED,   /* another writer holds a shard */
	IX_EMODIFIED, /* the database changed under a long read; retry */
	IX_EINTERNAL, /* any other exception (a bug): logged */
} ix_status_t;

const char *ix_strerror(ix_status_t st);

/* Hits per page when the caller gives 0, and the most one page returns
 * (paging by offset still reaches every match). */
#define IX_LIMIT_DEFAULT 50
#define IX_LIMIT_MAX     1000
/* Longest query string accepted (a pasted list of a few hundred addresses). */
#define IX_QUERY_MAX 65536
/* Bytes of body text stored as the result list's snippet. */
#define IX_SNIPPET_MAX 200
/* Bytes of the "to" result field: the first recipients, then "(+N more)".
 * Every recipient is still indexed. */
#define IX_TO_DISPLAY_MAX 512
/* Bytes of the subject kept for the result list (a longer one ends in "..."
 * there; it is indexed and shown in the message detail whole). */
#define IX_SUBJECT_DISPLAY_MAX 1024

/* ---- documents (indexer side) ---- */

typedef enum {
	IX_ADDR_FROM = 0,
	IX_ADDR_TO,
	IX_ADDR_CC,
	IX_ADDR_BCC,
	IX_ADDR_JOURNAL, /* envelope / journal recipients: found by to:, cc:, bcc: */
	IX_ADDR_KINDS
} ix_addr_kind_t;

typedef struct ix_addr {
	const char *name; /* display name or NULL */
	const char *addr; /* address as written; matched case-insensitively */
} ix_addr_t;

/* Flags in ix_doc_t.flags and ix_hit_t.flags. */
#define IX_F_JOURNAL     0x01u /* a journal report (the original inside is what counts) */
#define IX_F_QUARANTINED 0x02u /* the indexer gave up on its content: envelope only */
#define IX_F_TRUNCATED   0x04u /* some content was cut by a budget (never silently) */
#define IX_F_NO_DATE     0x08u /* no usable Date header: date is the received time */
#define IX_F_UNPARSED    0x10u /* not parseable as mail: envelope and received time only */

/* One message to index.  Every pointer is borrowed for the call only. */
typedef struct ix_doc {
	const char *archive;
	uint64_t seq;                /* message sequence: the id is "<archive>-<seq>" */
	uint64_t record_seq;         /* chain position of the first arrival (locator) */
	int64_t date;                /* us; the received time when the message has none */
	int64_t received;            /* us, first arrival: selects the shard */
	uint64_t size;               /* raw bytes */
	uint32_t flags;              /* IX_F_* */
	const char *subject;         /* indexed whole, or NULL */
	const char *subject_display; /* result-list subject (<= IX_SUBJECT_DISPLAY_MAX), or NULL */
	const ix_addr_t *addrs[IX_ADDR_KINDS];
	size_t naddrs[IX_ADDR_KINDS];
	const char *from_display; /* result-list "from", or NULL */
	const char *to_display;   /* result-list "to", or NULL */
	const char *message_id;   /* Message-ID without <>, or NULL */
	const char *body;         /* UTF-8 text to index (not stored), or NULL */
	size_t body_len;
	const char *const *filenames; /* attachment names */
	size_t nfilenames;
	unsigned attachment_count;
	const char *snippet; /* stored for the result list, or NULL */
} ix_doc_t;

typedef struct ix_writer ix_writer_t;

/* Opens (creating if needed) the index under index_dir for writing.  Shards
 * are opened on demand and kept open (a bounded number).  On success *out is
 * owned by the caller (ix_writer_close). */
ix_status_t ix_writer_open(const char *index_dir, ix_writer_t **out, char **err);

/* Adds or replaces the document of doc->archive/doc->seq in the shard of
 * doc->received's month.  Not durable until ix_writer_commit. */
ix_status_t ix_writer_put(ix_writer_t *w, const ix_doc_t *doc, char **err);

/* A later arrival of an already indexed message: adds its envelope
 * recipients (journal recipients) to the document of archive/seq, found in
 * the shard of first_received's month.  ENOTFOUND when it is not there. */
ix_status_t ix_writer_add_arrival(ix_writer_t *w, const char *archive, uint64_t seq,
                                  int64_t first_received, const char *const *rcpt, size_t nrcpt,
                                  char **err);

/* Commits every shard of `archive` changed since the last commit, each with
 * its checkpoint metadata in the same commit: "complete through record
 * `done`; this batch started after record `from`".  Shards are committed one
 * after another, so a crash can leave some of a batch's shards committed and
 * others not; ix_writer_resume_point accounts for that. */
ix_status_t ix_writer_commit(ix_writer_t *w, const char *archive, uint64_t from, uint64_t done,
                             char **err);

/* Where to resume indexing `archive` after a restart: the record sequence
 * after which to scan (0 = from the start).  It is the start of the newest
 * batch any shard committed — every shard is complete up to there — so the
 * records of a batch cut short by a crash are indexed again (idempotently). */
ix_status_t ix_writer_resume_point(ix_writer_t *w, const char *archive, uint64_t *after,
                                   char **err);

/* Drops uncommitted changes and closes every shard.  NULL is fine. */
void ix_writer_close(ix_writer_t *w);

/* ---- search (server side) ---- */

typedef enum {
	IX_SORT_DATE_DESC = 0, /* "-date": newest first, the default */
	IX_SORT_DATE_ASC,      /* "date" */
	IX_SORT_RECEIVED_DESC, /* "-received" */
	IX_SORT_RECEIVED_ASC,  /* "received" */
	IX_SORT_RELEVANCE,     /* "relevance": best first, newest first among equals */
} ix_sort_t;

/* Parses "date", "-date", "received", "-received", "relevance" (NULL or ""
 * = the default).  Returns false for anything else. */
bool ix_sort_parse(const char *s, ix_sort_t *out);

/* What a search may see and which page it wants; the zero value searches
 * nothing (no archives), first page, newest first. */
typedef struct ix_search_opts {
	bool all_archives;           /* the caller may see every archive ("*") */
	const char *const *archives; /* else: the archives it may see */
	size_t narchives;
	uint64_t offset;
	size_t limit; /* 0 = IX_LIMIT_DEFAULT; capped at IX_LIMIT_MAX */
	ix_sort_t sort;
} ix_search_opts_t;

/* One result; all strings owned by the ix_result_t. */
typedef struct ix_hit {
	char *id; /* "<archive>-<seq>" */
	char *archive;
	uint64_t seq;
	uint64_t record_seq;
	int64_t date, received;              /* us */
	char *from, *to, *subject, *snippet; /* "" when absent, never NULL */
	uint64_t size;
	unsigned attachment_count;
	uint32_t flags; /* IX_F_*: journal, quarantined, truncated, ... */
	int percent;    /* relevance 0..100 */
} ix_hit_t;

typedef struct ix_result {
	uint64_t total; /* matches; exact when total_exact */
	bool total_exact;
	uint64_t offset;
	size_t nhits;
	ix_hit_t *hits;
} ix_result_t;

void ix_result_free(ix_result_t *r);

typedef struct ix ix_t;

/* Opens the index of a data dir for searching (nothing is read until a
 * search).  On success *out is owned by the caller (ix_close). */
ix_status_t ix_open(const config_t *cfg, ix_t **out, char **err);
/* Same, given the index directory itself (tests, tools). */
ix_status_t ix_open_dir(const char *index_dir, ix_t **out, char **err);
void ix_close(ix_t *ix);

/* Runs query (DESIGN.md §6; NULL, "" or "*" = everything) over the shards
 * of the archives opts allows.  EQUERY with *err naming what and where when
 * the query does not parse.  On success *out is owned by the caller
 * (ix_result_free). */
ix_status_t ix_search(ix_t *ix, const char *query, const ix_search_opts_t *opts, ix_result_t **out,
                      char **err);

/* How far the index of `archive` is complete (for lag: head - done); 0 when
 * nothing is indexed yet. */
ix_status_t ix_archive_done(ix_t *ix, const char *archive, uint64_t *done, char **err);

#endif
