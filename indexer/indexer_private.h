/* indexer_private.h — shared by the indexer process's files (indexer*.c) and
 * the module's unit tests; nothing outside indexer/ includes it.
 */
#ifndef VELLUM_INDEXER_PRIVATE_H
#define VELLUM_INDEXER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "vellum/ix.h"
#include "vellum/mime.h"

/* What the store knows about one arrival, independent of store.h so the
 * document builder can be tested without a store. */
typedef struct indexer_env {
	const char *archive;
	uint64_t seq;            /* message sequence */
	uint64_t record_seq;     /* chain position of the first arrival */
	int64_t received;        /* us */
	uint64_t size;           /* raw bytes */
	const char *mail_from;   /* envelope sender or NULL */
	const char *const *rcpt; /* envelope recipients */
	size_t nrcpt;
} indexer_env_t;

/* An ix_doc_t and the storage its borrowed pointers point into. */
typedef struct indexer_doc {
	ix_doc_t doc;
	ix_addr_t *addrs[IX_ADDR_KINDS];
	const char **filenames;
	char *from_display, *to_display, *snippet, *subject_display;
} indexer_doc_t;

/* Builds the document of a message from its envelope and, when it parsed,
 * its summary (mi NULL: envelope only, flagged unparsed).  extra_flags
 * (IX_F_*) are added, e.g. truncated when only a prefix was parsed.  The
 * document borrows from env and mi: keep both until indexer_doc_free. */
void indexer_doc_build(indexer_doc_t *d, const indexer_env_t *env, const mime_info_t *mi,
                       uint32_t extra_flags);
void indexer_doc_free(indexer_doc_t *d);

#endif
