/* mime.h — understanding one message: GMime 3 parsing into plain C data.
 *
 * Used by the indexer (fields and text to index) and by the HTTP layer (a
 * message's decoded headers, part tree, displayable body, one part's bytes).
 * Input is the raw message exactly as stored, in memory, never assumed to be
 * NUL-terminated or well-formed: every message parses to *something* — at
 * worst an empty summary flagged MIME_F_UNPARSED — so the caller can always
 * fall back to the envelope (DESIGN.md invariant 1).
 *
 * Not here: the time budget and crash isolation around a parse (the indexer
 * runs parses in a budgeted child, issue 5 stage 2), journal-report unwrapping
 * (journal.c), text of PDF/DOCX attachments (extract.c).
 *
 * Threads: call mime_init() once before any other function; after that,
 * separate mime_msg_t values may be used from different threads.
 */
#ifndef VELLUM_MIME_H
#define VELLUM_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vellum/util.h"

typedef enum {
	MIME_OK = 0,
	MIME_EINVAL,    /* bad argument (NULL message, part number out of range) */
	MIME_ETOOBIG,   /* input larger than MIME_INPUT_MAX */
	MIME_ENOTFOUND, /* no such part */
} mime_status_t;

const char *mime_strerror(mime_status_t st);

/* Largest input handed to GMime at once.  The SMTP listener's default
 * max_message_size is 64 MiB; a budget of 4x leaves room for configured
 * larger limits while bounding the parser's memory (GMime keeps the whole
 * message plus decoded copies).  The indexer parses only this much of a
 * larger message and flags it truncated. */
#define MIME_INPUT_MAX ((size_t)256 << 20)
/* Body text kept for indexing, after decoding and HTML stripping: 16 MiB of
 * words is far more than any reader's mail, and bounds Xapian's per-document
 * memory.  Beyond it the message is flagged MIME_F_TRUNCATED and
 * mime_info_t.text_cut says how much was dropped. */
#define MIME_TEXT_MAX ((size_t)16 << 20)
/* Parts listed per message.  Legitimate mail has tens; hostile mail can
 * declare millions of empty parts.  Further parts are counted, not listed. */
#define MIME_PARTS_MAX 10000
/* MIME nesting we walk into (multipart inside multipart, message/rfc822). */
#define MIME_DEPTH_MAX 64
/* Addresses kept per header (To with a whole company on it).  Further ones
 * are counted in mime_addrlist_t.dropped and flag the message truncated. */
#define MIME_ADDRS_MAX 10000

/* Flags in mime_info_t.flags. */
#define MIME_F_UNPARSED  0x01u /* GMime found no message at all: nothing but the bytes */
#define MIME_F_TRUNCATED 0x02u /* a MIME_*_MAX cut something (see the counters) */
#define MIME_F_NO_DATE   0x04u /* Date missing or unparseable */
#define MIME_F_JOURNAL   0x08u /* carries a journal-report header (Exchange, WorkMail) */
#define MIME_F_MALFORMED 0x10u /* GMime warned of broken structure (boundaries, nesting) */
#define MIME_F_ENCRYPTED 0x20u /* S/MIME or PGP encrypted body: no text to index */

typedef struct mime_addr {
	char *name; /* decoded display name (UTF-8) or NULL */
	char *addr; /* addr-spec as written, e.g. "Alice@Example.com"; never NULL ("" if
	               the header held only a name) */
} mime_addr_t;

typedef struct mime_addrlist {
	mime_addr_t *v;
	size_t n;
	size_t dropped; /* beyond MIME_ADDRS_MAX */
} mime_addrlist_t;

typedef struct mime_header {
	char *name;  /* as written */
	char *value; /* unfolded, RFC 2047 decoded, UTF-8 */
} mime_header_t;

/* One entity of the MIME tree, numbered depth-first from 1 (the message's
 * top-level entity is 1); the same numbers GET /messages/{id}/parts/{n} uses. */
typedef struct mime_part {
	unsigned num;
	unsigned parent;    /* 0 for the top-level entity */
	unsigned depth;     /* 0 for the top-level entity */
	char *content_type; /* "text/plain", lower case */
	char *charset;      /* as declared, or NULL */
	char *filename;     /* decoded (RFC 2047/2231), or NULL */
	char *content_id;   /* without <>, or NULL */
	uint64_t size;      /* decoded bytes (leaf parts), 0 for containers */
	bool attachment;    /* shown as an attachment rather than as the body */
	bool container;     /* multipart/ or message/rfc822 */
	bool body;          /* its text went into mime_info_t.text */
} mime_part_t;

/* Everything the indexer and the result list need, as plain data.  All
 * strings are UTF-8 (invalid sequences replaced) and NUL-terminated. */
typedef struct mime_info {
	uint32_t flags; /* MIME_F_* */
	char *subject;  /* decoded, or NULL */
	mime_addrlist_t from, sender, reply_to, to, cc, bcc;
	int64_t date;           /* us since epoch; 0 with MIME_F_NO_DATE */
	char *message_id;       /* without <>, or NULL */
	char *in_reply_to;      /* without <>, or NULL */
	char **references;      /* NULL-terminated, without <>; never NULL */
	mime_header_t *headers; /* top-level headers, in order */
	size_t nheaders;
	mime_part_t *parts;
	size_t nparts;
	size_t parts_dropped; /* beyond MIME_PARTS_MAX */
	unsigned attachment_count;
	buf_t text;        /* body text: text/plain parts and HTML as text */
	uint64_t text_cut; /* bytes of text dropped at MIME_TEXT_MAX */
	char *html;        /* the displayable HTML body (UTF-8), or NULL */
} mime_info_t;

typedef struct mime_msg mime_msg_t;

/* Options; the zero value is the documented default. */
typedef struct mime_opts {
	/* Skip computing decoded sizes of leaf parts (faster; sizes stay 0). */
	bool no_part_sizes;
	/* Keep the HTML body in mime_info_t.html (the HTTP layer wants it; the
	 * indexer does not). */
	bool keep_html;
} mime_opts_t;

/* Once per process, before any other call (sets up GMime).  Thread-safe and
 * idempotent. */
void mime_init(void);

/* Parses n bytes of a raw message.  Never fails on malformed input (see the
 * flags); fails only for a NULL/oversized input.  On success *out is owned by
 * the caller (mime_msg_free).  opts may be NULL. */
mime_status_t mime_parse(const void *p, size_t n, const mime_opts_t *opts, mime_msg_t **out);
void mime_msg_free(mime_msg_t *m);

/* The summary; owned by m. */
const mime_info_t *mime_msg_info(const mime_msg_t *m);

/* Appends the decoded content (transfer encoding undone, charset untouched)
 * of part `num` to out.  For a container, the part as it appears in the
 * message, headers included.  ENOTFOUND if there is no such part. */
mime_status_t mime_part_content(const mime_msg_t *m, unsigned num, buf_t *out);

/* HTML to plain text, for indexing and the text view: drops tags, comments,
 * <script>/<style>/<head> content; decodes character references; turns block
 * elements into line breaks.  Appends at most max bytes to out; returns the
 * number of bytes that did not fit (0 = all). */
size_t mime_html_to_text(const char *html, size_t n, buf_t *out, size_t max);

/* "Name <addr>", or addr alone, into out (appended). */
void mime_addr_format(const mime_addr_t *a, buf_t *out);

#endif
