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

static void cursor_seg_close(store_cursor_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->path);
	c->path = NULL;
	c->seg.first_seq = 0;
}

static store_status_t cursor_seg_open(store_cursor_t *c, uint64_t seq, bool exact)
{
	cursor_seg_close(c);
	store_seg_t sg;
	if (store_archive_seg_for(c->s, c->a, seq, &sg) != STORE_OK ||
	    (exact && sg.first_seq != seq))
		return STORE_ENOTFOUND;
	c->path = store_archive_seg_path(c->a, sg.first_seq);
	c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (c->fd < 0 || fstat(c->fd, &st) != 0) {
		char q[LOG_Q_MAX];
		log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, c->path),
		          strerror(errno));
		bool missing = errno == ENOENT;
		cursor_seg_close(c);
		return missing ? STORE_ENOTFOUND : STORE_EIO;
	}
	c->seg = sg;
	c->size = (uint64_t)st.st_size;
	c->off = STORE_SEG_HDR_SIZE;
	c->next_seq = sg.first_seq;
	return STORE_OK;
}

store_status_t store_cursor_open(store_t *s, store_archive_t *a, uint64_t after, store_cursor_t *c)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->a = a;
	c->fd = -1;
	c->next_seq = after + 1;
	store_status_t st = cursor_seg_open(c, after + 1, false);
	if (st == STORE_ENOTFOUND) { /* empty archive: opened on demand later */
		c->next_seq = after + 1;
		return STORE_OK;
	}
	if (st != STORE_OK)
		return st;
	/* Skip the records up to `after` by their headers alone. */
	while (c->next_seq <= after) {
		const char *why = NULL;
		store_rd_t rd = store_seg_read_hdr(c->fd, c->path, c->off, c->size, &c->h, &why);
		if (rd != STORE_RD_OK || c->h.seq != c->next_seq) {
			char q[LOG_Q_MAX];
			log_error("store.corrupt",
			          "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
			          log_q(q, sizeof q, c->path), c->off, c->next_seq,
			          why ? why : "record missing or out of sequence");
			return rd == STORE_RD_EIO ? STORE_EIO : STORE_ECORRUPT;
		}
		c->off += c->h.length;
		c->next_seq++;
	}
	return STORE_OK;
}

store_status_t store_cursor_next(store_cursor_t *c, uint64_t limit, uint32_t open_mask, bool *got)
{
	char q[LOG_Q_MAX];
	*got = false;
	if (c->next_seq > limit)
		return STORE_OK;
	if (c->fd < 0 || c->off >= c->size) {
		/* The active segment may have grown since it was opened. */
		struct stat st;
		if (c->fd >= 0 && fstat(c->fd, &st) == 0)
			c->size = (uint64_t)st.st_size;
		if (c->fd < 0 || c->off >= c->size) {
			store_status_t ss = cursor_seg_open(c, c->next_seq, true);
			if (ss != STORE_OK) {
				log_error("store.corrupt", "archive=%s seq=%" PRIu64 " msg=%s",
				          c->a->name, c->next_seq,
				          "no segment starts with the next record");
				return ss == STORE_EIO ? STORE_EIO : STORE_ECORRUPT;
			}
		}
	}
	const char *why = NULL;
	c->rec_off = c->off;
	store_rd_t rd = store_seg_read_rec(c->fd, c->path, c->off, c->size, &c->raw, &c->h, &why);
	if (rd == STORE_RD_EIO)
		return STORE_EIO;
	if (rd != STORE_RD_OK)
		why = why ? why : "record cut off";
	else if (c->h.seq != c->next_seq)
		why = "record out of sequence";
	else if ((open_mask & STORE_TYPE_BIT(c->h.type)) &&
	         store_rec_open(c->seg.key, c->raw.data, c->raw.len, &c->h, &c->plain, &why) !=
	             STORE_OK)
		;
	else
		why = NULL;
	if (why) {
		log_error("store.corrupt", "path=%s offset=%" PRIu64 " seq=%" PRIu64 " msg=%s",
		          log_q(q, sizeof q, c->path), c->off, c->next_seq, why);
		return STORE_ECORRUPT;
	}
	c->off += c->h.length;
	c->next_seq++;
	*got = true;
	return STORE_OK;
}

void store_cursor_close(store_cursor_t *c)
{
	cursor_seg_close(c);
	sodium_memzero(c->plain.data, c->plain.cap);
	buf_free(&c->raw);
	buf_free(&c->plain);
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

static store_status_t read_envelope(store_t *s, store_archive_t *a, uint64_t seg, uint64_t off,
                                    uint64_t record_seq, store_env_rec_t *e)
{
	char *path = store_archive_seg_path(a, seg);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	store_status_t st = STORE_OK;
	if (fd < 0) {
		char q[LOG_Q_MAX];
		log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(errno));
		st = errno == ENOENT ? STORE_ENOTFOUND : STORE_EIO;
	}
	buf_t raw = {0}, plain = {0};
	store_rec_hdr_t h;
	if (st == STORE_OK)
		st = store_archive_read_rec(s, a, seg, fd, off, record_seq, STORE_REC_ENVELOPE,
		                            &raw, &plain, &h);
	const char *why;
	if (st == STORE_OK && store_env_decode(plain.data, plain.len, e, &why) != STORE_OK) {
		log_error("store.corrupt",
		          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " seq=%" PRIu64
		          " msg=%s",
		          a->name, seg, off, record_seq, why);
		st = STORE_ECORRUPT;
	}
	if (st == STORE_OK) {
		char name[STORE_SEG_NAME_MAX];
		store_seg_name(seg, name);
		e->arr.segment = xstrdup(name);
		e->arr.offset = off;
		e->arr.record_seq = record_seq;
	}
	if (fd >= 0)
		close(fd);
	buf_free(&raw);
	buf_free(&plain);
	free(path);
	return st;
}

store_status_t store_msg_get(store_t *s, const char *archive, uint64_t seq, store_msg_t **out)
{
	*out = NULL;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a || a->is_log)
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
	for (size_t i = 0; i < narr && st == STORE_OK; i++) {
		store_env_rec_t e;
		st = read_envelope(s, a, arr[i].segment, arr[i].offset, arr[i].record_seq, &e);
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
	free(arr);
	if (st != STORE_OK) {
		store_msg_free(m);
		return st;
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
	store_t *s;
	store_archive_t *a;
	uint64_t seg;
	int fd;
	store_ref_t *refs;
	size_t nrefs, next;
	buf_t raw, plain;
	size_t pos; /* in plain */
	uint64_t total, size;
	uint8_t sha256[32];
	crypto_hash_sha256_state sha;
	bool failed;
};

static store_status_t reader_new(store_t *s, store_archive_t *a, uint64_t seg,
                                 const store_env_rec_t *e, store_reader_t **out)
{
	store_reader_t *r = xcalloc(1, sizeof *r);
	r->s = s;
	r->a = a;
	r->seg = seg;
	char *path = store_archive_seg_path(a, seg);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		char q[LOG_Q_MAX];
		log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(errno));
		free(path);
		free(r);
		return STORE_EIO;
	}
	free(path);
	r->nrefs = e->nrefs;
	r->refs = xcalloc(e->nrefs, sizeof *r->refs);
	memcpy(r->refs, e->refs, e->nrefs * sizeof *r->refs);
	r->size = e->size;
	memcpy(r->sha256, e->sha256, 32);
	crypto_hash_sha256_init(&r->sha);
	*out = r;
	return STORE_OK;
}

store_status_t store_msg_open(store_t *s, const char *archive, uint64_t seq, store_reader_t **out)
{
	*out = NULL;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a || a->is_log)
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
	store_env_rec_t e;
	st = read_envelope(s, a, arr[0].segment, arr[0].offset, arr[0].record_seq, &e);
	if (st == STORE_OK) {
		st = reader_new(s, a, arr[0].segment, &e, out);
		store_env_rec_free(&e);
	}
	free(arr);
	return st;
}

/* Loads the next content record into r->plain. */
static store_status_t reader_fill(store_reader_t *r)
{
	store_rec_hdr_t h;
	const store_ref_t *ref = &r->refs[r->next];
	store_status_t st =
	    store_archive_read_rec(r->s, r->a, r->seg, r->fd, ref->offset, ref->seq,
	                           r->nrefs == 1 ? 0 : STORE_REC_CHUNK, &r->raw, &r->plain, &h);
	if (st == STORE_OK && h.type != STORE_REC_CHUNK &&
	    !(h.type == STORE_REC_CONTENT && r->nrefs == 1)) {
		log_error("store.corrupt",
		          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " msg=%s", r->a->name,
		          r->seg, ref->offset, "referenced record is not content");
		st = STORE_ECORRUPT;
	}
	if (st != STORE_OK)
		return st;
	r->next++;
	r->pos = 0;
	crypto_hash_sha256_update(&r->sha, r->plain.data, r->plain.len);
	r->total += r->plain.len;
	if (r->total > r->size) {
		log_error("store.corrupt", "archive=%s segment=%" PRIu64 " msg=%s", r->a->name,
		          r->seg, "content longer than the envelope says");
		return STORE_ECORRUPT;
	}
	if (r->next == r->nrefs) {
		uint8_t d[32];
		crypto_hash_sha256_final(&r->sha, d);
		if (r->total != r->size || sodium_memcmp(d, r->sha256, 32) != 0) {
			log_error("store.corrupt", "archive=%s segment=%" PRIu64 " msg=%s",
			          r->a->name, r->seg,
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
	while (r->pos == r->plain.len && r->next < r->nrefs) {
		store_status_t st = reader_fill(r);
		if (st != STORE_OK) {
			r->failed = true;
			buf_reset(&r->plain);
			r->pos = 0;
			return st;
		}
	}
	size_t n = r->plain.len - r->pos;
	if (n > cap)
		n = cap;
	/* The last record is withheld until the hash is checked (reader_fill). */
	memcpy(buf, r->plain.data + r->pos, n);
	r->pos += n;
	*got = n;
	return STORE_OK;
}

void store_reader_close(store_reader_t *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->refs);
	buf_free(&r->raw);
	buf_free(&r->plain);
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
	sc->limit = h.seq;
	*out = sc;
	return STORE_OK;
}

store_status_t store_scan_next(store_scan_t *sc, const store_scan_item_t **item)
{
	*item = NULL;
	if (sc->have_env)
		store_env_rec_free(&sc->env);
	sc->have_env = false;
	memset(&sc->item, 0, sizeof sc->item);
	const uint32_t mask = STORE_TYPE_BIT(STORE_REC_ENVELOPE) | STORE_TYPE_BIT(STORE_REC_LOG);
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
		if (!got)
			return STORE_OK;
		store_cursor_t *c = &sc->c;
		switch (c->h.type) {
		case STORE_REC_CONTENT:
		case STORE_REC_CHUNK: continue;
		case STORE_REC_LOG:
			sc->item.type = STORE_ITEM_LOG;
			sc->item.record_seq = c->h.seq;
			sc->item.data = c->plain.data;
			sc->item.len = c->plain.len;
			*item = &sc->item;
			return STORE_OK;
		case STORE_REC_ENVELOPE: {
			const char *why;
			if (store_env_decode(c->plain.data, c->plain.len, &sc->env, &why) !=
			    STORE_OK) {
				log_error("store.corrupt",
				          "archive=%s segment=%" PRIu64 " offset=%" PRIu64
				          " seq=%" PRIu64 " msg=%s",
				          sc->a->name, c->seg.first_seq, c->rec_off, c->h.seq, why);
				return STORE_ECORRUPT;
			}
			sc->have_env = true;
			sc->env_seg = c->seg.first_seq;
			char name[STORE_SEG_NAME_MAX];
			store_seg_name(c->seg.first_seq, name);
			sc->env.arr.segment = xstrdup(name);
			sc->env.arr.offset = c->rec_off;
			sc->env.arr.record_seq = c->h.seq;
			sc->item.type = sc->env.duplicate ? STORE_ITEM_ARRIVAL : STORE_ITEM_MESSAGE;
			sc->item.record_seq = c->h.seq;
			sc->item.msg_seq = sc->env.msg_seq;
			sc->item.arrival = &sc->env.arr;
			memcpy(sc->item.sha256, sc->env.sha256, 32);
			sc->item.size = sc->env.size;
			*item = &sc->item;
			return STORE_OK;
		}
		default:
			log_error("store.corrupt", "archive=%s seq=%" PRIu64 " type=%u msg=%s",
			          sc->a->name, c->h.seq, c->h.type,
			          "record type not supported by this version");
			return STORE_ECORRUPT;
		}
	}
}

store_status_t store_scan_open_message(store_scan_t *sc, store_reader_t **out)
{
	*out = NULL;
	if (!sc->have_env)
		return STORE_EINVAL;
	return reader_new(sc->s, sc->a, sc->env_seg, &sc->env, out);
}

void store_scan_close(store_scan_t *sc)
{
	if (!sc)
		return;
	if (sc->have_env)
		store_env_rec_free(&sc->env);
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
