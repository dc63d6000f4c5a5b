/* store_writer.c — the one writer thread that does every segment write.
 *
 * Does: take whatever jobs are queued as one batch, write each record to
 * every target archive's active segment (encrypting with the segment key,
 * extending the chain), then make the batch durable with one fdatasync per
 * touched segment, one catalog transaction and one head write + fdatasync
 * per touched archive — and only then deliver completions.  Seals a segment
 * at segment_max or segment_max_age with a signed SEAL record (then hands it
 * to the packer), signs an hourly CHECKPOINT, copies the chunks of streamed
 * messages still arriving out of a segment being sealed (a message's
 * records always share one segment), stores a message whose content the
 * active segment already holds only once, and runs maintenance functions
 * (deletions) between batches.  Fails closed on the first write or fsync
 * error: nothing is retried, every later append gets EFAILED, reads go on.
 * Does not: take appends (store_append.c), pack (store_pack.c) or decide
 * what to delete (store_delete.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_job.h"
#include "vellum/log.h"

/* Default cap on bytes held for appends not yet durable (store_opts_t). */
#define STORE_INFLIGHT_DEFAULT (UINT64_C(256) << 20)

typedef struct store_batch {
	store_archive_t **dirty;
	size_t ndirty, capdirty;
	store_archive_t **packs; /* segments sealed in this batch: pack when durable */
	uint64_t *pack_first;
	size_t npacks;
	store_status_t st; /* first failure in this batch */
} batch_t;

static void fail_closed(store_t *s, batch_t *b, store_status_t st)
{
	if (!b->st)
		b->st = st;
	if (!atomic_exchange(&s->failed, true))
		log_error("store.failed_closed", "msg=%s",
		          "a write or fsync failed: refusing every append until restart");
}

static store_status_t mark_dirty(store_archive_t *a, batch_t *b)
{
	if (a->dirty)
		return STORE_OK;
	if (b->ndirty == b->capdirty) {
		b->capdirty = b->capdirty ? 2 * b->capdirty : 8;
		b->dirty = xrealloc(b->dirty, b->capdirty * sizeof *b->dirty);
	}
	b->dirty[b->ndirty++] = a;
	a->dirty = true;
	return store_cat_begin(a->cat_w);
}

static bool aged(store_t *s, const store_archive_t *a)
{
	const util_duration_t *age = &s->segment_max_age;
	if (age->forever || (age->seconds == 0 && age->months == 0))
		return false;
	return util_now() >= util_duration_add(a->active_created, age);
}

/* Only a segment holding records is sealed (a fresh one takes its first). */
static bool needs_seal(store_t *s, const store_archive_t *a)
{
	return a->active_size > STORE_SEG_HDR_SIZE &&
	       (a->active_size >= s->segment_max || aged(s, a));
}

static const uint8_t *active_key(store_t *s, store_archive_t *a)
{
	store_seg_t sg;
	store_archive_seg_for(s, a, a->active_first, &sg);
	return sg.key;
}

static double secs_since(int64_t t0)
{
	return (double)(util_monotonic_us() - t0) / 1e6;
}

/* Writes one record at the end of the active segment. */
static store_status_t wr_record(store_t *s, store_archive_t *a, batch_t *b, uint8_t type,
                                uint16_t flags, const void *stored, size_t stored_len,
                                size_t plain_len, const uint8_t phash[STORE_HASH_BYTES],
                                store_ref_t *ref)
{
	store_status_t st = mark_dirty(a, b);
	if (st != STORE_OK)
		return st;
	buf_reset(&s->wbuf);
	store_rec_seal(active_key(s, a), type, a->next_seq, flags, stored, stored_len, plain_len,
	               &s->wbuf);
	size_t done = 0;
	while (done < s->wbuf.len) {
		int e = util_fault("store.write");
		ssize_t w = e ? -1
		              : pwrite(a->active_fd, s->wbuf.data + done, s->wbuf.len - done,
		                       (off_t)(a->active_size + done));
		if (e)
			errno = e;
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("store.write",
			          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " err=%s",
			          a->name, a->active_first, a->active_size,
			          w < 0 ? strerror(errno) : "no progress");
			return STORE_EIO;
		}
		done += (size_t)w;
	}
	store_chain_next(a->link, a->next_seq, type, phash);
	ref->seq = a->next_seq++;
	ref->offset = a->active_size;
	a->active_size += s->wbuf.len;
	a->last_seg = a->active_first;
	a->last_end = a->active_size;
	atomic_fetch_add(&a->bytes, s->wbuf.len);
	return STORE_OK;
}

/* Fields every signed record carries besides its own. */
static void signed_common(store_t *s, store_archive_t *a, buf_t *body)
{
	store_tlv_put64(body, SF_TIME, (uint64_t)util_now());
	store_tlv_put_str(body, SF_ARCHIVE, a->name);
	store_tlv_put64(body, SF_MSG_SEQ_MAX, a->next_msg_seq - 1);
	(void)s;
}

/* Signs body (fields already there) as record a->next_seq and writes it. */
static store_status_t wr_signed(store_t *s, store_archive_t *a, batch_t *b, uint8_t type,
                                buf_t *body, uint64_t *seq)
{
	if (!s->sign_sk) {
		log_error("store.sign", "archive=%s msg=%s", a->name, "no signing key loaded");
		return STORE_EKEY;
	}
	store_sign_append(s->sign_sk, s->sign_pk, a->name, a->next_seq, type, a->link, body);
	uint8_t ph[STORE_HASH_BYTES];
	store_payload_hash(body->data, body->len, ph);
	buf_t z = {0};
	uint16_t flags;
	void *cc = store_cctx_get(s);
	store_payload_compress_cctx(cc, body->data, body->len, &z, &flags);
	store_cctx_put(s, cc);
	store_ref_t ref;
	store_status_t st = wr_record(s, a, b, type, flags, z.data, z.len, body->len, ph, &ref);
	buf_free(&z);
	if (st == STORE_OK) {
		a->last_signed_seq = ref.seq;
		a->last_signed_time = util_now();
		if (seq)
			*seq = ref.seq;
	}
	return st;
}

static store_status_t wr_checkpoint(store_t *s, store_archive_t *a, batch_t *b)
{
	buf_t body = {0};
	signed_common(s, a, &body);
	store_tlv_put64(&body, SF_HEAD, a->next_seq - 1);
	if (a->quarantine_pending) {
		store_tlv_put64(&body, SF_Q_SEGMENT, a->q_segment);
		store_tlv_put64(&body, SF_Q_OFFSET, a->q_offset);
		store_tlv_put64(&body, SF_Q_SEQ, a->q_seq);
		store_tlv_put_str(&body, SF_Q_REASON, a->q_reason);
	}
	store_status_t st = wr_signed(s, a, b, STORE_REC_CHECKPOINT, &body, NULL);
	buf_free(&body);
	if (st == STORE_OK && a->quarantine_pending) {
		a->quarantine_pending = false;
		log_warn("store.quarantine_resumed",
		         "archive=%s quarantined_segment=%" PRIu64 " resumed_at=%" PRIu64, a->name,
		         a->q_segment, a->active_first);
	}
	return st;
}

/* A new active segment; the first record after a quarantine is a signed
 * checkpoint naming the damage, so verify can tell it from tampering. */
static store_status_t open_segment(store_t *s, store_archive_t *a, batch_t *b)
{
	store_status_t st = mark_dirty(a, b);
	if (st == STORE_OK)
		st = store_archive_seg_new(s, a);
	if (st == STORE_OK && a->quarantine_pending)
		st = wr_checkpoint(s, a, b);
	return st;
}

/* Copies a chunk written into the segment just sealed into the active one. */
static store_status_t copy_chunk(store_t *s, store_archive_t *a, batch_t *b, int fd, wref_t *r)
{
	store_seg_t sg;
	store_rec_hdr_t h;
	const char *why = "no key";
	char *path = store_archive_seg_path(a, r->seg);
	store_status_t st = store_archive_seg_for(s, a, r->seg, &sg);
	if (st == STORE_OK) {
		store_rd_t rd =
		    store_seg_read_rec(fd, path, r->off, UINT64_MAX, &s->wbuf, &h, &why);
		st = rd == STORE_RD_OK ? store_rec_open_stored(sg.key, s->wbuf.data, s->wbuf.len,
		                                               &h, &s->wbuf2, &why)
		                       : STORE_EIO;
	}
	free(path);
	if (st != STORE_OK) {
		log_error("store.copy_chunk",
		          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " msg=%s", a->name,
		          r->seg, r->off, why ? why : "read failed");
		return STORE_EIO;
	}
	store_ref_t ref;
	st = wr_record(s, a, b, STORE_REC_CHUNK, h.flags, s->wbuf2.data, s->wbuf2.len, h.plain_len,
	               r->phash, &ref);
	if (st == STORE_OK) {
		r->seg = a->active_first;
		r->seq = ref.seq;
		r->off = ref.offset;
	}
	return st;
}

static bool live_in(const store_append_t *ap, const store_archive_t *a, uint64_t seg)
{
	for (size_t i = 0; i < ap->ntargets; i++)
		if (ap->t[i].a == a && ap->t[i].n && ap->t[i].refs[0].seg == seg)
			return true;
	return false;
}

/* Moves the chunks of streamed messages still arriving out of the segment
 * just sealed (sealed_fd), so that no segment depends on another and the
 * packer may drop every chunk no envelope of the sealed segment names. */
static store_status_t move_live(store_t *s, store_archive_t *a, batch_t *b, uint64_t sealed)
{
	bool any = false;
	for (store_append_t *ap = s->live; ap && !any; ap = ap->live_next)
		any = live_in(ap, a, sealed);
	if (!any)
		return STORE_OK;
	store_status_t st = open_segment(s, a, b);
	for (store_append_t *ap = s->live; ap && st == STORE_OK; ap = ap->live_next)
		for (size_t i = 0; i < ap->ntargets && st == STORE_OK; i++) {
			append_target_t *t = &ap->t[i];
			if (t->a != a)
				continue;
			for (size_t k = 0; k < t->n && st == STORE_OK; k++)
				if (t->refs[k].seg == sealed)
					st = copy_chunk(s, a, b, a->sealed_fd, &t->refs[k]);
		}
	return st;
}

static store_status_t seal_active(store_t *s, store_archive_t *a, batch_t *b)
{
	store_seg_t sg;
	store_archive_seg_for(s, a, a->active_first, &sg);
	buf_t body = {0};
	signed_common(s, a, &body);
	store_tlv_put64(&body, SF_SEGMENT, a->active_first);
	store_tlv_put(&body, SF_SEGMENT_ID, sg.id, STORE_SEG_ID_BYTES);
	store_tlv_put64(&body, SF_CREATED, (uint64_t)a->active_created);
	store_cat_segstat_t ss;
	store_status_t st = store_cat_segstat(a->cat_w, a->active_first, &ss);
	if (st == STORE_OK)
		st = store_cat_seg_sealed(a->cat_w, a->active_first);
	if (st != STORE_OK) {
		buf_free(&body);
		return st;
	}
	if (ss.arrivals) {
		uint8_t r[16];
		store_put64(r, (uint64_t)ss.rmin);
		store_put64(r + 8, (uint64_t)ss.rmax);
		store_tlv_put(&body, SF_RECEIVED, r, sizeof r);
	}
	uint8_t c[24];
	store_put64(c, ss.messages);
	store_put64(c + 8, ss.arrivals);
	store_put64(c + 16, ss.raw_bytes);
	store_tlv_put(&body, SF_COUNTS, c, sizeof c);
	st = wr_signed(s, a, b, STORE_REC_SEAL, &body, NULL);
	buf_free(&body);
	if (st != STORE_OK)
		return st;
	if (a->sealed_fd >= 0) {
		/* Two seals in one batch: the older one is complete now. */
		int e = util_fault("store.fsync");
		if (e || fdatasync(a->sealed_fd) != 0) {
			log_error("store.fsync", "archive=%s file=sealed err=%s", a->name,
			          strerror(e ? e : errno));
			return STORE_EIO;
		}
		close(a->sealed_fd);
	}
	a->sealed_fd = a->active_fd;
	a->sealed_first = a->active_first;
	a->active_fd = -1;
	atomic_store(&a->pub_active, 0);
	b->packs = xrealloc(b->packs, (b->npacks + 1) * sizeof *b->packs);
	b->pack_first = xrealloc(b->pack_first, (b->npacks + 1) * sizeof *b->pack_first);
	b->packs[b->npacks] = a;
	b->pack_first[b->npacks++] = a->active_first;
	log_info("store.segment_sealed", "archive=%s first_seq=%" PRIu64 " last_seq=%" PRIu64,
	         a->name, a->active_first, a->next_seq - 1);
	return move_live(s, a, b, a->sealed_first);
}

static store_status_t ensure_segment(store_t *s, store_archive_t *a, batch_t *b)
{
	if (a->active_fd >= 0 && !needs_seal(s, a))
		return STORE_OK;
	store_status_t st = mark_dirty(a, b);
	if (st == STORE_OK && a->active_fd >= 0)
		st = seal_active(s, a, b);
	if (st == STORE_OK && a->active_fd < 0)
		st = open_segment(s, a, b);
	return st;
}

static void live_add(store_t *s, store_append_t *ap)
{
	if (ap->live)
		return;
	ap->live = true;
	ap->live_next = s->live;
	s->live = ap;
}

static void live_remove(store_t *s, store_append_t *ap)
{
	if (!ap->live)
		return;
	for (store_append_t **p = &s->live; *p; p = &(*p)->live_next)
		if (*p == ap) {
			*p = ap->live_next;
			break;
		}
	ap->live = false;
}

static void add_ref(append_target_t *t, uint64_t seg, const store_ref_t *ref, const uint8_t *ph)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->refs = xrealloc(t->refs, t->cap * sizeof *t->refs);
	}
	wref_t *r = &t->refs[t->n++];
	r->seg = seg;
	r->seq = ref->seq;
	r->off = ref->offset;
	memcpy(r->phash, ph, STORE_HASH_BYTES);
}

static void process_chunk(store_t *s, store_job_t *j, batch_t *b)
{
	store_append_t *ap = j->ap;
	live_add(s, ap);
	for (size_t i = 0; i < ap->ntargets && !b->st; i++) {
		append_target_t *t = &ap->t[i];
		if (atomic_load(&t->a->deleted))
			continue; /* the archive went while the message arrived: its commit fails */
		store_ref_t ref;
		store_status_t st = ensure_segment(s, t->a, b);
		if (st == STORE_OK)
			st = wr_record(s, t->a, b, STORE_REC_CHUNK, j->flags, j->payload.data,
			               j->payload.len, j->plain_len, j->phash, &ref);
		if (st != STORE_OK) {
			fail_closed(s, b, st);
			return;
		}
		add_ref(t, t->a->active_first, &ref, j->phash);
	}
}

/* The content references of a commit in one archive. */
static store_status_t commit_content(store_t *s, store_job_t *j, append_target_t *t, batch_t *b,
                                     store_ref_t **refs, size_t *nrefs)
{
	store_archive_t *a = t->a;
	store_append_t *ap = j->ap;
	store_status_t st = ensure_segment(s, a, b);
	if (st != STORE_OK)
		return st;
	/* Stored once per segment: an identical message already in the active
	 * segment is referenced, not written again.  A streamed one's chunks
	 * were written as they arrived; they stay unreferenced and the packer
	 * drops them when the segment is sealed. */
	st = store_cat_content_find(a->cat_w, ap->sha256, a->active_first, refs, nrefs);
	if (st != STORE_ENOTFOUND)
		return st;
	st = STORE_OK;
	if (ap->nchunks == 0) {
		*refs = xcalloc(1, sizeof **refs);
		*nrefs = 1;
		return wr_record(s, a, b, STORE_REC_CONTENT, j->flags, j->payload.data,
		                 j->payload.len, j->plain_len, j->phash, *refs);
	}
	for (size_t k = 0; k < t->n && st == STORE_OK; k++)
		if (t->refs[k].seg != a->active_first)
			st = STORE_EIO; /* cannot happen: seal_active moves them */
	if (st == STORE_OK && j->has_payload) {
		store_ref_t ref;
		st = wr_record(s, a, b, STORE_REC_CHUNK, j->flags, j->payload.data, j->payload.len,
		               j->plain_len, j->phash, &ref);
		if (st == STORE_OK)
			add_ref(t, a->active_first, &ref, j->phash);
	}
	if (st != STORE_OK) {
		if (st == STORE_EIO)
			log_error("store.commit", "archive=%s msg=%s", a->name,
			          "chunks of a streamed message are not in the active segment");
		return st;
	}
	if (t->n != ap->nchunks + (j->has_payload ? 1 : 0))
		return STORE_EIO; /* a chunk was lost to a failure in an earlier batch */
	*nrefs = t->n;
	*refs = xcalloc(t->n, sizeof **refs);
	for (size_t k = 0; k < t->n; k++)
		(*refs)[k] = (store_ref_t){t->refs[k].seq, t->refs[k].off};
	return STORE_OK;
}

static store_status_t commit_one(store_t *s, store_job_t *j, size_t i, batch_t *b)
{
	store_append_t *ap = j->ap;
	append_target_t *t = &ap->t[i];
	store_archive_t *a = t->a;
	store_ref_t *refs = NULL;
	size_t nrefs = 0;
	store_status_t st = commit_content(s, j, t, b, &refs, &nrefs);
	uint64_t msg = 0;
	bool dup = false;
	if (st == STORE_OK) {
		st = store_cat_msg_by_sha(a->cat_w, ap->sha256, &msg);
		dup = st == STORE_OK;
		if (st == STORE_ENOTFOUND) {
			msg = a->next_msg_seq++;
			st = STORE_OK;
		}
	}
	if (st == STORE_OK) {
		buf_t env = {0}, z = {0};
		buf_append(&env, ap->env.data, ap->env.len);
		store_env_encode_tail(&env, msg, ap->sha256, ap->size, a->name, dup, refs, nrefs);
		uint16_t flags;
		uint8_t ph[STORE_HASH_BYTES];
		store_payload_hash(env.data, env.len, ph);
		void *cc = store_cctx_get(s);
		store_payload_compress_cctx(cc, env.data, env.len, &z, &flags);
		store_cctx_put(s, cc);
		store_ref_t er;
		st = wr_record(s, a, b, STORE_REC_ENVELOPE, flags, z.data, z.len, env.len, ph, &er);
		buf_free(&env);
		buf_free(&z);
		if (st == STORE_OK) {
			store_env_rec_t e = {
			    .msg_seq = msg, .size = ap->size, .refs = refs, .nrefs = nrefs};
			memcpy(e.sha256, ap->sha256, 32);
			e.arr.received = ap->received;
			st = store_cat_add(a->cat_w, &e, er.seq, a->active_first, er.offset);
		}
	}
	free(refs);
	store_id_t *id = &j->comp->ids[i];
	id->seq = st == STORE_OK ? msg : 0;
	id->duplicate = dup;
	return st;
}

static void build_completion(store_job_t *j)
{
	store_append_t *ap = j->ap;
	store_completion_t *c = &((qnode_t *)xcalloc(1, sizeof(qnode_t)))->c;
	c->cookie = j->cookie;
	memcpy(c->sha256, ap->sha256, 32);
	c->size = ap->size;
	c->nids = ap->ntargets;
	c->ids = xcalloc(ap->ntargets, sizeof *c->ids);
	for (size_t i = 0; i < ap->ntargets; i++)
		snprintf(c->ids[i].archive, sizeof c->ids[i].archive, "%s", ap->t[i].a->name);
	j->comp = c;
}

static void process_commit(store_t *s, store_job_t *j, batch_t *b)
{
	store_append_t *ap = j->ap;
	build_completion(j);
	if (j->st)
		return;
	if (atomic_load(&s->failed)) {
		j->st = STORE_EFAILED;
		return;
	}
	for (size_t i = 0; i < ap->ntargets && !j->st; i++) {
		store_archive_t *a = ap->t[i].a;
		if (atomic_load(&a->deleted)) {
			j->st = STORE_ENOTFOUND;
			break;
		}
		store_status_t st = commit_one(s, j, i, b);
		if (st != STORE_OK) {
			j->st = st;
			fail_closed(s, b, st);
		}
	}
}

static void process_log(store_t *s, store_job_t *j, batch_t *b)
{
	if (atomic_load(&s->failed)) {
		j->st = STORE_EFAILED;
		return;
	}
	store_ref_t ref;
	store_status_t st = ensure_segment(s, j->log, b);
	if (st == STORE_OK)
		st = wr_record(s, j->log, b, STORE_REC_LOG, j->flags, j->payload.data,
		               j->payload.len, j->plain_len, j->phash, &ref);
	if (st == STORE_OK)
		j->log_seq = ref.seq;
	else
		fail_closed(s, b, st);
	j->st = st;
}

static store_status_t timed_fsync(store_t *s, store_archive_t *a, int fd, const char *what)
{
	int64_t t0 = util_monotonic_us();
	int e = util_fault("store.fsync");
	if (e || fdatasync(fd) != 0) {
		log_error("store.fsync", "archive=%s file=%s err=%s", a->name, what,
		          strerror(e ? e : errno));
		return STORE_EIO;
	}
	metric_observe(s->m_fsync, secs_since(t0));
	return STORE_OK;
}

/* Makes one archive's part of the batch durable and visible: segments
 * fsync'd, catalog committed, head written.  The head's own fdatasync is
 * done by the head syncer thread while the writer goes on: acknowledged
 * records are durable by then already, and a head is written only after
 * the records it names, so it never claims one that is not durable; after a
 * crash it is at most a batch behind and recovery advances it over the
 * durable records.  So an append waits for one fsync, not two, and the
 * head's overlaps the next batch's. */
static store_status_t sync_archive(store_t *s, store_archive_t *a)
{
	store_status_t st = STORE_OK;
	if (a->sealed_fd >= 0) {
		if ((st = timed_fsync(s, a, a->sealed_fd, "sealed")) != STORE_OK)
			return st;
		close(a->sealed_fd);
		a->sealed_fd = -1;
	}
	if (a->active_fd >= 0 && (st = timed_fsync(s, a, a->active_fd, "segment")) != STORE_OK)
		return st;
	store_head_t h = {.seq = a->next_seq - 1, .segment = a->last_seg, .end = a->last_end};
	memcpy(h.link, a->link, sizeof h.link);
	/* The catalog goes first (its rows name only records just made durable),
	 * so a reader that sees the new head — in this process or, through the
	 * head file, the indexer — always finds its messages in the catalog. */
	st = store_cat_set_last_seq(a->cat_w, h.seq);
	if (st == STORE_OK)
		st = store_cat_note_msg_seq(a->cat_w, a->next_msg_seq - 1);
	if (st == STORE_OK)
		st = store_cat_commit(a->cat_w);
	if (st == STORE_OK)
		st = store_archive_head_put(a, &h);
	if (st == STORE_OK) {
		pthread_mutex_lock(&a->lock);
		a->head = h;
		pthread_mutex_unlock(&a->lock);
	}
	return st;
}

static void head_queue(store_t *s, store_archive_t *a)
{
	pthread_mutex_lock(&s->hlock);
	if (!a->head_queued) {
		if (s->nhq == s->caphq) {
			s->caphq = s->caphq ? 2 * s->caphq : 8;
			s->hq = xrealloc(s->hq, s->caphq * sizeof *s->hq);
		}
		s->hq[s->nhq++] = a;
		a->head_queued = true;
		pthread_cond_signal(&s->hcond);
	}
	pthread_mutex_unlock(&s->hlock);
}

/* Waits until every head written so far is fsync'd (maintenance needs the
 * whole state durable before it removes files). */
static void head_drain(store_t *s)
{
	pthread_mutex_lock(&s->hlock);
	while ((s->nhq || s->hbusy) && s->hsync_running)
		pthread_cond_wait(&s->hidle, &s->hlock);
	pthread_mutex_unlock(&s->hlock);
}

static void *hsync_main(void *arg)
{
	store_t *s = arg;
	pthread_mutex_lock(&s->hlock);
	for (;;) {
		while (!s->nhq && !s->hstop) {
			pthread_cond_broadcast(&s->hidle);
			pthread_cond_wait(&s->hcond, &s->hlock);
		}
		if (!s->nhq)
			break;
		store_archive_t *a = s->hq[--s->nhq];
		a->head_queued = false; /* a newer head write queues it again */
		s->hbusy = true;
		pthread_mutex_unlock(&s->hlock);
		int64_t t0 = util_monotonic_us();
		if (store_archive_head_sync(a) != STORE_OK) {
			if (!atomic_exchange(&s->failed, true))
				log_error(
				    "store.failed_closed", "msg=%s",
				    "a head fsync failed: refusing every append until restart");
		} else {
			metric_observe(s->m_fsync, secs_since(t0));
		}
		pthread_mutex_lock(&s->hlock);
		s->hbusy = false;
	}
	pthread_cond_broadcast(&s->hidle);
	pthread_mutex_unlock(&s->hlock);
	return NULL;
}

/* Syncs every archive the batch touched; on failure rolls their catalogs
 * back.  Afterwards the batch may take more writes. */
static void batch_sync(store_t *s, batch_t *b)
{
	for (size_t i = 0; i < b->ndirty && !b->st; i++) {
		store_status_t st = sync_archive(s, b->dirty[i]);
		if (st != STORE_OK)
			fail_closed(s, b, st);
	}
	for (size_t i = 0; i < b->ndirty; i++) {
		if (b->st)
			store_cat_rollback(b->dirty[i]->cat_w);
		else
			head_queue(s, b->dirty[i]);
		b->dirty[i]->dirty = false;
		b->dirty[i]->cat_unckpt = true;
		store_archive_metrics_update(b->dirty[i]);
	}
	b->ndirty = 0;
	if (!b->st)
		for (size_t i = 0; i < b->npacks; i++)
			store_packer_queue(s, b->packs[i], b->pack_first[i]);
	b->npacks = 0;
}

static void batch_free(batch_t *b)
{
	free(b->dirty);
	free(b->packs);
	free(b->pack_first);
}

static void free_append(store_t *s, store_append_t *ap)
{
	live_remove(s, ap);
	store_sha256_free(&ap->sha);
	for (size_t i = 0; i < ap->ntargets; i++)
		free(ap->t[i].refs);
	free(ap->t);
	buf_free(&ap->env);
	buf_free(&ap->pending);
	free(ap);
}

static void waiter_done(store_waiter_t *w, store_status_t st, uint64_t seq, store_completion_t *c)
{
	pthread_mutex_lock(&w->m);
	w->st = st;
	w->seq = seq;
	w->comp = c;
	w->done = true;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

/* Completes a job and frees it; returns its in-flight bytes for the
 * caller to release. */
static uint64_t deliver(store_t *s, store_job_t *j, const batch_t *b)
{
	if (j->type == JOB_COMMIT) {
		if (!j->st && b->st)
			j->st = b->st;
		j->comp->status = j->st;
		if (j->st)
			for (size_t i = 0; i < j->comp->nids; i++)
				j->comp->ids[i].seq = 0;
		else if (j->t0)
			metric_observe(s->m_append, secs_since(j->t0));
		if (j->w)
			waiter_done(j->w, j->st, 0, j->comp);
		else if (j->q)
			store_queue_push(j->q, j->comp);
		else
			store_completion_free(j->comp);
	} else if (j->type == JOB_LOG) {
		store_status_t st = j->st ? j->st : b->st;
		if (!st && j->t0)
			metric_observe(s->m_append, secs_since(j->t0));
		waiter_done(j->w, st, st ? 0 : j->log_seq, NULL);
	}
	if (j->type == JOB_COMMIT || j->type == JOB_ABORT)
		free_append(s, j->ap);
	uint64_t bytes = j->raw_bytes;
	buf_free(&j->payload);
	free(j);
	return bytes;
}

void store_job_refuse(store_t *s, store_job_t *j, store_status_t st)
{
	batch_t b = {.st = st};
	if (j->type == JOB_MAINT) {
		waiter_done(j->w, st, 0, NULL);
		free(j);
		return;
	}
	if (j->type == JOB_COMMIT)
		build_completion(j);
	j->st = st;
	store_inflight_release(s, deliver(s, j, &b));
}

static void process_batch(store_t *s, store_job_t *jobs)
{
	batch_t b = {0};
	size_t n = 0;
	for (store_job_t *j = jobs; j; j = j->next, n++) {
		if (b.st && j->type != JOB_ABORT) {
			if (j->type == JOB_COMMIT && !j->st)
				process_commit(s, j, &b); /* builds the completion; fails fast */
			continue;
		}
		switch (j->type) {
		case JOB_CHUNK:
			if (!atomic_load(&s->failed))
				process_chunk(s, j, &b);
			break;
		case JOB_COMMIT: process_commit(s, j, &b); break;
		case JOB_LOG: process_log(s, j, &b); break;
		case JOB_ABORT:
		case JOB_MAINT: break;
		}
	}
	metric_observe(s->m_batch, (double)n);
	batch_sync(s, &b);
	store_job_t *next;
	uint64_t release = 0;
	for (store_job_t *j = jobs; j; j = next) {
		next = j->next;
		release += deliver(s, j, &b);
	}
	store_inflight_release(s, release); /* once per batch: the lock submitters take */
	batch_free(&b);
}

/* ---- maintenance between batches ---- */

static void run_maint(store_t *s, store_job_t *j)
{
	batch_t b = {0};
	s->cur_batch = &b;
	store_status_t st = atomic_load(&s->failed) ? STORE_EFAILED : j->fn(s, j->arg);
	if (st != STORE_OK && !b.st && b.ndirty) {
		/* The function gave up after writing: what it wrote is valid
		 * chain, made durable like any batch. */
		log_warn("store.maint", "status=%s msg=%s", store_strerror(st),
		         "maintenance stopped part-way");
	}
	batch_sync(s, &b);
	head_drain(s);
	if (st == STORE_OK && b.st)
		st = b.st;
	s->cur_batch = NULL;
	batch_free(&b);
	waiter_done(j->w, st, 0, NULL);
	free(j);
}

store_status_t store_wr_signed(store_t *s, store_archive_t *a, uint8_t type, buf_t *body,
                               uint64_t *seq)
{
	batch_t *b = s->cur_batch;
	store_status_t st = ensure_segment(s, a, b);
	if (st == STORE_OK) {
		signed_common(s, a, body);
		st = wr_signed(s, a, b, type, body, seq);
	}
	if (st != STORE_OK)
		fail_closed(s, b, st);
	return st;
}

store_status_t store_wr_seal(store_t *s, store_archive_t *a)
{
	batch_t *b = s->cur_batch;
	if (a->active_fd < 0 || a->active_size <= STORE_SEG_HDR_SIZE)
		return STORE_OK;
	store_status_t st = mark_dirty(a, b);
	if (st == STORE_OK)
		st = seal_active(s, a, b);
	if (st != STORE_OK)
		fail_closed(s, b, st);
	return st;
}

void store_wr_fail(store_t *s, store_status_t st)
{
	fail_closed(s, s->cur_batch, st);
}

store_status_t store_wr_sync(store_t *s)
{
	batch_t *b = s->cur_batch;
	batch_sync(s, b);
	head_drain(s);
	if (!b->st && atomic_load(&s->failed))
		b->st = STORE_EIO; /* the head's fsync failed */
	return b->st;
}

static store_status_t maint_seal(store_t *s, void *arg)
{
	return store_wr_seal(s, arg);
}

static store_status_t maint_checkpoint(store_t *s, void *arg)
{
	store_archive_t *a = arg;
	if (a->next_seq - 1 <= a->last_signed_seq)
		return STORE_OK; /* the newest record is signed already */
	buf_t body = {0};
	store_tlv_put64(&body, SF_HEAD, a->next_seq - 1);
	store_status_t st = store_wr_signed(s, a, STORE_REC_CHECKPOINT, &body, NULL);
	buf_free(&body);
	return st;
}

static store_archive_t *rw_archive(store_t *s, const char *name, store_status_t *st)
{
	*st = s->readonly ? STORE_EREADONLY : STORE_OK;
	store_archive_t *a = *st ? NULL : store_archive_get(s, name);
	if (!*st && !a)
		*st = STORE_ENOTFOUND;
	return a;
}

store_status_t store_seal(store_t *s, const char *archive)
{
	store_status_t st;
	store_archive_t *a = rw_archive(s, archive, &st);
	return a ? store_writer_call(s, maint_seal, a) : st;
}

store_status_t store_checkpoint(store_t *s, const char *archive)
{
	store_status_t st;
	store_archive_t *a = rw_archive(s, archive, &st);
	return a ? store_writer_call(s, maint_checkpoint, a) : st;
}

/* Seals segments past segment_max_age and signs chains that have grown for
 * an hour without a signature (STORE_CHECKPOINT_US). */
static void tick(store_t *s)
{
	if (atomic_load(&s->failed))
		return;
	pthread_mutex_lock(&s->lock);
	size_t n = s->narchives;
	store_archive_t **v = xcalloc(n + 1, sizeof *v);
	if (n)
		memcpy(v, s->archives, n * sizeof *v);
	pthread_mutex_unlock(&s->lock);
	batch_t b = {0};
	int64_t now = util_now();
	for (size_t i = 0; i < n; i++)
		if (v[i]->cat_unckpt && !atomic_load(&v[i]->deleted)) {
			v[i]->cat_unckpt = false;
			store_cat_checkpoint(v[i]->cat_w);
		}
	for (size_t i = 0; i < n && !b.st; i++) {
		store_archive_t *a = v[i];
		if (atomic_load(&a->deleted) || a->active_fd < 0)
			continue;
		store_status_t st = STORE_OK;
		if (a->active_size > STORE_SEG_HDR_SIZE && aged(s, a)) {
			if ((st = mark_dirty(a, &b)) == STORE_OK)
				st = seal_active(s, a, &b);
		} else if (a->next_seq - 1 > a->last_signed_seq &&
		           now - a->last_signed_time >= STORE_CHECKPOINT_US) {
			if ((st = mark_dirty(a, &b)) == STORE_OK)
				st = wr_checkpoint(s, a, &b);
		}
		if (st != STORE_OK)
			fail_closed(s, &b, st);
	}
	batch_sync(s, &b);
	batch_free(&b);
	free(v);
}

/* ---- the thread ---- */

static void deadline_after_ms(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Processes the jobs in order: runs of ordinary jobs as batches, each
 * maintenance job on its own between them. */
static void process_jobs(store_t *s, store_job_t *jobs)
{
	while (jobs) {
		if (jobs->type == JOB_MAINT) {
			store_job_t *j = jobs;
			jobs = j->next;
			run_maint(s, j);
			continue;
		}
		store_job_t *last = jobs;
		while (last->next && last->next->type != JOB_MAINT)
			last = last->next;
		store_job_t *rest = last->next;
		last->next = NULL;
		process_batch(s, jobs);
		jobs = rest;
	}
}

static void *writer_main(void *arg)
{
	store_t *s = arg;
	int64_t next_tick = util_monotonic_us() + STORE_TICK_MS * 1000;
	pthread_mutex_lock(&s->wlock);
	for (;;) {
		struct timespec ts;
		deadline_after_ms(&ts, STORE_TICK_MS);
		while (!s->jobs_head && !s->stopping && util_monotonic_us() < next_tick)
			pthread_cond_timedwait(&s->wcond, &s->wlock, &ts);
		if (!s->jobs_head && s->stopping) {
			s->writer_exited = true;
			break;
		}
		if (s->jobs_head && s->queued_commits < s->last_commits && !s->stopping) {
			/* More commits are on their way: gather them for one fsync. */
			int64_t until = util_monotonic_us() + STORE_GROUP_WAIT_US;
			struct timespec gw;
			clock_gettime(CLOCK_MONOTONIC, &gw);
			gw.tv_nsec += STORE_GROUP_WAIT_US * 1000L;
			if (gw.tv_nsec >= 1000000000L) {
				gw.tv_sec++;
				gw.tv_nsec -= 1000000000L;
			}
			while (s->queued_commits < s->last_commits && !s->stopping &&
			       util_monotonic_us() < until)
				pthread_cond_timedwait(&s->wcond, &s->wlock, &gw);
		}
		store_job_t *jobs = s->jobs_head;
		s->jobs_head = s->jobs_tail = NULL;
		s->last_commits = s->queued_commits;
		s->queued_commits = 0;
		pthread_mutex_unlock(&s->wlock);
		if (jobs)
			process_jobs(s, jobs);
		if (util_monotonic_us() >= next_tick) {
			tick(s);
			next_tick = util_monotonic_us() + STORE_TICK_MS * 1000;
		}
		pthread_mutex_lock(&s->wlock);
	}
	pthread_mutex_unlock(&s->wlock);
	return NULL;
}

store_status_t store_writer_start(store_t *s)
{
	if (!s->inflight_max)
		s->inflight_max = STORE_INFLIGHT_DEFAULT;
	int rc = pthread_create(&s->hsyncer, NULL, hsync_main, s);
	if (rc == 0) {
		s->hsync_running = true;
		rc = pthread_create(&s->writer, NULL, writer_main, s);
	}
	if (rc != 0) {
		log_error("store.thread", "err=%s", strerror(rc));
		return STORE_EIO;
	}
	s->writer_running = true;
	return STORE_OK;
}

void store_writer_stop(store_t *s)
{
	if (s->writer_running) {
		pthread_mutex_lock(&s->wlock);
		s->stopping = true;
		pthread_cond_signal(&s->wcond);
		pthread_mutex_unlock(&s->wlock);
		pthread_join(s->writer, NULL);
		s->writer_running = false;
	}
	if (s->hsync_running) {
		/* The last heads are fsync'd before it goes. */
		pthread_mutex_lock(&s->hlock);
		s->hstop = true;
		pthread_cond_signal(&s->hcond);
		pthread_mutex_unlock(&s->hlock);
		pthread_join(s->hsyncer, NULL);
		s->hsync_running = false;
	}
	free(s->hq);
	s->hq = NULL;
}
