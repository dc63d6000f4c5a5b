/* ix_private.h — shared inside the indexer module only (query.c, xapian.cc,
 * indexer*.c, and the module's unit tests); nothing outside indexer/ includes it.
 *
 * The query language's fields and value syntax live in C (query.c) so they
 * can be checked with positions before Xapian sees the string; xapian.cc maps
 * each field to term prefixes and value slots.
 */
#ifndef VELLUM_IX_PRIVATE_H
#define VELLUM_IX_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a field's value is read. */
typedef enum {
	IXQ_TEXT = 1, /* words and phrases with a term prefix (subject:, filename:) */
	IXQ_ADDR,     /* an address, a domain, or words of names (from:, to:, ...) */
	IXQ_EXACT,    /* one exact, case-insensitive term (archive:, message-id:) */
	IXQ_TIME,     /* a date, month, year, relative time, or A..B */
	IXQ_SIZE,     /* >N, <N, >=N, <=N, N..M with K M G */
} ixq_kind_t;

typedef enum {
	IXQ_F_FROM = 1,
	IXQ_F_TO,
	IXQ_F_CC,
	IXQ_F_BCC,
	IXQ_F_PARTICIPANT,
	IXQ_F_SUBJECT,
	IXQ_F_BODY,
	IXQ_F_FILENAME,
	IXQ_F_ATTACHMENT,
	IXQ_F_MESSAGE_ID,
	IXQ_F_ARCHIVE,
	IXQ_F_HAS,
	IXQ_F_IS,
	IXQ_F_DATE,
	IXQ_F_RECEIVED,
	IXQ_F_AFTER,
	IXQ_F_BEFORE,
	IXQ_F_SIZE,
} ixq_field_id_t;

typedef struct ixq_field {
	const char *name;    /* as typed before ':' (any case) */
	const char *qp_name; /* as handed to the QueryParser, whose field names
	                        cannot hold '-' */
	ixq_field_id_t id;
	ixq_kind_t kind;
} ixq_field_t;

/* The fields, terminated by a NULL name.  Static. */
extern const ixq_field_t ixq_fields[];
const ixq_field_t *ixq_field_find(const char *name, size_t len);

/* Checks a query's syntax and returns the string to hand to Xapian's
 * QueryParser (caller frees), or NULL with *err set (caller frees) to a
 * message naming what is wrong and at which column.  *match_all is set when
 * the query means "every message" (empty or "*"). */
char *ixq_prepare(const char *q, int64_t now, bool *match_all, char **err);

/* Reads a time value of a field of kind IXQ_TIME into an inclusive range of
 * microseconds [*lo, *hi] (INT64_MIN / INT64_MAX when open).  Accepts
 * 2024, 2024-03, 2024-03-01 (also with '/'), 2024-03-01T12:00[:00][Z],
 * relative 30min 12h 7d 2w 3mo 1y (that long before now), and A..B of
 * those.  For IXQ_F_AFTER and IXQ_F_BEFORE a single value is a bound:
 * after:X = from the start of X on, before:X = before the start of X.
 * Returns false with a malloc'd *err when the value does not parse. */
bool ixq_time_range(ixq_field_id_t id, const char *v, int64_t now, int64_t *lo, int64_t *hi,
                    char **err);

/* Reads a size value (">1M", "<=10K", "1M..5M", "2048") into an inclusive
 * byte range.  Returns false with a malloc'd *err when it does not parse. */
bool ixq_size_range(const char *v, uint64_t *lo, uint64_t *hi, char **err);

#ifdef __cplusplus
}
#endif

#endif
