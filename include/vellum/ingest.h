/* ingest.h — routing recipients to archives (DESIGN.md §4).
 *
 * An archive accepts mail for a list of address patterns: exact addresses
 * ("journal@example.com"), whole domains ("*@example.com") or anything ("*").
 * A routing table is built once from such a list (the archives and their
 * addresses as the database holds them) and answers, for one recipient, the
 * set of archives that keep a copy.  A recipient no archive accepts is refused
 * at RCPT (550 5.1.1): mail nobody keeps is never acknowledged.
 *
 * Matching ignores ASCII case in the whole address (journal sources are not
 * consistent about the case of a local part) and compares other bytes
 * (SMTPUTF8) exactly.  Every matching archive gets the message: an exact
 * address in one archive does not hide a "*" in another.
 *
 * A table is immutable once built and may be read from any thread.  It knows
 * nothing about SMTP sessions or the store.
 */
#ifndef VELLUM_INGEST_H
#define VELLUM_INGEST_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	INGEST_OK = 0,
	INGEST_EPATTERN, /* an address pattern that is none of the three forms */
	INGEST_ENAME,    /* an invalid archive name */
	INGEST_ESOURCE,  /* the archive list could not be read (callback failed) */
} ingest_status_t;

const char *ingest_strerror(ingest_status_t st);

/* One archive as a routing source: its name and address patterns.  Strings
 * are borrowed by ingest_routes_new (copied). */
typedef struct ingest_archive {
	const char *name;
	const char *const *addresses;
	size_t naddresses;
} ingest_archive_t;

/* A list of archives owned by whoever produced it (the routing callback of
 * smtp.h); ingest_archive_list_free frees a list made with the helpers below. */
typedef struct ingest_archive_list {
	ingest_archive_t *v;
	size_t n;
} ingest_archive_list_t;

/* Appends an archive, copying name and addresses. */
void ingest_archive_list_add(ingest_archive_list_t *l, const char *name,
                             const char *const *addresses, size_t naddresses);
/* Frees what ingest_archive_list_add allocated; the list is empty after. */
void ingest_archive_list_free(ingest_archive_list_t *l);

/* Longest pattern or address the table handles (RFC 5321 §4.5.3.1.3 caps a
 * path at 256 octets; journal sources with long VERP/SRS local parts exceed
 * the 64-octet local-part limit, so only the whole is bounded). */
#define INGEST_ADDR_MAX 1024

/* True if s is "*", "*@domain" or "local@domain" (no spaces, no angle
 * brackets, no control bytes, one unquoted '@' that is not the first or last
 * byte).  For the CLI and API to validate before storing. */
bool ingest_pattern_valid(const char *s);
/* True if s is a valid archive name ([a-z0-9][a-z0-9._-]{0,63}). */
bool ingest_archive_name_valid(const char *s);

typedef struct ingest_routes ingest_routes_t;

/* Builds a table from n archives.  `only` (NULL or empty: no restriction)
 * limits the table to the archives named in it, as a listener's
 * `archives =` does.  Invalid names or patterns are skipped with a logged
 * warning so one bad row never stops ingest for all the others; *skipped
 * (may be NULL) gets how many.  Caller frees with ingest_routes_free. */
ingest_routes_t *ingest_routes_new(const ingest_archive_t *archives, size_t n,
                                   const char *const *only, size_t nonly, size_t *skipped);
void ingest_routes_free(ingest_routes_t *r);

/* Number of archives in the table; archive i's name (owned by r). */
size_t ingest_routes_count(const ingest_routes_t *r);
const char *ingest_routes_archive(const ingest_routes_t *r, size_t i);

/* The archives that accept `addr` (a forward-path without <>, n bytes):
 * their indices, ascending, into out[] (room for ingest_routes_count(r)
 * entries).  Returns how many; 0 means no archive keeps this recipient. */
size_t ingest_routes_lookup(const ingest_routes_t *r, const char *addr, size_t n, size_t *out);

#endif
