/* store_writer.c — appends: the streamed append API, completion queues, and
 * the one writer thread that does every segment write.
 *
 * Does: take appends from any thread (begin → write → commit/abort), compress
 * each content record in the submitter's thread, hand records to the writer,
 * which batches whatever is queued, writes each record to every target
 * archive's active segment, then makes the batch durable with one fdatasync
 * per touched segment, one head write + fdatasync per touched archive and one
 * catalog transaction per archive — and only then delivers completions (an
 * eventfd-backed queue, or a waiting thread).  Caps the bytes held in memory
 * (EBUSY), refuses appends below min_free (ENOSPC), and fails closed on the
 * first write/fsync error: nothing is retried, every later append gets
 * EFAILED, reads continue.  Does not: read for callers (store_read.c) or
 * recover (store_recover.c).
 *
 * A message below STORE_CHUNK_SIZE is written whole at commit (CONTENT, then
 * ENVELOPE); a larger one is written as CHUNK records while it arrives and
 * its ENVELOPE at commit.  A message's records always share one segment: a
 * segment is not sealed between a streamed message's chunks and its envelope
 * unless another job forced it, and then the chunks are copied into the new
 * segment (read back one at a time, never the whole message).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <zstd.h>

#include "store_private.h"
#include "vellum/log.h"

/* Default cap on bytes held for appends not yet durable (store_opts_t). */
#define STORE_INFLIGHT_DEFAULT (UINT64_C(256) << 20)

typedef enum { JOB_CHUNK, JOB_COMMIT, JOB_ABORT, JOB_LOG } job_type_t;

typedef struct store_waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool done;
	store_completion_t *comp;
	store_status_t st;
	uint64_t seq;
} store_waiter_t;

typedef struct store_job {
	struct store_job *next;
	job_type_t type;
	store_append_t *ap;
	buf_t payload; /* stored form (compressed or raw) */
	uint16_t flags;
	size_t plain_len;
	bool has_payload;
	uint64_t raw_bytes; /* in-flight bytes released when done */
	store_archive_t *log;
	store_queue_t *q;
	void *cookie;
	store_waiter_t *w;
	store_completion_t *comp;
	store_status_t st;
	uint64_t log_seq;
} store_job_t;

typedef struct wref {
	uint64_t seg, seq, off;
} wref_t;

typedef struct append_target {
	store_archive_t *a;
	wref_t *refs; /* chunks written so far (writer only) */
	size_t n, cap;
} append_target_t;

struct store_append {
	store_t *s;
	size_t ntargets;
	append_target_t *t;
	buf_t env;
	crypto_hash_sha256_state sha;
	uint8_t sha256[32];
	uint64_t size;
	int64_t received;
	buf_t pending;
	uint64_t held; /* in-flight bytes counted for pending */
	size_t nchunks;
	store_status_t err;
};

typedef struct qnode {
	store_completion_t c; /* first: store_completion_free frees the node */
	struct qnode *next;
} qnode_t;

struct store_queue {
	pthread_mutex_t m;
	int efd;
	qnode_t *head, *tail;
};

/* ---- completion queues ---- */

store_queue_t *store_queue_new(void)
{
	store_queue_t *q = xcalloc(1, sizeof *q);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		log_error("store.eventfd", "err=%s", strerror(errno));
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->m, NULL);
	return q;
}

void store_queue_free(store_queue_t *q)
{
	if (!q)
		return;
	store_completion_t *c;
	while ((c = store_queue_pop(q)))
		store_completion_free(c);
	close(q->efd);
	pthread_mutex_destroy(&q->m);
	free(q);
}

int store_queue_fd(const store_queue_t *q)
{
	return q->efd;
}

static void queue_push(store_queue_t *q, store_completion_t *c)
{
	qnode_t *n = (qnode_t *)c;
	n->next = NULL;
	pthread_mutex_lock(&q->m);
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	uint64_t one = 1;
	if (write(q->efd, &one, sizeof one) != sizeof one)
		log_error("store.eventfd", "err=%s", strerror(errno));
	pthread_mutex_unlock(&q->m);
}

store_completion_t *store_queue_pop(store_queue_t *q)
{
	pthread_mutex_lock(&q->m);
	qnode_t *n = q->head;
	if (n) {
		q->head = n->next;
		if (!q->head)
			q->tail = NULL;
	}
	if (!q->head) {
		uint64_t v;
		if (read(q->efd, &v, sizeof v) < 0 && errno != EAGAIN)
			log_error("store.eventfd", "err=%s", strerror(errno));
	}
	pthread_mutex_unlock(&q->m);
	return n ? &n->c : NULL;
}

void store_completion_free(store_completion_t *c)
{
	if (!c)
		return;
	free(c->ids);
	free(c); /* the enclosing qnode_t */
}

/* ---- compression contexts (reused: creating one costs more than a small mail) ---- */

static ZSTD_CCtx *cctx_get(store_t *s)
{
	ZSTD_CCtx *c = NULL;
	pthread_mutex_lock(&s->cctx_lock);
	if (s->ncctx)
		c = s->cctx[--s->ncctx];
	pthread_mutex_unlock(&s->cctx_lock);
	if (!c && !(c = ZSTD_createCCtx())) {
		log_error("store.zstd", "msg=%s", "ZSTD_createCCtx failed");
		abort();
	}
	return c;
}

static void cctx_put(store_t *s, ZSTD_CCtx *c)
{
	pthread_mutex_lock(&s->cctx_lock);
	if (s->ncctx == s->capcctx) {
		s->capcctx = s->capcctx ? 2 * s->capcctx : 8;
		s->cctx = xrealloc(s->cctx, s->capcctx * sizeof *s->cctx);
	}
	s->cctx[s->ncctx++] = c;
	pthread_mutex_unlock(&s->cctx_lock);
}

void store_cctx_free_all(store_t *s)
{
	for (size_t i = 0; i < s->ncctx; i++)
		ZSTD_freeCCtx(s->cctx[i]);
	free(s->cctx);
	s->cctx = NULL;
	s->ncctx = s->capcctx = 0;
}

static void compress_into(store_t *s, const void *p, size_t n, store_job_t *j)
{
	buf_reset(&j->payload);
	j->flags = 0;
	j->plain_len = n;
	j->has_payload = true;
	if (n >= 64) {
		size_t bound = ZSTD_compressBound(n);
		buf_reserve(&j->payload, bound);
		ZSTD_CCtx *c = cctx_get(s);
		size_t r = ZSTD_compressCCtx(c, j->payload.data, bound, p, n, STORE_ZSTD_LEVEL);
		cctx_put(s, c);
		if (!ZSTD_isError(r) && r < n) {
			j->payload.len = r;
			j->flags = STORE_RECF_ZSTD;
			return;
		}
	}
	buf_append(&j->payload, p, n);
}

/* ---- submitting ---- */

static void refuse(store_t *s, store_job_t *j, store_status_t st);

static void enqueue(store_t *s, store_job_t *j)
{
	pthread_mutex_lock(&s->wlock);
	if (s->writer_exited) {
		/* The store is closing and its writer is gone: nothing can touch
		 * the append any more, so the job is refused right here. */
		pthread_mutex_unlock(&s->wlock);
		refuse(s, j, STORE_ESHUTDOWN);
		return;
	}
	if (s->jobs_tail)
		s->jobs_tail->next = j;
	else
		s->jobs_head = j;
	s->jobs_tail = j;
	pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
}

bool store_space_ok(store_t *s)
{
	if (!s->min_free)
		return true;
	struct statvfs v;
	if (statvfs(s->data_dir, &v) != 0)
		return true; /* cannot tell: the write itself will fail if full */
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	bool ok = avail >= s->min_free;
	bool was_low = atomic_exchange(&s->low_space, !ok);
	if (!ok && !was_low)
		log_warn("store.low_space", "avail=%" PRIu64 " min_free=%" PRIu64 " msg=%s", avail,
		         s->min_free, "refusing appends");
	else if (ok && was_low)
		log_info("store.space_ok", "avail=%" PRIu64, avail);
	return ok;
}

store_status_t store_writable(store_t *s)
{
	if (s->readonly)
		return STORE_EREADONLY;
	if (atomic_load(&s->failed))
		return STORE_EFAILED;
	pthread_mutex_lock(&s->wlock);
	bool stopping = s->stopping;
	pthread_mutex_unlock(&s->wlock);
	if (stopping)
		return STORE_ESHUTDOWN;
	return store_space_ok(s) ? STORE_OK : STORE_ENOSPC;
}

/* Common gate for begin and log appends. */
static store_status_t admit(store_t *s)
{
	if (s->readonly)
		return STORE_EREADONLY;
	if (atomic_load(&s->failed))
		return STORE_EFAILED;
	pthread_mutex_lock(&s->wlock);
	bool stopping = s->stopping, busy = s->inflight >= s->inflight_max;
	pthread_mutex_unlock(&s->wlock);
	if (stopping)
		return STORE_ESHUTDOWN;
	if (busy)
		return STORE_EBUSY;
	if (!store_space_ok(s))
		return STORE_ENOSPC;
	return STORE_OK;
}

store_status_t store_append_begin(store_t *s, const store_envelope_t *env,
                                  const char *const *archives, size_t narchives,
                                  store_append_t **out)
{
	*out = NULL;
	if (!env || !archives || narchives == 0 || narchives > STORE_TARGETS_MAX)
		return STORE_EINVAL;
	store_status_t st = admit(s);
	if (st != STORE_OK)
		return st;
	store_append_t *a = xcalloc(1, sizeof *a);
	a->s = s;
	a->t = xcalloc(narchives, sizeof *a->t);
	a->ntargets = narchives;
	for (size_t i = 0; i < narchives && st == STORE_OK; i++) {
		bool is_log = false;
		if (!archives[i] || !store_name_valid(archives[i], &is_log) || is_log) {
			st = STORE_EINVAL; /* mail never goes to a log */
			break;
		}
		store_archive_t *ar = store_archive_get(s, archives[i]);
		if (!ar)
			st = STORE_ENOTFOUND;
		for (size_t k = 0; k < i && st == STORE_OK; k++)
			if (a->t[k].a == ar)
				st = STORE_EINVAL;
		a->t[i].a = ar;
	}
	int64_t received = env->received ? env->received : util_now();
	a->received = received;
	if (st == STORE_OK)
		st = store_env_encode_fields(env, received, &a->env);
	if (st != STORE_OK) {
		buf_free(&a->env);
		free(a->t);
		free(a);
		return st;
	}
	crypto_hash_sha256_init(&a->sha);
	*out = a;
	return STORE_OK;
}

/* Sends STORE_CHUNK_SIZE bytes of pending as a CHUNK job. */
static void send_chunk(store_append_t *a)
{
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_CHUNK;
	j->ap = a;
	compress_into(a->s, a->pending.data, STORE_CHUNK_SIZE, j);
	j->raw_bytes = STORE_CHUNK_SIZE;
	a->held -= STORE_CHUNK_SIZE;
	memmove(a->pending.data, a->pending.data + STORE_CHUNK_SIZE,
	        a->pending.len - STORE_CHUNK_SIZE);
	a->pending.len -= STORE_CHUNK_SIZE;
	a->nchunks++;
	enqueue(a->s, j);
}

void store_append_set_flags(store_append_t *a, uint32_t flags)
{
	store_env_or_flags(&a->env, flags);
}

store_status_t store_append_write(store_append_t *a, const void *p, size_t n)
{
	if (a->err)
		return a->err;
	store_t *s = a->s;
	if (atomic_load(&s->failed))
		return a->err = STORE_EFAILED;
	if (n > STORE_MSG_MAX - a->size)
		return a->err = STORE_ETOOBIG;
	const uint8_t *b = p;
	while (n) {
		/* Take at most one chunk's worth at a time so memory stays bounded
		 * by the cap even for one huge write. */
		size_t take = STORE_CHUNK_SIZE - a->pending.len;
		if (take > n)
			take = n;
		pthread_mutex_lock(&s->wlock);
		bool busy = s->inflight + take > s->inflight_max;
		if (!busy)
			s->inflight += take;
		pthread_mutex_unlock(&s->wlock);
		if (busy)
			return a->err = STORE_EBUSY;
		a->held += take;
		buf_append(&a->pending, b, take);
		crypto_hash_sha256_update(&a->sha, b, take);
		a->size += take;
		b += take;
		n -= take;
		if (a->pending.len == STORE_CHUNK_SIZE) {
			if (a->nchunks + 1 >= STORE_CHUNKS_MAX)
				return a->err = STORE_ETOOBIG;
			send_chunk(a);
		}
	}
	return STORE_OK;
}

static void release(store_t *s, uint64_t bytes)
{
	if (!bytes)
		return;
	pthread_mutex_lock(&s->wlock);
	s->inflight -= bytes;
	pthread_mutex_unlock(&s->wlock);
}

void store_append_abort(store_append_t *a)
{
	if (!a)
		return;
	release(a->s, a->held);
	a->held = 0;
	buf_free(&a->pending);
	/* The writer may still hold chunk jobs of this append: it frees it. */
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_ABORT;
	j->ap = a;
	enqueue(a->s, j);
}

static void commit_job(store_append_t *a, store_queue_t *q, void *cookie, store_waiter_t *w)
{
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_COMMIT;
	j->ap = a;
	j->q = q;
	j->cookie = cookie;
	j->w = w;
	j->st = a->err;
	crypto_hash_sha256_final(&a->sha, a->sha256);
	if (!a->err && (a->nchunks == 0 || a->pending.len > 0))
		compress_into(a->s, a->pending.data, a->pending.len, j);
	j->raw_bytes = a->held;
	a->held = 0;
	buf_free(&a->pending);
	enqueue(a->s, j);
}

void store_append_commit(store_append_t *a, store_queue_t *q, void *cookie)
{
	commit_job(a, q, cookie, NULL);
}

static void waiter_wait(store_waiter_t *w)
{
	pthread_mutex_lock(&w->m);
	while (!w->done)
		pthread_cond_wait(&w->c, &w->m);
	pthread_mutex_unlock(&w->m);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->c);
}

store_completion_t *store_append_commit_wait(store_append_t *a)
{
	store_waiter_t w = {.done = false};
	pthread_mutex_init(&w.m, NULL);
	pthread_cond_init(&w.c, NULL);
	commit_job(a, NULL, NULL, &w);
	waiter_wait(&w);
	return w.comp;
}

store_status_t store_log_append(store_t *s, const char *log, const void *p, size_t n, uint64_t *seq)
{
	bool is_log;
	if (seq)
		*seq = 0;
	if (!log || !store_name_valid(log, &is_log) || !is_log)
		return STORE_EINVAL;
	if (n > STORE_LOG_MAX)
		return STORE_ETOOBIG;
	store_status_t st = admit(s);
	if (st != STORE_OK)
		return st;
	store_archive_t *a = store_archive_get(s, log);
	if (!a) {
		/* Created on first use; a concurrent first use may win the race. */
		st = store_archive_create(s, log);
		if (st != STORE_OK && st != STORE_EEXIST)
			return st;
		if (!(a = store_archive_get(s, log)))
			return STORE_EIO;
	}
	store_waiter_t w = {.done = false};
	pthread_mutex_init(&w.m, NULL);
	pthread_cond_init(&w.c, NULL);
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_LOG;
	j->log = a;
	j->w = &w;
	compress_into(s, p, n, j);
	enqueue(s, j);
	waiter_wait(&w);
	if (seq)
		*seq = w.seq;
	return w.st;
}

/* ---- the writer thread ---- */

typedef struct batch {
	store_archive_t **dirty;
	size_t ndirty, capdirty;
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

static bool needs_seal(store_t *s, const store_archive_t *a)
{
	if (a->active_fd < 0)
		return true;
	if (a->active_size >= s->segment_max)
		return true;
	const util_duration_t *age = &s->segment_max_age;
	if (age->forever || (age->seconds == 0 && age->months == 0))
		return false;
	return util_now() >= util_duration_add(a->active_created, age);
}

static const uint8_t *active_key(store_t *s, store_archive_t *a)
{
	store_seg_t sg;
	store_archive_seg_for(s, a, a->active_first, &sg);
	return sg.key;
}

/* Writes one record at the end of the active segment. */
static store_status_t wr_record(store_t *s, store_archive_t *a, batch_t *b, uint8_t type,
                                uint16_t flags, const void *stored, size_t stored_len,
                                size_t plain_len, store_ref_t *ref)
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
	store_chain_next(a->link, a->next_seq, s->wbuf.data, s->wbuf.len);
	ref->seq = a->next_seq++;
	ref->offset = a->active_size;
	a->active_size += s->wbuf.len;
	return STORE_OK;
}

static store_status_t ensure_segment(store_t *s, store_archive_t *a, batch_t *b, bool may_seal)
{
	if (a->damaged)
		return STORE_ECORRUPT;
	if (a->active_fd >= 0 && !(may_seal && needs_seal(s, a)))
		return STORE_OK;
	store_status_t st = mark_dirty(a, b);
	return st ? st : store_archive_seg_new(s, a);
}

static void process_chunk(store_t *s, store_job_t *j, batch_t *b)
{
	store_append_t *ap = j->ap;
	for (size_t i = 0; i < ap->ntargets && !b->st; i++) {
		append_target_t *t = &ap->t[i];
		store_ref_t ref;
		store_status_t st = ensure_segment(s, t->a, b, true);
		if (st == STORE_ECORRUPT)
			continue; /* damaged archive: the commit reports it */
		if (st == STORE_OK)
			st = wr_record(s, t->a, b, STORE_REC_CHUNK, j->flags, j->payload.data,
			               j->payload.len, j->plain_len, &ref);
		if (st != STORE_OK) {
			fail_closed(s, b, st);
			return;
		}
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 8;
			t->refs = xrealloc(t->refs, t->cap * sizeof *t->refs);
		}
		t->refs[t->n++] = (wref_t){t->a->active_first, ref.seq, ref.offset};
	}
}

/* Copies a chunk written into an older segment into the active one. */
static store_status_t copy_chunk(store_t *s, store_archive_t *a, batch_t *b, wref_t *r)
{
	char *path = store_archive_seg_path(a, r->seg);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return STORE_EIO;
	store_seg_t sg;
	store_rec_hdr_t h;
	const char *why = "no key";
	store_status_t st = store_archive_seg_for(s, a, r->seg, &sg);
	if (st == STORE_OK) {
		path = store_archive_seg_path(a, r->seg);
		store_rd_t rd =
		    store_seg_read_rec(fd, path, r->off, UINT64_MAX, &s->wbuf, &h, &why);
		free(path);
		st = rd == STORE_RD_OK ? store_rec_open_stored(sg.key, s->wbuf.data, s->wbuf.len,
		                                               &h, &s->wbuf2, &why)
		                       : STORE_EIO;
	}
	close(fd);
	if (st != STORE_OK) {
		log_error("store.copy_chunk",
		          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " msg=%s", a->name,
		          r->seg, r->off, why);
		return STORE_EIO;
	}
	store_ref_t ref;
	st = wr_record(s, a, b, STORE_REC_CHUNK, h.flags, s->wbuf2.data, s->wbuf2.len, h.plain_len,
	               &ref);
	if (st == STORE_OK)
		*r = (wref_t){a->active_first, ref.seq, ref.offset};
	return st;
}

/* The content references of a commit in one archive. */
static store_status_t commit_content(store_t *s, store_job_t *j, append_target_t *t, batch_t *b,
                                     store_ref_t **refs, size_t *nrefs)
{
	store_archive_t *a = t->a;
	store_append_t *ap = j->ap;
	store_status_t st;
	if (ap->nchunks == 0) {
		if ((st = ensure_segment(s, a, b, true)) != STORE_OK)
			return st;
		st = store_cat_content_find(a->cat_w, ap->sha256, a->active_first, refs, nrefs);
		if (st != STORE_ENOTFOUND)
			return st; /* stored once per segment: reuse it */
		*refs = xcalloc(1, sizeof **refs);
		*nrefs = 1;
		return wr_record(s, a, b, STORE_REC_CONTENT, j->flags, j->payload.data,
		                 j->payload.len, j->plain_len, *refs);
	}
	bool all_active = a->active_fd >= 0;
	for (size_t k = 0; k < t->n; k++)
		all_active = all_active && t->refs[k].seg == a->active_first;
	if ((st = ensure_segment(s, a, b, !all_active)) != STORE_OK)
		return st;
	for (size_t k = 0; k < t->n && st == STORE_OK; k++)
		if (t->refs[k].seg != a->active_first)
			st = copy_chunk(s, a, b, &t->refs[k]);
	if (st == STORE_OK && j->has_payload) {
		store_ref_t ref;
		st = wr_record(s, a, b, STORE_REC_CHUNK, j->flags, j->payload.data, j->payload.len,
		               j->plain_len, &ref);
		if (st == STORE_OK) {
			if (t->n == t->cap) {
				t->cap = t->cap ? 2 * t->cap : 8;
				t->refs = xrealloc(t->refs, t->cap * sizeof *t->refs);
			}
			t->refs[t->n++] = (wref_t){a->active_first, ref.seq, ref.offset};
		}
	}
	if (st != STORE_OK)
		return st;
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
		store_payload_compress(env.data, env.len, &z, &flags);
		store_ref_t er;
		st = wr_record(s, a, b, STORE_REC_ENVELOPE, flags, z.data, z.len, env.len, &er);
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
		store_status_t st = commit_one(s, j, i, b);
		if (st == STORE_ECORRUPT) {
			j->st = st; /* damaged archive: refused, nothing else is wrong */
		} else if (st != STORE_OK) {
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
	store_status_t st = ensure_segment(s, j->log, b, true);
	if (st == STORE_OK)
		st = wr_record(s, j->log, b, STORE_REC_LOG, j->flags, j->payload.data,
		               j->payload.len, j->plain_len, &ref);
	if (st == STORE_OK)
		j->log_seq = ref.seq;
	else if (st != STORE_ECORRUPT)
		fail_closed(s, b, st);
	j->st = st;
}

/* Makes one archive's part of the batch durable and visible. */
static store_status_t sync_archive(store_t *s, store_archive_t *a)
{
	(void)s;
	int e;
	if (a->sealed_fd >= 0) {
		e = util_fault("store.fsync");
		if (e || fdatasync(a->sealed_fd) != 0) {
			log_error("store.fsync", "archive=%s file=sealed err=%s", a->name,
			          strerror(e ? e : errno));
			return STORE_EIO;
		}
		close(a->sealed_fd);
		a->sealed_fd = -1;
	}
	e = util_fault("store.fsync");
	if (e || fdatasync(a->active_fd) != 0) {
		log_error("store.fsync", "archive=%s segment=%" PRIu64 " err=%s", a->name,
		          a->active_first, strerror(e ? e : errno));
		return STORE_EIO;
	}
	store_head_t h = {
	    .seq = a->next_seq - 1, .segment = a->active_first, .end = a->active_size};
	memcpy(h.link, a->link, sizeof h.link);
	/* The catalog goes first (its rows name only records just made durable),
	 * so a reader that sees the new head — in this process or, through the
	 * head file, the indexer — always finds its messages in the catalog. */
	store_status_t st = store_cat_set_last_seq(a->cat_w, h.seq);
	if (st == STORE_OK)
		st = store_cat_commit(a->cat_w);
	if (st == STORE_OK)
		st = store_archive_head_write(a, &h);
	if (st == STORE_OK) {
		pthread_mutex_lock(&a->lock);
		a->head = h;
		pthread_mutex_unlock(&a->lock);
	}
	return st;
}

static void deliver(store_t *s, store_job_t *j, const batch_t *b)
{
	if (j->type == JOB_COMMIT) {
		if (!j->st && b->st)
			j->st = b->st;
		j->comp->status = j->st;
		if (j->st)
			for (size_t i = 0; i < j->comp->nids; i++)
				j->comp->ids[i].seq = 0;
		if (j->w) {
			pthread_mutex_lock(&j->w->m);
			j->w->comp = j->comp;
			j->w->done = true;
			pthread_cond_signal(&j->w->c);
			pthread_mutex_unlock(&j->w->m);
		} else if (j->q) {
			queue_push(j->q, j->comp);
		} else {
			store_completion_free(j->comp);
		}
	} else if (j->type == JOB_LOG) {
		pthread_mutex_lock(&j->w->m);
		j->w->st = j->st ? j->st : b->st;
		j->w->seq = j->w->st ? 0 : j->log_seq;
		j->w->done = true;
		pthread_cond_signal(&j->w->c);
		pthread_mutex_unlock(&j->w->m);
	}
	if (j->type == JOB_COMMIT || j->type == JOB_ABORT) {
		store_append_t *ap = j->ap;
		for (size_t i = 0; i < ap->ntargets; i++)
			free(ap->t[i].refs);
		free(ap->t);
		buf_free(&ap->env);
		buf_free(&ap->pending);
		free(ap);
	}
	release(s, j->raw_bytes);
	buf_free(&j->payload);
	free(j);
}

static void refuse(store_t *s, store_job_t *j, store_status_t st)
{
	batch_t b = {.st = st};
	if (j->type == JOB_COMMIT)
		build_completion(j);
	j->st = st;
	deliver(s, j, &b);
}

static void process_batch(store_t *s, store_job_t *jobs)
{
	batch_t b = {0};
	for (store_job_t *j = jobs; j; j = j->next) {
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
		case JOB_ABORT: break;
		}
	}
	for (size_t i = 0; i < b.ndirty && !b.st; i++) {
		store_status_t st = sync_archive(s, b.dirty[i]);
		if (st != STORE_OK)
			fail_closed(s, &b, st);
	}
	for (size_t i = 0; i < b.ndirty; i++) {
		if (b.st)
			store_cat_rollback(b.dirty[i]->cat_w);
		b.dirty[i]->dirty = false;
	}
	free(b.dirty);
	store_job_t *next;
	for (store_job_t *j = jobs; j; j = next) {
		next = j->next;
		deliver(s, j, &b);
	}
}

static void *writer_main(void *arg)
{
	store_t *s = arg;
	pthread_mutex_lock(&s->wlock);
	for (;;) {
		while (!s->jobs_head && !s->stopping)
			pthread_cond_wait(&s->wcond, &s->wlock);
		if (!s->jobs_head) {
			s->writer_exited = true;
			break;
		}
		store_job_t *jobs = s->jobs_head;
		s->jobs_head = s->jobs_tail = NULL;
		pthread_mutex_unlock(&s->wlock);
		process_batch(s, jobs);
		pthread_mutex_lock(&s->wlock);
	}
	pthread_mutex_unlock(&s->wlock);
	return NULL;
}

store_status_t store_writer_start(store_t *s)
{
	if (!s->inflight_max)
		s->inflight_max = STORE_INFLIGHT_DEFAULT;
	int rc = pthread_create(&s->writer, NULL, writer_main, s);
	if (rc != 0) {
		log_error("store.thread", "err=%s", strerror(rc));
		return STORE_EIO;
	}
	s->writer_running = true;
	return STORE_OK;
}

void store_writer_stop(store_t *s)
{
	if (!s->writer_running)
		return;
	pthread_mutex_lock(&s->wlock);
	s->stopping = true;
	pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
	pthread_join(s->writer, NULL);
	s->writer_running = false;
}
