/* store_delete.c — removing messages and archives: the primitives retention,
 * purge and archive deletion are built on (doc/format.md §7).  What is
 * expired or held is the caller's policy; this file only removes, and
 * records every removal as a signed DELETION record in the chain.
 *
 * Removing messages: every sealed segment holding an arrival of one of them
 * is either deleted whole — file and keystore entry, so a saved copy can no
 * longer be decrypted — when none of its arrivals survives, or compacted:
 * rewritten (store_pack.c) under a new id and key with the removed envelopes
 * elided (their hashes kept, so the chain still verifies) and their content
 * dropped, then swapped in.  Order, so that a crash at any point leaves
 * either the old state or one that recovery completes:
 *   1. compacted files written beside the old ones ("<first>.seg.new");
 *   2. (writer) their keys added to the keystore next to the old ones;
 *   3. (writer) the DELETION record and the catalog changes made durable;
 *   4. (writer) ".new" renamed over the old files, old keys and deleted
 *      segments' keys removed from the keystore, deleted files unlinked.
 * Recovery finishes step 4 when the DELETION record is durable and undoes
 * steps 1–2 when it is not (store_delete_recover).
 *
 * Deleting a whole archive is store_archive_delete.c.
 */
#include "config.h"

#include <dirent.h>
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

typedef struct del_seg {
	uint64_t first;
	store_cat_arr_t *remove; /* its arrivals to remove */
	size_t nremove, cap;
	size_t total; /* its arrivals */
	bool whole;
	store_del_seg_t info;  /* whole */
	store_elided_t *elide; /* compaction: envelope records to elide */
	size_t nelide;
	store_pack_out_t pack;
	store_del_cmp_t cmp;
} del_seg_t;

typedef struct del_plan {
	store_t *s;
	store_archive_t *a;
	const store_delete_req_t *req;
	del_seg_t *segs;
	size_t nsegs;
	uint64_t *removed;
	size_t nremoved;
	store_tomb_t *tombs;
	size_t ntombs;
	store_gap_t *gaps;
	size_t ngaps;
	int64_t now;
	store_delete_result_t *res;
} del_plan_t;

static store_cat_t *reader_cat(store_archive_t *a)
{
	pthread_mutex_lock(&a->cat_r_lock);
	if (!a->cat_r)
		store_cat_open(a->dir, true, &a->cat_r);
	if (!a->cat_r)
		pthread_mutex_unlock(&a->cat_r_lock);
	return a->cat_r;
}

static del_seg_t *plan_seg(del_plan_t *p, uint64_t first)
{
	for (size_t i = 0; i < p->nsegs; i++)
		if (p->segs[i].first == first)
			return &p->segs[i];
	p->segs = xrealloc(p->segs, (p->nsegs + 1) * sizeof *p->segs);
	del_seg_t *d = &p->segs[p->nsegs++];
	memset(d, 0, sizeof *d);
	d->first = first;
	return d;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Which arrivals go where; messages with an arrival in the active segment
 * are left whole (counted) unless the caller sealed it first. */
static store_status_t plan_messages(del_plan_t *p, store_cat_t *c, bool *need_seal)
{
	const store_delete_req_t *req = p->req;
	uint64_t active = atomic_load(&p->a->pub_active);
	uint64_t *ids = xcalloc(req->nmsgs + 1, sizeof *ids);
	if (req->nmsgs)
		memcpy(ids, req->msgs, req->nmsgs * sizeof *ids);
	qsort(ids, req->nmsgs, sizeof *ids, cmp_u64);
	store_status_t st = STORE_OK;
	*need_seal = false;
	for (size_t i = 0; i < req->nmsgs && st == STORE_OK; i++) {
		if (i && ids[i] == ids[i - 1])
			continue;
		store_cat_arr_t *arr = NULL;
		size_t narr = 0;
		st = store_cat_arrivals(c, ids[i], &arr, &narr);
		if (st == STORE_ENOTFOUND) {
			st = STORE_OK;
			continue;
		}
		bool in_active = false;
		for (size_t k = 0; k < narr; k++)
			in_active |= active && arr[k].segment == active;
		if (in_active) {
			*need_seal = true;
			p->res->skipped_active += narr;
		} else {
			for (size_t k = 0; k < narr; k++) {
				del_seg_t *d = plan_seg(p, arr[k].segment);
				if (d->nremove == d->cap) {
					d->cap = d->cap ? 2 * d->cap : 8;
					d->remove = xrealloc(d->remove, d->cap * sizeof *d->remove);
				}
				d->remove[d->nremove++] = arr[k];
			}
			p->removed = xrealloc(p->removed, (p->nremoved + 1) * sizeof *p->removed);
			p->removed[p->nremoved++] = ids[i];
		}
		free(arr);
	}
	free(ids);
	return st;
}

/* Counts what the plan removes into the result. */
static void plan_count(del_plan_t *p)
{
	store_delete_result_t *r = p->res;
	r->messages = p->nremoved;
	for (size_t i = 0; i < p->nsegs; i++) {
		del_seg_t *d = &p->segs[i];
		r->segments_deleted += d->whole;
		r->segments_compacted += !d->whole;
		for (size_t k = 0; k < d->nremove; k++) {
			const store_cat_arr_t *x = &d->remove[k];
			if (!r->arrivals || x->received < r->received_min)
				r->received_min = x->received;
			if (!r->arrivals || x->received > r->received_max)
				r->received_max = x->received;
			r->arrivals++;
			r->raw_bytes += x->size;
		}
	}
}

/* The last record seq of a sealed segment (its header, or its records). */
static store_status_t seg_last(store_segfile_t *f, uint64_t *last)
{
	if (f->packed) {
		*last = f->hdr.last_seq;
		return STORE_OK;
	}
	uint64_t off = STORE_SEG_HDR_SIZE, seq = 0;
	store_rec_hdr_t h;
	const char *why = NULL;
	store_rd_t rd;
	while ((rd = store_seg_read_hdr(f->fd, f->path, off, f->size, &h, &why)) == STORE_RD_OK) {
		seq = h.seq;
		off += h.length;
	}
	if (rd != STORE_RD_END || seq == 0)
		return STORE_ECORRUPT;
	*last = seq;
	return STORE_OK;
}

/* The chain link at seq `last`, from whatever follows it. */
static bool link_after(del_plan_t *p, uint64_t last, uint8_t out[STORE_HASH_BYTES])
{
	store_segfile_t f;
	if (store_segfile_open(p->s, p->a, last + 1, &f) == STORE_OK) {
		memcpy(out, f.hdr.prev_link, STORE_HASH_BYTES);
		store_segfile_close(&f);
		return true;
	}
	for (size_t i = 0; i < p->a->ngaps; i++)
		if (p->a->gaps[i].first == last + 1) {
			memcpy(out, p->a->gaps[i].prev_link, STORE_HASH_BYTES);
			return true;
		}
	store_head_t h;
	if (store_archive_head(p->s, p->a, &h) == STORE_OK && h.seq == last) {
		memcpy(out, h.link, STORE_HASH_BYTES);
		return true;
	}
	return false;
}

static store_status_t plan_whole(del_plan_t *p, del_seg_t *d)
{
	store_segfile_t f;
	store_status_t st = store_segfile_open(p->s, p->a, d->first, &f);
	if (st != STORE_OK)
		return st;
	store_del_seg_t *x = &d->info;
	x->first = d->first;
	memcpy(x->id, f.hdr.id, STORE_SEG_ID_BYTES);
	memcpy(x->prev_link, f.hdr.prev_link, STORE_HASH_BYTES);
	x->created = f.hdr.created;
	x->arrivals = d->total;
	st = seg_last(&f, &x->last);
	store_segfile_close(&f);
	if (st == STORE_OK && !link_after(p, x->last, x->end_link)) {
		log_error("store.delete", "archive=%s segment=%" PRIu64 " msg=%s", p->a->name,
		          d->first, "cannot tell the chain link after it");
		st = STORE_ECORRUPT;
	}
	if (st == STORE_OK) {
		char *path = store_archive_seg_path(p->a, d->first);
		st = store_file_hash(path, x->file_hash, &x->bytes);
		free(path);
	}
	return st;
}

static void elide_add(del_seg_t *d, uint64_t seq, int64_t now, uint8_t kind)
{
	if (d->nelide && d->elide[d->nelide - 1].last + 1 == seq) {
		d->elide[d->nelide - 1].last = seq;
		return;
	}
	d->elide = xrealloc(d->elide, (d->nelide + 1) * sizeof *d->elide);
	d->elide[d->nelide++] =
	    (store_elided_t){.first = seq, .last = seq, .time = now, .kind = kind};
}

static int cmp_arr(const void *x, const void *y)
{
	const store_cat_arr_t *a = x, *b = y;
	return a->record_seq < b->record_seq ? -1 : a->record_seq > b->record_seq;
}

static store_status_t plan_compact(del_plan_t *p, del_seg_t *d)
{
	qsort(d->remove, d->nremove, sizeof *d->remove, cmp_arr);
	for (size_t k = 0; k < d->nremove; k++)
		elide_add(d, d->remove[k].record_seq, p->now, (uint8_t)p->req->kind);
	char *path = store_archive_seg_path(p->a, d->first);
	uint8_t h[STORE_HASH_BYTES];
	uint64_t before;
	store_status_t st = store_file_hash(path, h, &before);
	free(path);
	if (st != STORE_OK)
		return st;
	/* Tombstones of the messages removed from this segment travel with it. */
	store_tomb_t *tb = xcalloc(p->ntombs + 1, sizeof *tb);
	size_t ntb = 0;
	for (size_t i = 0; i < p->ntombs; i++)
		for (size_t k = 0; k < d->nremove; k++)
			if (d->remove[k].msg_seq == p->tombs[i].msg_seq) {
				tb[ntb++] = p->tombs[i];
				break;
			}
	st = store_pack_segment(p->s, p->a, d->first, d->elide, d->nelide, tb, ntb, &d->pack);
	free(tb);
	if (st == STORE_EINVAL) {
		log_error("store.delete", "archive=%s segment=%" PRIu64 " msg=%s", p->a->name,
		          d->first, "segment is not sealed: cannot be compacted");
		return STORE_EINVAL;
	}
	if (st != STORE_OK)
		return st;
	store_segfile_t f;
	if (store_segfile_open(p->s, p->a, d->first, &f) == STORE_OK) {
		memcpy(d->cmp.old_id, f.hdr.id, STORE_SEG_ID_BYTES);
		store_segfile_close(&f);
	}
	d->cmp.first = d->first;
	d->cmp.last = d->pack.last_seq;
	memcpy(d->cmp.new_id, d->pack.id, STORE_SEG_ID_BYTES);
	memcpy(d->cmp.old_hash, h, STORE_HASH_BYTES);
	memcpy(d->cmp.new_hash, d->pack.hash, STORE_HASH_BYTES);
	d->cmp.bytes_before = before;
	d->cmp.bytes_after = d->pack.bytes;
	return STORE_OK;
}

static store_status_t plan_tombstones(del_plan_t *p, store_cat_t *c)
{
	const store_delete_req_t *req = p->req;
	p->tombs = xcalloc(req->ntombstones + 1, sizeof *p->tombs);
	for (size_t i = 0; i < req->ntombstones; i++) {
		const store_tombstone_t *t = &req->tombstones[i];
		store_cat_msg_t m;
		if (store_cat_msg(c, t->msg_seq, &m) != STORE_OK)
			continue;
		store_tomb_t *x = &p->tombs[p->ntombs++];
		x->msg_seq = t->msg_seq;
		memcpy(x->sha256, m.sha256, 32);
		x->reason = (char *)t->reason;
		x->requested_by = (char *)t->requested_by;
		x->approved_by = (char *)t->approved_by;
	}
	return STORE_OK;
}

/* ---- committing (in the writer thread) ---- */

static store_status_t commit_keys_pending(del_plan_t *p)
{
	store_archive_t *a = p->a;
	bool any = false;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < p->nsegs; i++) {
		del_seg_t *d = &p->segs[i];
		if (d->whole)
			continue;
		for (size_t k = 0; k < a->nsegs; k++)
			if (a->segs[k].first_seq == d->first) {
				store_seg_t *sg = &a->segs[k];
				sg->has_next = true;
				memcpy(sg->next_id, d->pack.id, STORE_SEG_ID_BYTES);
				sg->next_created = d->pack.created;
				memcpy(sg->next_wrapped, d->pack.wrapped, KEYS_WRAPPED_BYTES);
				sg->next_key = d->pack.key;
				any = true;
			}
	}
	pthread_mutex_unlock(&a->lock);
	return any ? store_archive_ks_save(a) : STORE_OK;
}

static void deletion_body(del_plan_t *p, buf_t *b)
{
	const store_delete_req_t *req = p->req;
	store_delete_result_t *r = p->res;
	uint8_t kind = (uint8_t)req->kind;
	store_tlv_put(b, SF_KIND, &kind, 1);
	store_tlv_put_str(b, SF_REASON, req->reason);
	store_tlv_put_str(b, SF_ACTOR, req->actor);
	for (size_t i = 0; i < p->nsegs; i++) {
		if (p->segs[i].whole)
			store_srec_put_delseg(b, &p->segs[i].info);
		else
			store_srec_put_delcmp(b, &p->segs[i].cmp);
	}
	buf_t ids = {0};
	for (size_t i = 0; i < p->nremoved; i++) {
		uint8_t x[8];
		store_put64(x, p->removed[i]);
		buf_append(&ids, x, 8);
	}
	store_tlv_put(b, SF_DEL_MSGS, ids.data, ids.len);
	buf_free(&ids);
	uint8_t c[24];
	store_put64(c, r->messages);
	store_put64(c + 8, r->arrivals);
	store_put64(c + 16, r->raw_bytes);
	store_tlv_put(b, SF_COUNTS, c, sizeof c);
	if (r->arrivals) {
		uint8_t t[16];
		store_put64(t, (uint64_t)r->received_min);
		store_put64(t + 8, (uint64_t)r->received_max);
		store_tlv_put(b, SF_RECEIVED, t, sizeof t);
	}
	for (size_t i = 0; i < p->ntombs; i++)
		store_srec_put_tomb(b, &p->tombs[i]);
	for (size_t i = 0; i < p->nsegs; i++)
		for (size_t k = 0; k < p->segs[i].nelide; k++)
			store_srec_put_elided(b, &p->segs[i].elide[k]);
	store_srec_put_gaps(b, p->gaps, p->ngaps);
}

static store_status_t commit_catalog(del_plan_t *p)
{
	store_cat_t *c = p->a->cat_w;
	store_status_t st = STORE_OK;
	for (size_t i = 0; i < p->nsegs && st == STORE_OK; i++) {
		del_seg_t *d = &p->segs[i];
		if (d->whole) {
			st = store_cat_seg_remove(c, d->first);
			continue;
		}
		for (size_t k = 0; k < d->nremove && st == STORE_OK; k++) {
			bool gone;
			st = store_cat_arrival_remove(c, d->remove[k].record_seq, &gone, NULL);
			if (st == STORE_ENOTFOUND)
				st = STORE_OK;
		}
	}
	if (st == STORE_OK)
		st = store_cat_gaps_set(c, p->gaps, p->ngaps);
	return st;
}

/* Step 4: the files and keys follow the durable record. */
static store_status_t commit_files(del_plan_t *p)
{
	store_archive_t *a = p->a;
	char q[LOG_Q_MAX];
	store_status_t st = STORE_OK;
	for (size_t i = 0; i < p->nsegs; i++) {
		del_seg_t *d = &p->segs[i];
		if (d->whole)
			continue;
		char *path = store_archive_seg_path(a, d->first);
		int e = util_fault("store.rename");
		if (e || rename(d->pack.path, path) != 0) {
			log_error("store.rename", "path=%s err=%s", log_q(q, sizeof q, path),
			          strerror(e ? e : errno));
			st = STORE_EIO;
		}
		free(path);
	}
	if (st == STORE_OK && util_fsync_dir(a->dir) != UTIL_OK)
		st = STORE_EIO;
	if (st != STORE_OK)
		return st; /* recovery finishes: the DELETION record is durable */
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < p->nsegs; i++) {
		del_seg_t *d = &p->segs[i];
		if (d->whole) {
			store_archive_seg_remove(a, d->first);
			continue;
		}
		for (size_t k = 0; k < a->nsegs; k++)
			if (a->segs[k].first_seq == d->first && a->segs[k].has_next) {
				store_seg_t *sg = &a->segs[k];
				memcpy(sg->id, sg->next_id, STORE_SEG_ID_BYTES);
				sg->created = sg->next_created;
				memcpy(sg->wrapped, sg->next_wrapped, KEYS_WRAPPED_BYTES);
				sg->key = sg->next_key;
				sg->has_next = false;
			}
	}
	pthread_mutex_unlock(&a->lock);
	st = store_archive_ks_save(a);
	for (size_t i = 0; i < p->nsegs && st == STORE_OK; i++) {
		if (!p->segs[i].whole)
			continue;
		char *path = store_archive_seg_path(a, p->segs[i].first);
		int e = util_fault("store.unlink");
		if (e || (unlink(path) != 0 && errno != ENOENT)) {
			log_error("store.unlink", "path=%s err=%s", log_q(q, sizeof q, path),
			          strerror(e ? e : errno));
			st = STORE_EIO;
		}
		free(path);
	}
	if (st == STORE_OK && util_fsync_dir(a->dir) != UTIL_OK)
		st = STORE_EIO;
	return st;
}

static store_status_t del_commit(store_t *s, void *arg)
{
	del_plan_t *p = arg;
	store_archive_t *a = p->a;
	store_status_t st = commit_keys_pending(p);
	if (st != STORE_OK) {
		store_wr_fail(s, st);
		return st;
	}
	buf_t body = {0};
	deletion_body(p, &body);
	st = store_wr_signed(s, a, STORE_REC_DELETION, &body, &p->res->record_seq);
	buf_free(&body);
	if (st == STORE_OK && (st = commit_catalog(p)) != STORE_OK)
		store_wr_fail(s, st);
	if (st == STORE_OK)
		st = store_wr_sync(s);
	if (st != STORE_OK)
		return st;
	free(a->gaps);
	a->gaps = p->gaps;
	a->ngaps = p->ngaps;
	p->gaps = NULL;
	st = commit_files(p);
	if (st != STORE_OK)
		store_wr_fail(s, st); /* the record is durable: recovery finishes */
	store_archive_count_bytes(a);
	store_archive_metrics_update(a);
	log_info("store.deleted",
	         "archive=%s seq=%" PRIu64 " kind=%d messages=%" PRIu64 " arrivals=%" PRIu64
	         " segments_deleted=%" PRIu64 " segments_compacted=%" PRIu64,
	         a->name, p->res->record_seq, (int)p->req->kind, p->res->messages, p->res->arrivals,
	         p->res->segments_deleted, p->res->segments_compacted);
	return st;
}

static void plan_free(del_plan_t *p)
{
	for (size_t i = 0; i < p->nsegs; i++) {
		del_seg_t *d = &p->segs[i];
		free(d->remove);
		free(d->elide);
		if (d->pack.path) {
			unlink(d->pack.path); /* only left when the commit did not happen */
			free(d->pack.path);
		}
	}
	free(p->segs);
	free(p->tombs);
	free(p->gaps);
}

static store_status_t plan_segments(del_plan_t *p, store_cat_t *c)
{
	store_status_t st = STORE_OK;
	for (size_t i = 0; i < p->nsegs && st == STORE_OK; i++) {
		store_cat_arr_t *all = NULL;
		st = store_cat_seg_arrivals(c, p->segs[i].first, &all, &p->segs[i].total);
		free(all);
		p->segs[i].whole = p->segs[i].nremove == p->segs[i].total;
	}
	return st;
}

static store_status_t plan_gaps(del_plan_t *p)
{
	p->gaps = xcalloc(p->a->ngaps + 1, sizeof *p->gaps);
	if (p->a->ngaps)
		memcpy(p->gaps, p->a->gaps, p->a->ngaps * sizeof *p->gaps);
	p->ngaps = p->a->ngaps;
	for (size_t i = 0; i < p->nsegs; i++) {
		if (!p->segs[i].whole)
			continue;
		const store_del_seg_t *x = &p->segs[i].info;
		store_gap_t g = {.first = x->first, .last = x->last};
		memcpy(g.prev_link, x->prev_link, 32);
		memcpy(g.end_link, x->end_link, 32);
		store_gaps_add(&p->gaps, &p->ngaps, &g);
	}
	return STORE_OK;
}

/* Plans from the catalog: which arrivals, segments, tombstones. */
static store_status_t plan_all(del_plan_t *p, bool *need_seal)
{
	store_cat_t *c = reader_cat(p->a);
	if (!c)
		return STORE_EIO;
	store_status_t st = plan_messages(p, c, need_seal);
	if (st == STORE_OK)
		st = plan_segments(p, c);
	if (st == STORE_OK)
		st = plan_tombstones(p, c);
	pthread_mutex_unlock(&p->a->cat_r_lock);
	return st;
}

static void plan_reset(del_plan_t *p)
{
	plan_free(p);
	free(p->removed);
	*p = (del_plan_t){.s = p->s, .a = p->a, .req = p->req, .res = p->res, .now = p->now};
	memset(p->res, 0, sizeof *p->res);
}

store_status_t store_delete(store_t *s, const char *archive, const store_delete_req_t *req,
                            store_delete_result_t *out)
{
	memset(out, 0, sizeof *out);
	if (!req || (req->kind != STORE_DEL_RETENTION && req->kind != STORE_DEL_PURGE) ||
	    (req->nmsgs && !req->msgs) || req->nmsgs > STORE_SIGNED_LIST_MAX ||
	    (req->ntombstones && !req->tombstones))
		return STORE_EINVAL;
	if (s->readonly)
		return STORE_EREADONLY;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a || a->is_log)
		return STORE_ENOTFOUND;
	pthread_mutex_lock(&a->maint);
	del_plan_t p = {.s = s, .a = a, .req = req, .res = out, .now = util_now()};
	bool need_seal = false;
	store_status_t st = plan_all(&p, &need_seal);
	if (st == STORE_OK && need_seal && req->seal_active && !req->dry_run) {
		/* A purge cannot wait for the active segment to age: seal it,
		 * then plan again with it sealed. */
		st = store_seal(s, archive);
		plan_reset(&p);
		if (st == STORE_OK)
			st = plan_all(&p, &need_seal);
	}
	for (size_t i = 0; i < p.nsegs && st == STORE_OK; i++)
		if (p.segs[i].whole)
			st = plan_whole(&p, &p.segs[i]);
	if (st == STORE_OK)
		plan_count(&p);
	for (size_t i = 0; i < p.nsegs && st == STORE_OK && !req->dry_run; i++)
		if (!p.segs[i].whole)
			st = plan_compact(&p, &p.segs[i]);
	if (st == STORE_OK)
		st = plan_gaps(&p);
	for (size_t i = 0; i < p.nsegs && st == STORE_OK; i++)
		out->bytes_freed += p.segs[i].whole
		                        ? p.segs[i].info.bytes
		                        : p.segs[i].cmp.bytes_before - p.segs[i].cmp.bytes_after;
	if (st == STORE_OK && !req->dry_run && p.nsegs > 0) {
		st = store_writer_call(s, del_commit, &p);
		for (size_t i = 0; i < p.nsegs; i++)
			if (st == STORE_OK || out->record_seq) {
				/* renamed, or left for recovery to finish */
				free(p.segs[i].pack.path);
				p.segs[i].pack.path = NULL;
			}
	}
	out->removed = p.removed;
	out->nremoved = p.nremoved;
	p.removed = NULL;
	plan_free(&p);
	pthread_mutex_unlock(&a->maint);
	if (st != STORE_OK) {
		free(out->removed);
		out->removed = NULL;
		out->nremoved = 0;
	}
	return st;
}

/* ---- recovery ---- */

static const store_del_cmp_t *find_cmp(const store_srec_t *dels, size_t n, uint64_t first,
                                       const uint8_t *id)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < dels[i].ndcmps; k++)
			if (dels[i].dcmps[k].first == first &&
			    !memcmp(dels[i].dcmps[k].new_id, id, STORE_SEG_ID_BYTES))
				return &dels[i].dcmps[k];
	return NULL;
}

static bool peek_id(const char *path, uint8_t id[STORE_SEG_ID_BYTES])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	uint8_t hb[STORE_SEG_HDR_SIZE];
	size_t got = 0;
	bool ok = util_read_all(fd, hb, sizeof hb, &got) == UTIL_OK && got == sizeof hb;
	close(fd);
	if (ok)
		store_seg_hdr_peek_id(hb, id);
	return ok;
}

/* Finishes or undoes the compactions with a ".new" file. */
static bool recover_new_files(store_archive_t *a, const store_srec_t *dels, size_t n)
{
	char q[LOG_Q_MAX];
	bool changed = false;
	DIR *d = opendir(a->dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		uint64_t first;
		if (len != 28 || strcmp(de->d_name + 24, ".new") != 0)
			continue;
		char name[25];
		memcpy(name, de->d_name, 24);
		name[24] = 0;
		if (!store_seg_name_parse(name, &first))
			continue;
		char *np = util_path_join(a->dir, de->d_name), *sp = util_path_join(a->dir, name);
		uint8_t id[STORE_SEG_ID_BYTES];
		if (peek_id(np, id) && find_cmp(dels, n, first, id)) {
			log_warn("store.recover.compaction", "path=%s action=%s",
			         log_q(q, sizeof q, sp), "finished");
			if (rename(np, sp) != 0)
				log_error("store.rename", "path=%s err=%s", log_q(q, sizeof q, sp),
				          strerror(errno));
		} else {
			log_warn("store.recover.compaction", "path=%s action=%s",
			         log_q(q, sizeof q, np), "undone (no deletion record)");
			unlink(np);
		}
		changed = true;
		free(np);
		free(sp);
	}
	if (d)
		closedir(d);
	return changed;
}

/* Keeps, for each segment, only the key the file on disk carries; drops the
 * keys and files of segments a durable DELETION removed. */
static bool recover_keys(store_archive_t *a, const store_srec_t *dels, size_t n)
{
	char q[LOG_Q_MAX];
	bool changed = false;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nsegs; i++) {
		store_seg_t *sg = &a->segs[i];
		if (!sg->has_next)
			continue;
		char *path = store_archive_seg_path(a, sg->first_seq);
		uint8_t id[STORE_SEG_ID_BYTES];
		if (peek_id(path, id) && !memcmp(id, sg->next_id, STORE_SEG_ID_BYTES)) {
			memcpy(sg->id, sg->next_id, STORE_SEG_ID_BYTES);
			sg->created = sg->next_created;
			memcpy(sg->wrapped, sg->next_wrapped, KEYS_WRAPPED_BYTES);
			sg->key = sg->next_key;
		}
		sg->has_next = false;
		changed = true;
		free(path);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < dels[i].ndsegs; k++) {
			const store_del_seg_t *x = &dels[i].dsegs[k];
			char *path = store_archive_seg_path(a, x->first);
			uint8_t id[STORE_SEG_ID_BYTES];
			if (peek_id(path, id) && !memcmp(id, x->id, STORE_SEG_ID_BYTES)) {
				log_warn("store.recover.deletion", "path=%s action=%s",
				         log_q(q, sizeof q, path), "finished");
				unlink(path);
				changed = true;
			}
			free(path);
			for (size_t j = 0; j < a->nsegs; j++)
				if (a->segs[j].first_seq == x->first &&
				    !memcmp(a->segs[j].id, x->id, STORE_SEG_ID_BYTES)) {
					store_archive_seg_remove(a, x->first);
					changed = true;
					break;
				}
		}
	pthread_mutex_unlock(&a->lock);
	return changed;
}

store_status_t store_delete_recover(store_t *s, store_archive_t *a, const store_srec_t *dels,
                                    size_t ndels)
{
	(void)s;
	bool changed = recover_new_files(a, dels, ndels);
	changed |= recover_keys(a, dels, ndels);
	if (!changed)
		return STORE_OK;
	store_status_t st = store_archive_ks_save(a);
	if (st == STORE_OK && util_fsync_dir(a->dir) != UTIL_OK)
		st = STORE_EIO;
	return st;
}
