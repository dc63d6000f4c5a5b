/* store_queue.c — completion queues and the pools of zstd contexts.
 *
 * Does: the eventfd-backed completion queue an event loop waits on
 * (store_queue_*), freeing completions, and pools of zstd compression and
 * decompression contexts shared by every thread of the store (creating one
 * costs more than compressing a small mail).  Does not: produce completions
 * (store_writer.c) or compress anything itself.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zstd.h>

#include "store_job.h"
#include "vellum/log.h"

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

void store_queue_push(store_queue_t *q, store_completion_t *c)
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

/* ---- zstd contexts ---- */

void *store_cctx_get(store_t *s)
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

void store_cctx_put(store_t *s, void *c)
{
	pthread_mutex_lock(&s->cctx_lock);
	if (s->ncctx == s->capcctx) {
		s->capcctx = s->capcctx ? 2 * s->capcctx : 8;
		s->cctx = xrealloc(s->cctx, s->capcctx * sizeof *s->cctx);
	}
	s->cctx[s->ncctx++] = c;
	pthread_mutex_unlock(&s->cctx_lock);
}

void *store_dctx_get(store_t *s)
{
	ZSTD_DCtx *d = NULL;
	pthread_mutex_lock(&s->cctx_lock);
	if (s->ndctx)
		d = s->dctx[--s->ndctx];
	pthread_mutex_unlock(&s->cctx_lock);
	if (!d && !(d = ZSTD_createDCtx())) {
		log_error("store.zstd", "msg=%s", "ZSTD_createDCtx failed");
		abort();
	}
	return d;
}

void store_dctx_put(store_t *s, void *d)
{
	pthread_mutex_lock(&s->cctx_lock);
	if (s->ndctx == s->capdctx) {
		s->capdctx = s->capdctx ? 2 * s->capdctx : 8;
		s->dctx = xrealloc(s->dctx, s->capdctx * sizeof *s->dctx);
	}
	s->dctx[s->ndctx++] = d;
	pthread_mutex_unlock(&s->cctx_lock);
}

void store_cctx_free_all(store_t *s)
{
	for (size_t i = 0; i < s->ncctx; i++)
		ZSTD_freeCCtx(s->cctx[i]);
	free(s->cctx);
	s->cctx = NULL;
	s->ncctx = s->capcctx = 0;
	for (size_t i = 0; i < s->ndctx; i++)
		ZSTD_freeDCtx(s->dctx[i]);
	free(s->dctx);
	s->dctx = NULL;
	s->ndctx = s->capdctx = 0;
}

/* ---- read buffers ---- */

void store_bufs_get(store_t *s, buf_t *raw, buf_t *plain, buf_t *blk)
{
	pthread_mutex_lock(&s->cctx_lock);
	if (s->nbufs) {
		store_bufset_t *b = &s->bufs[--s->nbufs];
		*raw = b->raw;
		*plain = b->plain;
		*blk = b->blk;
	}
	pthread_mutex_unlock(&s->cctx_lock);
	buf_reset(raw);
	buf_reset(plain);
	buf_reset(blk);
}

void store_bufs_put(store_t *s, buf_t *raw, buf_t *plain, buf_t *blk)
{
	pthread_mutex_lock(&s->cctx_lock);
	if (s->nbufs < STORE_BUFS_POOL) {
		store_bufset_t *b = &s->bufs[s->nbufs++];
		b->raw = *raw;
		b->plain = *plain;
		b->blk = *blk;
		memset(raw, 0, sizeof *raw);
		memset(plain, 0, sizeof *plain);
		memset(blk, 0, sizeof *blk);
	}
	pthread_mutex_unlock(&s->cctx_lock);
}

void store_bufs_free_all(store_t *s)
{
	for (size_t i = 0; i < s->nbufs; i++) {
		buf_free(&s->bufs[i].raw);
		buf_free(&s->bufs[i].plain);
		buf_free(&s->bufs[i].blk);
	}
	s->nbufs = 0;
}
