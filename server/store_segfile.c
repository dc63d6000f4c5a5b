/* store_segfile.c — reading records out of one segment file, whatever its
 * layout: records back to back (the active segment, and sealed ones not yet
 * packed) or packed into BLOCKs (doc/format.md §5).
 *
 * Does: open a segment file and authenticate its header, pick the key by the
 * header's segment id (a compaction being committed has two), find a record
 * by sequence (and, unpacked, by the offset an envelope or the catalog
 * gives), authenticate it, decompress it with a bounded window, parse block
 * directories, keep the last block decompressed, build and cache a packed
 * segment's block index.  Does not: walk the chain (store_read.c cursor,
 * store_verify.c) or trust anything unauthenticated.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "store_private.h"
#include "vellum/log.h"

size_t store_blk_dir_size(const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	uint32_t count = store_get32(p);
	if (count == 0 || count > STORE_BLOCK_ENTRIES_MAX)
		return 0;
	return 4 + (size_t)count * 8;
}

store_status_t store_blk_parse(const uint8_t *p, size_t have, size_t n, store_blk_ent_t **ents,
                               uint32_t *count, const char **why)
{
	*ents = NULL;
	*count = 0;
	size_t dir = store_blk_dir_size(p, have);
	if (dir == 0 || dir > n || dir > have) {
		*why = "block directory out of range";
		return STORE_ECORRUPT;
	}
	uint32_t c = store_get32(p);
	store_blk_ent_t *e = xcalloc(c, sizeof *e);
	size_t off = dir;
	/* Envelopes and the other small records first, then content (each
	 * group compresses better on its own, and a reader decompressing
	 * progressively reaches an envelope early), each in directory order. */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < c; i++) {
			const uint8_t *d = p + 4 + (size_t)i * 8;
			bool content = d[0] == STORE_REC_CONTENT || d[0] == STORE_REC_CHUNK;
			if (content != (pass == 1))
				continue;
			e[i].type = d[0];
			e[i].elided = d[1] & STORE_BLKE_ELIDED;
			e[i].len = store_get32(d + 4);
			e[i].off = off;
			const char *w = NULL;
			if (e[i].type < STORE_REC_CONTENT || e[i].type > STORE_REC_CHAINED_MAX)
				w = "block entry of an unknown type";
			else if ((d[1] & ~STORE_BLKE_ELIDED) || d[2] || d[3])
				w = "block entry with unknown flags";
			else if (e[i].elided && e[i].len != STORE_HASH_BYTES)
				w = "elided block entry without its hash";
			else if (e[i].len > STORE_RECORD_PLAIN_MAX || e[i].len > n - off)
				w = "block entry runs past the block";
			if (w) {
				*why = w;
				free(e);
				return STORE_ECORRUPT;
			}
			off += e[i].len;
		}
	if (off != n) {
		*why = "block entries do not fill the block";
		free(e);
		return STORE_ECORRUPT;
	}
	*ents = e;
	*count = c;
	return STORE_OK;
}

/* ---- block indexes ---- */

static store_status_t blkidx_build(const store_seg_hdr_t *hdr, int fd, const char *path,
                                   uint64_t size, store_blkidx_t *bi)
{
	uint64_t off = STORE_SEG_HDR_SIZE;
	size_t cap = 0;
	uint64_t expect = hdr->first_seq;
	while (off < size) {
		store_rec_hdr_t h;
		const char *why = NULL;
		store_rd_t rd = store_seg_read_hdr(fd, path, off, size, &h, &why);
		if (rd == STORE_RD_EIO)
			return STORE_EIO;
		if (rd != STORE_RD_OK) {
			char q[LOG_Q_MAX];
			log_error("store.corrupt", "path=%s offset=%" PRIu64 " msg=%s",
			          log_q(q, sizeof q, path), off, why ? why : "record cut off");
			return STORE_ECORRUPT;
		}
		const char *bad = NULL;
		if (h.type == STORE_REC_BLOCK) {
			if (bi->n == 0 ? h.seq != expect : h.seq <= bi->seq[bi->n - 1])
				bad = "blocks out of order";
		} else if (h.type != STORE_REC_ELISION) {
			bad = "a packed segment holds a record that is not a block";
		}
		if (bad) {
			char q[LOG_Q_MAX];
			log_error("store.corrupt", "path=%s offset=%" PRIu64 " msg=%s",
			          log_q(q, sizeof q, path), off, bad);
			return STORE_ECORRUPT;
		}
		if (h.type == STORE_REC_BLOCK) {
			if (bi->n == cap) {
				cap = cap ? 2 * cap : 64;
				bi->seq = xrealloc(bi->seq, cap * sizeof *bi->seq);
				bi->off = xrealloc(bi->off, cap * sizeof *bi->off);
			}
			bi->seq[bi->n] = h.seq;
			bi->off[bi->n] = off;
			bi->n++;
		}
		off += h.length;
	}
	bi->last_seq = hdr->last_seq;
	return STORE_OK;
}

store_status_t store_blkidx_get(store_archive_t *a, const store_seg_t *sg,
                                const store_seg_hdr_t *hdr, int fd, const char *path, uint64_t size,
                                const store_blkidx_t **out)
{
	pthread_mutex_lock(&a->lock);
	for (store_blkidx_t *b = a->blkidx; b; b = b->next)
		if (b->first_seq == sg->first_seq && !memcmp(b->id, hdr->id, STORE_SEG_ID_BYTES)) {
			*out = b;
			pthread_mutex_unlock(&a->lock);
			return STORE_OK;
		}
	pthread_mutex_unlock(&a->lock);
	store_blkidx_t *bi = xcalloc(1, sizeof *bi);
	bi->first_seq = sg->first_seq;
	memcpy(bi->id, hdr->id, STORE_SEG_ID_BYTES);
	store_status_t st = blkidx_build(hdr, fd, path, size, bi);
	if (st != STORE_OK || bi->n == 0) {
		free(bi->seq);
		free(bi->off);
		free(bi);
		return st != STORE_OK ? st : STORE_ECORRUPT;
	}
	/* Indexes are immutable once published and live until the archive is
	 * closed, so readers keep the pointer without a lock. */
	pthread_mutex_lock(&a->lock);
	bi->next = a->blkidx;
	a->blkidx = bi;
	pthread_mutex_unlock(&a->lock);
	*out = bi;
	return STORE_OK;
}

/* ---- one segment file ---- */

store_status_t store_segfile_open(store_t *s, store_archive_t *a, uint64_t first,
                                  store_segfile_t *f)
{
	char q[LOG_Q_MAX];
	memset(f, 0, sizeof *f);
	f->s = s;
	f->a = a;
	f->fd = -1;
	if (store_archive_seg_for(s, a, first, &f->seg) != STORE_OK || f->seg.first_seq != first)
		return STORE_ENOTFOUND;
	store_bufs_get(s, &f->raw, &f->plain, &f->blk_plain);
	f->path = store_archive_seg_path(a, first);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (f->fd < 0 || fstat(f->fd, &st) != 0) {
		bool missing = errno == ENOENT;
		if (!missing)
			log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, f->path),
			          strerror(errno));
		store_segfile_close(f);
		return missing ? STORE_ENOTFOUND : STORE_EIO;
	}
	f->size = (uint64_t)st.st_size;
	uint8_t hb[STORE_SEG_HDR_SIZE];
	store_rd_t rd = store_seg_pread(f->fd, f->path, hb, sizeof hb, 0);
	const char *why = "segment header cut off";
	uint8_t id[STORE_SEG_ID_BYTES];
	if (rd == STORE_RD_OK) {
		store_seg_hdr_peek_id(hb, id);
		f->key = store_seg_key_for(&f->seg, id);
		if (!f->key && s->readonly) {
			/* A compaction committed since the table was loaded. */
			store_archive_ks_refresh(a);
			store_archive_seg_for(s, a, first, &f->seg);
			f->key = store_seg_key_for(&f->seg, id);
		}
		why = !f->key ? "no key for this segment's id"
		      : store_seg_hdr_decode(hb, f->key, &f->hdr, &why) != STORE_OK ? why
		      : f->hdr.first_seq != first ? "segment header names another sequence"
		                                  : NULL;
	}
	if (rd == STORE_RD_EIO || why) {
		if (why)
			log_error("store.corrupt", "path=%s offset=0 msg=%s",
			          log_q(q, sizeof q, f->path), why);
		store_segfile_close(f);
		return rd == STORE_RD_EIO ? STORE_EIO : STORE_ECORRUPT;
	}
	f->packed = f->hdr.flags & STORE_SEGF_PACKED;
	if (f->packed) {
		store_status_t bs =
		    store_blkidx_get(a, &f->seg, &f->hdr, f->fd, f->path, f->size, &f->bi);
		if (bs != STORE_OK) {
			store_segfile_close(f);
			return bs;
		}
	}
	return STORE_OK;
}

void store_segfile_close(store_segfile_t *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->path);
	f->path = NULL;
	free(f->ents);
	f->ents = NULL;
	if (f->dctx)
		store_dctx_put(f->s, f->dctx);
	f->dctx = NULL;
	/* The buffers go back to the store's pool (a read of a packed segment
	 * needs a block's worth; allocating that for every read costs more
	 * than the read).  They hold message text, not keys: not wiped. */
	if (f->s)
		store_bufs_put(f->s, &f->raw, &f->plain, &f->blk_plain);
	buf_free(&f->blk_plain);
	buf_free(&f->plain);
	buf_free(&f->raw);
	f->have_blk = false;
}

static store_status_t seg_corrupt(store_segfile_t *f, uint64_t off, uint64_t seq, const char *why)
{
	char q[LOG_Q_MAX];
	log_error("store.corrupt", "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
	          log_q(q, sizeof q, f->path), off, seq, why);
	return STORE_ECORRUPT;
}

/* Decompresses the current block up to at least `end` bytes. */
static store_status_t blk_fill(store_segfile_t *f, size_t end, const char **why)
{
	if (end <= f->blk_have)
		return STORE_OK;
	if (!f->dctx) {
		*why = "block truncated";
		return STORE_ECORRUPT;
	}
	ZSTD_inBuffer in = {f->plain.data, f->plain.len, f->blk_in};
	/* Only as far as asked (zstd would otherwise decompress all it has);
	 * at the end one spare byte tells "exactly plain_len" from "more". */
	ZSTD_outBuffer out = {f->blk_plain.data, end < f->blk_len ? end : f->blk_len + 1,
	                      f->blk_have};
	size_t r = 1;
	while (out.pos < end && !ZSTD_isError(r) && r != 0) {
		size_t before_in = in.pos, before_out = out.pos;
		r = ZSTD_decompressStream(f->dctx, &out, &in);
		if (!ZSTD_isError(r) && r != 0 && in.pos == before_in && out.pos == before_out)
			break; /* no progress: the frame is cut short */
	}
	f->blk_in = in.pos;
	f->blk_have = out.pos;
	if (ZSTD_isError(r) || out.pos < end || (r == 0 && out.pos != f->blk_len) ||
	    out.pos > f->blk_len) {
		*why = "payload does not decompress to its stated length";
		return STORE_ECORRUPT;
	}
	if (r == 0) { /* the frame is complete: it must have used all its input */
		if (in.pos != in.size) {
			*why = "payload does not decompress to its stated length";
			return STORE_ECORRUPT;
		}
		store_dctx_put(f->s, f->dctx);
		f->dctx = NULL;
	}
	return STORE_OK;
}

store_status_t store_segfile_block(store_segfile_t *f, size_t i, const char **why)
{
	if (f->have_blk && f->blk == i)
		return STORE_OK;
	f->have_blk = false;
	if (f->dctx) {
		store_dctx_put(f->s, f->dctx);
		f->dctx = NULL;
	}
	store_rec_hdr_t h;
	store_rd_t rd =
	    store_seg_read_rec(f->fd, f->path, f->bi->off[i], f->size, &f->raw, &h, why);
	if (rd == STORE_RD_EIO)
		return STORE_EIO;
	if (rd != STORE_RD_OK) {
		*why = *why ? *why : "block cut off";
		return STORE_ECORRUPT;
	}
	if (h.type != STORE_REC_BLOCK || h.seq != f->bi->seq[i]) {
		*why = "not the block the index names";
		return STORE_ECORRUPT;
	}
	store_status_t st =
	    store_rec_open_stored(f->key, f->raw.data, f->raw.len, &h, &f->plain, why);
	if (st != STORE_OK)
		return st;
	f->blk_len = h.plain_len;
	buf_reset(&f->blk_plain);
	if (h.flags & STORE_RECF_ZSTD) {
		/* Decompressed as far as a reader needs: the directory now, the
		 * entries when asked for (store_segfile_entry). */
		buf_reserve(&f->blk_plain, (size_t)h.plain_len + 1);
		f->dctx = store_dctx_get(f->s);
		ZSTD_DCtx_reset(f->dctx, ZSTD_reset_session_and_parameters);
		ZSTD_DCtx_setParameter(f->dctx, ZSTD_d_windowLogMax, STORE_ZSTD_WINDOW_LOG_MAX);
		f->blk_in = f->blk_have = 0;
		if ((st = blk_fill(f, 4 < h.plain_len ? 4 : h.plain_len, why)) == STORE_OK) {
			size_t dir = store_blk_dir_size(f->blk_plain.data, f->blk_have);
			if (dir)
				st = blk_fill(f, dir < h.plain_len ? dir : h.plain_len, why);
		}
	} else {
		buf_append(&f->blk_plain, f->plain.data, f->plain.len);
		f->blk_have = f->plain.len;
	}
	if (st != STORE_OK)
		return st;
	free(f->ents);
	f->ents = NULL;
	st = store_blk_parse(f->blk_plain.data, f->blk_have, f->blk_len, &f->ents, &f->nents, why);
	if (st != STORE_OK)
		return st;
	/* The next block starts where this one's entries end. */
	uint64_t next_first = i + 1 < f->bi->n ? f->bi->seq[i + 1] : f->bi->last_seq + 1;
	if (f->bi->seq[i] + f->nents != next_first) {
		*why = "block holds the wrong number of records";
		return STORE_ECORRUPT;
	}
	f->blk = i;
	f->have_blk = true;
	return STORE_OK;
}

store_status_t store_segfile_entry(store_segfile_t *f, uint32_t i, const uint8_t **p,
                                   const char **why)
{
	const store_blk_ent_t *e = &f->ents[i];
	store_status_t st = blk_fill(f, e->off + e->len, why);
	if (st == STORE_OK)
		*p = f->blk_plain.data + e->off;
	return st;
}

static store_status_t get_packed(store_segfile_t *f, uint64_t seq, uint8_t want_type,
                                 store_lrec_t *out)
{
	const store_blkidx_t *bi = f->bi;
	if (seq < bi->seq[0] || seq > bi->last_seq)
		return seg_corrupt(f, 0, seq, "record not in this segment");
	size_t lo = 0, hi = bi->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (bi->seq[mid] <= seq)
			lo = mid;
		else
			hi = mid;
	}
	const char *why = NULL;
	store_status_t st = store_segfile_block(f, lo, &why);
	if (st == STORE_EIO)
		return st;
	if (st != STORE_OK)
		return seg_corrupt(f, bi->off[lo], seq, why);
	const store_blk_ent_t *e = &f->ents[seq - bi->seq[lo]];
	const uint8_t *data = NULL;
	if ((st = store_segfile_entry(f, (uint32_t)(seq - bi->seq[lo]), &data, &why)) != STORE_OK)
		return seg_corrupt(f, bi->off[lo], seq, why);
	memset(out, 0, sizeof *out);
	out->type = e->type;
	out->seq = seq;
	out->off = bi->off[lo];
	if (want_type && e->type != want_type &&
	    !(want_type == STORE_REC_CHUNK && e->type == STORE_REC_CONTENT))
		return seg_corrupt(f, bi->off[lo], seq, "record is not the one referenced (type)");
	if (e->elided) {
		out->elided = true;
		memcpy(out->phash, data, STORE_HASH_BYTES);
		return STORE_ENOTFOUND;
	}
	out->opened = true;
	out->p = data;
	out->n = e->len;
	return STORE_OK;
}

store_status_t store_segfile_get(store_segfile_t *f, uint64_t seq, uint64_t off, uint8_t want_type,
                                 store_lrec_t *out)
{
	if (f->packed)
		return get_packed(f, seq, want_type, out);
	store_rec_hdr_t h;
	const char *why = NULL;
	store_rd_t rd = store_seg_read_rec(f->fd, f->path, off, UINT64_MAX, &f->raw, &h, &why);
	if (rd == STORE_RD_EIO)
		return STORE_EIO;
	if (rd != STORE_RD_OK)
		return seg_corrupt(f, off, seq, why ? why : "record cut off");
	if (h.type > STORE_REC_CHAINED_MAX)
		return seg_corrupt(f, off, seq, "not a record of the chain");
	store_status_t st;
	if (!(h.flags & STORE_RECF_ZSTD)) {
		st = store_rec_open_stored(f->key, f->raw.data, f->raw.len, &h, &f->plain, &why);
	} else {
		buf_t stored = {0};
		st = store_rec_open_stored(f->key, f->raw.data, f->raw.len, &h, &stored, &why);
		if (st == STORE_OK) {
			void *d = store_dctx_get(f->s);
			st = store_payload_decompress(d, &h, stored.data, stored.len, &f->plain,
			                              &why);
			store_dctx_put(f->s, d);
		}
		sodium_memzero(stored.data, stored.cap);
		buf_free(&stored);
	}
	if (st != STORE_OK)
		return seg_corrupt(f, off, seq, why);
	if (seq && h.seq != seq)
		return seg_corrupt(f, off, seq, "record is not the one referenced (sequence)");
	if (want_type && h.type != want_type &&
	    !(want_type == STORE_REC_CHUNK && h.type == STORE_REC_CONTENT))
		return seg_corrupt(f, off, seq, "record is not the one referenced (type)");
	memset(out, 0, sizeof *out);
	out->type = h.type;
	out->seq = h.seq;
	out->off = off;
	out->opened = true;
	out->flags = h.flags;
	out->p = f->plain.data;
	out->n = f->plain.len;
	return STORE_OK;
}
