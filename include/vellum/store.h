/* store.h — the segment store: the only source of truth for archived mail.
 *
 * Per archive, an append-only chain of encrypted, compressed records in segment
 * files (doc/format.md), a keystore of wrapped segment keys, a head file, and a
 * catalog (SQLite, rebuildable from the segments) mapping message ids to
 * records.  The store knows nothing about SMTP or HTTP: its unit of work is a
 * streamed append — begin with an envelope and target archives, write chunks
 * as data arrives, commit — and a completion carrying the message id in each
 * archive, delivered through a file descriptor so an event loop never blocks.
 *
 * Archives whose names start with '_' (e.g. "_audit") are logs: they hold
 * opaque records appended with store_log_append, chained and verified like
 * mail, never routed to or searched.
 *
 * Threads: store_append_* and store_queue_* may be called from any thread;
 * one writer thread inside the store does all segment writes and shares one
 * fsync per batch; a packer thread (low priority) regroups each sealed
 * segment into compressed blocks.  Readers (store_msg_*, store_scan_*) may
 * run concurrently with both and in other processes (the indexer opens the
 * store with STORE_OPEN_READONLY).
 *
 * Integrity: every record is chained (doc/format.md §6); sealed segments end
 * with a SEAL record and the chain is signed every hour (CHECKPOINT) with the
 * server's Ed25519 key; deletions are signed DELETION records.  store_verify
 * checks all of it and tells retention and purges from tampering.
 */
#ifndef VELLUM_STORE_H
#define VELLUM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vellum/config.h"

struct metrics;

typedef enum {
	STORE_OK = 0,
	STORE_EIO,        /* a write, fsync, rename or open failed: store now failed closed */
	STORE_EFAILED,    /* failed closed by an earlier write error; restart to recover */
	STORE_ENOSPC,     /* free space below min_free: nothing accepted */
	STORE_EBUSY,      /* bytes in flight at the cap: try again later */
	STORE_ETOOBIG,    /* larger than the caller's or the format's limit */
	STORE_ENOTFOUND,  /* no such archive, message or record */
	STORE_EEXIST,     /* archive already exists */
	STORE_ECORRUPT,   /* framing or authentication failure in stored data */
	STORE_EKEY,       /* master key missing, unreadable or not the one that wrapped the keys */
	STORE_ELOCKED,    /* another process holds the data dir */
	STORE_EINVAL,     /* bad argument (archive name, envelope) */
	STORE_EREADONLY,  /* write attempted on a read-only store */
	STORE_ESHUTDOWN,  /* the store is closing */
} store_status_t;

const char *store_strerror(store_status_t st);

typedef struct store store_t;
typedef struct store_append store_append_t;
typedef struct store_queue store_queue_t;
typedef struct store_reader store_reader_t;
typedef struct store_scan store_scan_t;

/* Longest archive name, listener name, HELO, address (bytes, without NUL). */
#define STORE_NAME_MAX 64
#define STORE_ADDR_MAX 1024

/* Message ids: "<archive>-<seq>" (DESIGN.md §5), split on the last '-'.
 * Parses into archive/seq; false unless the archive name is a valid mail
 * archive name and seq a decimal number from 1 without leading zeros. */
bool store_id_parse(const char *id, char archive[STORE_NAME_MAX + 1], uint64_t *seq);

/* ---- opening ---- */

typedef enum {
	STORE_OPEN_READWRITE = 0,   /* the daemon or a CLI holding the data-dir lock */
	STORE_OPEN_READONLY = 1,    /* indexer, verify-while-serving: no writer, no recovery */
} store_open_mode_t;

typedef struct store_opts {
	store_open_mode_t mode;
	/* Cap on bytes held in memory for appends not yet durable, including data
	 * still arriving.  0 = default (256 MiB). */
	uint64_t inflight_max;
	/* Registry for the store's metrics (append and fsync latency, batch
	 * sizes, segments and bytes per archive); NULL = none.  Borrowed: must
	 * outlive the store. */
	struct metrics *metrics;
	/* Sealed segments stay as written instead of being packed into blocks
	 * (benchmarks measuring the append path alone; tests of that layout). */
	bool no_pack;
	/* zstd level of packed blocks and plaintext bytes per block; 0 = the
	 * defaults, 17 and 768 KiB (doc/format.md §5; bench/RESULTS.md). */
	int pack_level;
	size_t pack_block;
} store_opts_t;

/* Opens the store under cfg->storage.data_dir, loading the master key from
 * master_key_file or master_key_command.  READWRITE also loads the signing
 * key (keys/signing.key; EKEY without it), runs recovery on every archive
 * (logged; damage before the head quarantines that segment, appends go on in
 * a new one), and starts the writer and packer threads.  On success *out is
 * owned by the caller (store_close). */
store_status_t store_open(const config_t *cfg, const store_opts_t *opts, store_t **out);
/* Waits for in-flight commits, stops the writer, frees.  NULL is fine. */
void store_close(store_t *s);

/* Creates the key files for a new data dir: the master key (0600, outside the
 * data dir) if it does not exist yet and the server's Ed25519 signing key.
 * Used by `vellum init` before store_open. */
store_status_t store_init_keys(const config_t *cfg);

/* ---- archives ---- */
store_status_t store_archive_create(store_t *s, const char *name);
bool store_archive_exists(store_t *s, const char *name);
/* NULL-terminated list of archive names (mail archives only, no '_' logs);
 * caller frees with util_strv_free. */
char **store_archive_list(store_t *s);
/* The same with the logs ("_audit", "_store") too, e.g. to verify them. */
char **store_archive_list_all(store_t *s);

typedef struct store_archive_stats {
	uint64_t messages;       /* distinct message ids */
	uint64_t arrivals;
	uint64_t records;        /* chain length (head sequence) */
	uint64_t segments;
	uint64_t bytes;          /* segment bytes on disk */
	uint64_t raw_bytes;      /* message bytes as received */
	int64_t last_received;   /* us, 0 if none */
} store_archive_stats_t;
store_status_t store_archive_stats(store_t *s, const char *archive, store_archive_stats_t *out);

/* One segment of an archive, for retention (what is in it, how old). */
typedef struct store_segment_info {
	uint64_t first_seq, last_seq;  /* records it holds (last_seq 0: none yet) */
	bool active;                   /* takes appends; cannot be deleted or compacted */
	bool sealed;                   /* ends with its signed SEAL record */
	bool packed;                   /* regrouped into compressed blocks */
	int64_t created;               /* us */
	uint64_t bytes;                /* file size */
	uint64_t arrivals;             /* arrivals in it (catalog) */
	uint64_t messages;             /* distinct message ids with an arrival in it */
	uint64_t raw_bytes;
	int64_t received_min, received_max; /* of its arrivals; 0 when none */
} store_segment_info_t;
/* Segments in chain order; caller frees *out with free(). */
store_status_t store_segments(store_t *s, const char *archive, store_segment_info_t **out,
                              size_t *n);

/* One arrival as the catalog knows it (for retention and holds). */
typedef struct store_arrival_ref {
	uint64_t msg_seq;
	uint64_t record_seq;   /* its envelope */
	uint64_t segment;      /* first_seq of its segment */
	int64_t received;
	uint64_t size;
} store_arrival_ref_t;
/* Arrivals stored in one segment, in chain order; caller frees *out. */
store_status_t store_segment_arrivals(store_t *s, const char *archive, uint64_t segment,
                                      store_arrival_ref_t **out, size_t *n);

/* Seals the archive's active segment now (signed SEAL record; the packer
 * then packs it).  OK and nothing written when it holds no record. */
store_status_t store_seal(store_t *s, const char *archive);
/* Writes a signed CHECKPOINT now when the chain grew since its last
 * signature (the writer does it on its own every hour). */
store_status_t store_checkpoint(store_t *s, const char *archive);
/* Waits until the packer has packed every segment sealed so far. */
void store_pack_wait(store_t *s);

/* ---- appending mail ---- */

/* Envelope flags. */
#define STORE_ENV_BARE_LF   0x01u  /* a bare LF was seen in the data */
#define STORE_ENV_BARE_CR   0x02u  /* a bare CR was seen in the data */
#define STORE_ENV_8BITMIME  0x04u  /* BODY=8BITMIME */
#define STORE_ENV_SMTPUTF8  0x08u
#define STORE_ENV_BDAT      0x10u  /* arrived with CHUNKING */
#define STORE_ENV_IMPORT    0x20u  /* vellum import / API submission, not SMTP */

/* What the SMTP session (or an import) knew about a message.  All strings are
 * NUL-terminated and only borrowed during store_append_begin. */
typedef struct store_envelope {
	int64_t received;            /* us since epoch; 0 = now */
	const char *listener;        /* "default", or "import", "api" */
	const char *client_addr;     /* numeric */
	uint16_t client_port;
	const char *helo;
	const char *tls_version;     /* NULL when plaintext */
	const char *tls_cipher;
	const char *auth_id;         /* SMTP AUTH identity or API user, or NULL */
	const char *mail_from;       /* reverse-path without <>; "" for the null sender */
	const char *mail_params;     /* "SIZE=1234 BODY=8BITMIME", or NULL */
	const char *const *rcpt;     /* forward-paths, without <> */
	size_t nrcpt;
	uint32_t flags;              /* STORE_ENV_* */
} store_envelope_t;

/* Starts an append into every archive in `archives` (at least one).  Fails
 * early with ENOSPC, EBUSY, EFAILED.  On success *out is owned by the caller
 * until store_append_commit or store_append_abort. */
store_status_t store_append_begin(store_t *s, const store_envelope_t *env,
                                  const char *const *archives, size_t narchives,
                                  store_append_t **out);
/* False when free space under data_dir is below min_free (then every
 * append is refused with ENOSPC).  A statvfs; cheap enough to call per
 * transaction (the SMTP side asks at MAIL FROM to answer 452 4.3.1 early). */
bool store_space_ok(store_t *s);
/* Adds message bytes (exactly as they will be stored).  Never blocks on
 * disk; may fail with EBUSY (cap), ETOOBIG, EFAILED — then abort. */
store_status_t store_append_write(store_append_t *a, const void *p, size_t n);
/* ORs STORE_ENV_* flags learned while the data arrived (the SMTP DATA
 * scanner sees bare LF/CR only as the bytes stream through) into the
 * envelope.  Call before store_append_commit. */
void store_append_set_flags(store_append_t *a, uint32_t flags);
/* Drops an append that will not be committed (client gone, policy refusal).
 * Chunk records already written become unreferenced and are never listed. */
void store_append_abort(store_append_t *a);

/* The result of one append. */
typedef struct store_id {
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;        /* message id is "<archive>-<seq>" */
	bool duplicate;      /* same SHA-256 already in this archive: an arrival of it */
} store_id_t;

typedef struct store_completion {
	void *cookie;
	store_status_t status;   /* OK only if durable in every target archive */
	uint8_t sha256[32];      /* of the raw message */
	uint64_t size;
	size_t nids;
	store_id_t *ids;         /* one per target archive, in the order given */
} store_completion_t;
void store_completion_free(store_completion_t *c);

/* A completion queue: the store pushes completions, the owner pops them when
 * store_queue_fd() becomes readable (an eventfd).  One per event loop. */
store_queue_t *store_queue_new(void);
void store_queue_free(store_queue_t *q);
int store_queue_fd(const store_queue_t *q);
/* Pops one completion (caller frees) or returns NULL when empty; also clears
 * the fd's readiness when it empties the queue. */
store_completion_t *store_queue_pop(store_queue_t *q);

/* Hands the append to the writer; `a` is no longer the caller's.  The
 * completion, with `cookie`, arrives on q. */
void store_append_commit(store_append_t *a, store_queue_t *q, void *cookie);
/* Blocking variant for threads that may wait (HTTP submission, import):
 * commits and returns the completion (caller frees). */
store_completion_t *store_append_commit_wait(store_append_t *a);

/* ---- log archives ("_audit") ----
 * Appends one opaque record and returns once it is durable.  *seq gets its
 * position in that log's chain (1-based). */
store_status_t store_log_append(store_t *s, const char *log, const void *p, size_t n,
                                uint64_t *seq);

/* ---- reading messages ---- */

typedef struct store_arrival {
	uint64_t record_seq;         /* the envelope record's chain position */
	char *segment;               /* segment file name */
	uint64_t offset;             /* byte offset of the record in it */
	int64_t received;
	char *listener, *client_addr, *helo, *tls_version, *tls_cipher, *auth_id;
	char *mail_from, *mail_params;
	uint16_t client_port;
	char **rcpt;                 /* NULL-terminated */
	size_t nrcpt;
	uint32_t flags;
} store_arrival_t;

typedef struct store_msg {
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;
	uint8_t sha256[32];
	uint64_t size;
	int64_t received;            /* of the first arrival */
	size_t narrivals;
	store_arrival_t *arrivals;   /* oldest first */
} store_msg_t;

/* Catalog lookup: envelope(s) and integrity data of one message.  Caller
 * frees with store_msg_free.  ENOTFOUND for unknown or deleted ids. */
store_status_t store_msg_get(store_t *s, const char *archive, uint64_t seq, store_msg_t **out);
void store_msg_free(store_msg_t *m);

/* Opens the raw bytes of a message for streaming; each chunk is authenticated
 * before it is decompressed.  Caller closes. */
store_status_t store_msg_open(store_t *s, const char *archive, uint64_t seq,
                              store_reader_t **out);
/* Reads up to cap bytes; *got = 0 at the end.  ECORRUPT if a record fails
 * authentication (nothing unauthenticated is ever returned). */
store_status_t store_reader_read(store_reader_t *r, void *buf, size_t cap, size_t *got);
void store_reader_close(store_reader_t *r);

/* ---- scanning an archive's chain in order (indexer, reindex, audit) ---- */

typedef enum {
	STORE_ITEM_MESSAGE = 1,   /* first arrival of a new message id */
	STORE_ITEM_ARRIVAL,       /* a later arrival of an existing id (duplicate) */
	STORE_ITEM_LOG,           /* an opaque log record (log archives) */
	STORE_ITEM_DELETION,      /* retention/purge record: ids no longer exist */
} store_item_type_t;

typedef struct store_scan_item {
	store_item_type_t type;
	uint64_t record_seq;
	uint64_t msg_seq;              /* MESSAGE, ARRIVAL */
	const store_arrival_t *arrival;/* MESSAGE, ARRIVAL */
	uint8_t sha256[32];
	uint64_t size;
	const void *data;              /* LOG: the record payload */
	size_t len;
	const uint64_t *deleted;       /* DELETION: message ids that no longer exist (their
	                                  documents go from the index) */
	size_t ndeleted;
} store_scan_item_t;

/* Scans records with record_seq > after, up to the durable head at the time
 * of each call to store_scan_next (so a tailing reader sees new data). */
store_status_t store_scan_open(store_t *s, const char *archive, uint64_t after,
                               store_scan_t **out);
/* *item is valid until the next call; NULL at the current end. */
store_status_t store_scan_next(store_scan_t *sc, const store_scan_item_t **item);
/* Raw bytes of the current MESSAGE/ARRIVAL item. Caller closes. */
store_status_t store_scan_open_message(store_scan_t *sc, store_reader_t **out);
void store_scan_close(store_scan_t *sc);

/* Would an append be admitted now?  STORE_OK, or why not: EREADONLY,
 * EFAILED (failed closed after a write error), ENOSPC (below min_free),
 * ESHUTDOWN.  Does not count the in-flight cap (a busy store is writable).
 * For /healthz. */
store_status_t store_writable(store_t *s);

/* Current head (durable chain length) of an archive or log; 0 when empty. */
store_status_t store_head(store_t *s, const char *archive, uint64_t *record_seq);

/* ---- integrity ---- */

typedef struct store_verify_report {
	uint64_t records;          /* records checked */
	uint64_t messages;
	uint64_t problems;         /* 0 = clean */
	uint64_t anchored_seq;     /* highest sequence covered by a valid signature
	                              (of the last archive verified) */
	uint64_t signatures;       /* signed records whose signature checked */
	uint64_t segments;
	uint64_t deletions;        /* signed DELETION records found */
	uint64_t deleted_records;  /* records removed by them (whole segments, elided) */
	uint64_t quarantined;      /* segments set aside by recovery */
} store_verify_report_t;

/* Called for each problem found, with a one-line description that names the
 * segment file, byte offset and sequence. */
typedef void (*store_verify_cb)(void *arg, const char *archive, const char *problem);
/* Re-reads every record of archive (NULL: all archives and logs) and checks
 * framing, authentication, decompression, sequence, the chain across
 * segments and deletions, every signature, envelope content references and
 * hashes, that sealed segments end with their SEAL, and that the chain
 * reaches the recorded head.  Records removed by a signed deletion are not
 * problems (they are counted); a gap no deletion explains is.  Problems go
 * to cb; the report accumulates over the archives verified. */
store_status_t store_verify(store_t *s, const char *archive, store_verify_cb cb, void *arg,
                            store_verify_report_t *out);
/* Like store_verify, with a second callback for notes that are not problems
 * (deletions found, segments quarantined earlier, anchoring).  note may be
 * NULL. */
store_status_t store_verify_ex(store_t *s, const char *archive, store_verify_cb problem,
                               store_verify_cb note, void *arg, store_verify_report_t *out);

/* ---- deletion (the primitives retention, purge and archive deletion use;
 * which messages are expired or held is the caller's policy) ---- */

typedef enum {
	STORE_DEL_RETENTION = 1,
	STORE_DEL_PURGE = 2,
	STORE_DEL_ARCHIVE = 3,
} store_del_kind_t;

/* A purged message's tombstone, kept in the signed DELETION record. */
typedef struct store_tombstone {
	uint64_t msg_seq;
	const char *reason;
	const char *requested_by;
	const char *approved_by;
} store_tombstone_t;

typedef struct store_delete_req {
	store_del_kind_t kind;        /* RETENTION or PURGE */
	const char *reason;           /* recorded in the DELETION record, e.g. "retention 7y" */
	const char *actor;            /* who ran it: "retention", "cli:root", a user */
	const uint64_t *msgs;         /* message ids to remove (all their arrivals) */
	size_t nmsgs;
	const store_tombstone_t *tombstones; /* PURGE: one per message */
	size_t ntombstones;
	/* Seal the active segment first when it holds an arrival of one of msgs
	 * (a purge cannot wait for it to age); otherwise such arrivals stay and
	 * are counted in skipped_active. */
	bool seal_active;
	bool dry_run;                 /* plan and count only */
} store_delete_req_t;

typedef struct store_delete_result {
	uint64_t record_seq;          /* the DELETION record; 0 when nothing was removed */
	uint64_t segments_deleted;    /* whole segments removed with their keys */
	uint64_t segments_compacted;  /* rewritten without the removed records */
	uint64_t messages;            /* ids that no longer exist */
	uint64_t arrivals;            /* arrivals removed */
	uint64_t raw_bytes;           /* message bytes of those arrivals */
	uint64_t bytes_freed;         /* segment bytes on disk freed */
	int64_t received_min, received_max;
	uint64_t skipped_active;      /* arrivals left because they are in the active segment */
	uint64_t *removed;            /* the ids that no longer exist; caller frees */
	size_t nremoved;
} store_delete_result_t;

/* Removes the given messages: a sealed segment left without any arrival is
 * deleted with its keystore entry (crypto-shredding: a saved copy of the file
 * can no longer be decrypted); one that keeps some is compacted into a new
 * sealed segment (same first_seq, new key) holding the survivors, with the
 * removed records elided from the chain but their hashes kept.  One signed
 * DELETION record (counts, time range, segment hashes, tombstones, every
 * deleted range so far) goes into the chain, the catalog forgets the ids, and
 * store_scan reports them (STORE_ITEM_DELETION).  ENOTFOUND for an unknown
 * archive; ids that do not exist are ignored.  *out filled even on dry run;
 * free out->removed. */
store_status_t store_delete(store_t *s, const char *archive, const store_delete_req_t *req,
                            store_delete_result_t *out);

/* Deletes a whole archive: a signed DELETION record naming it (its final
 * head, counts, segment hashes) goes into the "_store" log, then its
 * directory — archive key, keystore, segments, catalog — is removed.  The
 * caller checks its policy (holds, compliance mode) first.  *record_seq gets
 * the record's position in "_store". */
store_status_t store_archive_delete(store_t *s, const char *archive, const char *reason,
                                    const char *actor, uint64_t *record_seq);

/* The store's own log of archive deletions. */
#define STORE_LOG_NAME "_store"

/* ---- keys ---- */

typedef struct store_rotate_result {
	uint64_t archives;        /* archive keys re-wrapped */
	char old_id[17], new_id[17]; /* master key fingerprints, hex */
} store_rotate_result_t;

/* Re-wraps every archive key under a new master key, without re-encrypting
 * any data.  new_key_file: a file holding the new key (64 hex digits, 0600);
 * NULL = generate one.  With master_key_file configured, the new key
 * replaces that file (atomically, after every archive key was wrapped under
 * it as archive.key.next; an interrupted rotation finishes at the next
 * open).  With master_key_command, new_key_file is required and the
 * operator then makes the command print the new key.  The caller writes the
 * audit record. */
store_status_t store_key_rotate(store_t *s, const char *new_key_file, store_rotate_result_t *out);

#endif
