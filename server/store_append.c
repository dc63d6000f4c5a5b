/* store_append.c — the submitting side of appends: begin → write → commit or
 * abort, log appends, and the gates in front of them.
 *
 * Does: check an append can be taken (read-only, failed closed, shutting
 * down, bytes in flight at the cap, free space below min_free), encode the
 * envelope, hash the message (SHA-256) as it arrives, cut it into 1 MiB
 * chunks, compress and hash each record's payload in the submitter's thread
 * (so the writer only encrypts and writes), and hand jobs to the writer.
 * Does not: touch files (store_writer.c does every write).
 *
 * A message below STORE_CHUNK_SIZE is written whole at commit (CONTENT, then
 * ENVELOPE); a larger one is written as CHUNK records while it arrives and
 * its ENVELOPE at commit, so no message is ever held whole in memory.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <zstd.h>

#include "store_job.h"
#include "vellum/log.h"

void store_job_compress(store_t *s, const void *p, size_t n, store_job_t *j)
{
	buf_reset(&j->payload);
	j->flags = 0;
	j->plain_len = n;
	j->has_payload = true;
	store_payload_hash(p, n, j->phash);
	if (n >= 64) { /* below that a zstd frame header costs more than it saves */
		size_t bound = ZSTD_compressBound(n);
		buf_reserve(&j->payload, bound);
		ZSTD_CCtx *c = store_cctx_get(s);
		size_t r = ZSTD_compressCCtx(c, j->payload.data, bound, p, n, STORE_ZSTD_LEVEL);
		store_cctx_put(s, c);
		if (!ZSTD_isError(r) && r < n) {
			j->payload.len = r;
			j->flags = STORE_RECF_ZSTD;
			return;
		}
	}
	buf_append(&j->payload, p, n);
}

void store_job_enqueue(store_t *s, store_job_t *j)
{
	pthread_mutex_lock(&s->wlock);
	if (s->writer_exited) {
		/* The store is closing and its writer is gone: nothing can touch
		 * the append any more, so the job is refused right here. */
		pthread_mutex_unlock(&s->wlock);
		store_job_refuse(s, j, STORE_ESHUTDOWN);
		return;
	}
	if (s->jobs_tail)
		s->jobs_tail->next = j;
	else
		s->jobs_head = j;
	s->jobs_tail = j;
	if (j->type == JOB_COMMIT || j->type == JOB_LOG)
		s->queued_commits++;
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
	store_sha256_init(&a->sha);
	*out = a;
	return STORE_OK;
}

/* Sends STORE_CHUNK_SIZE bytes of pending as a CHUNK job. */
static void send_chunk(store_append_t *a)
{
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_CHUNK;
	j->ap = a;
	store_job_compress(a->s, a->pending.data, STORE_CHUNK_SIZE, j);
	j->raw_bytes = STORE_CHUNK_SIZE;
	a->held -= STORE_CHUNK_SIZE;
	memmove(a->pending.data, a->pending.data + STORE_CHUNK_SIZE,
	        a->pending.len - STORE_CHUNK_SIZE);
	a->pending.len -= STORE_CHUNK_SIZE;
	a->nchunks++;
	store_job_enqueue(a->s, j);
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
		store_sha256_update(&a->sha, b, take);
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

void store_inflight_release(store_t *s, uint64_t bytes)
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
	store_inflight_release(a->s, a->held);
	a->held = 0;
	buf_free(&a->pending);
	/* The writer may still hold chunk jobs of this append: it frees it. */
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_ABORT;
	j->ap = a;
	store_job_enqueue(a->s, j);
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
	j->t0 = util_monotonic_us();
	store_sha256_final(&a->sha, a->sha256);
	if (!a->err && (a->nchunks == 0 || a->pending.len > 0))
		store_job_compress(a->s, a->pending.data, a->pending.len, j);
	j->raw_bytes = a->held;
	a->held = 0;
	buf_free(&a->pending);
	store_job_enqueue(a->s, j);
}

void store_append_commit(store_append_t *a, store_queue_t *q, void *cookie)
{
	commit_job(a, q, cookie, NULL);
}

void store_waiter_init(store_waiter_t *w)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->c, NULL);
}

void store_waiter_wait(store_waiter_t *w)
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
	store_waiter_t w;
	store_waiter_init(&w);
	commit_job(a, NULL, NULL, &w);
	store_waiter_wait(&w);
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
	store_waiter_t w;
	store_waiter_init(&w);
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_LOG;
	j->log = a;
	j->w = &w;
	j->t0 = util_monotonic_us();
	store_job_compress(s, p, n, j);
	store_job_enqueue(s, j);
	store_waiter_wait(&w);
	if (seq)
		*seq = w.seq;
	return w.st;
}

store_status_t store_writer_call(store_t *s, store_maint_fn fn, void *arg)
{
	if (s->readonly)
		return STORE_EREADONLY;
	if (atomic_load(&s->failed))
		return STORE_EFAILED;
	store_waiter_t w;
	store_waiter_init(&w);
	store_job_t *j = xcalloc(1, sizeof *j);
	j->type = JOB_MAINT;
	j->fn = fn;
	j->arg = arg;
	j->w = &w;
	store_job_enqueue(s, j);
	store_waiter_wait(&w);
	return w.st;
}
