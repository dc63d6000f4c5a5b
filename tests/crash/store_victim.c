/* store_victim.c — the process the crash tests kill (tests/crash/).
 *
 *   store_victim DIR append SEED   appends from 4 threads until killed; every
 *                                  durable append prints "ACK <id> <sha256>";
 *                                  every 6 appends it deletes the 4 oldest
 *                                  ids it acknowledged: "DEL <ids>" before,
 *                                  "GONE <ids>" for those it removed
 *   store_victim DIR check         reads "<id> <sha256>" (must be present,
 *                                  byte-exact) and "gone <id>" (must be gone)
 *                                  lines on stdin, then verifies everything;
 *                                  prints "RESULT ..." and exits 0 if all holds
 *
 * DIR holds the data dir ("data") and the master key.  Segments are small
 * (64 KiB) so seals, packing and deletions happen all the time while it is
 * being killed.  Messages are distinct (seeded), 200 B .. 40 KB, and every
 * 25th is 1.5 MiB (streamed as chunk records).
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "vellum/config.h"
#include "vellum/log.h"
#include "vellum/store.h"
#include "vellum/util.h"

#define ARCHIVE   "crash"
#define THREADS   4
#define DEL_EVERY 6

static config_t *load_cfg(const char *dir)
{
	char *text = xasprintf("[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\n"
	                       "min_free = 0\n",
	                       dir, dir);
	config_t *c = NULL;
	char *err = NULL;
	if (config_load_string(text, strlen(text), "victim.conf", dir, &c, &err) != CONFIG_OK) {
		fprintf(stderr, "config: %s\n", err);
		exit(2);
	}
	free(text);
	c->storage.segment_max = 64u << 10; /* below the config minimum on purpose */
	return c;
}

typedef struct shared {
	store_t *s;
	unsigned seed;
	pthread_mutex_t m;
	unsigned counter;
	uint64_t *acked; /* ids acknowledged by this process, oldest first */
	size_t nacked, capacked, deleted_upto;
} shared_t;

static size_t make_msg(unsigned seed, unsigned n, uint8_t **out)
{
	size_t len = n % 25 == 24 ? (3u << 19) : 200 + (size_t)((n * 7919u) % 40000u);
	uint8_t *b = xmalloc(len);
	int k =
	    snprintf((char *)b, len, "From: victim@example.com\r\nSubject: %u/%u\r\n\r\n", seed, n);
	uint32_t x = seed * 2654435761u ^ n;
	for (size_t i = (size_t)k; i < len; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)("abcdefghij klmnop\r\nqrstuvwxyz"[(x >> 16) % 30]);
	}
	*out = b;
	return len;
}

static void out_line(shared_t *sh, const char *line)
{
	pthread_mutex_lock(&sh->m);
	fputs(line, stdout);
	fflush(stdout);
	pthread_mutex_unlock(&sh->m);
}

static void maybe_delete(shared_t *sh)
{
	pthread_mutex_lock(&sh->m);
	uint64_t ids[4];
	size_t n = 0;
	while (n < 4 && sh->deleted_upto < sh->nacked)
		ids[n++] = sh->acked[sh->deleted_upto++];
	if (n) {
		printf("DEL");
		for (size_t i = 0; i < n; i++)
			printf(" %" PRIu64, ids[i]);
		printf("\n");
		fflush(stdout);
	}
	pthread_mutex_unlock(&sh->m);
	if (!n)
		return;
	store_delete_req_t req = {.kind = STORE_DEL_RETENTION,
	                          .reason = "crash test",
	                          .actor = "victim",
	                          .msgs = ids,
	                          .nmsgs = n,
	                          .seal_active = (ids[0] % 3) == 0};
	store_delete_result_t res;
	if (store_delete(sh->s, ARCHIVE, &req, &res) == STORE_OK && res.nremoved) {
		/* Removed for sure (others may have had an arrival in the
		 * active segment and stayed). */
		buf_t b = {0};
		buf_append_str(&b, "GONE");
		for (size_t i = 0; i < res.nremoved; i++)
			buf_printf(&b, " %" PRIu64, res.removed[i]);
		buf_append_str(&b, "\n");
		out_line(sh, (const char *)b.data);
		buf_free(&b);
	}
	free(res.removed);
}

static void *worker(void *arg)
{
	shared_t *sh = arg;
	for (;;) {
		pthread_mutex_lock(&sh->m);
		unsigned n = sh->counter++;
		pthread_mutex_unlock(&sh->m);
		uint8_t *msg;
		size_t len = make_msg(sh->seed, n, &msg);
		const char *arch = ARCHIVE;
		store_envelope_t e = {.listener = "crash", .mail_from = "victim@example.com"};
		store_append_t *a;
		if (store_append_begin(sh->s, &e, &arch, 1, &a) != STORE_OK) {
			free(msg);
			usleep(1000);
			continue;
		}
		for (size_t off = 0; off < len; off += 300000)
			store_append_write(a, msg + off, len - off < 300000 ? len - off : 300000);
		store_completion_t *c = store_append_commit_wait(a);
		if (c->status == STORE_OK) {
			uint8_t d[32];
			char hex[65], line[128];
			crypto_hash_sha256(d, msg, len);
			util_hex(d, 32, hex);
			snprintf(line, sizeof line, "ACK %" PRIu64 " %s\n", c->ids[0].seq, hex);
			pthread_mutex_lock(&sh->m);
			fputs(line, stdout);
			fflush(stdout);
			if (sh->nacked == sh->capacked) {
				sh->capacked = sh->capacked ? 2 * sh->capacked : 64;
				sh->acked = xrealloc(sh->acked, sh->capacked * sizeof *sh->acked);
			}
			sh->acked[sh->nacked++] = c->ids[0].seq;
			pthread_mutex_unlock(&sh->m);
			if (n % DEL_EVERY == DEL_EVERY - 1)
				maybe_delete(sh);
		}
		store_completion_free(c);
		free(msg);
	}
	return NULL;
}

static int run_append(const char *dir, unsigned seed)
{
	config_t *cfg = load_cfg(dir);
	shared_t sh = {.seed = seed};
	pthread_mutex_init(&sh.m, NULL);
	/* Compression level is not what this test is about: fast packing makes
	 * more seals, packings and compactions happen between the kills. */
	store_opts_t o = {.pack_level = 1};
	store_status_t st = store_open(cfg, &o, &sh.s);
	if (st != STORE_OK) {
		fprintf(stderr, "store_open: %s\n", store_strerror(st));
		return 3;
	}
	st = store_archive_create(sh.s, ARCHIVE);
	if (st != STORE_OK && st != STORE_EEXIST) {
		fprintf(stderr, "archive: %s\n", store_strerror(st));
		return 3;
	}
	out_line(&sh, "READY\n");
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, &sh);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL); /* never: the test kills us */
	return 0;
}

static void on_problem(void *arg, const char *archive, const char *problem)
{
	(void)arg;
	fprintf(stderr, "problem: %s: %s\n", archive, problem);
}

static int run_check(const char *dir)
{
	config_t *cfg = load_cfg(dir);
	store_t *s = NULL;
	store_status_t st = store_open(cfg, NULL, &s);
	if (st != STORE_OK) {
		printf("RESULT open_failed=%s\n", store_strerror(st));
		return 1;
	}
	store_pack_wait(s);
	char line[256];
	unsigned present = 0, missing = 0, mismatched = 0, gone_ok = 0, not_gone = 0;
	while (fgets(line, sizeof line, stdin)) {
		uint64_t id;
		char hex[80];
		if (sscanf(line, "gone %" SCNu64, &id) == 1) {
			store_msg_t *m = NULL;
			if (store_msg_get(s, ARCHIVE, id, &m) == STORE_ENOTFOUND)
				gone_ok++;
			else
				not_gone++, fprintf(stderr, "still there: %" PRIu64 "\n", id);
			store_msg_free(m);
			continue;
		}
		if (sscanf(line, "%" SCNu64 " %64s", &id, hex) != 2)
			continue;
		store_reader_t *r;
		if (store_msg_open(s, ARCHIVE, id, &r) != STORE_OK) {
			missing++;
			fprintf(stderr, "missing: %" PRIu64 "\n", id);
			continue;
		}
		crypto_hash_sha256_state sha;
		crypto_hash_sha256_init(&sha);
		uint8_t buf[65536];
		size_t got;
		while ((st = store_reader_read(r, buf, sizeof buf, &got)) == STORE_OK && got)
			crypto_hash_sha256_update(&sha, buf, got);
		store_reader_close(r);
		uint8_t d[32];
		char dh[65];
		crypto_hash_sha256_final(&sha, d);
		util_hex(d, 32, dh);
		if (st == STORE_OK && !strcmp(dh, hex))
			present++;
		else
			mismatched++, fprintf(stderr, "mismatch: %" PRIu64 "\n", id);
	}
	store_verify_report_t rep;
	store_verify(s, NULL, on_problem, NULL, &rep);
	const char *arch = ARCHIVE;
	store_envelope_t e = {.listener = "check"};
	store_append_t *a;
	bool appends = store_append_begin(s, &e, &arch, 1, &a) == STORE_OK;
	if (appends) {
		store_append_write(a, "after", 5);
		store_completion_t *c = store_append_commit_wait(a);
		appends = c->status == STORE_OK;
		store_completion_free(c);
	}
	printf("RESULT present=%u missing=%u mismatched=%u gone=%u not_gone=%u problems=%" PRIu64
	       " records=%" PRIu64 " deletions=%" PRIu64 " appends=%s\n",
	       present, missing, mismatched, gone_ok, not_gone, rep.problems, rep.records,
	       rep.deletions, appends ? "ok" : "failed");
	store_close(s);
	config_free(cfg);
	return missing || mismatched || not_gone || rep.problems || !appends ? 1 : 0;
}

int main(int argc, char **argv)
{
	log_set_level(getenv("VELLUM_LOG_LEVEL") ? LOG_LEVEL_INFO : LOG_LEVEL_OFF);
	if (sodium_init() < 0)
		return 2;
	if (argc == 4 && !strcmp(argv[2], "append"))
		return run_append(argv[1], (unsigned)strtoul(argv[3], NULL, 10));
	if (argc == 3 && !strcmp(argv[2], "check"))
		return run_check(argv[1]);
	if (argc == 3 && !strcmp(argv[2], "init")) {
		config_t *cfg = load_cfg(argv[1]);
		store_status_t st = store_init_keys(cfg);
		config_free(cfg);
		return st == STORE_OK ? 0 : 1;
	}
	fprintf(stderr, "usage: store_victim DIR init|append SEED|check\n");
	return 2;
}
