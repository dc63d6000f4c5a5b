/* store_private.h — what the store_*.c files share; nothing outside the store
 * includes this (the unit tests of the record format do).
 *
 * Locking, from outermost to innermost: archive.maint (one maintenance
 * operation per archive: packing, compaction, deletion) → store.lock (the
 * archive table) → archive.lock (segment table, key slabs, block indexes,
 * durable head) → archive.cat_r_lock (the readers' catalog connection);
 * store.wlock (the writer's job queue and the in-flight counter) and
 * store.plock (the packer's queue) are never held while taking another lock.
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
#include "vellum/metrics.h"
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
/* A BLOCK holds at least one whole record plus its directory entry. */
#define STORE_BLOCK_PLAIN_MAX (STORE_RECORD_PLAIN_MAX + 64u)
#define STORE_RECORD_MAX      (STORE_REC_OVERHEAD + STORE_BLOCK_PLAIN_MAX)
/* zstd window a reader accepts: no payload is larger than 16 MiB (+ a block
 * directory), so no legitimate frame needs a larger window (bomb bound). */
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
/* zstd level for records as appended: fast, the payloads are small. */
#define STORE_ZSTD_LEVEL 3
/* Packed (sealed) segments: records are regrouped into blocks of about this
 * much plaintext and compressed together.  Measured on the SpamAssassin
 * corpus (bench/RESULTS.md, "compression"): 256 KiB at level 15 gives 0.24 x
 * raw, 512 KiB at 17 0.215, 768 KiB at 17 0.207 with a single-message read
 * still under a millisecond at p99 (blocks are decompressed only as far as a
 * reader needs), 1 MiB 0.200 but reads slower; level 19 costs twice the CPU
 * of 17 for 1% more. */
#define STORE_PACK_BLOCK (768u << 10)
#define STORE_PACK_LEVEL 17
/* Entries in one block: a block is at most STORE_BLOCK_PLAIN_MAX bytes and
 * every entry takes at least its 8-byte directory slot. */
#define STORE_BLOCK_ENTRIES_MAX (STORE_BLOCK_PLAIN_MAX / 8u)
/* Fields of signed records that are lists (deleted segments, gaps, message
 * ids, tombstones, elided ranges) together stay within one record. */
#define STORE_SIGNED_LIST_MAX (STORE_RECORD_PLAIN_MAX / 16u)
/* A checkpoint is written when the chain has grown and the last signature
 * is older than this. */
#define STORE_CHECKPOINT_US (INT64_C(3600) * UTIL_US_PER_SEC)
/* The writer wakes this often when idle to seal aged segments and sign. */
#define STORE_TICK_MS 1000
/* Group commit: when fewer commits are queued than the last batch had (the
 * others are on their way: their submitters just got their completions),
 * the writer waits this long at most for them, so one fsync covers them
 * all instead of the batch splitting in two. */
#define STORE_GROUP_WAIT_US 200

typedef enum {
	STORE_REC_CONTENT = 1,
	STORE_REC_CHUNK = 2,
	STORE_REC_ENVELOPE = 3,
	STORE_REC_LOG = 4,
	STORE_REC_CHECKPOINT = 5, /* signed: the chain up to here */
	STORE_REC_SEAL = 6,       /* signed: the last record of a sealed segment */
	STORE_REC_DELETION = 7,   /* signed: retention, purge, archive deletion */
	STORE_REC_BLOCK = 8,      /* packed segments: several records, not chained itself */
	STORE_REC_ELISION = 9,    /* packed segments: signed list of elided records */
} store_rec_type_t;
#define STORE_REC_TYPE_MAX 9
/* Types that are links of the chain (the others are encodings of them). */
#define STORE_REC_CHAINED_MAX 7

#define STORE_RECF_ZSTD 0x0001u

/* Segment header flags. */
#define STORE_SEGF_PACKED 0x0001u

/* ---- little-endian helpers ---- */
static inline void store_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void store_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void store_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t store_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t store_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t store_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

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

/* ---- SHA-256 of messages (store_record.c) ----
 * Through GnuTLS (nettle underneath), which uses the CPU's SHA instructions:
 * four times faster than libsodium's portable SHA-256 on a mail-sized
 * message, and every byte of every message is hashed on append and read. */
typedef struct store_sha256 {
	void *h; /* gnutls_hash_hd_t */
} store_sha256_t;
void store_sha256_init(store_sha256_t *c);
void store_sha256_update(store_sha256_t *c, const void *p, size_t n);
/* Writes the digest and releases c (init again to reuse). */
void store_sha256_final(store_sha256_t *c, uint8_t out[32]);
/* Releases c without a digest (an append aborted); NULL h is fine. */
void store_sha256_free(store_sha256_t *c);
void store_sha256(const void *p, size_t n, uint8_t out[32]);

/* ---- store_record.c: records, payloads, envelopes, chain, TLV ---- */
void store_rec_hdr_encode(const store_rec_hdr_t *h, uint8_t out[STORE_REC_HDR_SIZE]);
/* Framing checks only (no key needed).  ECORRUPT with *why set. */
store_status_t store_rec_hdr_decode(const uint8_t in[STORE_REC_HDR_SIZE], store_rec_hdr_t *h,
                                    const char **why);
/* Compresses p[0..n) into out (replacing its contents); *flags gets
 * STORE_RECF_ZSTD when the compressed form is smaller, else out holds p. */
void store_payload_compress(const void *p, size_t n, buf_t *out, uint16_t *flags);
/* The same with a zstd compression context to reuse (ZSTD_CCtx *). */
void store_payload_compress_cctx(void *cctx, const void *p, size_t n, buf_t *out, uint16_t *flags);
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
/* Decompresses a stored payload of h (exactly h->plain_len bytes, bounded
 * window); plain gets it.  dctx: a ZSTD_DCtx to reuse, or NULL. */
store_status_t store_payload_decompress(void *dctx, const store_rec_hdr_t *h, const uint8_t *stored,
                                        size_t stored_len, buf_t *plain, const char **why);

/* The chain: link_n = BLAKE2b-256(link_{n-1} || le64(n) || u8 type || h_n)
 * with h_n = BLAKE2b-256(payload) — over what the record says, not over its
 * encoding, so packing a sealed segment keeps every link. */
void store_payload_hash(const void *p, size_t n, uint8_t out[STORE_HASH_BYTES]);
void store_chain_init(const char *archive, uint8_t link[STORE_HASH_BYTES]);
void store_chain_next(uint8_t link[STORE_HASH_BYTES], uint64_t seq, uint8_t type,
                      const uint8_t phash[STORE_HASH_BYTES]);

/* TLV fields: tag (u16) || len (u32) || value, used by envelopes and signed
 * records. */
void store_tlv_put(buf_t *b, uint16_t tag, const void *p, size_t n);
void store_tlv_put64(buf_t *b, uint16_t tag, uint64_t v);
void store_tlv_put_str(buf_t *b, uint16_t tag, const char *s);
typedef struct store_tlv_iter {
	const uint8_t *p;
	size_t n, off;
	size_t field_off; /* offset of the field just returned */
} store_tlv_iter_t;
/* 1: a field; 0: the end; -1: malformed (*why set). */
int store_tlv_next(store_tlv_iter_t *it, uint16_t *tag, const uint8_t **v, uint32_t *len,
                   const char **why);

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

/* ---- store_signed.c: CHECKPOINT, SEAL, DELETION, ELISION payloads ---- */
enum {
	SF_TIME = 1,           /* i64 us */
	SF_SIGNER = 2,         /* 32: Ed25519 public key */
	SF_SIGNATURE = 3,      /* 64: the last field */
	SF_MSG_SEQ_MAX = 4,    /* u64: highest message seq allocated in the archive */
	SF_ARCHIVE = 5,        /* string */
	SF_HEAD = 6,           /* u64: the record before this one (CHECKPOINT) */
	SF_SEGMENT = 10,       /* u64 first_seq */
	SF_SEGMENT_ID = 11,    /* 16 */
	SF_CREATED = 12,       /* i64 */
	SF_RECEIVED = 13,      /* 2 x i64: min, max received of the arrivals covered */
	SF_COUNTS = 14,        /* 3 x u64: messages (first arrivals), arrivals, raw bytes */
	SF_Q_SEGMENT = 20,     /* CHECKPOINT after a quarantine: the segment, */
	SF_Q_OFFSET = 21,      /* byte offset and */
	SF_Q_SEQ = 22,         /* sequence of the damage, */
	SF_Q_REASON = 23,      /* and what was wrong */
	SF_KIND = 30,          /* u8 store_del_kind_t */
	SF_REASON = 31,        /* string */
	SF_ACTOR = 32,         /* string */
	SF_DEL_SEGMENT = 33,   /* repeated: a whole segment removed (store_del_seg_t) */
	SF_DEL_COMPACTED = 34, /* repeated: a segment rewritten without some records */
	SF_DEL_MSGS = 35,      /* n x u64: message seqs that no longer exist */
	SF_TOMBSTONE = 36,     /* repeated: nested TLV (TB_*) */
	SF_GAPS = 37,          /* n x gap: every range of the chain deleted so far */
	SF_DEL_ARCHIVE = 38,   /* string: an archive deleted (in the "_store" log) */
	SF_DEL_HEAD = 39,      /* u64 seq || link[32]: that archive's final head */
	SF_ELIDED = 40,        /* repeated: u64 first, u64 last, i64 time, u8 kind */
	SF_DEL_AKEY = 41,      /* 8: fingerprint of the deleted archive's key */
};
enum { TB_MSG_SEQ = 1, TB_SHA256 = 2, TB_REASON = 3, TB_REQUESTED_BY = 4, TB_APPROVED_BY = 5 };
#define STORE_DEL_SEG_BYTES 152
#define STORE_DEL_CMP_BYTES 128
#define STORE_GAP_BYTES     80
#define STORE_ELIDED_BYTES  25

typedef struct store_del_seg {
	uint64_t first, last;
	uint8_t id[STORE_SEG_ID_BYTES];
	uint8_t file_hash[STORE_HASH_BYTES]; /* BLAKE2b-256 of the file as deleted */
	uint8_t prev_link[STORE_HASH_BYTES]; /* link_{first-1} */
	uint8_t end_link[STORE_HASH_BYTES];  /* link_last */
	uint64_t bytes;
	int64_t created;
	uint64_t arrivals;
} store_del_seg_t;

typedef struct store_del_cmp {
	uint64_t first, last;
	uint8_t old_id[STORE_SEG_ID_BYTES], new_id[STORE_SEG_ID_BYTES];
	uint8_t old_hash[STORE_HASH_BYTES], new_hash[STORE_HASH_BYTES];
	uint64_t bytes_before, bytes_after;
} store_del_cmp_t;

typedef struct store_gap {
	uint64_t first, last;
	uint8_t prev_link[STORE_HASH_BYTES], end_link[STORE_HASH_BYTES];
} store_gap_t;

typedef struct store_elided {
	uint64_t first, last; /* record seqs */
	int64_t time;         /* when the deletion that removed them ran */
	uint8_t kind;         /* store_del_kind_t */
} store_elided_t;

typedef struct store_tomb {
	uint64_t msg_seq;
	uint8_t sha256[32];
	char *reason, *requested_by, *approved_by;
} store_tomb_t;

/* A decoded signed record; which parts are set depends on type. */
typedef struct store_srec {
	uint8_t type;
	int64_t time;
	uint8_t signer[KEYS_SIGN_PUBLIC_BYTES];
	uint64_t msg_seq_max;
	char *archive;
	uint64_t head;
	uint64_t segment;
	uint8_t segment_id[STORE_SEG_ID_BYTES];
	int64_t created;
	int64_t rmin, rmax;
	uint64_t messages, arrivals, raw_bytes;
	bool has_q;
	uint64_t q_segment, q_offset, q_seq;
	char *q_reason;
	uint8_t kind;
	char *reason, *actor;
	store_del_seg_t *dsegs;
	size_t ndsegs;
	store_del_cmp_t *dcmps;
	size_t ndcmps;
	uint64_t *msgs;
	size_t nmsgs;
	store_tomb_t *tombs;
	size_t ntombs;
	store_gap_t *gaps;
	size_t ngaps;
	char *del_archive;
	uint64_t del_head;
	uint8_t del_link[STORE_HASH_BYTES];
	uint8_t del_akey[KEYS_ID_BYTES];
	bool has_del_akey;
	store_elided_t *elided;
	size_t nelided;
} store_srec_t;

/* Appends SIGNER and SIGNATURE to body (the other fields, already there).
 * The signature covers "vellum signed record v1" || 0 || archive || 0 ||
 * le64(seq) || u8 type || prev_link || body before the SIGNATURE field. */
void store_sign_append(const uint8_t *sk, const uint8_t pk[KEYS_SIGN_PUBLIC_BYTES],
                       const char *archive, uint64_t seq, uint8_t type,
                       const uint8_t prev_link[STORE_HASH_BYTES], buf_t *body);
/* Checks the signature of a signed payload against pk.  ECORRUPT with *why. */
store_status_t store_sign_check(const uint8_t *p, size_t n, const char *archive, uint64_t seq,
                                uint8_t type, const uint8_t prev_link[STORE_HASH_BYTES],
                                const uint8_t pk[KEYS_SIGN_PUBLIC_BYTES], const char **why);
store_status_t store_srec_decode(const uint8_t *p, size_t n, uint8_t type, store_srec_t *r,
                                 const char **why);
void store_srec_free(store_srec_t *r);
void store_srec_put_delseg(buf_t *b, const store_del_seg_t *d);
void store_srec_put_delcmp(buf_t *b, const store_del_cmp_t *d);
void store_srec_put_gaps(buf_t *b, const store_gap_t *g, size_t n);
void store_srec_put_elided(buf_t *b, const store_elided_t *e);
void store_srec_put_tomb(buf_t *b, const store_tomb_t *t);
/* Merges r into the sorted, non-overlapping list *g (adjacent ranges join). */
void store_gaps_add(store_gap_t **g, size_t *n, const store_gap_t *r);

/* ---- store_segment.c: segment files ---- */
typedef struct store_seg_hdr {
	uint64_t first_seq;
	int64_t created;
	uint8_t id[STORE_SEG_ID_BYTES];
	uint8_t prev_link[STORE_HASH_BYTES];
	uint32_t flags;    /* STORE_SEGF_* */
	uint64_t last_seq; /* packed: the last record's sequence; else 0 */
} store_seg_hdr_t;

#define STORE_SEG_NAME_MAX 32
void store_seg_name(uint64_t first_seq, char out[STORE_SEG_NAME_MAX]);
/* Parses "<20 digits>.seg"; false for anything else. */
bool store_seg_name_parse(const char *name, uint64_t *first_seq);
void store_seg_hdr_encode(const store_seg_hdr_t *h, const uint8_t key[KEYS_BYTES],
                          uint8_t out[STORE_SEG_HDR_SIZE]);
/* Checks layout (and the MAC when key is given). */
store_status_t store_seg_hdr_decode(const uint8_t in[STORE_SEG_HDR_SIZE],
                                    const uint8_t key[KEYS_BYTES], store_seg_hdr_t *h,
                                    const char **why);
/* The segment id in a header, without checking anything (to pick a key). */
void store_seg_hdr_peek_id(const uint8_t in[STORE_SEG_HDR_SIZE], uint8_t id[STORE_SEG_ID_BYTES]);

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
/* pread of exactly n bytes (RD_TORN when the file is shorter). */
store_rd_t store_seg_pread(int fd, const char *path, void *p, size_t n, uint64_t off);
/* Sorted first_seqs of the segment files in dir; caller frees *out. */
store_status_t store_seg_list(const char *dir, uint64_t **out, size_t *n);
/* BLAKE2b-256 of a whole file (deletion records name what they removed). */
store_status_t store_file_hash(const char *path, uint8_t out[STORE_HASH_BYTES], uint64_t *size);
/* Replaces path atomically (tmp, fsync, rename, fsync dir) with fault
 * points store.open/write/fsync/rename; logs failures. */
store_status_t store_file_replace(const char *path, const void *p, size_t n, mode_t mode);

/* ---- blocks (store_pack.c) ----
 * A BLOCK payload: u32 count, count directory entries of 8 bytes
 * (u8 type, u8 eflags, u16 0, u32 len), then the payloads back to back: the
 * CONTENT and CHUNK entries' first, then the others', each group in
 * directory order; an elided entry (eflags bit 0) holds the 32-byte hash of
 * its payload. */
#define STORE_BLKE_ELIDED 0x01u
typedef struct store_blk_ent {
	uint8_t type;
	bool elided;
	uint32_t len;
	size_t off; /* in the block's plaintext */
} store_blk_ent_t;
/* Parses a block's directory from its first `have` bytes; the entries must
 * exactly fill the block's n bytes.  *ents is caller-freed. */
store_status_t store_blk_parse(const uint8_t *p, size_t have, size_t n, store_blk_ent_t **ents,
                               uint32_t *count, const char **why);
/* Bytes of the directory prefix given the first 4 bytes (the count), or 0
 * when the count is out of range. */
size_t store_blk_dir_size(const uint8_t *p, size_t n);

/* ---- store_archive.c: archives, keys, head ---- */
typedef struct store_blkidx {
	uint64_t first_seq;
	uint8_t id[STORE_SEG_ID_BYTES];
	size_t n;
	uint64_t *seq; /* first record seq of each block */
	uint64_t *off; /* its offset */
	uint64_t last_seq;
	struct store_blkidx *next;
} store_blkidx_t;

typedef struct store_seg {
	uint64_t first_seq;
	uint8_t id[STORE_SEG_ID_BYTES];
	int64_t created;
	uint8_t wrapped[KEYS_WRAPPED_BYTES];
	uint8_t *key; /* into the archive's key slabs: stable until close */
	/* A replacement being committed (compaction): the file on disk carries
	 * one of the two ids; readers pick the key by the header's id. */
	bool has_next;
	uint8_t next_id[STORE_SEG_ID_BYTES];
	int64_t next_created;
	uint8_t next_wrapped[KEYS_WRAPPED_BYTES];
	uint8_t *next_key;
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

/* Running totals of the active segment, for its SEAL record. */
typedef struct store_archive {
	char name[STORE_NAME_MAX + 1];
	char *dir;
	bool is_log;
	_Atomic bool deleted; /* store_archive_delete: gone, every call ENOTFOUND */
	uint8_t *akey;        /* archive key (secure) */
	uint8_t *headkey;     /* KDF(akey, 2, "vlhead__") (secure) */

	uint64_t ks_ino; /* inode of the keystore last loaded (RO refresh) */

	pthread_mutex_t maint; /* packing, compaction, deletion: one at a time */

	pthread_mutex_t lock; /* segs, slabs, head, block indexes (what readers see) */
	store_seg_t *segs;    /* ascending first_seq */
	size_t nsegs, capsegs;
	uint8_t **slabs;
	size_t nslabs, slab_used;
	store_head_t head;      /* durable head */
	store_blkidx_t *blkidx; /* packed segments' block indexes, built on demand */
	int head_fd;            /* RW: the head file */
	_Atomic uint64_t bytes; /* segment bytes on disk (metrics) */
	_Atomic uint64_t nsegs_gauge;
	_Atomic uint64_t pub_active; /* first_seq of the active segment, 0 when none */

	/* writer state (writer thread only, or open/close) */
	int active_fd; /* -1: no active segment (none yet, or the last is sealed) */
	uint64_t active_first;
	uint64_t active_size;
	int64_t active_created;
	uint64_t next_seq;
	uint8_t link[STORE_HASH_BYTES];
	uint64_t next_msg_seq;
	uint64_t last_signed_seq;
	int64_t last_signed_time;
	uint64_t last_seg, last_end; /* where the newest record lies (the head) */
	int sealed_fd;               /* sealed in this batch, still to fsync; -1 */
	uint64_t sealed_first;
	bool dirty;         /* written in the current batch */
	bool head_queued;   /* under store.hlock: in the head syncer's queue */
	bool cat_unckpt;    /* catalog committed since its last checkpoint */
	store_cat_t *cat_w; /* writer's catalog connection (RW) */
	/* Damage found at open and quarantined: the next new segment starts
	 * with a signed CHECKPOINT naming it. */
	bool quarantine_pending;
	uint64_t q_segment, q_offset, q_seq;
	char q_reason[128];
	/* Deleted ranges of the chain (from the newest DELETION record): the
	 * next DELETION carries them all. */
	store_gap_t *gaps;
	size_t ngaps;

	pthread_mutex_t cat_r_lock;
	store_cat_t *cat_r; /* readers' connection (may be NULL in RO) */

	metric_t *m_segments, *m_bytes;
} store_archive_t;

struct store_job;
struct store_append;

struct store {
	char *data_dir;
	char *archives_dir;
	char *master_key_file;
	char *master_key_command;
	bool readonly;
	uint64_t segment_max;
	util_duration_t segment_max_age;
	uint64_t min_free;
	uint8_t *mkey; /* master key (secure) */
	uint8_t mkey_id[KEYS_ID_BYTES];
	uint8_t *sign_sk; /* server signing key (secure; RW only) */
	uint8_t sign_pk[KEYS_SIGN_PUBLIC_BYTES];
	bool have_pk;
	int pack_level;     /* 0: STORE_PACK_LEVEL */
	size_t pack_block;  /* 0: STORE_PACK_BLOCK */
	bool pack_disabled; /* store_opts_t.no_pack */
	metrics_t *metrics;
	metric_t *m_append, *m_fsync, *m_batch;

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
	size_t queued_commits; /* commits queued since the writer last took the queue */
	size_t last_commits;   /* writer only: commits in the batch before */
	_Atomic bool failed;
	_Atomic bool low_space;        /* last free-space check failed (log once) */
	buf_t wbuf;                    /* writer scratch: one sealed record */
	buf_t wbuf2;                   /* writer scratch: payload read back */
	struct store_append *live;     /* streamed appends with chunks written (writer) */
	struct store_batch *cur_batch; /* the batch a maintenance function writes in */

	/* the head syncer: fdatasyncs head files after their batches' acks */
	pthread_mutex_t hlock;
	pthread_cond_t hcond, hidle;
	store_archive_t **hq; /* archives whose head awaits its fdatasync */
	size_t nhq, caphq;
	bool hstop, hbusy, hsync_running;
	pthread_t hsyncer;

	/* the packer (store_pack.c) */
	pthread_mutex_t plock;
	pthread_cond_t pcond, pidle;
	struct store_packjob *pjobs;
	bool pstop, pbusy;
	bool packer_running;
	pthread_t packer;

	pthread_mutex_t cctx_lock; /* pools of zstd contexts and read buffers */
#define STORE_BUFS_POOL 8          /* read buffer sets kept (one per concurrent reader) */
	struct store_bufset {
		buf_t raw, plain, blk;
	} bufs[STORE_BUFS_POOL];
	size_t nbufs;
	void **cctx;
	size_t ncctx, capcctx;
	void **dctx;
	size_t ndctx, capdctx;
};

bool store_name_valid(const char *name, bool *is_log);
/* Finds an archive by name, loading it from disk when it exists but is not
 * open yet (archives created by another process, seen by a read-only store).
 * NULL when there is none or it was deleted.  The pointer lives until
 * store_close. */
store_archive_t *store_archive_get(store_t *s, const char *name);
store_status_t store_archive_create_locked(store_t *s, const char *name, store_archive_t **out);
/* Loads every archive directory; RW also runs recovery (store_open). */
store_status_t store_archives_load_all(store_t *s);
void store_archive_free(store_archive_t *a);
/* Copy of the segment holding seq (the last one with first_seq <= seq);
 * reloads the keystore once in a read-only store.  ENOTFOUND when none. */
store_status_t store_archive_seg_for(store_t *s, store_archive_t *a, uint64_t seq,
                                     store_seg_t *out);
/* The key for a segment file whose header carries id; NULL when neither the
 * entry nor its pending replacement has that id. */
const uint8_t *store_seg_key_for(const store_seg_t *sg, const uint8_t id[STORE_SEG_ID_BYTES]);
/* The durable head (RO: re-read from the head file). */
store_status_t store_archive_head(store_t *s, store_archive_t *a, store_head_t *out);
/* Writer: writes h to the head file (next slot) and fsyncs it. */
store_status_t store_archive_head_write(store_archive_t *a, store_head_t *h);
/* The two halves: the write, and the fdatasync. */
store_status_t store_archive_head_put(store_archive_t *a, store_head_t *h);
store_status_t store_archive_head_sync(store_archive_t *a);
/* Writer: a new active segment starting at a->next_seq (keystore entry,
 * file with header, fsync of both and the directory). */
store_status_t store_archive_seg_new(store_t *s, store_archive_t *a);
char *store_archive_seg_path(const store_archive_t *a, uint64_t first_seq);
#define HEAD_SLOT_SIZE 128
store_status_t store_archive_akey_write(store_t *s, const char *dir, const char *name,
                                        const uint8_t *akey);
/* Writes archive.key wrapped by an explicit master key to path. */
store_status_t store_archive_akey_write_to(const char *path, const char *name, const uint8_t *mkey,
                                           const uint8_t *akey);
/* Unwraps archive.key into a->akey and derives a->headkey. */
store_status_t store_archive_akey_load(store_t *s, store_archive_t *a);
store_status_t store_archive_ks_write(const char *dir, const store_seg_t *segs, size_t n);
/* Writes the archive's current table (a->lock not held by the caller). */
store_status_t store_archive_ks_save(store_archive_t *a);
store_status_t store_archive_ks_load(store_archive_t *a);
/* Read-only stores: reloads the keystore if it was replaced. */
void store_archive_ks_refresh(store_archive_t *a);
uint8_t *store_archive_key_slot(store_archive_t *a);
void store_archive_seg_insert(store_archive_t *a, const store_seg_t *sg);
/* Drops the entry for first_seq (a->lock held).  True if there was one. */
bool store_archive_seg_remove(store_archive_t *a, uint64_t first_seq);
/* A fresh random key wrapped for (first, id); *key points into the slabs. */
void store_archive_seg_key_new(store_archive_t *a, uint64_t first,
                               const uint8_t id[STORE_SEG_ID_BYTES], uint8_t **key,
                               uint8_t wrapped[KEYS_WRAPPED_BYTES]);
void store_archive_head_encode(const store_archive_t *a, const store_head_t *h,
                               uint8_t out[HEAD_SLOT_SIZE]);
store_status_t store_archive_head_read(store_archive_t *a, int fd, store_head_t *out);
/* Recounts segment files and bytes for the metrics gauges. */
void store_archive_count_bytes(store_archive_t *a);
void store_archive_metrics_update(store_archive_t *a);
/* Adds an opened archive to the table (store.lock held). */
void store_table_add(store_t *s, store_archive_t *a);
/* store_keys.c: finishes a master key rotation that was interrupted. */
store_status_t store_key_rotate_recover(store_t *s);

/* ---- store_segfile.c: one segment file for reading, packed or not ---- */
/* A logical record as read. */
typedef struct store_lrec {
	uint8_t type;
	uint64_t seq;
	uint64_t off; /* record offset (unpacked) or its block's offset (packed) */
	bool elided;  /* packed: payload removed, only its hash kept */
	bool opened;  /* p/n hold the payload */
	const uint8_t *p;
	size_t n;
	uint8_t phash[STORE_HASH_BYTES]; /* elided: the payload's hash */
	uint16_t flags;                  /* unpacked: the record's flags */
} store_lrec_t;

typedef struct store_segfile {
	store_t *s;
	store_archive_t *a;
	store_seg_t seg;
	const uint8_t *key;
	store_seg_hdr_t hdr;
	int fd;
	char *path;
	uint64_t size;
	bool packed;
	const store_blkidx_t *bi; /* packed */
	/* the block last opened (packed), decompressed progressively */
	size_t blk;
	bool have_blk;
	buf_t blk_plain;
	size_t blk_len;  /* its plaintext size */
	size_t blk_have; /* bytes of it decompressed so far */
	size_t blk_in;   /* compressed bytes consumed so far */
	void *dctx;      /* while a block is part-way decompressed */
	store_blk_ent_t *ents;
	uint32_t nents;
	buf_t raw, plain;
} store_segfile_t;

/* Opens segment `first` of a (header read and authenticated).  ENOTFOUND
 * when there is no such file or key; ECORRUPT for a bad header (logged). */
store_status_t store_segfile_open(store_t *s, store_archive_t *a, uint64_t first,
                                  store_segfile_t *f);
/* Reads record seq: off is where an unpacked segment has it (from an
 * envelope or the catalog; ignored when packed); want_type 0 = any.
 * ECORRUPT (logged with the location) when it is not there or fails
 * authentication; an elided record is ENOTFOUND. */
store_status_t store_segfile_get(store_segfile_t *f, uint64_t seq, uint64_t off, uint8_t want_type,
                                 store_lrec_t *out);
/* Packed: opens block i (authenticated, its directory parsed into f->ents). */
store_status_t store_segfile_block(store_segfile_t *f, size_t i, const char **why);
/* Packed: the payload of entry i of the open block (decompressing as far as
 * its end); *p points into f until the next block is opened. */
store_status_t store_segfile_entry(store_segfile_t *f, uint32_t i, const uint8_t **p,
                                   const char **why);
void store_segfile_close(store_segfile_t *f);
/* The block index of a packed segment (built once, cached in the archive). */
store_status_t store_blkidx_get(store_archive_t *a, const store_seg_t *sg,
                                const store_seg_hdr_t *hdr, int fd, const char *path, uint64_t size,
                                const store_blkidx_t **out);

/* ---- store_recover.c: loading, recovery, catalog replay, creation ---- */
/* Opens the archive in dir (RW: recovery and catalog sync too). */
store_status_t store_archive_open(store_t *s, const char *name, store_archive_t **out);

/* ---- store_read.c: a cursor over an archive's chain ---- */
typedef struct store_cursor {
	store_t *s;
	store_archive_t *a;
	store_segfile_t f; /* current segment (f.fd < 0: none open) */
	bool open;
	uint64_t off;    /* unpacked: next record's offset */
	size_t blk, ent; /* packed: next block and entry */
	uint64_t next_seq;
	bool skip_damage; /* catalog replay, scans: jump over what cannot be read */
	store_lrec_t lr;  /* the record just read */
	store_rec_hdr_t h;
} store_cursor_t;
/* Positions before record after+1. */
store_status_t store_cursor_open(store_t *s, store_archive_t *a, uint64_t after, store_cursor_t *c);
/* Reads the next record if its seq <= limit (*got false otherwise).  Records
 * whose type bit is in open_mask are authenticated and their payload left in
 * c->lr; the others are only framed (unpacked segments). */
store_status_t store_cursor_next(store_cursor_t *c, uint64_t limit, uint32_t open_mask, bool *got);
void store_cursor_close(store_cursor_t *c);
#define STORE_TYPE_BIT(t) (1u << (t))

/* ---- store_catalog.c ---- */
store_status_t store_cat_open(const char *dir, bool readonly, store_cat_t **out);
void store_cat_close(store_cat_t *c);
/* Removes catalog.db and its WAL files. */
void store_cat_remove(const char *dir);
store_status_t store_cat_begin(store_cat_t *c);
/* Copies the WAL into the database without waiting for readers (the writer
 * does it once a second, outside group commits). */
void store_cat_checkpoint(store_cat_t *c);
store_status_t store_cat_commit(store_cat_t *c);
void store_cat_rollback(store_cat_t *c);
store_status_t store_cat_last_seq(store_cat_t *c, uint64_t *seq);
store_status_t store_cat_set_last_seq(store_cat_t *c, uint64_t seq);
/* Highest message seq ever allocated (messages present or deleted). */
store_status_t store_cat_max_msg(store_cat_t *c, uint64_t *seq);
store_status_t store_cat_note_msg_seq(store_cat_t *c, uint64_t seq);
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
	uint64_t record_seq, msg_seq, segment, offset;
	int64_t received;
	uint64_t size;
} store_cat_arr_t;
/* Arrivals of a message, oldest first; caller frees *out. */
store_status_t store_cat_arrivals(store_cat_t *c, uint64_t msg_seq, store_cat_arr_t **out,
                                  size_t *n);
/* Arrivals in one segment, by record seq; caller frees *out. */
store_status_t store_cat_seg_arrivals(store_cat_t *c, uint64_t seg, store_cat_arr_t **out,
                                      size_t *n);
/* Removes one arrival row; a message whose last arrival goes is removed too
 * (*msg_gone).  The content rows of seg for that hash go with it when no
 * arrival of that segment references them any more. */
store_status_t store_cat_arrival_remove(store_cat_t *c, uint64_t record_seq, bool *msg_gone,
                                        uint64_t *msg_seq);
/* Removes every row naming segment seg (it was deleted). */
store_status_t store_cat_seg_remove(store_cat_t *c, uint64_t seg);
store_status_t store_cat_stats(store_cat_t *c, store_archive_stats_t *st);
typedef struct store_cat_segstat {
	uint64_t segment, arrivals, messages, raw_bytes;
	int64_t rmin, rmax;
} store_cat_segstat_t;
store_status_t store_cat_segstats(store_cat_t *c, store_cat_segstat_t **out, size_t *n);
store_status_t store_cat_segstat(store_cat_t *c, uint64_t seg, store_cat_segstat_t *out);
/* Removes the arrivals with record seq in [first, last] and the messages
 * left without any (a compaction elided them). */
store_status_t store_cat_range_remove(store_cat_t *c, uint64_t first, uint64_t last);
/* A segment was sealed: its content rows (dedup of the active segment) go. */
store_status_t store_cat_seg_sealed(store_cat_t *c, uint64_t seg);
store_status_t store_cat_gaps_get(store_cat_t *c, store_gap_t **out, size_t *n);
store_status_t store_cat_gaps_set(store_cat_t *c, const store_gap_t *g, size_t n);

/* ---- store_queue.c: pooled read buffers ---- */
typedef struct store_bufset store_bufset_t;
/* Fills the three buffers from the pool (or leaves them empty). */
void store_bufs_get(store_t *s, buf_t *raw, buf_t *plain, buf_t *blk);
/* Gives them back (the caller's become empty); frees them if the pool is full. */
void store_bufs_put(store_t *s, buf_t *raw, buf_t *plain, buf_t *blk);
void store_bufs_free_all(store_t *s);

/* ---- store_writer.c ---- */
store_status_t store_writer_start(store_t *s);
void store_writer_stop(store_t *s);
bool store_space_ok(store_t *s);
void store_cctx_free_all(store_t *s);
void *store_dctx_get(store_t *s);
void store_dctx_put(store_t *s, void *d);
void *store_cctx_get(store_t *s);
void store_cctx_put(store_t *s, void *c);
/* Runs fn in the writer thread between batches and waits for it: fn may
 * write records with the helpers below and makes them durable with
 * store_wr_sync; its status is returned. */
typedef store_status_t (*store_maint_fn)(store_t *s, void *arg);
store_status_t store_writer_call(store_t *s, store_maint_fn fn, void *arg);
/* For maintenance functions, in the writer thread: */
store_status_t store_wr_signed(store_t *s, store_archive_t *a, uint8_t type, buf_t *body,
                               uint64_t *seq);
store_status_t store_wr_seal(store_t *s, store_archive_t *a);
store_status_t store_wr_sync(store_t *s);
/* A write failed in a maintenance function: the store fails closed. */
void store_wr_fail(store_t *s, store_status_t st);

/* ---- store_pack.c ---- */
store_status_t store_packer_start(store_t *s);
void store_packer_stop(store_t *s);
void store_packer_queue(store_t *s, store_archive_t *a, uint64_t first);
/* Packs one sealed segment now (a->maint held by the caller).  elide: record
 * seqs to drop (sorted ranges, with their deletion) for a compaction, which
 * also gives the file a new id and key; NULL for plain packing. */
typedef struct store_pack_out {
	char *path; /* the new file (".new" for a compaction); caller frees */
	uint8_t id[STORE_SEG_ID_BYTES];
	uint8_t *key; /* compaction: the new key (in the archive's slabs) */
	uint8_t wrapped[KEYS_WRAPPED_BYTES];
	int64_t created;
	uint64_t last_seq;
	uint64_t bytes;
	uint8_t hash[STORE_HASH_BYTES];
} store_pack_out_t;
store_status_t store_pack_segment(store_t *s, store_archive_t *a, uint64_t first,
                                  const store_elided_t *elide, size_t nelide,
                                  const store_tomb_t *tombs, size_t ntombs, store_pack_out_t *out);

/* ---- store_delete.c ---- */
/* Recovery: finishes deletions and compactions whose DELETION record is
 * durable (found in the last segment) and undoes those that are not. */
store_status_t store_delete_recover(store_t *s, store_archive_t *a, const store_srec_t *dels,
                                    size_t ndels);
/* Store open: finishes archive deletions recorded in the "_store" log. */
store_status_t store_archives_deleted_recover(store_t *s);

#endif
