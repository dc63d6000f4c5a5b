/* bench_store.c — the store's benchmarks (issue 3), on a directory of
 * messages (bench/corpus/spamassassin.py writes the SpamAssassin corpus as
 * NNNNN-*.eml files).  bench/store/run.sh runs every mode and prints the
 * ratios; each mode prints one line of "key=value" figures.
 *
 *   bench_store size   DIR CORPUS   all messages in, then sealed and packed:
 *                                   segment bytes as appended and as packed
 *   bench_store append DIR CORPUS N durable appends from N submitter threads
 *   bench_store ceiling CORPUS      one loop: zstd -3 + XChaCha20-Poly1305 +
 *                                   write, no sync (what the store cannot beat)
 *   bench_store naive DIR CORPUS    the same loop with an fdatasync per
 *                                   message (the naive durable writer)
 *   bench_store read   DIR CORPUS   random single-message reads (decrypt +
 *                                   decompress), warm cache, from packed
 *                                   segments and from the active one: p50/p99
 *
 * DIR is scratch space (a data dir is made in it).  Nothing here is part of
 * the product; it links the store like any other module would.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "vellum/config.h"
#include "vellum/log.h"
#include "vellum/metrics.h"
#include "vellum/store.h"
#include "vellum/util.h"

typedef struct msg {
	uint8_t *p;
	size_t n;
} msg_t;

static msg_t *corpus;
static size_t ncorpus;
static uint64_t corpus_bytes;

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_corpus(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "bench: cannot open %s\n", dir);
		exit(2);
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".eml")) {
			names = xrealloc(names, (n + 1) * sizeof *names);
			names[n++] = xstrdup(de->d_name);
		}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_name);
	corpus = xcalloc(n, sizeof *corpus);
	for (size_t i = 0; i < n; i++) {
		char *p = util_path_join(dir, names[i]);
		buf_t b = {0};
		if (util_read_file(p, 1u << 30, &b) != UTIL_OK) {
			fprintf(stderr, "bench: cannot read %s\n", p);
			exit(2);
		}
		corpus[ncorpus].p = b.data;
		corpus[ncorpus++].n = b.len;
		corpus_bytes += b.len;
		free(p);
		free(names[i]);
	}
	free(names);
}

static config_t *make_cfg(const char *dir)
{
	char *text = xasprintf("[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\n"
	                       "min_free = 0\n",
	                       dir, dir);
	config_t *c = NULL;
	char *err = NULL;
	if (config_load_string(text, strlen(text), "bench.conf", dir, &c, &err) != CONFIG_OK) {
		fprintf(stderr, "config: %s\n", err);
		exit(2);
	}
	free(text);
	if (store_init_keys(c) != STORE_OK) {
		fprintf(stderr, "bench: keys\n");
		exit(2);
	}
	return c;
}

static const char *bench_rcpt[] = {"journal@example.com"};

static store_status_t append_one(store_t *s, const msg_t *m, uint64_t *id)
{
	store_envelope_t e = {.listener = "default",
	                      .client_addr = "192.0.2.10",
	                      .client_port = 40000,
	                      .helo = "mx1.example.com",
	                      .tls_version = "TLSv1.3",
	                      .tls_cipher = "TLS_AES_256_GCM_SHA384",
	                      .mail_from = "sender@example.com",
	                      .mail_params = "BODY=8BITMIME",
	                      .rcpt = bench_rcpt,
	                      .nrcpt = 1,
	                      .flags = STORE_ENV_8BITMIME};
	const char *arch = "bench";
	store_append_t *a;
	store_status_t st = store_append_begin(s, &e, &arch, 1, &a);
	if (st != STORE_OK)
		return st;
	if ((st = store_append_write(a, m->p, m->n)) != STORE_OK) {
		store_append_abort(a);
		return st;
	}
	store_completion_t *c = store_append_commit_wait(a);
	st = c->status;
	if (id)
		*id = st == STORE_OK ? c->ids[0].seq : 0;
	store_completion_free(c);
	return st;
}

static uint64_t dir_bytes(const char *dir)
{
	uint64_t total = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 4 || strcmp(de->d_name + n - 4, ".seg"))
			continue;
		char *p = util_path_join(dir, de->d_name);
		struct stat st;
		if (stat(p, &st) == 0)
			total += (uint64_t)st.st_size;
		free(p);
	}
	if (d)
		closedir(d);
	return total;
}

/* ---- size ---- */

static int bench_size(const char *dir, int level, size_t block)
{
	config_t *cfg = make_cfg(dir);
	store_opts_t o = {.pack_level = level, .pack_block = block};
	store_t *s = NULL;
	if (store_open(cfg, &o, &s) != STORE_OK || store_archive_create(s, "bench") != STORE_OK)
		return 2;
	for (size_t i = 0; i < ncorpus; i++)
		if (append_one(s, &corpus[i], NULL) != STORE_OK)
			return 2;
	char *adir = xasprintf("%s/data/archives/bench", dir);
	uint64_t appended = dir_bytes(adir);
	int64_t t0 = util_monotonic_us();
	store_seal(s, "bench");
	store_pack_wait(s);
	double pack_s = (double)(util_monotonic_us() - t0) / 1e6;
	uint64_t packed = dir_bytes(adir);
	store_verify_report_t rep;
	store_verify(s, "bench", NULL, NULL, &rep);
	printf("size messages=%zu raw=%" PRIu64 " appended=%" PRIu64 " packed=%" PRIu64
	       " appended_ratio=%.4f packed_ratio=%.4f pack_seconds=%.2f pack_mbps=%.1f level=%d "
	       "block=%zu verify_problems=%" PRIu64 "\n",
	       ncorpus, corpus_bytes, appended, packed, (double)appended / (double)corpus_bytes,
	       (double)packed / (double)corpus_bytes, pack_s, (double)corpus_bytes / pack_s / 1e6,
	       level ? level : 17, block ? block : (size_t)768 << 10, rep.problems);
	store_close(s);
	free(adir);
	config_free(cfg);
	return rep.problems ? 1 : 0;
}

/* ---- append ---- */

typedef struct worker {
	store_t *s;
	pthread_mutex_t *m;
	size_t *next;
	uint64_t done;
	int failed;
} worker_t;

static void *append_worker(void *arg)
{
	worker_t *w = arg;
	for (;;) {
		pthread_mutex_lock(w->m);
		size_t i = (*w->next)++;
		pthread_mutex_unlock(w->m);
		if (i >= ncorpus)
			return NULL;
		if (append_one(w->s, &corpus[i], NULL) != STORE_OK)
			w->failed++;
		w->done++;
	}
}

static int bench_append(const char *dir, int n)
{
	config_t *cfg = make_cfg(dir);
	metrics_t *mx = getenv("BENCH_METRICS") ? metrics_new() : NULL;
	store_opts_t o = {.no_pack = true, .metrics = mx};
	store_t *s = NULL;
	if (store_open(cfg, &o, &s) != STORE_OK || store_archive_create(s, "bench") != STORE_OK)
		return 2;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	size_t next = 0;
	worker_t *w = xcalloc((size_t)n, sizeof *w);
	pthread_t *t = xcalloc((size_t)n, sizeof *t);
	int64_t t0 = util_monotonic_us();
	for (int i = 0; i < n; i++) {
		w[i] = (worker_t){.s = s, .m = &m, .next = &next};
		pthread_create(&t[i], NULL, append_worker, &w[i]);
	}
	int failed = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		failed += w[i].failed;
	}
	double secs = (double)(util_monotonic_us() - t0) / 1e6;
	printf("append submitters=%d messages=%zu seconds=%.3f msgs_per_s=%.0f mb_per_s=%.2f "
	       "failed=%d\n",
	       n, ncorpus, secs, (double)ncorpus / secs, (double)corpus_bytes / secs / 1e6, failed);
	if (mx) {
		buf_t out = {0};
		metrics_render(mx, &out);
		fwrite(out.data, 1, out.len, stderr);
		buf_free(&out);
	}
	store_close(s);
	metrics_free(mx);
	free(w);
	free(t);
	config_free(cfg);
	return failed ? 1 : 0;
}

/* ---- the two loops the store is measured against ---- */

static int bench_loop(const char *dir, bool sync)
{
	char *path = xasprintf("%s/loop.out", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 2;
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	randombytes_buf(key, sizeof key);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	buf_t z = {0}, rec = {0};
	int64_t t0 = util_monotonic_us();
	for (size_t i = 0; i < ncorpus; i++) {
		const msg_t *m = &corpus[i];
		size_t bound = ZSTD_compressBound(m->n);
		buf_reset(&z);
		buf_reserve(&z, bound);
		size_t zn = ZSTD_compressCCtx(cc, z.data, bound, m->p, m->n, 3);
		buf_reset(&rec);
		buf_reserve(&rec, zn + 64);
		uint8_t nonce[24];
		randombytes_buf(nonce, sizeof nonce);
		unsigned long long clen;
		crypto_aead_xchacha20poly1305_ietf_encrypt(rec.data, &clen, z.data, zn, NULL, 0,
		                                           NULL, nonce, key);
		if (util_write_all(fd, nonce, sizeof nonce) != UTIL_OK ||
		    util_write_all(fd, rec.data, (size_t)clen) != UTIL_OK ||
		    (sync && fdatasync(fd) != 0))
			return 2;
	}
	double secs = (double)(util_monotonic_us() - t0) / 1e6;
	printf("%s messages=%zu seconds=%.3f msgs_per_s=%.0f mb_per_s=%.2f\n",
	       sync ? "naive" : "ceiling", ncorpus, secs, (double)ncorpus / secs,
	       (double)corpus_bytes / secs / 1e6);
	close(fd);
	unlink(path);
	free(path);
	ZSTD_freeCCtx(cc);
	buf_free(&z);
	buf_free(&rec);
	return 0;
}

/* ---- reads ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int read_run(store_t *s, uint64_t lo, uint64_t hi, size_t nreads, const char *what)
{
	int64_t *lat = xcalloc(nreads, sizeof *lat);
	uint8_t *buf = xmalloc(1u << 16);
	uint32_t x = 12345;
	int bad = 0;
	for (size_t r = 0; r < nreads + nreads / 10; r++) {
		x = x * 1103515245u + 12345u;
		uint64_t id = lo + (x >> 8) % (hi - lo + 1);
		int64_t t0 = util_monotonic_us();
		store_reader_t *rd;
		size_t total = 0, got;
		store_status_t st = store_msg_open(s, "bench", id, &rd);
		while (st == STORE_OK &&
		       (st = store_reader_read(rd, buf, 1u << 16, &got)) == STORE_OK && got)
			total += got;
		if (st == STORE_OK)
			store_reader_close(rd);
		int64_t us = util_monotonic_us() - t0;
		bad += st != STORE_OK || total != corpus[id - 1].n;
		if (r >= nreads / 10) /* the first tenth warms the cache */
			lat[r - nreads / 10] = us;
	}
	qsort(lat, nreads, sizeof *lat, cmp_i64);
	printf("read from=%s reads=%zu p50_us=%" PRId64 " p90_us=%" PRId64 " p99_us=%" PRId64
	       " max_us=%" PRId64 " errors=%d\n",
	       what, nreads, lat[nreads / 2], lat[nreads * 9 / 10], lat[nreads * 99 / 100],
	       lat[nreads - 1], bad);
	free(lat);
	free(buf);
	return bad ? 1 : 0;
}

static int bench_read(const char *dir, int level, size_t block)
{
	config_t *cfg = make_cfg(dir);
	store_opts_t o = {.pack_level = level, .pack_block = block};
	store_t *s = NULL;
	if (store_open(cfg, &o, &s) != STORE_OK || store_archive_create(s, "bench") != STORE_OK)
		return 2;
	size_t half = ncorpus / 2;
	for (size_t i = 0; i < ncorpus; i++) {
		uint64_t id;
		if (append_one(s, &corpus[i], &id) != STORE_OK || id != i + 1) {
			fprintf(stderr, "bench: append %zu failed or the corpus has duplicates\n",
			        i);
			return 2;
		}
		if (i + 1 == half) {
			store_seal(s, "bench"); /* the first half sealed and packed */
			store_pack_wait(s);
		}
	}
	int rc = read_run(s, 1, half, 20000, "packed");
	rc |= read_run(s, half + 1, ncorpus, 20000, "active");
	store_close(s);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	log_set_level(LOG_LEVEL_WARN);
	if (sodium_init() < 0)
		return 2;
	if (argc >= 3 && !strcmp(argv[1], "ceiling")) {
		load_corpus(argv[2]);
		return bench_loop(argc > 3 ? argv[3] : "/tmp", false);
	}
	if (argc < 4) {
		fprintf(stderr, "usage: bench_store size|append|naive|read DIR CORPUS [N|LEVEL]\n"
		                "       bench_store ceiling CORPUS [DIR]\n");
		return 2;
	}
	load_corpus(argv[3]);
	if (!strcmp(argv[1], "size"))
		return bench_size(argv[2], argc > 4 ? atoi(argv[4]) : 0,
		                  argc > 5 ? (size_t)atol(argv[5]) : 0);
	if (!strcmp(argv[1], "append"))
		return bench_append(argv[2], argc > 4 ? atoi(argv[4]) : 1);
	if (!strcmp(argv[1], "naive"))
		return bench_loop(argv[2], true);
	if (!strcmp(argv[1], "read"))
		return bench_read(argv[2], argc > 4 ? atoi(argv[4]) : 0,
		                  argc > 5 ? (size_t)atol(argv[5]) : 0);
	fprintf(stderr, "bench_store: unknown mode %s\n", argv[1]);
	return 2;
}
