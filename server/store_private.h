/* store_private.h — what the store_*.c files share; nothing outside the store
 * includes this (the unit tests of the record format do).
 *
 * Locking, from outermost to innermost: store.lock (the archive table) →
 * archive.lock (segment table, key slabs, durable head) → archive.cat_r_lock
 * (the readers' catalog connection); store.wlock (the writer's job queue and
 * the in-flight counter) is never held while taking another lock.
 */
#ifndef VELLUM_STORE_PRIVATE_H
#define VELLUM_STORE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>
#include <sqlite3.h>

#include "vellum/keys.h"
#include "vellum/store.h"
#include "vellum/util.h"

/* ---- format constants (doc/format.md) ---- */
#define STORE_FORMAT_VERSION 1
#define STORE_SEG_HDR_SIZE   128
#define STORE_REC_HDR_SIZE   48
#define STORE_REC_TAG_SIZE   16
#define STORE_REC_OVERHEAD   (STORE_REC_HDR_SIZE + STORE_REC_TAG_SIZE)
#define STORE_HASH_BYTES     32
#define STORE_SEG_ID_BYTES   16

/* Raw bytes per content record when a message is streamed: large enough that
 * per-record overhead (64 bytes, one AEAD call) is noise, small enough that a
 * reader or writer holds little per stream. */
#define STORE_CHUNK_SIZE (1u << 20)
/* Largest payload of any record: an envelope with the maximum number of
 * recipients and content references still fits; checked before allocating. */
#define STORE_RECORD_PLAIN_MAX (16u << 20)
#define STORE_RECORD_MAX       (STORE_REC_OVERHEAD + STORE_RECORD_PLAIN_MAX)
/* zstd window a reader accepts: no payload is larger than 16 MiB, so no
 * legitimate frame needs a larger window (decompression-bomb bound). */
#define STORE_ZSTD_WINDOW_LOG_MAX 24
/* Content references of one message: 64 Ki chunks of 1 MiB = 64 GiB. */
#define STORE_CHUNKS_MAX 65536u
#define STORE_MSG_MAX    ((uint64_t)STORE_CHUNKS_MAX * STORE_CHUNK_SIZE)
/* One envelope string field (a HELO, an address, MAIL parameters). */
#define STORE_FIELD_MAX 65536u
/* Recipients of one arrival (RFC 5321 needs 100; journal sources send more). */
#define STORE_RCPT_MAX 1000000u
/* Encoded envelope fields of one arrival before the content references. */
#define STORE_ENVELOPE_MAX (STORE_RECORD_PLAIN_MAX - 2 * (STORE_CHUNKS_MAX * 16u))
/* Archives one append may target. */
#define STORE_TARGETS_MAX 256
/* Segment keys in one keystore: 1 Mi segments (years of 1-minute segments). */
#define STORE_KEYSTORE_MAX (1u << 20)
/* One opaque log record (an audit event). */
#define STORE_LOG_MAX (1u << 20)
/* zstd level for records: fast, and the payloads are small. */
#define STORE_ZSTD_LEVEL 3

typedef enum {
	STORE_REC_CONTENT = 1,
	STORE_REC_CHUNK = 2,
	STORE_REC_ENVELOPE = 3,
	STORE_REC_LOG = 4,
	STORE_REC_CHECKPOINT = 5, /* reserved (signed checkpoints, later) */
	STORE_REC_SEAL = 6,       /* reserved (signed segment seals, later) */
	STORE_REC_DELETION = 7,   /* reserved (retention, purge, later) */
} store_rec_type_t;
#define STORE_REC_TYPE_MAX 7

#define STORE_RECF_ZSTD 0x0001u

typedef struct store_rec_hdr {
	uint32_t length;
	uint8_t type;
	uint8_t version;
	uint16_t flags;
	uint64_t seq;
	uint32_t plain_len;
	uint32_t stored_len;
	uint8_t nonce[24];
} store_rec_hdr_t;

typedef struct store_ref {
	uint64_t seq;
	uint64_t offset;
} store_ref_t;

/* A decoded ENVELOPE record. */
typedef struct store_env_rec {
	uint64_t msg_seq;
	uint8_t sha256[32];
	uint64_t size;
	bool duplicate;
	char *archive;
	store_arrival_t arr; /* segment/offset/record_seq filled in by the caller */
	store_ref_t *refs;
	size_t nrefs;
} store_env_rec_t;

/* ---- store_record.c: records, payloads, envelopes, chain ---- */
void store_rec_hdr_encode(const store_rec_hdr_t *h, uint8_t out[STORE_REC_HDR_SIZE]);
/* Framing checks only (no key needed).  ECORRUPT with *why set. */
store_status_t store_rec_hdr_decode(const uint8_t in[STORE_REC_HDR_SIZE], store_rec_hdr_t *h,
                                    const char **why);
/* Compresses p[0..n) into out (replacing its contents); *flags gets
 * STORE_RECF_ZSTD when the compressed form is smaller, else out holds p. */
void store_payload_compress(const void *p, size_t n, buf_t *out, uint16_t *flags);
/* Encrypts a payload (already compressed or not, per flags) into a complete
 * record appended to out. */
void store_rec_seal(const uint8_t key[KEYS_BYTES], uint8_t type, uint64_t seq, uint16_t flags,
                    const void *stored, size_t stored_len, size_t plain_len, buf_t *out);
/* Authenticates a complete record rec[0..len) and returns its payload in
 * plain (decompressed, exactly plain_len bytes).  ECORRUPT with *why. */
store_status_t store_rec_open(const uint8_t key[KEYS_BYTES], const uint8_t *rec, size_t len,
                              store_rec_hdr_t *h, buf_t *plain, const char **why);
/* Authenticates only, returning the stored payload (still compressed). */
store_status_t store_rec_open_stored(const uint8_t key[KEYS_BYTES], const uint8_t *rec, size_t len,
                                     store_rec_hdr_t *h, buf_t *stored, const char **why);
void store_chain_init(const char *archive, uint8_t link[STORE_HASH_BYTES]);
void store_chain_next(uint8_t link[STORE_HASH_BYTES], uint64_t seq, const uint8_t *rec, size_t len);

/* Envelope fields from the caller's store_envelope_t (everything but what the
 * writer adds: MSG_SEQ, SHA256, SIZE, CONTENT, ARCHIVE, KIND).  EINVAL when a
 * field is too long, holds a NUL, or there are too many recipients. */
store_status_t store_env_encode_fields(const store_envelope_t *env, int64_t received, buf_t *out);
/* ORs flags into the FLAGS field of fields encoded by store_env_encode_fields
 * (store_append_set_flags: bare LF/CR are known only once the data is in). */
void store_env_or_flags(buf_t *env, uint32_t flags);
/* Appends the writer's fields. */
void store_env_encode_tail(buf_t *out, uint64_t msg_seq, const uint8_t sha256[32], uint64_t size,
                           const char *archive, bool duplicate, const store_ref_t *refs,
                           size_t nrefs);
store_status_t store_env_decode(const uint8_t *p, size_t n, store_env_rec_t *e, const char **why);
void store_env_rec_free(store_env_rec_t *e);
void store_arrival_clear(store_arrival_t *a);

/* ---- store_segment.c: segment files ---- */
typedef struct store_seg_hdr {
	uint64_t first_seq;
	int64_t created;
	uint8_t id[STORE_SEG_ID_BYTES];
	uint8_t prev_link[STORE_HASH_BYTES];
} store_seg_hdr_t;

#define STORE_SEG_NAME_MAX 32
void store_seg_name(uint64_t first_seq, char out[STORE_SEG_NAME_MAX]);
/* Parses "<20 digits>.seg"; false for anything else. */
bool store_seg_name_parse(const char *name, uint64_t *first_seq);
void store_seg_hdr_encode(const store_seg_hdr_t *h, const uint8_t key[KEYS_BYTES],
                          uint8_t out[STORE_SEG_HDR_SIZE]);
store_status_t store_seg_hdr_decode(const uint8_t in[STORE_SEG_HDR_SIZE],
                                    const uint8_t key[KEYS_BYTES], store_seg_hdr_t *h,
                                    const char **why);

typedef enum {
	STORE_RD_OK = 0,
	STORE_RD_END,  /* off is at the end of the file */
	STORE_RD_TORN, /* the file ends inside the record */
	STORE_RD_BAD,  /* framing error (why set) */
	STORE_RD_EIO,  /* read failed (logged) */
} store_rd_t;
/* Reads the complete record at off (framing checked, not authenticated)
 * into rec; file_end bounds it. */
store_rd_t store_seg_read_rec(int fd, const char *path, uint64_t off, uint64_t file_end, buf_t *rec,
                              store_rec_hdr_t *h, const char **why);
/* Reads only the header at off. */
store_rd_t store_seg_read_hdr(int fd, const char *path, uint64_t off, uint64_t file_end,
                              store_rec_hdr_t *h, const char **why);
/* Sorted first_seqs of the segment files in dir; caller frees *out. */
store_status_t store_seg_list(const char *dir, uint64_t **out, size_t *n);

/* ---- store_archive.c: archives, keys, head, recovery ---- */
typedef struct store_seg {
	uint64_t first_seq;
	uint8_t id[STORE_SEG_ID_BYTES];
	int64_t created;
	uint8_t wrapped[KEYS_WRAPPED_BYTES];
	uint8_t *key; /* into the archive's key slabs: stable until close */
} store_seg_t;

typedef struct store_head {
	uint64_t gen;
	uint64_t seq;
	uint8_t link[STORE_HASH_BYTES];
	uint64_t segment;
	uint64_t end;
} store_head_t;

typedef struct store_cat store_cat_t;

/* Keys are kept in slabs of secure memory that never move, so a reader may
 * use a key pointer without copying it. */
#define STORE_KEYSLAB_KEYS 128

typedef struct store_archive {
	char name[STORE_NAME_MAX + 1];
	char *dir;
	bool is_log;
	uint8_t *akey;    /* archive key (secure) */
	uint8_t *headkey; /* KDF(akey, 2, "vlhead__") (secure) */

	uint64_t ks_ino; /* inode of the keystore last loaded (RO refresh) */

	pthread_mutex_t lock; /* segs, slabs, head (what readers see) */
	store_seg_t *segs;    /* ascending first_seq */
	size_t nsegs, capsegs;
	uint8_t **slabs;
	size_t nslabs, slab_used;
	store_head_t head; /* durable head */
	int head_fd;       /* RW: the head file */

	/* writer state (writer thread only, or open/close) */
	int active_fd; /* -1 before the first segment */
	uint64_t active_first;
	uint64_t active_size;
	int64_t active_created;
	uint64_t next_seq;
	uint8_t link[STORE_HASH_BYTES];
	uint64_t next_msg_seq;
	int sealed_fd;      /* sealed in this batch, still to fsync; -1 */
	bool damaged;       /* recovery found loss: appends refused */
	bool dirty;         /* written in the current batch */
	store_cat_t *cat_w; /* writer's catalog connection (RW) */

	pthread_mutex_t cat_r_lock;
	store_cat_t *cat_r; /* readers' connection (may be NULL in RO) */
} store_archive_t;

struct store {
	char *data_dir;
	char *archives_dir;
	bool readonly;
	uint64_t segment_max;
	util_duration_t segment_max_age;
	uint64_t min_free;
	uint8_t *mkey; /* master key (secure) */
	uint8_t mkey_id[KEYS_ID_BYTES];

	pthread_mutex_t lock; /* the archive table */
	store_archive_t **archives;
	size_t narchives, caparchives;

	/* the writer (store_writer.c) */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct store_job *jobs_head, *jobs_tail;
	bool stopping;
	bool writer_exited; /* under wlock: jobs are refused from now on */
	bool writer_running;
	pthread_t writer;
	uint64_t inflight, inflight_max;
	_Atomic bool failed;
	_Atomic bool low_space; /* last free-space check failed (log once) */
	buf_t wbuf;             /* writer scratch: one sealed record */
	buf_t wbuf2;            /* writer scratch: payload read back */

	pthread_mutex_t cctx_lock; /* pool of zstd compression contexts */
	void **cctx;
	size_t ncctx, capcctx;
};

bool store_name_valid(const char *name, bool *is_log);
/* Finds an archive by name, loading it from disk when it exists but is not
 * open yet (archives created by another process, seen by a read-only store).
 * NULL when there is none.  The pointer lives until store_close. */
store_archive_t *store_archive_get(store_t *s, const char *name);
store_status_t store_archive_create_locked(store_t *s, const char *name, store_archive_t **out);
/* Loads every archive directory; RW also runs recovery (store_open). */
store_status_t store_archives_load_all(store_t *s);
void store_archive_free(store_archive_t *a);
/* Copy of the segment holding seq (the last one with first_seq <= seq);
 * reloads the keystore once in a read-only store.  ENOTFOUND when none. */
store_status_t store_archive_seg_for(store_t *s, store_archive_t *a, uint64_t seq,
                                     store_seg_t *out);
/* The durable head (RO: re-read from the head file). */
store_status_t store_archive_head(store_t *s, store_archive_t *a, store_head_t *out);
/* Writer: writes h to the head file (next slot) and fsyncs it. */
store_status_t store_archive_head_write(store_archive_t *a, store_head_t *h);
/* Writer: a new active segment starting at a->next_seq (keystore entry,
 * file with header, fsync of both and the directory). */
store_status_t store_archive_seg_new(store_t *s, store_archive_t *a);
char *store_archive_seg_path(const store_archive_t *a, uint64_t first_seq);
#define HEAD_SLOT_SIZE 128
store_status_t store_archive_akey_write(store_t *s, const char *dir, const char *name,
                                        const uint8_t *akey);
/* Unwraps archive.key into a->akey and derives a->headkey. */
store_status_t store_archive_akey_load(store_t *s, store_archive_t *a);
store_status_t store_archive_ks_write(const char *dir, const store_seg_t *segs, size_t n);
store_status_t store_archive_ks_load(store_archive_t *a);
uint8_t *store_archive_key_slot(store_archive_t *a);
void store_archive_seg_insert(store_archive_t *a, const store_seg_t *sg);
void store_archive_head_encode(const store_archive_t *a, const store_head_t *h,
                               uint8_t out[HEAD_SLOT_SIZE]);
store_status_t store_archive_head_read(store_archive_t *a, int fd, store_head_t *out);
/* Reads, authenticates and decodes the record at (seg, off); checks seq and
 * type when non-zero.  plain gets the payload. */
store_status_t store_archive_read_rec(store_t *s, store_archive_t *a, uint64_t seg, int fd,
                                      uint64_t off, uint64_t want_seq, uint8_t want_type,
                                      buf_t *raw, buf_t *plain, store_rec_hdr_t *h);

/* ---- store_recover.c: loading, recovery, catalog replay, creation ---- */
/* Opens the archive in dir (RW: recovery and catalog sync too). */
store_status_t store_archive_open(store_t *s, const char *name, store_archive_t **out);

/* ---- store_read.c: a cursor over an archive's chain ---- */
typedef struct store_cursor {
	store_t *s;
	store_archive_t *a;
	store_seg_t seg; /* current segment (first_seq 0: none open) */
	int fd;
	char *path;
	uint64_t size; /* file size as last seen */
	uint64_t off;  /* next record's offset */
	uint64_t next_seq;
	uint64_t rec_off;  /* offset of the record just read */
	store_rec_hdr_t h; /* header of the record just read */
	buf_t raw, plain;
} store_cursor_t;
/* Positions before record after+1. */
store_status_t store_cursor_open(store_t *s, store_archive_t *a, uint64_t after, store_cursor_t *c);
/* Reads the next record if its seq <= limit (*got false otherwise).  Records
 * whose type bit is in open_mask are authenticated and their payload left in
 * c->plain; the others are only framed. */
store_status_t store_cursor_next(store_cursor_t *c, uint64_t limit, uint32_t open_mask, bool *got);
void store_cursor_close(store_cursor_t *c);
#define STORE_TYPE_BIT(t) (1u << (t))

/* ---- store_catalog.c ---- */
store_status_t store_cat_open(const char *dir, bool readonly, store_cat_t **out);
void store_cat_close(store_cat_t *c);
/* Removes catalog.db and its WAL files. */
void store_cat_remove(const char *dir);
store_status_t store_cat_begin(store_cat_t *c);
store_status_t store_cat_commit(store_cat_t *c);
void store_cat_rollback(store_cat_t *c);
store_status_t store_cat_last_seq(store_cat_t *c, uint64_t *seq);
store_status_t store_cat_set_last_seq(store_cat_t *c, uint64_t seq);
store_status_t store_cat_max_msg(store_cat_t *c, uint64_t *seq);
/* ENOTFOUND when no message has this hash. */
store_status_t store_cat_msg_by_sha(store_cat_t *c, const uint8_t sha[32], uint64_t *msg_seq);
/* Content of sha already in segment seg (caller frees *refs); ENOTFOUND. */
store_status_t store_cat_content_find(store_cat_t *c, const uint8_t sha[32], uint64_t seg,
                                      store_ref_t **refs, size_t *nrefs);
/* Records an arrival (and its message when new, and its content). */
store_status_t store_cat_add(store_cat_t *c, const store_env_rec_t *e, uint64_t record_seq,
                             uint64_t seg, uint64_t off);
typedef struct store_cat_msg {
	uint8_t sha256[32];
	uint64_t size;
	int64_t received;
} store_cat_msg_t;
store_status_t store_cat_msg(store_cat_t *c, uint64_t msg_seq, store_cat_msg_t *m);
typedef struct store_cat_arr {
	uint64_t record_seq, segment, offset;
} store_cat_arr_t;
/* Arrivals of a message, oldest first; caller frees *out. */
store_status_t store_cat_arrivals(store_cat_t *c, uint64_t msg_seq, store_cat_arr_t **out,
                                  size_t *n);
store_status_t store_cat_stats(store_cat_t *c, store_archive_stats_t *st);

/* ---- store_writer.c ---- */
store_status_t store_writer_start(store_t *s);
void store_writer_stop(store_t *s);
bool store_space_ok(store_t *s);
void store_cctx_free_all(store_t *s);

#endif
