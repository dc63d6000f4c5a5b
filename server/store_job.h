/* store_job.h — shared by store_append.c (the submitting side), store_writer.c
 * (the writer thread) and store_queue.c: appends in progress, the jobs they
 * hand to the writer, completion nodes.  Nothing else includes it.
 */
#ifndef VELLUM_STORE_JOB_H
#define VELLUM_STORE_JOB_H

#include "store_private.h"

typedef enum { JOB_CHUNK, JOB_COMMIT, JOB_ABORT, JOB_LOG, JOB_MAINT } job_type_t;

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
	struct store_append *ap;
	buf_t payload; /* stored form (compressed or raw) */
	uint16_t flags;
	size_t plain_len;
	uint8_t phash[STORE_HASH_BYTES]; /* BLAKE2b-256 of the plaintext */
	bool has_payload;
	uint64_t raw_bytes; /* in-flight bytes released when done */
	int64_t t0;         /* monotonic us at commit (append latency) */
	store_archive_t *log;
	store_queue_t *q;
	void *cookie;
	store_waiter_t *w;
	store_completion_t *comp;
	store_status_t st;
	uint64_t log_seq;
	store_maint_fn fn; /* JOB_MAINT */
	void *arg;
} store_job_t;

typedef struct wref {
	uint64_t seg, seq, off;
	uint8_t phash[STORE_HASH_BYTES]; /* the chunk's payload hash (for a copy) */
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
	store_sha256_t sha;
	uint8_t sha256[32];
	uint64_t size;
	int64_t received;
	buf_t pending;
	uint64_t held; /* in-flight bytes counted for pending */
	size_t nchunks;
	store_status_t err;
	/* writer only: on store.live while it has chunks written */
	bool live;
	struct store_append *live_next;
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

void store_queue_push(store_queue_t *q, store_completion_t *c);
/* Submitting side → writer. */
void store_job_enqueue(store_t *s, store_job_t *j);
/* Completes a job that will never be processed (the writer is gone). */
void store_job_refuse(store_t *s, store_job_t *j, store_status_t st);
/* Compresses and hashes p[0..n) into j's payload (submitter's thread). */
void store_job_compress(store_t *s, const void *p, size_t n, store_job_t *j);
void store_waiter_init(store_waiter_t *w);
void store_waiter_wait(store_waiter_t *w);
void store_inflight_release(store_t *s, uint64_t bytes);

#endif
