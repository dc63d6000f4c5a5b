/* store_pack.c — packing sealed segments: records regrouped into BLOCKs of
 * about STORE_PACK_BLOCK bytes of plaintext, each compressed at
 * STORE_PACK_LEVEL and encrypted with the segment's key (doc/format.md §5).
 *
 * Per-record zstd of small mails loses half the ratio of one zstd stream
 * (issue 3: 41% vs 20% of raw on the SpamAssassin corpus); compressing
 * records together in 768 KiB blocks at level 17 gets to 0.21 x raw while
 * one message still costs at most one block to read, decompressed only up
 * to the record wanted (envelopes first in each block, then content).  The
 * chain is over what records say, not how they are stored, so a packed
 * segment keeps every link.
 *
 * Does: a low-priority packer thread that packs each segment the writer
 * seals (and, at open, any sealed segment left unpacked); drops content no
 * envelope of the segment references (chunks of aborted appends, the second
 * copy of a streamed duplicate, chunks copied across a seal), keeping their
 * hashes so the chain still verifies; and, for a compaction
 * (store_delete.c), writes the segment again under a new id and key with the
 * removed records elided and a signed ELISION trailer listing every elided
 * range.  Does not: decide what to remove, or commit a compaction.
 *
 * Packed file: the 128-byte header (flags bit 0 set, last_seq filled) then
 * BLOCK records (seq = first record in the block) and, when records were
 * removed by a deletion, one ELISION record (seq = first_seq).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zstd.h>

#include "store_private.h"
#include "vellum/log.h"

/* Nice value of the packer thread: packing is background work that must
 * not slow down appends. */
#define STORE_PACKER_NICE 10

typedef struct store_packjob {
	struct store_packjob *next;
	store_archive_t *a;
	uint64_t first;
} store_packjob_t;

/* ---- reading the input segment record by record ---- */

typedef struct seg_iter {
	store_segfile_t *f;
	uint64_t off;
	size_t blk, ent;
	uint64_t seq;
} seg_iter_t;

/* Next logical record (payload opened unless elided); *end at the end. */
static store_status_t seg_iter_next(seg_iter_t *it, store_lrec_t *lr, bool *end)
{
	store_segfile_t *f = it->f;
	*end = false;
	if (f->packed) {
		if (it->blk >= f->bi->n) {
			*end = true;
			return STORE_OK;
		}
		const char *why = NULL;
		store_status_t st = store_segfile_block(f, it->blk, &why);
		if (st != STORE_OK) {
			log_error("store.pack", "path=%s block=%zu msg=%s", f->path, it->blk,
			          why ? why : "read failed");
			return st;
		}
		const store_blk_ent_t *e = &f->ents[it->ent];
		const uint8_t *data;
		if ((st = store_segfile_entry(f, (uint32_t)it->ent, &data, &why)) != STORE_OK) {
			log_error("store.pack", "path=%s block=%zu msg=%s", f->path, it->blk, why);
			return st;
		}
		memset(lr, 0, sizeof *lr);
		lr->type = e->type;
		lr->seq = it->seq;
		lr->elided = e->elided;
		if (e->elided) {
			memcpy(lr->phash, data, STORE_HASH_BYTES);
		} else {
			lr->opened = true;
			lr->p = data;
			lr->n = e->len;
		}
		if (++it->ent == f->nents) {
			it->blk++;
			it->ent = 0;
		}
		it->seq++;
		return STORE_OK;
	}
	store_rec_hdr_t h;
	const char *why = NULL;
	store_rd_t rd = store_seg_read_hdr(f->fd, f->path, it->off, f->size, &h, &why);
	if (rd == STORE_RD_END) {
		*end = true;
		return STORE_OK;
	}
	if (rd != STORE_RD_OK || h.seq != it->seq) {
		log_error("store.pack", "path=%s offset=%" PRIu64 " msg=%s", f->path, it->off,
		          why ? why : "record cut off or out of sequence");
		return rd == STORE_RD_EIO ? STORE_EIO : STORE_ECORRUPT;
	}
	store_status_t st = store_segfile_get(f, it->seq, it->off, 0, lr);
	if (st != STORE_OK)
		return st;
	it->off += h.length;
	it->seq++;
	return STORE_OK;
}

static void seg_iter_init(seg_iter_t *it, store_segfile_t *f)
{
	memset(it, 0, sizeof *it);
	it->f = f;
	it->off = STORE_SEG_HDR_SIZE;
	it->seq = f->hdr.first_seq;
}

/* ---- the plan: which records survive ---- */

typedef struct pack_plan {
	uint64_t first, last;   /* records of the segment */
	uint8_t *referenced;    /* bitmap: content named by a surviving envelope */
	uint8_t *removed;       /* bitmap: elided by this or an earlier deletion */
	store_elided_t *ranges; /* signed elided ranges to write (old and new) */
	size_t nranges;
	store_tomb_t *tombs; /* carried from an earlier ELISION */
	size_t ntombs;
	bool sealed; /* the last record is the SEAL */
} pack_plan_t;

static bool bit(const uint8_t *m, uint64_t i)
{
	return m[i / 8] & (1u << (i % 8));
}
static void set_bit(uint8_t *m, uint64_t i)
{
	m[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool in_ranges(const store_elided_t *r, size_t n, uint64_t seq)
{
	for (size_t i = 0; i < n; i++)
		if (seq >= r[i].first && seq <= r[i].last)
			return true;
	return false;
}

/* Reads the ELISION trailer of a packed input (earlier deletions). */
static store_status_t plan_old_elisions(store_t *s, store_segfile_t *f, pack_plan_t *pl)
{
	uint64_t off = STORE_SEG_HDR_SIZE;
	store_rec_hdr_t h;
	const char *why = NULL;
	while (store_seg_read_hdr(f->fd, f->path, off, f->size, &h, &why) == STORE_RD_OK) {
		if (h.type == STORE_REC_ELISION) {
			buf_t raw = {0}, plain = {0};
			store_srec_t r;
			store_status_t st = STORE_ECORRUPT;
			if (store_seg_read_rec(f->fd, f->path, off, f->size, &raw, &h, &why) ==
			        STORE_RD_OK &&
			    store_rec_open(f->key, raw.data, raw.len, &h, &plain, &why) ==
			        STORE_OK &&
			    store_srec_decode(plain.data, plain.len, STORE_REC_ELISION, &r, &why) ==
			        STORE_OK) {
				pl->ranges = xrealloc(pl->ranges, (pl->nranges + r.nelided + 1) *
				                                      sizeof *pl->ranges);
				if (r.nelided)
					memcpy(pl->ranges + pl->nranges, r.elided,
					       r.nelided * sizeof *pl->ranges);
				pl->nranges += r.nelided;
				pl->tombs = r.tombs;
				pl->ntombs = r.ntombs;
				r.tombs = NULL;
				r.ntombs = 0;
				store_srec_free(&r);
				st = STORE_OK;
			}
			buf_free(&raw);
			buf_free(&plain);
			(void)s;
			if (st != STORE_OK)
				log_error("store.pack", "path=%s msg=%s", f->path, why);
			return st;
		}
		off += h.length;
	}
	return STORE_OK;
}

/* Pass 1: which content the surviving envelopes reference. */
static store_status_t plan_build(store_t *s, store_segfile_t *f, const store_elided_t *elide,
                                 size_t nelide, pack_plan_t *pl)
{
	pl->first = f->hdr.first_seq;
	store_status_t st = f->packed ? plan_old_elisions(s, f, pl) : STORE_OK;
	for (size_t i = 0; i < nelide && st == STORE_OK; i++) {
		pl->ranges = xrealloc(pl->ranges, (pl->nranges + 1) * sizeof *pl->ranges);
		pl->ranges[pl->nranges++] = elide[i];
	}
	seg_iter_t it;
	seg_iter_init(&it, f);
	size_t cap = 0;
	uint8_t last_type = 0;
	while (st == STORE_OK) {
		store_lrec_t lr;
		bool end;
		st = seg_iter_next(&it, &lr, &end);
		if (st != STORE_OK || end)
			break;
		uint64_t i = lr.seq - pl->first;
		if (i / 8 + 1 > cap) {
			size_t ncap = cap ? 2 * cap : 4096;
			while (ncap < i / 8 + 1)
				ncap *= 2;
			pl->referenced = xrealloc(pl->referenced, ncap);
			pl->removed = xrealloc(pl->removed, ncap);
			memset(pl->referenced + cap, 0, ncap - cap);
			memset(pl->removed + cap, 0, ncap - cap);
			cap = ncap;
		}
		last_type = lr.type;
		pl->last = lr.seq;
		if (lr.elided || in_ranges(pl->ranges, pl->nranges, lr.seq)) {
			set_bit(pl->removed, i);
			continue;
		}
		if (lr.type != STORE_REC_ENVELOPE)
			continue;
		store_env_rec_t e;
		const char *why;
		if (store_env_decode(lr.p, lr.n, &e, &why) != STORE_OK) {
			log_error("store.pack", "path=%s seq=%" PRIu64 " msg=%s", f->path, lr.seq,
			          why);
			st = STORE_ECORRUPT;
			break;
		}
		for (size_t k = 0; k < e.nrefs; k++)
			if (e.refs[k].seq >= pl->first && e.refs[k].seq < lr.seq)
				set_bit(pl->referenced, e.refs[k].seq - pl->first);
		store_env_rec_free(&e);
	}
	pl->sealed = last_type == STORE_REC_SEAL;
	return st;
}

static void plan_free(pack_plan_t *pl)
{
	free(pl->referenced);
	free(pl->removed);
	free(pl->ranges);
	for (size_t i = 0; i < pl->ntombs; i++) {
		free(pl->tombs[i].reason);
		free(pl->tombs[i].requested_by);
		free(pl->tombs[i].approved_by);
	}
	free(pl->tombs);
}

/* ---- pass 2: writing blocks ---- */

typedef struct pack_out {
	store_t *s;
	int fd;
	char *path;
	const uint8_t *key;
	uint64_t off;
	buf_t dir, data, data2; /* the block being built: content; the rest (first) */
	size_t block;           /* plaintext per block to aim at */
	uint32_t count;
	uint64_t blk_first;
	buf_t z, rec;
	void *cctx;
	crypto_generichash_state hash;
} pack_out_t;

static store_status_t out_write(pack_out_t *o, const void *p, size_t n)
{
	int e = util_fault("store.write");
	if (e)
		errno = e;
	if (e || util_write_all(o->fd, p, n) != UTIL_OK) {
		log_error("store.write", "path=%s err=%s", o->path, strerror(errno));
		return STORE_EIO;
	}
	crypto_generichash_update(&o->hash, p, n);
	o->off += n;
	return STORE_OK;
}

static store_status_t out_flush(pack_out_t *o)
{
	if (o->count == 0)
		return STORE_OK;
	buf_t plain = {0};
	uint8_t c4[4];
	store_put32(c4, o->count);
	buf_append(&plain, c4, 4);
	buf_append(&plain, o->dir.data, o->dir.len);
	buf_append(&plain, o->data2.data, o->data2.len); /* envelopes and the rest */
	buf_append(&plain, o->data.data, o->data.len);   /* then content */
	size_t bound = ZSTD_compressBound(plain.len);
	buf_reset(&o->z);
	buf_reserve(&o->z, bound);
	ZSTD_CCtx_setPledgedSrcSize(o->cctx, plain.len);
	size_t r = ZSTD_compress2(o->cctx, o->z.data, bound, plain.data, plain.len);
	uint16_t flags = STORE_RECF_ZSTD;
	const uint8_t *stored = o->z.data;
	size_t stored_len = r;
	if (ZSTD_isError(r) || r >= plain.len) {
		flags = 0;
		stored = plain.data;
		stored_len = plain.len;
	}
	buf_reset(&o->rec);
	store_rec_seal(o->key, STORE_REC_BLOCK, o->blk_first, flags, stored, stored_len, plain.len,
	               &o->rec);
	sodium_memzero(plain.data, plain.cap);
	buf_free(&plain);
	sodium_memzero(o->data.data, o->data.cap);
	sodium_memzero(o->data2.data, o->data2.cap);
	buf_reset(&o->dir);
	buf_reset(&o->data);
	buf_reset(&o->data2);
	o->count = 0;
	return out_write(o, o->rec.data, o->rec.len);
}

static store_status_t out_add(pack_out_t *o, const store_lrec_t *lr, bool elide)
{
	size_t need =
	    4 + o->dir.len + 8 + o->data.len + o->data2.len + (elide ? STORE_HASH_BYTES : lr->n);
	if (o->count > 0 && need > STORE_BLOCK_PLAIN_MAX) {
		store_status_t st = out_flush(o);
		if (st != STORE_OK)
			return st;
	}
	if (o->count == 0)
		o->blk_first = lr->seq;
	uint8_t d[8] = {lr->type, elide ? STORE_BLKE_ELIDED : 0, 0, 0};
	bool content = lr->type == STORE_REC_CONTENT || lr->type == STORE_REC_CHUNK;
	buf_t *data = content ? &o->data : &o->data2;
	if (elide) {
		uint8_t ph[STORE_HASH_BYTES];
		if (lr->elided)
			memcpy(ph, lr->phash, sizeof ph);
		else
			store_payload_hash(lr->p, lr->n, ph);
		store_put32(d + 4, STORE_HASH_BYTES);
		buf_append(data, ph, sizeof ph);
	} else {
		store_put32(d + 4, (uint32_t)lr->n);
		buf_append(data, lr->p, lr->n);
	}
	buf_append(&o->dir, d, sizeof d);
	o->count++;
	/* A block ends past STORE_PACK_BLOCK (or, above, before an entry would
	 * push it over the format's limit). */
	if (o->data.len + o->data2.len + o->dir.len >= o->block)
		return out_flush(o);
	return STORE_OK;
}

static store_status_t out_elision(pack_out_t *o, store_t *s, store_archive_t *a,
                                  const store_seg_hdr_t *hdr, const pack_plan_t *pl,
                                  const store_tomb_t *tombs, size_t ntombs)
{
	if (pl->nranges == 0)
		return STORE_OK;
	if (!s->sign_sk) {
		log_error("store.pack", "archive=%s msg=%s", a->name, "no signing key loaded");
		return STORE_EKEY;
	}
	buf_t body = {0};
	store_tlv_put64(&body, SF_TIME, (uint64_t)util_now());
	store_tlv_put_str(&body, SF_ARCHIVE, a->name);
	store_tlv_put64(&body, SF_SEGMENT, hdr->first_seq);
	store_tlv_put(&body, SF_SEGMENT_ID, hdr->id, STORE_SEG_ID_BYTES);
	for (size_t i = 0; i < pl->nranges; i++)
		store_srec_put_elided(&body, &pl->ranges[i]);
	for (size_t i = 0; i < pl->ntombs; i++)
		store_srec_put_tomb(&body, &pl->tombs[i]);
	for (size_t i = 0; i < ntombs; i++)
		store_srec_put_tomb(&body, &tombs[i]);
	store_sign_append(s->sign_sk, s->sign_pk, a->name, hdr->first_seq, STORE_REC_ELISION,
	                  hdr->prev_link, &body);
	buf_t z = {0};
	uint16_t flags;
	store_payload_compress(body.data, body.len, &z, &flags);
	buf_reset(&o->rec);
	store_rec_seal(o->key, STORE_REC_ELISION, hdr->first_seq, flags, z.data, z.len, body.len,
	               &o->rec);
	buf_free(&z);
	buf_free(&body);
	return out_write(o, o->rec.data, o->rec.len);
}

/* Pass 2 over the input, writing the packed file. */
static store_status_t pack_write(store_t *s, store_segfile_t *f, const pack_plan_t *pl,
                                 pack_out_t *o)
{
	seg_iter_t it;
	seg_iter_init(&it, f);
	store_status_t st = STORE_OK;
	while (st == STORE_OK) {
		store_lrec_t lr;
		bool end;
		st = seg_iter_next(&it, &lr, &end);
		if (st != STORE_OK || end)
			break;
		uint64_t i = lr.seq - pl->first;
		bool content = lr.type == STORE_REC_CONTENT || lr.type == STORE_REC_CHUNK;
		bool elide =
		    lr.elided || bit(pl->removed, i) || (content && !bit(pl->referenced, i));
		st = out_add(o, &lr, elide);
	}
	if (st == STORE_OK)
		st = out_flush(o);
	return st;
}

static void pack_out_free(pack_out_t *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->path);
	buf_free(&o->dir);
	if (o->data.data)
		sodium_memzero(o->data.data, o->data.cap);
	buf_free(&o->data);
	if (o->data2.data)
		sodium_memzero(o->data2.data, o->data2.cap);
	buf_free(&o->data2);
	buf_free(&o->z);
	buf_free(&o->rec);
	if (o->cctx)
		store_cctx_put(o->s, o->cctx);
}

static store_status_t pack_out_open(store_t *s, store_archive_t *a, const store_segfile_t *f,
                                    const char *suffix, store_pack_out_t *res, pack_out_t *o)
{
	memset(o, 0, sizeof *o);
	o->s = s;
	char *base = store_archive_seg_path(a, f->hdr.first_seq);
	o->path = xasprintf("%s%s", base, suffix);
	free(base);
	int e = util_fault("store.open");
	o->fd = e ? -1 : open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (o->fd < 0) {
		log_error("store.open", "path=%s err=%s", o->path, strerror(e ? e : errno));
		return STORE_EIO;
	}
	crypto_generichash_init(&o->hash, NULL, 0, STORE_HASH_BYTES);
	o->cctx = store_cctx_get(s);
	ZSTD_CCtx_reset(o->cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(o->cctx, ZSTD_c_compressionLevel, s->pack_level);
	/* Readers accept windows up to 2^24: never write a frame needing more. */
	ZSTD_CCtx_setParameter(o->cctx, ZSTD_c_windowLog, 22);
	o->key = res->key;
	o->off = 0;
	o->block = s->pack_block;
	return STORE_OK;
}

store_status_t store_pack_segment(store_t *s, store_archive_t *a, uint64_t first,
                                  const store_elided_t *elide, size_t nelide,
                                  const store_tomb_t *tombs, size_t ntombs, store_pack_out_t *res)
{
	memset(res, 0, sizeof *res);
	store_segfile_t f;
	store_status_t st = store_segfile_open(s, a, first, &f);
	if (st != STORE_OK)
		return st;
	bool compaction = nelide > 0;
	pack_plan_t pl = {0};
	st = plan_build(s, &f, elide, nelide, &pl);
	if (st == STORE_OK && !pl.sealed && !f.packed) {
		/* Not sealed (a segment set aside by recovery, or written before
		 * seals existed): left as it is. */
		st = STORE_EINVAL;
	}
	store_seg_hdr_t hdr = f.hdr;
	hdr.flags = STORE_SEGF_PACKED;
	hdr.last_seq = pl.last;
	if (compaction) {
		randombytes_buf(hdr.id, sizeof hdr.id);
		store_archive_seg_key_new(a, first, hdr.id, &res->key, res->wrapped);
		hdr.created = f.hdr.created;
	} else {
		res->key = (uint8_t *)f.key;
	}
	memcpy(res->id, hdr.id, sizeof hdr.id);
	res->created = hdr.created;
	res->last_seq = pl.last;
	pack_out_t o = {.fd = -1};
	if (st == STORE_OK)
		st = pack_out_open(s, a, &f, compaction ? ".new" : ".pack", res, &o);
	uint8_t hb[STORE_SEG_HDR_SIZE];
	if (st == STORE_OK) {
		store_seg_hdr_encode(&hdr, res->key, hb);
		st = out_write(&o, hb, sizeof hb);
	}
	if (st == STORE_OK)
		st = pack_write(s, &f, &pl, &o);
	if (st == STORE_OK)
		st = out_elision(&o, s, a, &hdr, &pl, tombs, ntombs);
	if (st == STORE_OK) {
		int e = util_fault("store.fsync");
		if (e || fdatasync(o.fd) != 0) {
			log_error("store.fsync", "path=%s err=%s", o.path, strerror(e ? e : errno));
			st = STORE_EIO;
		}
	}
	if (st == STORE_OK) {
		crypto_generichash_final(&o.hash, res->hash, STORE_HASH_BYTES);
		res->bytes = o.off;
		res->path = o.path;
		o.path = NULL;
	} else if (o.path) {
		unlink(o.path);
	}
	pack_out_free(&o);
	plan_free(&pl);
	store_segfile_close(&f);
	return st;
}

/* Packs one sealed segment in place (same id and key). */
static void pack_one(store_t *s, store_archive_t *a, uint64_t first)
{
	store_segfile_t f;
	if (store_segfile_open(s, a, first, &f) != STORE_OK)
		return;
	bool packed = f.packed;
	uint64_t before = f.size;
	store_segfile_close(&f);
	if (packed || atomic_load(&a->pub_active) == first)
		return;
	store_pack_out_t res;
	int64_t t0 = util_monotonic_us();
	store_status_t st = store_pack_segment(s, a, first, NULL, 0, NULL, 0, &res);
	if (st == STORE_EINVAL) {
		log_info("store.pack_skip", "archive=%s segment=%" PRIu64 " msg=%s", a->name, first,
		         "not sealed: left as written");
		return;
	}
	if (st != STORE_OK)
		return; /* logged; retried at the next open */
	char *path = store_archive_seg_path(a, first);
	int e = util_fault("store.rename");
	if (e || rename(res.path, path) != 0 || util_fsync_dir(a->dir) != UTIL_OK) {
		log_error("store.rename", "path=%s err=%s", path, strerror(e ? e : errno));
		unlink(res.path);
	} else {
		atomic_fetch_sub(&a->bytes, before);
		atomic_fetch_add(&a->bytes, res.bytes);
		store_archive_metrics_update(a);
		log_info("store.packed",
		         "archive=%s segment=%" PRIu64 " bytes_before=%" PRIu64
		         " bytes_after=%" PRIu64 " ms=%" PRId64,
		         a->name, first, before, res.bytes, (util_monotonic_us() - t0) / 1000);
	}
	free(path);
	free(res.path);
}

/* ---- the thread ---- */

void store_packer_queue(store_t *s, store_archive_t *a, uint64_t first)
{
	if (s->pack_disabled || !s->packer_running)
		return;
	store_packjob_t *j = xcalloc(1, sizeof *j);
	j->a = a;
	j->first = first;
	pthread_mutex_lock(&s->plock);
	store_packjob_t **p = &s->pjobs;
	while (*p)
		p = &(*p)->next;
	*p = j;
	pthread_cond_signal(&s->pcond);
	pthread_mutex_unlock(&s->plock);
}

static void *packer_main(void *arg)
{
	store_t *s = arg;
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), STORE_PACKER_NICE);
	pthread_mutex_lock(&s->plock);
	for (;;) {
		while (!s->pjobs && !s->pstop) {
			pthread_cond_broadcast(&s->pidle);
			pthread_cond_wait(&s->pcond, &s->plock);
		}
		if (s->pstop)
			break;
		store_packjob_t *j = s->pjobs;
		s->pjobs = j->next;
		s->pbusy = true;
		pthread_mutex_unlock(&s->plock);
		if (!atomic_load(&j->a->deleted) && !atomic_load(&s->failed)) {
			pthread_mutex_lock(&j->a->maint);
			pack_one(s, j->a, j->first);
			pthread_mutex_unlock(&j->a->maint);
		}
		free(j);
		pthread_mutex_lock(&s->plock);
		s->pbusy = false;
	}
	while (s->pjobs) {
		store_packjob_t *j = s->pjobs;
		s->pjobs = j->next;
		free(j);
	}
	pthread_cond_broadcast(&s->pidle);
	pthread_mutex_unlock(&s->plock);
	return NULL;
}

/* Queues the sealed segments of every archive (a crash or a close may have
 * come before the packer got to them; packed ones are skipped quickly). */
static void queue_unpacked(store_t *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->narchives;
	store_archive_t **v = xcalloc(n + 1, sizeof *v);
	if (n)
		memcpy(v, s->archives, n * sizeof *v);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t *firsts;
		size_t nf;
		if (store_seg_list(v[i]->dir, &firsts, &nf) != STORE_OK)
			continue;
		for (size_t k = 0; k < nf; k++) {
			store_segfile_t f;
			if (firsts[k] == atomic_load(&v[i]->pub_active) ||
			    store_segfile_open(s, v[i], firsts[k], &f) != STORE_OK)
				continue;
			bool packed = f.packed;
			store_segfile_close(&f);
			if (!packed)
				store_packer_queue(s, v[i], firsts[k]);
		}
		free(firsts);
	}
	free(v);
}

store_status_t store_packer_start(store_t *s)
{
	if (s->pack_disabled)
		return STORE_OK;
	int rc = pthread_create(&s->packer, NULL, packer_main, s);
	if (rc != 0) {
		log_error("store.thread", "err=%s", strerror(rc));
		return STORE_EIO;
	}
	s->packer_running = true;
	queue_unpacked(s);
	return STORE_OK;
}

void store_packer_stop(store_t *s)
{
	if (!s->packer_running)
		return;
	pthread_mutex_lock(&s->plock);
	s->pstop = true;
	pthread_cond_signal(&s->pcond);
	pthread_mutex_unlock(&s->plock);
	pthread_join(s->packer, NULL);
	s->packer_running = false;
}

void store_pack_wait(store_t *s)
{
	if (!s->packer_running)
		return;
	pthread_mutex_lock(&s->plock);
	while ((s->pjobs || s->pbusy) && !s->pstop)
		pthread_cond_wait(&s->pidle, &s->plock);
	pthread_mutex_unlock(&s->plock);
}
