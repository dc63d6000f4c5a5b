/* test_store.c — the segment store through its real interface, on real files:
 * appends (tiny, empty, multi-MB streamed), dedup, concurrent submitters,
 * reopen, logs, scans (also from a read-only store while a writer runs),
 * rotation, chunks copied across a rotation, the in-flight cap, min_free,
 * recovery of a torn tail at every byte offset, loss before the head, bit
 * flips and moved records found by verify at the right place, and (test-hooks
 * builds) failing closed on an fsync error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_private.h"
#include "tap.h"
#include "vellum/config.h"
#include "vellum/log.h"
#include "vellum/store.h"

static char *self_exe;

/* ---- helpers ---- */

static config_t *make_cfg(const char *root)
{
	char *text = xasprintf("[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\n"
	                       "min_free = 0\n",
	                       root, root);
	config_t *c = NULL;
	char *err = NULL;
	if (config_load_string(text, strlen(text), "test.conf", root, &c, &err) != CONFIG_OK) {
		printf("Bail out! config: %s\n", err);
		exit(1);
	}
	free(text);
	return c;
}

static store_t *open_store(const config_t *cfg, store_open_mode_t mode, uint64_t inflight_max)
{
	store_opts_t o = {.mode = mode, .inflight_max = inflight_max};
	store_t *s = NULL;
	store_status_t st = store_open(cfg, &o, &s);
	if (st != STORE_OK)
		diag("store_open: %s", store_strerror(st));
	return s;
}

static const char *rcpts[] = {"journal@example.com", "auditor@example.org"};

static store_envelope_t std_env(void)
{
	store_envelope_t e = {
	    .received = INT64_C(1700000000000000),
	    .listener = "default",
	    .client_addr = "127.0.0.1",
	    .client_port = 40112,
	    .helo = "mx.example.com",
	    .tls_version = "TLS1.3",
	    .tls_cipher = "TLS_AES_256_GCM_SHA384",
	    .auth_id = "ingest",
	    .mail_from = "sender@example.com",
	    .mail_params = "SIZE=100 BODY=8BITMIME",
	    .rcpt = rcpts,
	    .nrcpt = 2,
	    .flags = STORE_ENV_8BITMIME,
	};
	return e;
}

/* Appends msg to the archives, written in pieces of `piece` bytes. */
static store_completion_t *put_to(store_t *s, const char *const *archives, size_t n,
                                  const void *msg, size_t len, size_t piece)
{
	store_envelope_t e = std_env();
	store_append_t *a;
	store_status_t st = store_append_begin(s, &e, archives, n, &a);
	if (st != STORE_OK) {
		store_completion_t *c = xcalloc(1, sizeof *c); /* a stand-in carrying the status */
		c->status = st;
		return c;
	}
	for (size_t off = 0; off < len; off += piece) {
		size_t k = len - off < piece ? len - off : piece;
		if (store_append_write(a, (const uint8_t *)msg + off, k) != STORE_OK)
			break;
	}
	return store_append_commit_wait(a);
}

static store_completion_t *put(store_t *s, const char *archive, const void *msg, size_t len)
{
	return put_to(s, &archive, 1, msg, len, 4096);
}

/* Appends and returns the id (0 on failure). */
static uint64_t put_id(store_t *s, const char *archive, const void *msg, size_t len)
{
	store_completion_t *c = put(s, archive, msg, len);
	uint64_t id = c->status == STORE_OK ? c->ids[0].seq : 0;
	if (c->status)
		diag("append to %s: %s", archive, store_strerror(c->status));
	store_completion_free(c);
	return id;
}

static store_status_t read_msg(store_t *s, const char *archive, uint64_t seq, size_t cap,
                               buf_t *out)
{
	store_reader_t *r;
	buf_reset(out);
	store_status_t st = store_msg_open(s, archive, seq, &r);
	if (st != STORE_OK)
		return st;
	uint8_t *tmp = xmalloc(cap);
	for (;;) {
		size_t got;
		st = store_reader_read(r, tmp, cap, &got);
		if (st != STORE_OK || got == 0)
			break;
		buf_append(out, tmp, got);
	}
	free(tmp);
	store_reader_close(r);
	return st;
}

static bool same_bytes(store_t *s, const char *archive, uint64_t seq, const void *msg, size_t n)
{
	buf_t b = {0};
	bool ok = read_msg(s, archive, seq, 3000, &b) == STORE_OK && b.len == n &&
	          (n == 0 || !memcmp(b.data, msg, n));
	buf_free(&b);
	return ok;
}

static char *seg_path(const config_t *cfg, const char *archive, uint64_t first)
{
	char name[STORE_SEG_NAME_MAX];
	store_seg_name(first, name);
	return xasprintf("%s/archives/%s/%s", cfg->storage.data_dir, archive, name);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Copies (a prefix of) a file; no fsync: a test needs no durability, and
 * the torn-tail loop copies thousands of times. */
static bool copy_file(const char *from, const char *to, uint64_t max)
{
	buf_t b = {0};
	bool ok = util_read_file(from, 1u << 30, &b) == UTIL_OK;
	int fd = ok ? open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
	ok = fd >= 0 && util_write_all(fd, b.data, b.len < max ? b.len : max) == UTIL_OK;
	if (fd >= 0)
		close(fd);
	buf_free(&b);
	return ok;
}

static void flip_bit(const char *path, uint64_t off, int bit)
{
	int fd = open(path, O_RDWR);
	uint8_t c;
	if (pread(fd, &c, 1, (off_t)off) != 1)
		diag("flip: read failed");
	c ^= (uint8_t)(1u << bit);
	if (pwrite(fd, &c, 1, (off_t)off) != 1)
		diag("flip: write failed");
	close(fd);
}

typedef struct problems {
	int n;
	char first[512];
	char all[4096];
} problems_t;

static void on_problem(void *arg, const char *archive, const char *problem)
{
	problems_t *p = arg;
	if (!p->n++)
		snprintf(p->first, sizeof p->first, "%s", problem);
	size_t l = strlen(p->all);
	snprintf(p->all + l, sizeof p->all - l, "[%s] %s\n", archive, problem);
}

static int verify_count(store_t *s, const char *archive, problems_t *p)
{
	memset(p, 0, sizeof *p);
	store_verify_report_t rep;
	store_status_t st = store_verify(s, archive, on_problem, p, &rep);
	if (st != STORE_OK)
		return -1;
	if (rep.problems != (uint64_t)p->n)
		return -2;
	return p->n;
}

static void fill_random(uint8_t *p, size_t n)
{
	randombytes_buf(p, n);
}

static void fill_text(uint8_t *p, size_t n, unsigned seed)
{
	static const char words[] = "Subject: quarterly report\r\nFrom: cfo@example.com\r\n"
	                            "lorem ipsum dolor sit amet consectetur adipiscing elit\r\n";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i * 7 + seed) % (sizeof words - 1)];
}

/* ---- tests ---- */

static void test_ids(void)
{
	char a[STORE_NAME_MAX + 1];
	uint64_t q = 0;
	ok(store_id_parse("default-17", a, &q) && !strcmp(a, "default") && q == 17,
	   "parse default-17");
	ok(store_id_parse("legal-2024-3", a, &q) && !strcmp(a, "legal-2024") && q == 3,
	   "split on the last dash");
	ok(store_id_parse("x-18446744073709551615", a, &q) && q == UINT64_MAX, "largest seq");
	ok(!store_id_parse("x-18446744073709551616", a, &q), "overflow refused");
	ok(!store_id_parse("default-0", a, &q), "seq 0 refused");
	ok(!store_id_parse("default-01", a, &q), "leading zero refused");
	ok(!store_id_parse("default-", a, &q) && !store_id_parse("-5", a, &q) &&
	       !store_id_parse("default", a, &q) && !store_id_parse("default-1x", a, &q) &&
	       !store_id_parse("default-+1", a, &q),
	   "malformed ids refused");
	ok(!store_id_parse("_audit-1", a, &q), "log records are not message ids");
	ok(!store_id_parse("Bad-1", a, &q) && !store_id_parse(NULL, a, &q), "bad archive name");
}

static void test_basics(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_t *s = NULL;
	ok(store_open(cfg, NULL, &s) == STORE_ENOTFOUND && !s, "open before init: no data dir");
	ok(store_init_keys(cfg) == STORE_OK, "init keys");
	ok(store_init_keys(cfg) == STORE_OK, "init keys again keeps them");
	struct stat st;
	ok(stat(cfg->storage.master_key_file, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "master key 0600");
	char *sk = xasprintf("%s/keys/signing.key", cfg->storage.data_dir);
	ok(stat(sk, &st) == 0 && (st.st_mode & 0777) == 0600, "signing key 0600 in data_dir/keys");
	free(sk);
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	ok(s != NULL, "open");
	ok(store_archive_create(s, "default") == STORE_OK, "create archive");
	ok(store_archive_create(s, "default") == STORE_EEXIST, "create twice: EEXIST");
	ok(store_archive_create(s, "Default") == STORE_EINVAL, "upper case refused");
	ok(store_archive_create(s, "-x") == STORE_EINVAL, "leading dash refused");
	ok(store_archive_create(s, "a/b") == STORE_EINVAL, "slash refused");
	ok(store_archive_create(s, "") == STORE_EINVAL, "empty name refused");
	char n64[66];
	memset(n64, 'a', 65);
	n64[65] = 0;
	ok(store_archive_create(s, n64) == STORE_EINVAL, "65 characters refused");
	n64[64] = 0;
	ok(store_archive_create(s, n64) == STORE_OK, "64 characters accepted");
	ok(store_archive_create(s, "legal.2024_x-y") == STORE_OK, "dots, dashes, underscores");
	ok(store_archive_exists(s, "default") && !store_archive_exists(s, "nope"), "exists");
	char **v = store_archive_list(s);
	ok(v && v[0] && !strcmp(v[0], n64) && v[1] && !strcmp(v[1], "default") && v[2] &&
	       !strcmp(v[2], "legal.2024_x-y") && !v[3],
	   "list, sorted");
	util_strv_free(v);

	/* a tiny message */
	const char *m1 = "From: a@example.com\r\nSubject: tiny\r\n\r\nhello\r\n";
	store_completion_t *c = put(s, "default", m1, strlen(m1));
	uint8_t sha[32];
	crypto_hash_sha256(sha, (const uint8_t *)m1, strlen(m1));
	ok(c->status == STORE_OK && c->nids == 1 && c->ids[0].seq == 1 && !c->ids[0].duplicate &&
	       !strcmp(c->ids[0].archive, "default"),
	   "tiny message is default-1");
	ok(!memcmp(c->sha256, sha, 32) && c->size == strlen(m1),
	   "completion carries SHA-256 and size");
	store_completion_free(c);
	ok(same_bytes(s, "default", 1, m1, strlen(m1)), "tiny message reads back byte-exact");

	store_msg_t *m = NULL;
	ok(store_msg_get(s, "default", 1, &m) == STORE_OK && m, "msg_get");
	if (m) {
		ok(m->seq == 1 && !memcmp(m->sha256, sha, 32) && m->size == strlen(m1) &&
		       m->narrivals == 1 && m->received == INT64_C(1700000000000000),
		   "message fields");
		store_arrival_t *a = &m->arrivals[0];
		ok(!strcmp(a->listener, "default") && !strcmp(a->client_addr, "127.0.0.1") &&
		       a->client_port == 40112 && !strcmp(a->helo, "mx.example.com") &&
		       !strcmp(a->tls_version, "TLS1.3") &&
		       !strcmp(a->tls_cipher, "TLS_AES_256_GCM_SHA384") &&
		       !strcmp(a->auth_id, "ingest") &&
		       !strcmp(a->mail_from, "sender@example.com") &&
		       !strcmp(a->mail_params, "SIZE=100 BODY=8BITMIME") &&
		       a->flags == STORE_ENV_8BITMIME,
		   "envelope fields round trip");
		ok(a->nrcpt == 2 && !strcmp(a->rcpt[1], "auditor@example.org") && !a->rcpt[2],
		   "recipients round trip");
		is_str(a->segment, "00000000000000000001.seg", "arrival names its segment");
		ok(a->offset == STORE_SEG_HDR_SIZE + (uint64_t)strlen(m1) + STORE_REC_OVERHEAD &&
		       a->record_seq == 2,
		   "envelope record follows the content record");
	}
	store_msg_free(m);

	/* empty message */
	c = put(s, "default", "", 0);
	ok(c->status == STORE_OK && c->ids[0].seq == 2 && c->size == 0,
	   "0-byte message is default-2");
	crypto_hash_sha256(sha, NULL, 0);
	ok(!memcmp(c->sha256, sha, 32), "SHA-256 of nothing");
	store_completion_free(c);
	ok(same_bytes(s, "default", 2, "", 0), "0-byte message reads back empty");

	/* a multi-MB message, streamed in odd pieces: several chunk records */
	size_t big = 5 * STORE_CHUNK_SIZE + 12345;
	uint8_t *bm = xmalloc(big);
	fill_text(bm, big / 2, 3);
	fill_random(bm + big / 2, big - big / 2);
	const char *one = "default";
	c = put_to(s, &one, 1, bm, big, 7777);
	crypto_hash_sha256(sha, bm, big);
	ok(c->status == STORE_OK && c->ids[0].seq == 3 && !memcmp(c->sha256, sha, 32) &&
	       c->size == big,
	   "5 MB message is default-3 with its SHA-256");
	store_completion_free(c);
	buf_t b = {0};
	ok(read_msg(s, "default", 3, 65536, &b) == STORE_OK && b.len == big &&
	       !memcmp(b.data, bm, big),
	   "5 MB message reads back byte-exact");
	crypto_hash_sha256(sha, b.data, b.len);
	uint8_t want[32];
	crypto_hash_sha256(want, bm, big);
	ok(!memcmp(sha, want, 32), "SHA-256 of what was read matches");
	m = NULL;
	ok(store_msg_get(s, "default", 3, &m) == STORE_OK && m->size == big, "msg_get of 5 MB");
	store_msg_free(m);
	/* the same big message again: same id */
	c = put_to(s, &one, 1, bm, big, 65536);
	ok(c->status == STORE_OK && c->ids[0].seq == 3 && c->ids[0].duplicate,
	   "streamed duplicate gets the same id");
	store_completion_free(c);

	/* errors */
	ok(store_msg_get(s, "default", 99, &m) == STORE_ENOTFOUND, "unknown id: ENOTFOUND");
	ok(store_msg_get(s, "nope", 1, &m) == STORE_ENOTFOUND, "unknown archive: ENOTFOUND");
	store_envelope_t e = std_env();
	store_append_t *ap;
	const char *bad1[] = {"nope"}, *bad2[] = {"default", "default"}, *bad3[] = {"_audit"};
	ok(store_append_begin(s, &e, bad1, 1, &ap) == STORE_ENOTFOUND, "append to unknown archive");
	ok(store_append_begin(s, &e, bad2, 2, &ap) == STORE_EINVAL, "same archive twice");
	ok(store_append_begin(s, &e, bad3, 1, &ap) == STORE_EINVAL, "append mail to a log");
	ok(store_append_begin(s, &e, bad1, 0, &ap) == STORE_EINVAL, "no archive");

	/* abort leaves nothing visible */
	const char *d1[] = {"default"};
	ok(store_append_begin(s, &e, d1, 1, &ap) == STORE_OK, "begin");
	store_append_write(ap, bm, 2 * STORE_CHUNK_SIZE + 5);
	store_append_abort(ap);
	ok(put_id(s, "default", "after abort", 11) == 4, "aborted append used no id");

	/* two archives at once */
	const char *two[] = {"default", "legal.2024_x-y"};
	c = put_to(s, two, 2, "both\r\n", 6, 100);
	ok(c->status == STORE_OK && c->nids == 2 && c->ids[0].seq == 5 && c->ids[1].seq == 1 &&
	       !strcmp(c->ids[1].archive, "legal.2024_x-y"),
	   "one append, an id in each archive");
	store_completion_free(c);
	ok(same_bytes(s, "legal.2024_x-y", 1, "both\r\n", 6), "readable in the second archive");

	problems_t p;
	is_int(verify_count(s, NULL, &p), 0, "verify clean");
	if (p.n)
		diag("%s", p.all);
	store_archive_stats_t stt;
	ok(store_archive_stats(s, "default", &stt) == STORE_OK && stt.messages == 5 &&
	       stt.arrivals == 6 && stt.segments == 1 && stt.records > 10 && stt.bytes > big / 2,
	   "stats");
	store_close(s);

	/* reopen: ids kept, the next id follows, a duplicate maps to its old id */
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	ok(s && same_bytes(s, "default", 3, bm, big), "after reopen the 5 MB message reads back");
	ok(put_id(s, "default", m1, strlen(m1)) == 1, "after reopen a duplicate keeps id 1");
	ok(put_id(s, "default", "new after reopen", 16) == 6, "after reopen the next id is 6");
	is_int(verify_count(s, "default", &p), 0, "verify clean after reopen");
	store_close(s);

	/* a wrong master key is refused */
	char *mk = xstrdup(cfg->storage.master_key_file);
	char *saved = xasprintf("%s.saved", mk);
	rename(mk, saved);
	keys_master_create(mk);
	s = NULL;
	ok(store_open(cfg, NULL, &s) == STORE_EKEY && !s, "another master key: EKEY");
	rename(saved, mk);
	free(saved);
	free(mk);
	buf_free(&b);
	free(bm);
	config_free(cfg);
}

static void test_dedup(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	store_archive_create(s, "dd");
	uint8_t msg[20000];
	fill_random(msg, sizeof msg);
	char *seg = seg_path(cfg, "dd", 1);
	store_completion_t *c = put(s, "dd", msg, sizeof msg);
	bool first = c->status == STORE_OK && c->ids[0].seq == 1 && !c->ids[0].duplicate;
	store_completion_free(c);
	uint64_t size1 = file_size(seg);
	c = put(s, "dd", msg, sizeof msg);
	bool second = c->status == STORE_OK && c->ids[0].seq == 1 && c->ids[0].duplicate;
	store_completion_free(c);
	c = put(s, "dd", msg, sizeof msg);
	bool third = c->status == STORE_OK && c->ids[0].seq == 1 && c->ids[0].duplicate;
	store_completion_free(c);
	uint64_t size3 = file_size(seg);
	ok(first && second && third, "same message 3 times: one id, arrivals 2 and 3 duplicates");
	ok(size3 - size1 < 2000,
	   "stored once: later arrivals add only envelopes (%" PRIu64 " bytes)", size3 - size1);
	store_msg_t *m = NULL;
	ok(store_msg_get(s, "dd", 1, &m) == STORE_OK && m->narrivals == 3 &&
	       m->arrivals[0].record_seq < m->arrivals[1].record_seq &&
	       m->arrivals[1].record_seq < m->arrivals[2].record_seq,
	   "three arrivals, oldest first");
	store_msg_free(m);
	ok(put_id(s, "dd", "other", 5) == 2, "a different message gets id 2");
	ok(same_bytes(s, "dd", 1, msg, sizeof msg), "deduplicated message reads back");
	problems_t p;
	is_int(verify_count(s, "dd", &p), 0, "verify clean");
	store_close(s);
	free(seg);
	config_free(cfg);
}

typedef struct worker {
	store_t *s;
	int id;
	int n;
	int ok;
	bool empty;
	uint64_t *seqs;
	uint8_t (*sha)[32];
} worker_t;

#define WORKERS    8
#define PER_WORKER 30

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	store_queue_t *q = store_queue_new();
	const char *arch[] = {"conc"};
	for (int i = 0; i < w->n; i++) {
		/* every 10th message is streamed in chunks */
		size_t len = i % 10 == 9 ? STORE_CHUNK_SIZE + 1000u * (unsigned)w->id
		                         : 200u + 37u * (unsigned)i;
		uint8_t *msg = xmalloc(len);
		fill_text(msg, len, (unsigned)(w->id * 1000 + i));
		snprintf((char *)msg, len, "worker %d message %d\r\n", w->id, i);
		crypto_hash_sha256(w->sha[i], msg, len);
		store_envelope_t e = std_env();
		store_append_t *a;
		if (store_append_begin(w->s, &e, arch, 1, &a) != STORE_OK) {
			free(msg);
			continue;
		}
		for (size_t off = 0; off < len; off += 1000)
			store_append_write(a, msg + off, len - off < 1000 ? len - off : 1000);
		free(msg);
		store_append_commit(a, q, (void *)(intptr_t)i);
		struct pollfd pfd = {.fd = store_queue_fd(q), .events = POLLIN};
		store_completion_t *c = NULL;
		while (!c) {
			poll(&pfd, 1, 10000);
			c = store_queue_pop(q);
		}
		int idx = (int)(intptr_t)c->cookie;
		if (c->status == STORE_OK && !memcmp(c->sha256, w->sha[idx], 32)) {
			w->seqs[idx] = c->ids[0].seq;
			w->ok++;
		}
		store_completion_free(c);
	}
	w->empty = store_queue_pop(q) == NULL;
	store_queue_free(q);
	return NULL;
}

static void test_concurrent(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	store_archive_create(s, "conc");
	pthread_t th[WORKERS];
	worker_t w[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (worker_t){.s = s, .id = i, .n = PER_WORKER};
		w[i].seqs = xcalloc(PER_WORKER, sizeof *w[i].seqs);
		w[i].sha = xcalloc(PER_WORKER, sizeof *w[i].sha);
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	int okc = 0, empty = 0;
	uint8_t *seen = xcalloc(WORKERS * PER_WORKER + 1, 1);
	bool unique = true;
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(th[i], NULL);
		okc += w[i].ok;
		empty += w[i].empty;
		for (int k = 0; k < PER_WORKER; k++) {
			uint64_t q = w[i].seqs[k];
			if (q < 1 || q > WORKERS * PER_WORKER || seen[q]++)
				unique = false;
		}
	}
	is_int(okc, WORKERS * PER_WORKER, "%d threads x %d appends all completed", WORKERS,
	       PER_WORKER);
	is_int(empty, WORKERS, "every queue empty at the end");
	ok(unique, "ids are exactly 1..%d, each once", WORKERS * PER_WORKER);
	int good = 0;
	for (int i = 0; i < WORKERS; i++)
		for (int k = 0; k < PER_WORKER; k++) {
			store_msg_t *m = NULL;
			if (store_msg_get(s, "conc", w[i].seqs[k], &m) == STORE_OK &&
			    !memcmp(m->sha256, w[i].sha[k], 32)) {
				buf_t b = {0};
				uint8_t d[32];
				if (read_msg(s, "conc", w[i].seqs[k], 8192, &b) == STORE_OK) {
					crypto_hash_sha256(d, b.data, b.len);
					good += !memcmp(d, w[i].sha[k], 32);
				}
				buf_free(&b);
			}
			store_msg_free(m);
		}
	is_int(good, WORKERS * PER_WORKER, "every message reads back with its SHA-256");
	problems_t p;
	is_int(verify_count(s, "conc", &p), 0, "verify clean after concurrent appends");
	store_close(s);
	for (int i = 0; i < WORKERS; i++) {
		free(w[i].seqs);
		free(w[i].sha);
	}
	free(seen);
	config_free(cfg);
}

static void test_logs_and_scan(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	uint64_t seq = 0;
	ok(store_log_append(s, "_audit", "login ok", 8, &seq) == STORE_OK && seq == 1,
	   "first log record: _audit created on first use, seq 1");
	ok(store_log_append(s, "_audit", "search x", 8, &seq) == STORE_OK && seq == 2, "seq 2");
	ok(store_log_append(s, "audit", "x", 1, &seq) == STORE_EINVAL, "log names start with _");
	ok(store_log_append(s, "_audit", "", 0, &seq) == STORE_OK && seq == 3, "empty log record");
	char **v = store_archive_list(s);
	ok(v && !v[0], "logs are not listed as archives");
	util_strv_free(v);
	ok(store_archive_exists(s, "_audit"), "but they exist");
	uint64_t h;
	ok(store_head(s, "_audit", &h) == STORE_OK && h == 3, "log head 3");

	store_scan_t *sc;
	const store_scan_item_t *it;
	ok(store_scan_open(s, "_audit", 0, &sc) == STORE_OK, "scan log");
	int n = 0;
	bool in_order = true;
	while (store_scan_next(sc, &it) == STORE_OK && it) {
		n++;
		in_order = in_order && it->type == STORE_ITEM_LOG && it->record_seq == (uint64_t)n;
		if (n == 2)
			ok(it->len == 8 && !memcmp(it->data, "search x", 8), "log payload");
	}
	ok(n == 3 && in_order, "three log items in order");
	store_scan_close(sc);

	store_archive_create(s, "sc");
	ok(put_id(s, "sc", "m1", 2) == 1 && put_id(s, "sc", "m2", 2) == 2 &&
	       put_id(s, "sc", "m1", 2) == 1 && put_id(s, "sc", "m3", 2) == 3,
	   "four arrivals");
	ok(store_scan_open(s, "sc", 0, &sc) == STORE_OK, "scan archive");
	store_item_type_t want_t[] = {STORE_ITEM_MESSAGE, STORE_ITEM_MESSAGE, STORE_ITEM_ARRIVAL,
	                              STORE_ITEM_MESSAGE};
	uint64_t want_m[] = {1, 2, 1, 3}, last_rec = 0, second_rec = 0;
	n = 0;
	in_order = true;
	while (store_scan_next(sc, &it) == STORE_OK && it && n < 4) {
		in_order = in_order && it->type == want_t[n] && it->msg_seq == want_m[n] &&
		           it->record_seq > last_rec && it->arrival &&
		           it->arrival->record_seq == it->record_seq &&
		           !strcmp(it->arrival->helo, "mx.example.com");
		last_rec = it->record_seq;
		if (n == 1)
			second_rec = it->record_seq;
		if (n == 2) {
			store_reader_t *r;
			char buf[16];
			size_t got = 0;
			ok(store_scan_open_message(sc, &r) == STORE_OK &&
			       store_reader_read(r, buf, sizeof buf, &got) == STORE_OK &&
			       got == 2 && !memcmp(buf, "m1", 2),
			   "scan opens the arrival's bytes");
			store_reader_close(r);
		}
		n++;
	}
	ok(n == 4 && in_order, "MESSAGE 1, MESSAGE 2, ARRIVAL 1, MESSAGE 3 in chain order");
	ok(store_scan_next(sc, &it) == STORE_OK && it == NULL, "end of the chain");
	ok(put_id(s, "sc", "m4", 2) == 4, "append while scanning");
	ok(store_scan_next(sc, &it) == STORE_OK && it && it->type == STORE_ITEM_MESSAGE &&
	       it->msg_seq == 4,
	   "a tailing scan sees the new message");
	store_scan_close(sc);
	ok(store_scan_open(s, "sc", second_rec, &sc) == STORE_OK &&
	       store_scan_next(sc, &it) == STORE_OK && it && it->type == STORE_ITEM_ARRIVAL &&
	       it->msg_seq == 1,
	   "scan resumes after a given record");
	store_scan_close(sc);

	/* a read-only store in the same data dir, as the indexer opens it */
	store_t *ro = open_store(cfg, STORE_OPEN_READONLY, 0);
	ok(ro != NULL, "read-only open beside the writer");
	ok(store_scan_open(ro, "sc", 0, &sc) == STORE_OK, "read-only scan");
	n = 0;
	while (store_scan_next(sc, &it) == STORE_OK && it)
		n++;
	is_int(n, 5, "read-only scan sees every arrival");
	ok(put_id(s, "sc", "m5", 2) == 5, "writer appends");
	ok(store_scan_next(sc, &it) == STORE_OK && it && it->msg_seq == 5,
	   "read-only tailing scan sees it after the head moves");
	store_scan_close(sc);
	ok(same_bytes(ro, "sc", 5, "m5", 2), "read-only msg_open");
	store_envelope_t e = std_env();
	store_append_t *ap;
	const char *one[] = {"sc"};
	ok(store_append_begin(ro, &e, one, 1, &ap) == STORE_EREADONLY, "read-only: no appends");
	ok(store_log_append(ro, "_audit", "x", 1, &seq) == STORE_EREADONLY, "read-only: no logs");
	ok(store_archive_create(s, "later") == STORE_OK && put_id(s, "later", "x", 1) == 1,
	   "writer creates an archive");
	ok(store_archive_exists(ro, "later") && same_bytes(ro, "later", 1, "x", 1),
	   "read-only store finds the new archive");
	problems_t p;
	is_int(verify_count(ro, NULL, &p), 0, "verify from the read-only store while writing");
	store_close(ro);
	store_close(s);
	config_free(cfg);
}

static uint32_t rec_len_at(const buf_t *b, uint64_t off);
static bool write_at(const char *path, const void *p, size_t n, uint64_t off);

static uint32_t rec_len_at_file(const char *path, uint64_t off)
{
	buf_t b = {0};
	util_read_file(path, 1u << 20, &b);
	uint32_t n = b.len >= off + 4 ? rec_len_at(&b, off) : 0;
	buf_free(&b);
	return n;
}

static store_t *open_nopack(const config_t *cfg)
{
	store_opts_t o = {.no_pack = true};
	store_t *s = NULL;
	store_status_t st = store_open(cfg, &o, &s);
	if (st != STORE_OK)
		diag("store_open: %s", store_strerror(st));
	return s;
}

/* The offset of the record with sequence seq in an unpacked segment. */
static uint64_t rec_offset(const char *path, uint64_t seq)
{
	buf_t b = {0};
	util_read_file(path, 1u << 24, &b);
	uint64_t off = STORE_SEG_HDR_SIZE, found = 0;
	while (off + STORE_REC_HDR_SIZE <= b.len) {
		store_rec_hdr_t h;
		const char *why;
		if (store_rec_hdr_decode(b.data + off, &h, &why) != STORE_OK)
			break;
		if (h.seq == seq)
			found = off;
		off += h.length;
	}
	buf_free(&b);
	return found;
}

static void test_rotation(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	cfg->storage.segment_max = 1; /* below the config minimum: every message seals */
	store_t *s = open_nopack(cfg);
	store_t *ro = open_store(cfg, STORE_OPEN_READONLY, 0);
	store_archive_create(s, "rot");
	ok(put_id(s, "rot", "one", 3) == 1 && put_id(s, "rot", "two", 3) == 2 &&
	       put_id(s, "rot", "three", 5) == 3,
	   "three messages");
	/* 1: content 1, envelope 2, SEAL 3 | 4: content, envelope, SEAL 6 | 7: ... */
	char *p1 = seg_path(cfg, "rot", 1), *p4 = seg_path(cfg, "rot", 4),
	     *p7 = seg_path(cfg, "rot", 7);
	ok(file_size(p1) && file_size(p4) && file_size(p7),
	   "a segment each, named by first sequence, each sealed by a record of its own");
	ok(same_bytes(ro, "rot", 3, "three", 5),
	   "read-only store reads a segment created after it opened");
	problems_t p;
	store_verify_report_t rep;
	is_int(verify_count(s, "rot", &p), 0, "verify clean across segments");
	store_verify(s, "rot", NULL, NULL, &rep);
	is_int(rep.anchored_seq, 6, "anchored by the last seal's signature (seq 6)");
	is_int(rep.signatures, 2, "two seals checked");
	store_close(ro);

	/* a bit flipped in a sealed segment: verify names segment, offset, sequence */
	store_msg_t *m = NULL;
	store_msg_get(s, "rot", 2, &m);
	uint64_t off = m->arrivals[0].offset, rs = m->arrivals[0].record_seq;
	store_msg_free(m);
	store_close(s);
	flip_bit(p4, off + STORE_REC_HDR_SIZE + 3, 5);
	s = open_nopack(cfg);
	ok(s != NULL, "reopen with a flipped bit in a sealed segment");
	char want[256];
	snprintf(want, sizeof want,
	         "segment 00000000000000000004.seg offset %" PRIu64 " seq %" PRIu64
	         ": authentication failed",
	         off, rs);
	int np = verify_count(s, "rot", &p);
	ok(np >= 1 && !strcmp(p.first, want), "verify finds the flip at the right place");
	if (strcmp(p.first, want))
		diag("got: %s\nwant: %s", p.first, want);
	ok(store_msg_get(s, "rot", 2, &m) == STORE_ECORRUPT, "reading it fails authentication");
	ok(same_bytes(s, "rot", 1, "one", 3) && same_bytes(s, "rot", 3, "three", 5),
	   "the other messages still read");
	flip_bit(p4, off + STORE_REC_HDR_SIZE + 3, 5);
	is_int(verify_count(s, "rot", &p), 0, "flipped back: clean");
	flip_bit(p4, 20, 0); /* inside first_seq of the segment header */
	np = verify_count(s, "rot", &p);
	ok(np >= 1 && strstr(p.first, "segment 00000000000000000004.seg offset 0") &&
	       strstr(p.first, "header"),
	   "a flipped segment header bit is found: %s", p.first);
	flip_bit(p4, 20, 0);

	/* a record moved into another segment of the same archive, its header
	 * seq rewritten to fit there: the other segment's key refuses it */
	char *saved = xasprintf("%s.saved", p4);
	copy_file(p4, saved, UINT64_MAX);
	buf_t r1 = {0};
	util_read_file(p1, 1u << 20, &r1);
	uint32_t l1 = rec_len_at(&r1, STORE_SEG_HDR_SIZE);
	uint8_t moved[256];
	bool fits = l1 <= sizeof moved && l1 == rec_len_at_file(p4, STORE_SEG_HDR_SIZE);
	if (fits) {
		memcpy(moved, r1.data + STORE_SEG_HDR_SIZE, l1);
		moved[8] = 4; /* seq 1 -> 4, little-endian */
		write_at(p4, moved, l1, STORE_SEG_HDR_SIZE);
	}
	np = verify_count(s, "rot", &p);
	ok(fits && np >= 1 &&
	       !strcmp(p.first, "segment 00000000000000000004.seg offset 128 seq 4: "
	                        "authentication failed"),
	   "a record moved into another segment fails authentication: %s", p.first);
	copy_file(saved, p4, UINT64_MAX);
	buf_free(&r1);

	/* a removed sealed segment is reported */
	rename(p4, saved);
	np = verify_count(s, "rot", &p);
	ok(np >= 1 && strstr(p.first, "00000000000000000007.seg") &&
	       strstr(p.first, "records 4..6 missing") && strstr(p.first, "no deletion record"),
	   "a missing segment is reported: %s", p.first);
	rename(saved, p4);
	/* records cut from the end of a sealed segment are reported */
	uint64_t full = file_size(p4);
	copy_file(p4, saved, UINT64_MAX);
	truncate(p4, (off_t)(full - 10));
	np = verify_count(s, "rot", &p);
	ok(np >= 1 && strstr(p.first, "00000000000000000004.seg") && strstr(p.first, "cut off"),
	   "a sealed segment cut inside a record is reported: %s", p.first);
	truncate(p4, (off_t)rec_offset(saved, 6)); /* its SEAL, exactly */
	np = verify_count(s, "rot", &p);
	ok(np >= 1 && strstr(p.all, "00000000000000000004.seg") &&
	       strstr(p.all, "without its seal") && strstr(p.all, "records 6..6 missing"),
	   "a sealed segment cut at a record boundary is reported: %s", p.first);
	rename(saved, p4);
	is_int(verify_count(s, "rot", &p), 0, "restored: clean");
	store_close(s);

	/* sealing by age, also while idle */
	cfg->storage.segment_max = 1u << 30;
	cfg->storage.segment_max_age = (util_duration_t){.seconds = 1};
	s = open_nopack(cfg);
	store_archive_create(s, "age");
	put_id(s, "age", "a", 1);
	put_id(s, "age", "b", 1);
	store_archive_stats_t st;
	store_archive_stats(s, "age", &st);
	ok(st.segments == 1, "young segment takes more appends");
	usleep(1100000);
	put_id(s, "age", "c", 1);
	store_archive_stats(s, "age", &st);
	ok(st.segments == 2, "segment older than segment_max_age is sealed");
	store_segment_info_t *si = NULL;
	size_t nsi = 0;
	bool sealed_idle = false;
	for (int i = 0; i < 40 && !sealed_idle; i++) {
		usleep(100000);
		store_segments(s, "age", &si, &nsi);
		sealed_idle = nsi == 2 && si[1].sealed && !si[1].active;
		free(si);
	}
	ok(sealed_idle, "an idle segment past segment_max_age is sealed by the writer");
	is_int(verify_count(s, "age", &p), 0, "clean");
	store_close(s);
	free(saved);
	free(p1);
	free(p4);
	free(p7);
	config_free(cfg);
}

static void test_chunks_across_rotation(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	cfg->storage.segment_max = 3 * STORE_CHUNK_SIZE / 2;
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	store_archive_create(s, "cp");
	size_t big = 3 * STORE_CHUNK_SIZE + 5;
	uint8_t *bm = xmalloc(big), *small = xmalloc(600000);
	fill_random(bm, big);
	store_envelope_t e = std_env();
	const char *one[] = {"cp"};
	store_append_t *a;
	ok(store_append_begin(s, &e, one, 1, &a) == STORE_OK &&
	       store_append_write(a, bm, 2 * STORE_CHUNK_SIZE) == STORE_OK,
	   "stream 2 MB of a message");
	fill_random(small, 600000);
	uint64_t i1 = put_id(s, "cp", small, 600000);
	fill_random(small, 600000);
	uint64_t i2 = put_id(s, "cp", small, 600000);
	ok(i1 == 1 && i2 == 2, "two messages committed meanwhile (segment sealed)");
	ok(store_append_write(a, bm + 2 * STORE_CHUNK_SIZE, big - 2 * STORE_CHUNK_SIZE) == STORE_OK,
	   "stream the rest");
	store_completion_t *c = store_append_commit_wait(a);
	ok(c->status == STORE_OK && c->ids[0].seq == 3, "streamed message committed as cp-3");
	store_completion_free(c);
	store_archive_stats_t st;
	store_archive_stats(s, "cp", &st);
	ok(st.segments >= 2, "the message's first chunks were in a sealed segment");
	store_msg_t *m = NULL;
	store_msg_get(s, "cp", 3, &m);
	ok(m && strcmp(m->arrivals[0].segment, "00000000000000000001.seg") != 0,
	   "its envelope is in a later segment: %s", m ? m->arrivals[0].segment : "-");
	store_msg_free(m);
	ok(same_bytes(s, "cp", 3, bm, big), "chunks copied into the new segment read back exactly");
	problems_t p;
	is_int(verify_count(s, "cp", &p), 0, "verify clean");
	if (p.n)
		diag("%s", p.all);
	store_close(s);
	free(bm);
	free(small);
	config_free(cfg);
}

static void test_limits(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 512 * 1024);
	store_archive_create(s, "lim");
	store_envelope_t e = std_env();
	const char *one[] = {"lim"};
	uint8_t *buf = xcalloc(1, 600 * 1024);
	store_append_t *a, *b, *c;
	ok(store_append_begin(s, &e, one, 1, &a) == STORE_OK &&
	       store_append_write(a, buf, 500 * 1024) == STORE_OK,
	   "500 KiB in flight under a 512 KiB cap");
	ok(store_append_write(a, buf, 100 * 1024) == STORE_EBUSY, "beyond the cap: EBUSY");
	ok(store_append_write(a, buf, 1) == STORE_EBUSY, "sticky after EBUSY");
	ok(store_append_begin(s, &e, one, 1, &b) == STORE_OK &&
	       store_append_write(b, buf, 12 * 1024) == STORE_OK,
	   "another append fills the cap");
	ok(store_append_begin(s, &e, one, 1, &c) == STORE_EBUSY, "begin at the cap: EBUSY");
	store_append_abort(a);
	store_append_abort(b);
	ok(put_id(s, "lim", "ok", 2) == 1, "after aborts appends work again");
	store_close(s);

	cfg->storage.min_free = UINT64_C(1) << 60;
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	ok(store_append_begin(s, &e, one, 1, &a) == STORE_ENOSPC, "below min_free: ENOSPC");
	uint64_t seq;
	ok(store_log_append(s, "_audit", "x", 1, &seq) == STORE_ENOSPC, "log append too");
	ok(same_bytes(s, "lim", 1, "ok", 2), "reads still work");
	store_close(s);
	free(buf);
	config_free(cfg);
}

/* Files of an archive that a crash could leave at an older state. */
static const char *const state_files[] = {"head", "catalog.db", "catalog.db-wal", "catalog.db-shm"};

static void snapshot(const char *adir, const char *snap, bool restore)
{
	for (size_t i = 0; i < 4; i++) {
		char *a = util_path_join(adir, state_files[i]),
		     *b = util_path_join(snap, state_files[i]);
		const char *from = restore ? b : a, *to = restore ? a : b;
		if (access(from, F_OK) == 0)
			copy_file(from, to, UINT64_MAX);
		else
			unlink(to);
		free(a);
		free(b);
	}
}

/* Record boundaries of an unpacked segment file (offsets of records). */
static size_t rec_bounds(const char *path, uint64_t *offs, size_t max)
{
	buf_t b = {0};
	util_read_file(path, 1u << 24, &b);
	size_t n = 0;
	uint64_t off = STORE_SEG_HDR_SIZE;
	while (off + STORE_REC_HDR_SIZE <= b.len && n < max) {
		store_rec_hdr_t h;
		const char *why;
		if (store_rec_hdr_decode(b.data + off, &h, &why) != STORE_OK)
			break;
		offs[n++] = off;
		off += h.length;
	}
	buf_free(&b);
	return n;
}

static void test_torn_tail(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	store_archive_create(s, "torn");
	const char *ma = "From: a@example.com\r\nSubject: A\r\n\r\nfirst message, acknowledged\r\n";
	const char *mb = "From: b@example.com\r\nSubject: B\r\n\r\nsecond message, torn\r\n";
	const char *mc = "From: c@example.com\r\nSubject: C\r\n\r\nthird message, torn too\r\n";
	put_id(s, "torn", ma, strlen(ma));
	store_close(s);
	char *adir = xasprintf("%s/archives/torn", cfg->storage.data_dir);
	char *snap = xasprintf("%s/snap", root);
	char *seg = seg_path(cfg, "torn", 1);
	char *full = xasprintf("%s/full.seg", root);
	mkdir(snap, 0700);
	snapshot(adir, snap, false); /* the state after A was acknowledged */
	uint64_t s1 = file_size(seg);
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	put_id(s, "torn", mb, strlen(mb));
	put_id(s, "torn", mc, strlen(mc));
	store_close(s);
	uint64_t s2 = file_size(seg);
	copy_file(seg, full, UINT64_MAX);
	uint64_t offs[8];
	size_t nrec = rec_bounds(full, offs, 8);
	ok(nrec == 6 && offs[2] == s1, "B and C are records 3..6 after A's (%zu records)", nrec);

	/* A crash while B and C were being written, before their head: every
	 * byte offset of the last three records (and of B's content before
	 * them).  Complete records are valid and kept, the torn one is cut. */
	int recovered = 0, cases = 0;
	for (uint64_t cut = s1; cut < s2; cut++) {
		snapshot(adir, snap, true);
		copy_file(full, seg, cut);
		cases++;
		s = open_store(cfg, STORE_OPEN_READWRITE, 0);
		if (!s)
			continue;
		size_t k = 0; /* complete records beyond A's */
		while (k < 4 && (k + 3 < nrec ? offs[k + 3] : s2) <= cut)
			k++;
		uint64_t want_end = k + 2 < nrec ? offs[k + 2] : s2;
		uint64_t h = 0;
		store_msg_t *m = NULL;
		problems_t p;
		bool good = store_head(s, "torn", &h) == STORE_OK && h == 2 + k &&
		            file_size(seg) == want_end &&
		            same_bytes(s, "torn", 1, ma, strlen(ma)) &&
		            (k >= 2 ? same_bytes(s, "torn", 2, mb, strlen(mb))
		                    : store_msg_get(s, "torn", 2, &m) == STORE_ENOTFOUND) &&
		            (k >= 4 ? same_bytes(s, "torn", 3, mc, strlen(mc))
		                    : store_msg_get(s, "torn", 3, &m) == STORE_ENOTFOUND) &&
		            verify_count(s, "torn", &p) == 0;
		store_msg_free(m);
		if (good && cut == s2 - 1)
			good = put_id(s, "torn", "D", 1) == 3; /* C's id was never acknowledged */
		recovered += good;
		if (!good)
			diag("cut at %" PRIu64 " (k=%zu) did not recover: head %" PRIu64, cut, k,
			     h);
		store_close(s);
	}
	is_int(recovered, cases,
	       "torn tail at every byte offset of the last three records recovers to the last "
	       "complete record (%d cases)",
	       cases);

	/* B and C complete on disk but the head never written: kept, head advanced. */
	snapshot(adir, snap, true);
	copy_file(full, seg, UINT64_MAX);
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	uint64_t h = 0;
	problems_t p;
	ok(s && store_head(s, "torn", &h) == STORE_OK && h == 6 &&
	       same_bytes(s, "torn", 3, mc, strlen(mc)) && verify_count(s, "torn", &p) == 0,
	   "durable records beyond the head are kept and the head advanced");
	store_close(s);

	/* Data cut below the head: loss, reported and quarantined; appends go on
	 * in a new segment; reads of what is left go on. */
	truncate(seg, (off_t)(s1 - 5));
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	ok(s != NULL, "open with acknowledged data missing still opens");
	uint64_t id = put_id(s, "torn", "D", 1);
	ok(id == 4, "appends go on after the damaged segment is quarantined (id %" PRIu64 ")", id);
	ok(same_bytes(s, "torn", 4, "D", 1), "and read back");
	ok(file_size(seg) == s1 - 5, "nothing was truncated below the head");
	char *seg7 = seg_path(cfg, "torn", 7);
	ok(file_size(seg7) > STORE_SEG_HDR_SIZE, "the chain resumed in segment 7, after the head");
	int np = verify_count(s, "torn", &p);
	ok(np >= 1 && strstr(p.first, "segment 00000000000000000001.seg offset") &&
	       strstr(p.first, "cut off"),
	   "verify reports the loss with its location: %s", p.first);
	store_verify_report_t rep;
	store_verify(s, "torn", NULL, NULL, &rep);
	ok(rep.quarantined == 1,
	   "and the quarantine, from the signed checkpoint that resumed the chain");
	store_close(s);
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	ok(s && put_id(s, "torn", "E", 1) == 5 && verify_count(s, "torn", &p) == np,
	   "after another reopen: appends, and the same problems only");
	store_close(s);

	free(seg7);
	free(adir);
	free(snap);
	free(seg);
	free(full);
	config_free(cfg);
}

static uint32_t rec_len_at(const buf_t *b, uint64_t off)
{
	return (uint32_t)b->data[off] | (uint32_t)b->data[off + 1] << 8 |
	       (uint32_t)b->data[off + 2] << 16 | (uint32_t)b->data[off + 3] << 24;
}

static bool write_at(const char *path, const void *p, size_t n, uint64_t off)
{
	int fd = open(path, O_WRONLY);
	bool ok = fd >= 0 && pwrite(fd, p, n, (off_t)off) == (ssize_t)n;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_moved_record(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	store_archive_create(s, "aa1");
	store_archive_create(s, "aa2");
	const char *m = "From: x@example.com\r\nSubject: same\r\n\r\nbody\r\n";
	put_id(s, "aa1", m, strlen(m));
	put_id(s, "aa2", m, strlen(m));
	put_id(s, "aa1", "second", 6);
	put_id(s, "aa2", "second", 6);
	char *p1 = seg_path(cfg, "aa1", 1), *p2 = seg_path(cfg, "aa2", 1);
	/* The first record of each segment is the message's content (seq 1),
	 * identical plaintext and length in both archives. */
	buf_t b1 = {0}, b2 = {0};
	util_read_file(p1, 1u << 20, &b1);
	util_read_file(p2, 1u << 20, &b2);
	const uint64_t off = STORE_SEG_HDR_SIZE;
	uint32_t len = rec_len_at(&b1, off);
	ok(len == rec_len_at(&b2, off) && len == STORE_REC_OVERHEAD + strlen(m),
	   "same record position and length in both archives");
	ok(write_at(p2, b1.data + off, len, off), "copy aa1's record over aa2's");
	problems_t p;
	int np = verify_count(s, "aa2", &p);
	ok(np >= 1 && !strcmp(p.first, "segment 00000000000000000001.seg offset 128 seq 1: "
	                               "authentication failed"),
	   "a record copied from another archive fails authentication: %s", p.first);
	buf_t out = {0};
	ok(read_msg(s, "aa2", 1, 4096, &out) == STORE_ECORRUPT, "and cannot be read");
	buf_free(&out);
	is_int(verify_count(s, "aa1", &p), 0, "the source archive is clean");
	store_close(s);
	/* The damage lies before the head of the active segment: reported on
	 * open, the segment quarantined, appends go on in a new one. */
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	ok(put_id(s, "aa2", "x", 1) == 3, "corruption before the tail: appends go on");
	ok(same_bytes(s, "aa2", 2, "second", 6), "what is intact still reads");
	np = verify_count(s, "aa2", &p);
	ok(np >= 1 && !strcmp(p.first, "segment 00000000000000000001.seg offset 128 seq 1: "
	                               "authentication failed"),
	   "and verify still reports the damage where it is: %s", p.first);
	ok(put_id(s, "aa1", "x", 1) == 3, "other archives go on");

	/* Records swapped within their segment: out of sequence. */
	store_archive_create(s, "mv");
	put_id(s, "mv", "aaaa", 4);
	put_id(s, "mv", "bbbb", 4);
	store_msg_t *mb = NULL;
	store_msg_get(s, "mv", 2, &mb);
	char *pm = seg_path(cfg, "mv", 1);
	buf_t bm = {0};
	util_read_file(pm, 1u << 20, &bm);
	/* content 1 at 128; envelope 1 after it; content 2 right before envelope 2 */
	uint64_t oa = STORE_SEG_HDR_SIZE, ob = mb->arrivals[0].offset - (STORE_REC_OVERHEAD + 4);
	bool swapped = rec_len_at(&bm, oa) == rec_len_at(&bm, ob) &&
	               write_at(pm, bm.data + ob, STORE_REC_OVERHEAD + 4, oa) &&
	               write_at(pm, bm.data + oa, STORE_REC_OVERHEAD + 4, ob);
	np = verify_count(s, "mv", &p);
	ok(swapped && np >= 1 && strstr(p.first, "offset 128 seq 1: record out of sequence"),
	   "two records swapped within a segment are reported: %s", p.first);
	store_msg_free(mb);
	store_close(s);
	free(pm);
	buf_free(&bm);
	buf_free(&b1);
	buf_free(&b2);
	free(p1);
	free(p2);
	config_free(cfg);
}

/* Runs in a child process (fault rules are read once per process); the
 * parent made the archive and its first message, so the first fsync this
 * process makes is the one of the next batch. */
static int failclosed_child(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	int bad = 0;
	store_completion_t *c = put(s, "fc", "second", 6);
	if (c->status != STORE_EIO)
		bad |= 2;
	store_completion_free(c);
	c = put(s, "fc", "third", 5);
	if (c->status != STORE_EFAILED)
		bad |= 4;
	store_completion_free(c);
	uint64_t seq;
	if (store_log_append(s, "_audit", "x", 1, &seq) != STORE_EFAILED)
		bad |= 8;
	if (!same_bytes(s, "fc", 1, "first", 5))
		bad |= 16;
	store_close(s);
	s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	problems_t p;
	if (!s || verify_count(s, "fc", &p) != 0)
		bad |= 32;
	uint64_t id = put_id(s, "fc", "third", 5);
	if (id < 2 || !same_bytes(s, "fc", id, "third", 5))
		bad |= 64;
	store_close(s);
	config_free(cfg);
	return bad;
}

static void test_failclosed(const char *root)
{
	if (!util_test_hooks_enabled()) {
		ok(1, "# SKIP fault injection needs --enable-test-hooks");
		return;
	}
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = open_store(cfg, STORE_OPEN_READWRITE, 0);
	store_archive_create(s, "fc");
	put_id(s, "fc", "first", 5);
	store_close(s);
	config_free(cfg);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("VELLUM_FAULTS", "store.fsync:1:EIO", 1);
		execl(self_exe, self_exe, "--failclosed-child", root, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "fsync failure: that append fails, later ones EFAILED, reads go on, restart recovers "
	   "(child status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_LEVEL_OFF);
	if (sodium_init() < 0)
		return 1;
	if (argc == 3 && !strcmp(argv[1], "--failclosed-child"))
		return failclosed_child(argv[2]);
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	self_exe = exe;
	struct {
		const char *tag;
		void (*fn)(const char *);
	} tests[] = {
	    {"basics", test_basics},      {"dedup", test_dedup},
	    {"conc", test_concurrent},    {"scan", test_logs_and_scan},
	    {"rot", test_rotation},       {"copy", test_chunks_across_rotation},
	    {"limits", test_limits},      {"torn", test_torn_tail},
	    {"moved", test_moved_record}, {"fail", test_failclosed},
	};
	test_ids();
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		char *root = tap_tmpdir(tests[i].tag);
		tests[i].fn(root);
		tap_rmtree(root);
		free(root);
	}
	return tap_done();
}
