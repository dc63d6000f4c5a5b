/* store_read.c — reading: message lookup, streaming a message's bytes,
 * scanning an archive's chain in order, and the cursor all of them use.
 *
 * Does: find a message through the catalog, read its envelope records,
 * stream its content record by record (each authenticated before it is
 * decompressed, the SHA-256 of the whole checked at the end), walk the chain
 * up to the durable head for the indexer.  Does not: write anything, verify
 * the chain links (store_verify.c), or trust anything not authenticated.
 * Safe to run in any thread, concurrently with the writer, and in another
 * process with a read-only store.
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

#include "store_private.h"
#include "vellum/log.h"

/* ---- the cursor ---- */

/* The first segment whose first_seq is >= seq, if any. */
static bool seg_at_or_after(store_t *s, store_archive_t *a, uint64_t seq, store_seg_t *out)
{
	if (s->readonly)
		store_archive_ks_refresh(a);
	pthread_mutex_lock(&a->lock);
	bool ok = false;
	for (size_t i = 0; i < a->nsegs && !ok; i++)
		if (a->segs[i].first_seq >= seq) {
			*out = a->segs[i];
			ok = true;
		}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

static void cursor_seg_close(store_cursor_t *c)
{
	if (c->open)
		store_segfile_close(&c->f);
	c->open = false;
}

/* Opens segment `first` and positions on its first record. */
static store_status_t cursor_seg_open(store_cursor_t *c, uint64_t first)
{
	cursor_seg_close(c);
	store_status_t st = store_segfile_open(c->s, c->a, first, &c->f);
	if (st != STORE_OK)
		return st;
	c->open = true;
	c->off = STORE_SEG_HDR_SIZE;
	c->blk = c->ent = 0;
	c->next_seq = first;
	return STORE_OK;
}

/* Moves to the segment holding next_seq, or across a gap (deleted
 * segments) to the next one there is. */
static store_status_t cursor_advance_seg(store_cursor_t *c)
{
	store_seg_t sg;
	if (!seg_at_or_after(c->s, c->a, c->next_seq, &sg)) {
		log_error("store.corrupt", "archive=%s seq=%" PRIu64 " msg=%s", c->a->name,
		          c->next_seq, "no segment holds the next record");
		return STORE_ECORRUPT;
	}
	if (sg.first_seq != c->next_seq)
		log_info("store.scan_gap", "archive=%s from=%" PRIu64 " to=%" PRIu64, c->a->name,
		         c->next_seq, sg.first_seq - 1);
	store_status_t st = cursor_seg_open(c, sg.first_seq);
	if (st == STORE_ECORRUPT && c->skip_damage) {
		/* A segment whose header cannot be read: everything in it is lost
		 * to this reader (logged); go on after it. */
		c->next_seq = sg.first_seq + 1;
		return cursor_advance_seg(c);
	}
	return st;
}

store_status_t store_cursor_open(store_t *s, store_archive_t *a, uint64_t after, store_cursor_t *c)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->a = a;
	c->next_seq = after + 1;
	store_seg_t sg;
	bool have = store_archive_seg_for(s, a, after + 1, &sg) == STORE_OK ||
	            seg_at_or_after(s, a, after + 1, &sg);
	if (!have)
		return STORE_OK; /* empty archive: opened on demand later */
	store_status_t st = cursor_seg_open(c, sg.first_seq);
	if (st != STORE_OK)
		return st == STORE_ENOTFOUND ? STORE_OK : st;
	if (c->f.packed) {
		const store_blkidx_t *bi = c->f.bi;
		if (after + 1 > bi->last_seq) {
			c->blk = bi->n; /* past its end */
			c->next_seq = bi->last_seq + 1;
			c->next_seq = after + 1 > c->next_seq ? after + 1 : c->next_seq;
			return STORE_OK;
		}
		if (after + 1 <= bi->seq[0])
			return STORE_OK; /* at its first record (a deleted range before it) */
		size_t i = 0;
		while (i + 1 < bi->n && bi->seq[i + 1] <= after + 1)
			i++;
		c->blk = i;
		c->ent = (size_t)(after + 1 - bi->seq[i]);
		c->next_seq = after + 1;
		return STORE_OK;
	}
	/* Skip the records up to `after` by their headers alone. */
	while (c->next_seq <= after) {
		const char *why = NULL;
		store_rd_t rd =
		    store_seg_read_hdr(c->f.fd, c->f.path, c->off, c->f.size, &c->h, &why);
		if (rd == STORE_RD_END) {
			c->next_seq = after + 1; /* the rest is in later segments */
			break;
		}
		if (rd != STORE_RD_OK || c->h.seq != c->next_seq) {
			char q[LOG_Q_MAX];
			log_error("store.corrupt",
			          "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
			          log_q(q, sizeof q, c->f.path), c->off, c->next_seq,
			          why ? why : "record missing or out of sequence");
			return rd == STORE_RD_EIO ? STORE_EIO : STORE_ECORRUPT;
		}
		c->off += c->h.length;
		c->next_seq++;
	}
	return STORE_OK;
}

/* True when the open segment has no record left for next_seq. */
static bool cursor_seg_done(store_cursor_t *c)
{
	if (!c->open)
		return true;
	if (c->f.packed)
		return c->blk >= c->f.bi->n;
	if (c->off < c->f.size)
		return false;
	/* The active segment may have grown since it was opened. */
	struct stat st;
	if (fstat(c->f.fd, &st) == 0)
		c->f.size = (uint64_t)st.st_size;
	return c->off >= c->f.size;
}

static store_status_t cursor_next_packed(store_cursor_t *c, bool *got)
{
	const char *why = NULL;
	store_status_t st = store_segfile_block(&c->f, c->blk, &why);
	if (st != STORE_OK) {
		char q[LOG_Q_MAX];
		if (st == STORE_ECORRUPT)
			log_error(
			    "store.corrupt", "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
			    log_q(q, sizeof q, c->f.path), c->f.bi->off[c->blk], c->next_seq, why);
		if (st == STORE_ECORRUPT && c->skip_damage) {
			c->blk++;
			c->ent = 0;
			c->next_seq =
			    c->blk < c->f.bi->n ? c->f.bi->seq[c->blk] : c->f.bi->last_seq + 1;
			return STORE_OK; /* *got stays false: the caller loops */
		}
		return st;
	}
	const store_blk_ent_t *e = &c->f.ents[c->ent];
	const uint8_t *data;
	if ((st = store_segfile_entry(&c->f, (uint32_t)c->ent, &data, &why)) != STORE_OK) {
		char q[LOG_Q_MAX];
		log_error("store.corrupt", "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
		          log_q(q, sizeof q, c->f.path), c->f.bi->off[c->blk], c->next_seq, why);
		if (!c->skip_damage)
			return st;
		c->blk++; /* the rest of this block is lost to this reader */
		c->ent = 0;
		c->next_seq = c->blk < c->f.bi->n ? c->f.bi->seq[c->blk] : c->f.bi->last_seq + 1;
		return STORE_OK;
	}
	store_lrec_t *lr = &c->lr;
	memset(lr, 0, sizeof *lr);
	lr->type = e->type;
	lr->seq = c->next_seq;
	lr->off = c->f.bi->off[c->blk];
	lr->elided = e->elided;
	if (e->elided) {
		memcpy(lr->phash, data, STORE_HASH_BYTES);
	} else {
		lr->opened = true;
		lr->p = data;
		lr->n = e->len;
	}
	if (++c->ent == c->f.nents) {
		c->blk++;
		c->ent = 0;
	}
	c->next_seq++;
	*got = true;
	return STORE_OK;
}

static store_status_t cursor_next_unpacked(store_cursor_t *c, uint32_t open_mask, bool *got)
{
	char q[LOG_Q_MAX];
	const char *why = NULL;
	store_rd_t rd = store_seg_read_hdr(c->f.fd, c->f.path, c->off, c->f.size, &c->h, &why);
	if (rd == STORE_RD_EIO)
		return STORE_EIO;
	if (rd == STORE_RD_OK && (c->h.seq != c->next_seq || c->h.type > STORE_REC_CHAINED_MAX))
		why = c->h.seq != c->next_seq ? "record out of sequence"
		                              : "not a record of the chain";
	else if (rd != STORE_RD_OK)
		why = why ? why : "record cut off";
	if (why) {
		log_error("store.corrupt", "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
		          log_q(q, sizeof q, c->f.path), c->off, c->next_seq, why);
		if (!c->skip_damage)
			return STORE_ECORRUPT;
		/* Framing lost: nothing more can be read in this segment. */
		cursor_seg_close(c);
		c->next_seq++;
		return STORE_OK;
	}
	store_lrec_t *lr = &c->lr;
	if (open_mask & STORE_TYPE_BIT(c->h.type)) {
		store_status_t st = store_segfile_get(&c->f, c->next_seq, c->off, 0, lr);
		if (st == STORE_EIO)
			return st;
		if (st != STORE_OK) {
			if (!c->skip_damage)
				return STORE_ECORRUPT;
			c->off += c->h.length; /* logged by segfile_get; skip this one */
			c->next_seq++;
			return STORE_OK;
		}
	} else {
		memset(lr, 0, sizeof *lr);
		lr->type = c->h.type;
		lr->seq = c->h.seq;
		lr->off = c->off;
		lr->flags = c->h.flags;
	}
	c->off += c->h.length;
	c->next_seq++;
	*got = true;
	return STORE_OK;
}

store_status_t store_cursor_next(store_cursor_t *c, uint64_t limit, uint32_t open_mask, bool *got)
{
	*got = false;
	while (c->next_seq <= limit) {
		if (cursor_seg_done(c)) {
			store_status_t st = cursor_advance_seg(c);
			if (st != STORE_OK)
				return st == STORE_ENOTFOUND ? STORE_ECORRUPT : st;
			if (c->next_seq > limit)
				return STORE_OK;
			continue;
		}
		store_status_t st = c->f.packed ? cursor_next_packed(c, got)
		                                : cursor_next_unpacked(c, open_mask, got);
		if (st != STORE_OK || *got)
			return st;
	}
	return STORE_OK;
}

void store_cursor_close(store_cursor_t *c)
{
	cursor_seg_close(c);
}

/* ---- messages ---- */

/* Runs f on the readers' catalog connection (opening it if a read-only store
 * found none at open). */
static store_cat_t *cat_r_lock(store_archive_t *a)
{
	pthread_mutex_lock(&a->cat_r_lock);
	if (!a->cat_r)
		store_cat_open(a->dir, true, &a->cat_r);
	if (!a->cat_r)
		pthread_mutex_unlock(&a->cat_r_lock);
	return a->cat_r;
}

/* Reads and decodes the envelope at (f's segment, off, record_seq). */
static store_status_t read_envelope(store_segfile_t *f, uint64_t off, uint64_t record_seq,
                                    store_env_rec_t *e)
{
	store_lrec_t lr;
	store_status_t st = store_segfile_get(f, record_seq, off, STORE_REC_ENVELOPE, &lr);
	if (st == STORE_ENOTFOUND)
		return st; /* elided: removed by retention or a purge */
	const char *why;
	if (st == STORE_OK && store_env_decode(lr.p, lr.n, e, &why) != STORE_OK) {
		char q[LOG_Q_MAX];
		log_error("store.corrupt", "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
		          log_q(q, sizeof q, f->path), off, record_seq, why);
		st = STORE_ECORRUPT;
	}
	if (st == STORE_OK) {
		char name[STORE_SEG_NAME_MAX];
		store_seg_name(f->seg.first_seq, name);
		e->arr.segment = xstrdup(name);
		e->arr.offset = off;
		e->arr.record_seq = record_seq;
	}
	return st;
}

static store_archive_t *mail_archive(store_t *s, const char *archive)
{
	store_archive_t *a = store_archive_get(s, archive);
	return a && !a->is_log ? a : NULL;
}

store_status_t store_msg_get(store_t *s, const char *archive, uint64_t seq, store_msg_t **out)
{
	*out = NULL;
	store_archive_t *a = mail_archive(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_cat_t *c = cat_r_lock(a);
	if (!c)
		return STORE_ENOTFOUND;
	store_cat_msg_t cm;
	store_cat_arr_t *arr = NULL;
	size_t narr = 0;
	store_status_t st = store_cat_msg(c, seq, &cm);
	if (st == STORE_OK)
		st = store_cat_arrivals(c, seq, &arr, &narr);
	pthread_mutex_unlock(&a->cat_r_lock);
	if (st != STORE_OK)
		return st;
	store_msg_t *m = xcalloc(1, sizeof *m);
	snprintf(m->archive, sizeof m->archive, "%s", a->name);
	m->seq = seq;
	memcpy(m->sha256, cm.sha256, 32);
	m->size = cm.size;
	m->received = cm.received;
	m->arrivals = xcalloc(narr, sizeof *m->arrivals);
	store_segfile_t f = {.fd = -1};
	bool fopen_ = false;
	for (size_t i = 0; i < narr && st == STORE_OK; i++) {
		if (!fopen_ || f.seg.first_seq != arr[i].segment) {
			if (fopen_)
				store_segfile_close(&f);
			fopen_ = false;
			st = store_segfile_open(s, a, arr[i].segment, &f);
			if (st != STORE_OK)
				break;
			fopen_ = true;
		}
		store_env_rec_t e;
		st = read_envelope(&f, arr[i].offset, arr[i].record_seq, &e);
		if (st != STORE_OK)
			break;
		if (e.msg_seq != seq || memcmp(e.sha256, cm.sha256, 32) != 0) {
			log_error("store.corrupt", "archive=%s seq=%" PRIu64 " msg=%s", a->name,
			          arr[i].record_seq, "envelope does not match the catalog");
			st = STORE_ECORRUPT;
		} else {
			m->arrivals[m->narrivals++] = e.arr;
			memset(&e.arr, 0, sizeof e.arr);
		}
		store_env_rec_free(&e);
	}
	if (fopen_)
		store_segfile_close(&f);
	free(arr);
	if (st != STORE_OK) {
		store_msg_free(m);
		/* Removed under our feet (a deletion committed since the catalog
		 * was read): gone, like any deleted id. */
		return st == STORE_ENOTFOUND ? STORE_ENOTFOUND : st;
	}
	if (m->narrivals)
		m->received = m->arrivals[0].received;
	*out = m;
	return STORE_OK;
}

void store_msg_free(store_msg_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->narrivals; i++)
		store_arrival_clear(&m->arrivals[i]);
	free(m->arrivals);
	free(m);
}

/* ---- streaming a message ---- */

struct store_reader {
	store_segfile_t f; /* owned */
	store_ref_t *refs;
	size_t nrefs, next;
	const uint8_t *cur; /* the record being served, inside f's buffers */
	size_t cur_n, pos;
	uint64_t total, size;
	uint8_t sha256[32];
	store_sha256_t sha;
	bool failed;
};

/* Takes over f (which the caller must not close). */
static store_reader_t *reader_new(store_segfile_t *f, const store_env_rec_t *e)
{
	store_reader_t *r = xcalloc(1, sizeof *r);
	r->f = *f;
	memset(f, 0, sizeof *f);
	f->fd = -1;
	r->nrefs = e->nrefs;
	r->refs = xcalloc(e->nrefs, sizeof *r->refs);
	memcpy(r->refs, e->refs, e->nrefs * sizeof *r->refs);
	r->size = e->size;
	memcpy(r->sha256, e->sha256, 32);
	store_sha256_init(&r->sha);
	return r;
}

store_status_t store_msg_open(store_t *s, const char *archive, uint64_t seq, store_reader_t **out)
{
	*out = NULL;
	store_archive_t *a = mail_archive(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_cat_t *c = cat_r_lock(a);
	if (!c)
		return STORE_ENOTFOUND;
	store_cat_arr_t *arr = NULL;
	size_t narr = 0;
	store_status_t st = store_cat_arrivals(c, seq, &arr, &narr);
	pthread_mutex_unlock(&a->cat_r_lock);
	if (st != STORE_OK)
		return st;
	store_segfile_t f;
	st = store_segfile_open(s, a, arr[0].segment, &f);
	if (st == STORE_OK) {
		store_env_rec_t e;
		st = read_envelope(&f, arr[0].offset, arr[0].record_seq, &e);
		if (st == STORE_OK) {
			*out = reader_new(&f, &e);
			store_env_rec_free(&e);
		} else {
			store_segfile_close(&f);
		}
	}
	free(arr);
	return st;
}

/* Loads the next content record. */
static store_status_t reader_fill(store_reader_t *r)
{
	const store_ref_t *ref = &r->refs[r->next];
	store_lrec_t lr;
	store_status_t st = store_segfile_get(&r->f, ref->seq, ref->offset,
	                                      r->nrefs == 1 ? 0 : STORE_REC_CHUNK, &lr);
	if (st == STORE_ENOTFOUND)
		st = STORE_ECORRUPT; /* content elided under a live envelope */
	if (st == STORE_OK && lr.type != STORE_REC_CHUNK &&
	    !(lr.type == STORE_REC_CONTENT && r->nrefs == 1)) {
		log_error("store.corrupt", "path=%s seq=%" PRIu64 " msg=%s", r->f.path, ref->seq,
		          "referenced record is not content");
		st = STORE_ECORRUPT;
	}
	if (st != STORE_OK)
		return st;
	r->next++;
	r->cur = lr.p;
	r->cur_n = lr.n;
	r->pos = 0;
	store_sha256_update(&r->sha, lr.p, lr.n);
	r->total += lr.n;
	if (r->total > r->size) {
		log_error("store.corrupt", "path=%s msg=%s", r->f.path,
		          "content longer than the envelope says");
		return STORE_ECORRUPT;
	}
	if (r->next == r->nrefs) {
		uint8_t d[32];
		store_sha256_final(&r->sha, d);
		if (r->total != r->size || sodium_memcmp(d, r->sha256, 32) != 0) {
			log_error("store.corrupt", "path=%s msg=%s", r->f.path,
			          "content does not match the envelope's SHA-256 and size");
			return STORE_ECORRUPT;
		}
	}
	return STORE_OK;
}

store_status_t store_reader_read(store_reader_t *r, void *buf, size_t cap, size_t *got)
{
	*got = 0;
	if (r->failed)
		return STORE_ECORRUPT;
	while (r->pos == r->cur_n && r->next < r->nrefs) {
		store_status_t st = reader_fill(r);
		if (st != STORE_OK) {
			r->failed = true;
			r->cur = NULL;
			r->cur_n = r->pos = 0;
			return st;
		}
	}
	size_t n = r->cur_n - r->pos;
	if (n > cap)
		n = cap;
	/* The last record is withheld until the hash is checked (reader_fill). */
	if (n)
		memcpy(buf, r->cur + r->pos, n);
	r->pos += n;
	*got = n;
	return STORE_OK;
}

void store_reader_close(store_reader_t *r)
{
	if (!r)
		return;
	store_segfile_close(&r->f);
	store_sha256_free(&r->sha);
	free(r->refs);
	free(r);
}

/* ---- scanning ---- */

struct store_scan {
	store_t *s;
	store_archive_t *a;
	store_cursor_t c;
	uint64_t limit; /* head as last read */
	store_env_rec_t env;
	bool have_env;
	uint64_t env_seg;
	store_srec_t del;
	bool have_del;
	store_scan_item_t item;
};

store_status_t store_scan_open(store_t *s, const char *archive, uint64_t after, store_scan_t **out)
{
	*out = NULL;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_scan_t *sc = xcalloc(1, sizeof *sc);
	sc->s = s;
	sc->a = a;
	store_head_t h;
	store_status_t st = store_archive_head(s, a, &h);
	if (st == STORE_OK && after > h.seq)
		after = h.seq; /* nothing beyond the head exists yet; start there */
	if (st == STORE_OK)
		st = store_cursor_open(s, a, after, &sc->c);
	if (st != STORE_OK) {
		store_cursor_close(&sc->c);
		free(sc);
		return st;
	}
	/* A reader never stops for good at damage: it is logged (and reported by
	 * verify), and the scan goes on with what can be read. */
	sc->c.skip_damage = true;
	sc->limit = h.seq;
	*out = sc;
	return STORE_OK;
}

static const store_scan_item_t *scan_envelope(store_scan_t *sc, store_status_t *st)
{
	store_cursor_t *c = &sc->c;
	const char *why;
	if (store_env_decode(c->lr.p, c->lr.n, &sc->env, &why) != STORE_OK) {
		log_error("store.corrupt",
		          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " seq=%" PRIu64
		          " msg=%s",
		          sc->a->name, c->f.seg.first_seq, c->lr.off, c->lr.seq, why);
		*st = STORE_OK; /* skipped (logged); the scan goes on */
		return NULL;
	}
	sc->have_env = true;
	sc->env_seg = c->f.seg.first_seq;
	char name[STORE_SEG_NAME_MAX];
	store_seg_name(sc->env_seg, name);
	sc->env.arr.segment = xstrdup(name);
	sc->env.arr.offset = c->lr.off;
	sc->env.arr.record_seq = c->lr.seq;
	sc->item.type = sc->env.duplicate ? STORE_ITEM_ARRIVAL : STORE_ITEM_MESSAGE;
	sc->item.record_seq = c->lr.seq;
	sc->item.msg_seq = sc->env.msg_seq;
	sc->item.arrival = &sc->env.arr;
	memcpy(sc->item.sha256, sc->env.sha256, 32);
	sc->item.size = sc->env.size;
	return &sc->item;
}

static const store_scan_item_t *scan_deletion(store_scan_t *sc)
{
	store_cursor_t *c = &sc->c;
	const char *why;
	if (store_srec_decode(c->lr.p, c->lr.n, STORE_REC_DELETION, &sc->del, &why) != STORE_OK) {
		log_error("store.corrupt", "archive=%s seq=%" PRIu64 " msg=%s", sc->a->name,
		          c->lr.seq, why);
		return NULL;
	}
	sc->have_del = true;
	sc->item.type = STORE_ITEM_DELETION;
	sc->item.record_seq = c->lr.seq;
	sc->item.deleted = sc->del.msgs;
	sc->item.ndeleted = sc->del.nmsgs;
	return &sc->item;
}

store_status_t store_scan_next(store_scan_t *sc, const store_scan_item_t **item)
{
	*item = NULL;
	if (sc->have_env)
		store_env_rec_free(&sc->env);
	if (sc->have_del)
		store_srec_free(&sc->del);
	sc->have_env = sc->have_del = false;
	memset(&sc->item, 0, sizeof sc->item);
	const uint32_t mask = STORE_TYPE_BIT(STORE_REC_ENVELOPE) | STORE_TYPE_BIT(STORE_REC_LOG) |
	                      STORE_TYPE_BIT(STORE_REC_DELETION);
	for (;;) {
		if (sc->c.next_seq > sc->limit) {
			store_head_t h;
			store_status_t st = store_archive_head(sc->s, sc->a, &h);
			if (st != STORE_OK)
				return st;
			sc->limit = h.seq;
			if (sc->c.next_seq > sc->limit)
				return STORE_OK;
		}
		bool got;
		store_status_t st = store_cursor_next(&sc->c, sc->limit, mask, &got);
		if (st != STORE_OK)
			return st;
		if (!got) {
			if (sc->c.next_seq > sc->limit)
				return STORE_OK;
			continue; /* damage skipped */
		}
		store_cursor_t *c = &sc->c;
		if (c->lr.elided || !c->lr.opened)
			continue; /* content, chunks, seals, checkpoints; removed records */
		switch (c->lr.type) {
		case STORE_REC_LOG:
			sc->item.type = STORE_ITEM_LOG;
			sc->item.record_seq = c->lr.seq;
			sc->item.data = c->lr.p;
			sc->item.len = c->lr.n;
			*item = &sc->item;
			return STORE_OK;
		case STORE_REC_ENVELOPE:
			if ((*item = scan_envelope(sc, &st)))
				return STORE_OK;
			continue;
		case STORE_REC_DELETION:
			if ((*item = scan_deletion(sc)))
				return STORE_OK;
			continue;
		default: continue;
		}
	}
}

store_status_t store_scan_open_message(store_scan_t *sc, store_reader_t **out)
{
	*out = NULL;
	if (!sc->have_env)
		return STORE_EINVAL;
	store_segfile_t f;
	store_status_t st = store_segfile_open(sc->s, sc->a, sc->env_seg, &f);
	if (st != STORE_OK)
		return st;
	*out = reader_new(&f, &sc->env);
	return STORE_OK;
}

void store_scan_close(store_scan_t *sc)
{
	if (!sc)
		return;
	if (sc->have_env)
		store_env_rec_free(&sc->env);
	if (sc->have_del)
		store_srec_free(&sc->del);
	store_cursor_close(&sc->c);
	free(sc);
}

store_status_t store_head(store_t *s, const char *archive, uint64_t *record_seq)
{
	*record_seq = 0;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_head_t h;
	store_status_t st = store_archive_head(s, a, &h);
	if (st == STORE_OK)
		*record_seq = h.seq;
	return st;
}
