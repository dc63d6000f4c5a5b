/* test_store_integrity.c — the store's second half through its real
 * interface on real files: packed segments (compression, reads, bit flips
 * in blocks), dedup of identical messages in one segment (small and
 * streamed), signed checkpoints (on demand and hourly, with the test clock),
 * deletion (whole segments with crypto-shredding, compaction, purge with a
 * tombstone, archive deletion), verify telling deletion from tampering, the
 * catalog rebuilt after deletions, master key rotation, and metrics.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"
#include "tap.h"
#include "vellum/config.h"
#include "vellum/log.h"
#include "vellum/metrics.h"
#include "vellum/store.h"

/* ---- helpers ---- */

static config_t *make_cfg(const char *root, const char *extra)
{
	char *text = xasprintf("[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\n"
	                       "min_free = 0\n%s",
	                       root, root, extra ? extra : "");
	config_t *c = NULL;
	char *err = NULL;
	if (config_load_string(text, strlen(text), "test.conf", root, &c, &err) != CONFIG_OK) {
		printf("Bail out! config: %s\n", err);
		exit(1);
	}
	free(text);
	store_init_keys(c);
	return c;
}

static store_t *open_opts(const config_t *cfg, const store_opts_t *o)
{
	store_t *s = NULL;
	store_status_t st = store_open(cfg, o, &s);
	if (st != STORE_OK)
		diag("store_open: %s", store_strerror(st));
	return s;
}

static store_t *open_rw(const config_t *cfg)
{
	store_opts_t o = {0};
	return open_opts(cfg, &o);
}

static const char *rcpts[] = {"journal@example.com"};

static store_completion_t *put_piece(store_t *s, const char *archive, const void *msg, size_t len,
                                     int64_t received, size_t piece)
{
	store_envelope_t e = {.received = received,
	                      .listener = "default",
	                      .client_addr = "127.0.0.1",
	                      .mail_from = "a@example.com",
	                      .rcpt = rcpts,
	                      .nrcpt = 1};
	store_append_t *a;
	store_status_t st = store_append_begin(s, &e, &archive, 1, &a);
	if (st != STORE_OK) {
		store_completion_t *c = xcalloc(1, sizeof *c);
		c->status = st;
		return c;
	}
	for (size_t off = 0; off < len; off += piece)
		store_append_write(a, (const uint8_t *)msg + off,
		                   len - off < piece ? len - off : piece);
	return store_append_commit_wait(a);
}

static uint64_t put_at(store_t *s, const char *archive, const void *msg, size_t len,
                       int64_t received)
{
	store_completion_t *c = put_piece(s, archive, msg, len, received, 65536);
	uint64_t id = c->status == STORE_OK ? c->ids[0].seq : 0;
	if (c->status)
		diag("append to %s: %s", archive, store_strerror(c->status));
	store_completion_free(c);
	return id;
}

static uint64_t put(store_t *s, const char *archive, const char *msg)
{
	return put_at(s, archive, msg, strlen(msg), 0);
}

static bool reads(store_t *s, const char *archive, uint64_t seq, const void *msg, size_t n)
{
	store_reader_t *r;
	if (store_msg_open(s, archive, seq, &r) != STORE_OK)
		return false;
	buf_t b = {0};
	uint8_t tmp[4096];
	size_t got;
	store_status_t st;
	while ((st = store_reader_read(r, tmp, sizeof tmp, &got)) == STORE_OK && got)
		buf_append(&b, tmp, got);
	store_reader_close(r);
	bool ok = st == STORE_OK && b.len == n && (n == 0 || !memcmp(b.data, msg, n));
	buf_free(&b);
	return ok;
}

static bool reads_str(store_t *s, const char *archive, uint64_t seq, const char *msg)
{
	return reads(s, archive, seq, msg, strlen(msg));
}

static bool gone(store_t *s, const char *archive, uint64_t seq)
{
	store_msg_t *m = NULL;
	store_reader_t *r = NULL;
	bool g = store_msg_get(s, archive, seq, &m) == STORE_ENOTFOUND &&
	         store_msg_open(s, archive, seq, &r) == STORE_ENOTFOUND;
	store_msg_free(m);
	store_reader_close(r);
	return g;
}

typedef struct {
	int n, notes;
	char first[512];
	buf_t all, nall;
} vres_t;

static void on_problem(void *arg, const char *archive, const char *problem)
{
	vres_t *v = arg;
	(void)archive;
	if (v->n++ == 0)
		snprintf(v->first, sizeof v->first, "%s", problem);
	buf_printf(&v->all, "%s\n", problem);
}

static void on_note(void *arg, const char *archive, const char *text)
{
	vres_t *v = arg;
	(void)archive;
	v->notes++;
	buf_printf(&v->nall, "%s\n", text);
}

static int verify(store_t *s, const char *archive, vres_t *v, store_verify_report_t *rep)
{
	buf_free(&v->all);
	buf_free(&v->nall);
	memset(v, 0, sizeof *v);
	buf_append(&v->all, "", 0);
	buf_append(&v->nall, "", 0);
	store_verify_report_t r;
	store_verify_ex(s, archive, on_problem, on_note, v, rep ? rep : &r);
	if (v->n)
		diag("problems:\n%s", (const char *)v->all.data);
	return v->n;
}

static char *seg_path(const config_t *cfg, const char *archive, uint64_t first)
{
	return xasprintf("%s/archives/%s/%020" PRIu64 ".seg", cfg->storage.data_dir, archive,
	                 first);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static bool copy_file(const char *from, const char *to)
{
	buf_t b = {0};
	bool ok = util_read_file(from, 1u << 30, &b) == UTIL_OK &&
	          util_write_file_atomic(to, b.data, b.len, 0600) == UTIL_OK;
	buf_free(&b);
	return ok;
}

static void flip_bit(const char *path, uint64_t off, int bit)
{
	int fd = open(path, O_RDWR);
	uint8_t c = 0;
	if (fd < 0 || pread(fd, &c, 1, (off_t)off) != 1)
		diag("flip: read failed");
	c ^= (uint8_t)(1u << bit);
	if (fd < 0 || pwrite(fd, &c, 1, (off_t)off) != 1)
		diag("flip: write failed");
	if (fd >= 0)
		close(fd);
}

static bool seg_packed(const char *path)
{
	uint8_t hb[STORE_SEG_HDR_SIZE];
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, hb, sizeof hb, 0) == (ssize_t)sizeof hb;
	if (fd >= 0)
		close(fd);
	return ok && (store_get32(hb + 12) & STORE_SEGF_PACKED);
}

/* Mail-like text: headers and a body drawn from a small vocabulary. */
static size_t mail_text(char *out, size_t cap, unsigned seed)
{
	static const char *words[] = {"the",     "archive", "journal", "message", "report",
	                              "meeting", "budget",  "please",  "review",  "attached",
	                              "quarter", "legal",   "hold",    "thanks",  "regards"};
	size_t n = (size_t)snprintf(out, cap,
	                            "From: user%u@example.com\r\nTo: team@example.org\r\n"
	                            "Subject: note %u\r\nMessage-ID: <%u@example.com>\r\n\r\n",
	                            seed % 17, seed, seed);
	unsigned x = seed * 2654435761u + 1;
	while (n + 16 < cap) {
		x = x * 1103515245u + 12345u;
		const char *w = words[(x >> 16) % 15];
		n += (size_t)snprintf(out + n, cap - n, "%s%s", w, (x & 7) ? " " : "\r\n");
	}
	return n;
}

/* Tries every key the archive still has on the first record of a file. */
static int decryptable_with_remaining_keys(store_t *s, const char *archive, const char *path)
{
	store_archive_t *a = store_archive_get(s, archive);
	buf_t b = {0}, plain = {0};
	util_read_file(path, 1u << 30, &b);
	int opened = 0;
	if (b.len < STORE_SEG_HDR_SIZE + STORE_REC_OVERHEAD)
		return -1;
	store_rec_hdr_t h;
	const char *why;
	if (store_rec_hdr_decode(b.data + STORE_SEG_HDR_SIZE, &h, &why) != STORE_OK ||
	    STORE_SEG_HDR_SIZE + h.length > b.len)
		return -1;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nsegs; i++) {
		const uint8_t *k[2] = {a->segs[i].key,
		                       a->segs[i].has_next ? a->segs[i].next_key : NULL};
		for (int j = 0; j < 2; j++) {
			store_seg_hdr_t sh;
			if (k[j] && (store_rec_open(k[j], b.data + STORE_SEG_HDR_SIZE, h.length, &h,
			                            &plain, &why) == STORE_OK ||
			             store_seg_hdr_decode(b.data, k[j], &sh, &why) == STORE_OK))
				opened++;
		}
	}
	pthread_mutex_unlock(&a->lock);
	buf_free(&b);
	buf_free(&plain);
	return opened;
}

/* ---- packing ---- */

static void test_packing(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "pk");
	enum { N = 200 };
	char *msgs[N];
	size_t lens[N];
	uint64_t raw = 0;
	bool all_ok = true;
	for (unsigned i = 0; i < N; i++) {
		msgs[i] = xmalloc(6000);
		lens[i] = mail_text(msgs[i], 2000 + (i * 37) % 4000, i);
		all_ok &= put_at(s, "pk", msgs[i], lens[i], 0) == i + 1;
		raw += lens[i];
	}
	ok(all_ok, "%d messages appended", N);
	char *p1 = seg_path(cfg, "pk", 1);
	uint64_t before = file_size(p1);
	ok(store_seal(s, "pk") == STORE_OK, "sealed on demand");
	store_pack_wait(s);
	uint64_t after = file_size(p1);
	ok(seg_packed(p1), "the sealed segment was packed");
	ok(after < before * 2 / 3,
	   "packed is much smaller: %" PRIu64 " -> %" PRIu64 " (raw %" PRIu64 ")", before, after,
	   raw);
	bool rd = true;
	for (unsigned i = 0; i < N; i++)
		rd &= reads(s, "pk", i + 1, msgs[i], lens[i]);
	ok(rd, "every message reads back from the packed segment");
	vres_t v = {0};
	store_verify_report_t rep;
	is_int(verify(s, "pk", &v, &rep), 0, "verify clean after packing");
	ok(rep.anchored_seq == rep.records && rep.records == 2 * N + 1,
	   "anchored by the seal up to its own record (%" PRIu64 " of %" PRIu64 ")",
	   rep.anchored_seq, rep.records);
	store_close(s);

	/* reopen: packed last segment, no active one; appends start a new one */
	s = open_rw(cfg);
	ok(s && put(s, "pk", "after the seal") == N + 1, "appends go on after reopen");
	char *pn = seg_path(cfg, "pk", 2 * N + 2);
	ok(file_size(pn) > 0, "in a new segment after the sealed one");
	is_int(verify(s, "pk", &v, NULL), 0, "clean");
	/* a bit flipped inside a block: found at the block, its records unreadable */
	store_close(s);
	flip_bit(p1, STORE_SEG_HDR_SIZE + STORE_REC_HDR_SIZE + 100, 2);
	s = open_rw(cfg);
	int np = verify(s, "pk", &v, NULL);
	ok(np >= 1 && strstr(v.first, "segment 00000000000000000001.seg offset 128 seq 1: block: "
	                              "authentication failed"),
	   "a flipped bit in a packed block is found at the block: %s", v.first);
	ok(!reads(s, "pk", 1, msgs[0], lens[0]), "its messages no longer read");
	ok(reads(s, "pk", N, msgs[N - 1], lens[N - 1]), "messages in other blocks still read");
	flip_bit(p1, STORE_SEG_HDR_SIZE + STORE_REC_HDR_SIZE + 100, 2);
	is_int(verify(s, "pk", &v, NULL), 0, "flipped back: clean");
	store_close(s);
	for (unsigned i = 0; i < N; i++)
		free(msgs[i]);
	free(p1);
	free(pn);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

/* ---- dedup ---- */

static void test_dedup(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "dd");
	char small[3000];
	size_t sl = mail_text(small, sizeof small, 7);
	uint64_t id1 = put_at(s, "dd", small, sl, 1000), id2 = put_at(s, "dd", small, sl, 2000),
	         id3 = put_at(s, "dd", small, sl, 3000);
	ok(id1 == 1 && id2 == 1 && id3 == 1, "the same message 3 times: one id");
	store_msg_t *m = NULL;
	ok(store_msg_get(s, "dd", 1, &m) == STORE_OK && m->narrivals == 3 &&
	       m->arrivals[0].received == 1000 && m->arrivals[2].received == 3000,
	   "three arrivals, each with its own envelope");
	store_msg_free(m);
	/* stored once: one CONTENT record and three ENVELOPEs in the segment */
	store_head_t h;
	store_archive_head(s, store_archive_get(s, "dd"), &h);
	is_int(h.seq, 4, "4 records: one content, three envelopes");

	/* a streamed one (3 MiB) three times */
	size_t bl = 3 * STORE_CHUNK_SIZE + 1234;
	uint8_t *big = xmalloc(bl);
	for (size_t i = 0; i < bl; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 13);
	uint64_t b1 = 0, b2 = 0, b3 = 0;
	store_completion_t *c = put_piece(s, "dd", big, bl, 0, 100000);
	b1 = c->status ? 0 : c->ids[0].seq;
	store_completion_free(c);
	c = put_piece(s, "dd", big, bl, 0, 100000);
	b2 = c->status ? 0 : c->ids[0].seq;
	store_completion_free(c);
	c = put_piece(s, "dd", big, bl, 0, 100000);
	b3 = c->status ? 0 : c->ids[0].seq;
	store_completion_free(c);
	ok(b1 == 2 && b2 == 2 && b3 == 2, "a streamed message 3 times: one id");
	store_msg_t *mb = NULL;
	ok(store_msg_get(s, "dd", 2, &mb) == STORE_OK && mb->narrivals == 3, "three arrivals");
	store_msg_free(mb);
	ok(reads(s, "dd", 2, big, bl), "reads back");
	store_seal(s, "dd");
	store_pack_wait(s);
	char *p1 = seg_path(cfg, "dd", 1);
	uint64_t sz = file_size(p1);
	ok(seg_packed(p1) && sz < bl + bl / 4,
	   "after sealing, the streamed copies are stored once (%" PRIu64 " bytes for 3 x %zu)", sz,
	   bl);
	ok(reads(s, "dd", 2, big, bl) && reads(s, "dd", 1, small, sl), "both read back packed");
	vres_t v = {0};
	is_int(verify(s, "dd", &v, NULL), 0,
	       "verify clean (dropped copies are unreferenced content)");
	store_close(s);
	free(big);
	free(p1);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

/* ---- checkpoints ---- */

static void test_checkpoints(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "cp");
	put(s, "cp", "one");
	put(s, "cp", "two");
	vres_t v = {0};
	store_verify_report_t rep;
	verify(s, "cp", &v, &rep);
	is_int(rep.anchored_seq, 0, "nothing signed yet");
	ok(store_checkpoint(s, "cp") == STORE_OK, "checkpoint on demand");
	is_int(verify(s, "cp", &v, &rep), 0, "clean");
	is_int(rep.anchored_seq, 5, "anchored up to the checkpoint (seq 5)");
	ok(store_checkpoint(s, "cp") == STORE_OK && verify(s, "cp", &v, &rep) == 0 &&
	       rep.records == 5,
	   "a second one with nothing new adds no record");
	/* the public key verify checks against is not the one that signed */
	char *pub = xasprintf("%s/keys/signing.pub", cfg->storage.data_dir);
	char *kept = xasprintf("%s/signing.pub.kept", root);
	copy_file(pub, kept);
	uint8_t opk[32], osk[64];
	char hex[66];
	crypto_sign_keypair(opk, osk);
	util_hex(opk, 32, hex);
	hex[64] = '\n';
	util_write_file_atomic(pub, hex, 65, 0644);
	store_opts_t ro = {.mode = STORE_OPEN_READONLY};
	store_t *r = open_opts(cfg, &ro);
	int np = r ? verify(r, "cp", &v, &rep) : -1;
	ok(np == 1 && strstr(v.first, "offset") && strstr(v.first, "seq 5") &&
	       strstr(v.first, "signed by a key other than this server's") && rep.anchored_seq == 0,
	   "a signature by another key is a problem, and anchors nothing: %s", v.first);
	store_close(r);
	copy_file(kept, pub);
	free(pub);
	free(kept);
	put(s, "cp", "three");
	if (!util_test_hooks_enabled()) {
		ok(1, "# SKIP hourly checkpoint needs the test clock (--enable-test-hooks)");
	} else {
		char *clock = xasprintf("%s/clock", root);
		setenv("VELLUM_TEST_CLOCK_FILE", clock, 1);
		util_write_file_atomic(clock, "3700\n", 5, 0600);
		bool signed_ = false;
		for (int i = 0; i < 50 && !signed_; i++) {
			usleep(100000);
			verify(s, "cp", &v, &rep);
			signed_ = rep.anchored_seq == 8 && rep.records == 8;
		}
		ok(signed_, "an hour later the writer signs the grown chain on its own");
		unsetenv("VELLUM_TEST_CLOCK_FILE");
		free(clock);
	}
	/* a changed signature is a problem */
	store_close(s);
	char *p1 = seg_path(cfg, "cp", 1);
	buf_t b = {0};
	util_read_file(p1, 1u << 20, &b);
	store_archive_t fake = {0};
	(void)fake;
	s = open_rw(cfg);
	is_int(verify(s, "cp", &v, NULL), 0, "clean after reopen");
	store_close(s);
	buf_free(&b);
	free(p1);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

/* ---- deletion ---- */

static bool scan_deletion(store_t *s, const char *archive, uint64_t rec, const uint64_t *ids,
                          size_t n)
{
	store_scan_t *sc;
	if (store_scan_open(s, archive, 0, &sc) != STORE_OK)
		return false;
	const store_scan_item_t *it;
	bool found = false;
	while (store_scan_next(sc, &it) == STORE_OK && it) {
		if (it->type != STORE_ITEM_DELETION || it->record_seq != rec)
			continue;
		found = it->ndeleted == n;
		for (size_t i = 0; found && i < n; i++)
			found = it->deleted[i] == ids[i];
	}
	store_scan_close(sc);
	return found;
}

static void test_retention_whole(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "rt");
	put(s, "rt", "old one");
	put(s, "rt", "old two");
	store_seal(s, "rt"); /* segment 1: records 1..5 */
	put(s, "rt", "new three");
	store_seal(s, "rt"); /* segment 6: 6..8 */
	put(s, "rt", "active four");
	store_pack_wait(s);
	char *p1 = seg_path(cfg, "rt", 1), *saved = xasprintf("%s/saved.seg", root);
	ok(copy_file(p1, saved), "a copy of segment 1 saved (a backup)");
	ok(decryptable_with_remaining_keys(s, "rt", saved) == 1, "which its key still opens");
	uint64_t ids[] = {1, 2};
	store_delete_req_t req = {.kind = STORE_DEL_RETENTION,
	                          .reason = "retention 1d",
	                          .actor = "retention",
	                          .msgs = ids,
	                          .nmsgs = 2,
	                          .dry_run = true};
	store_delete_result_t res;
	ok(store_delete(s, "rt", &req, &res) == STORE_OK && res.segments_deleted == 1 &&
	       res.messages == 2 && res.record_seq == 0 && file_size(p1) > 0,
	   "dry run: plans one whole segment, removes nothing");
	free(res.removed);
	req.dry_run = false;
	ok(store_delete(s, "rt", &req, &res) == STORE_OK && res.segments_deleted == 1 &&
	       res.segments_compacted == 0 && res.messages == 2 && res.arrivals == 2 &&
	       res.record_seq > 0 && res.nremoved == 2,
	   "retention deletes the whole segment (record %" PRIu64 ")", res.record_seq);
	ok(file_size(p1) == 0, "its file is gone");
	ok(decryptable_with_remaining_keys(s, "rt", saved) == 0,
	   "crypto-shredding: the saved copy cannot be decrypted with the remaining keys");
	ok(gone(s, "rt", 1) && gone(s, "rt", 2), "its messages are gone");
	ok(reads_str(s, "rt", 3, "new three") && reads_str(s, "rt", 4, "active four"),
	   "the others read");
	ok(scan_deletion(s, "rt", res.record_seq, ids, 2),
	   "the scan reports the deletion with the removed ids");
	vres_t v = {0};
	store_verify_report_t rep;
	is_int(verify(s, "rt", &v, &rep), 0, "verify clean: the gap is a signed deletion");
	ok(rep.deletions == 1 && rep.deleted_records == 5 &&
	       strstr((char *)v.nall.data, "records 1..5 deleted by a signed deletion record"),
	   "and says so: %s", (char *)v.nall.data);
	ok(rep.anchored_seq == rep.records + rep.deleted_records,
	   "anchored up to the deletion record");
	free(res.removed);
	store_close(s);

	/* after a restart, and with the catalog rebuilt from the segments */
	s = open_rw(cfg);
	ok(s && decryptable_with_remaining_keys(s, "rt", saved) == 0 && gone(s, "rt", 1),
	   "still shredded after reopen");
	store_close(s);
	char *cat = xasprintf("%s/archives/rt/catalog.db", cfg->storage.data_dir);
	unlink(cat);
	s = open_rw(cfg);
	ok(s && gone(s, "rt", 1) && gone(s, "rt", 2) && reads_str(s, "rt", 3, "new three"),
	   "catalog rebuilt: deleted ids stay gone");
	ok(put(s, "rt", "five") == 5, "and new ids go on, never reused");
	is_int(verify(s, "rt", &v, NULL), 0, "clean");

	/* tampering is not deletion: a segment removed without a record */
	store_seal(s, "rt");
	store_pack_wait(s);
	char *p6 = seg_path(cfg, "rt", 6), *s6 = xasprintf("%s.away", p6);
	rename(p6, s6);
	int np = verify(s, "rt", &v, NULL);
	ok(np >= 1 && strstr(v.all.data ? (char *)v.all.data : "", "records 6..8 missing") &&
	       strstr((char *)v.all.data, "no deletion record covers them"),
	   "a segment removed behind the store's back is a problem: %s", v.first);
	rename(s6, p6);
	is_int(verify(s, "rt", &v, NULL), 0, "put back: clean");
	store_close(s);
	free(p6);
	free(s6);
	free(cat);
	free(p1);
	free(saved);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

static void test_compaction_and_purge(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "mx");
	const char *m[] = {"m1 expired", "m2 held", "m3 expired", "m4 kept"};
	for (int i = 0; i < 4; i++)
		put(s, "mx", m[i]);
	put_at(s, "mx", m[1], strlen(m[1]), 5); /* a second arrival of m2 */
	store_seal(s, "mx");                    /* records 1..10, seal 11 */
	store_pack_wait(s);
	char *p1 = seg_path(cfg, "mx", 1), *saved = xasprintf("%s/saved.seg", root);
	copy_file(p1, saved);
	uint64_t ids[] = {1, 3};
	store_delete_req_t req = {.kind = STORE_DEL_RETENTION,
	                          .reason = "retention 30d",
	                          .actor = "retention",
	                          .msgs = ids,
	                          .nmsgs = 2};
	store_delete_result_t res;
	ok(store_delete(s, "mx", &req, &res) == STORE_OK && res.segments_compacted == 1 &&
	       res.segments_deleted == 0 && res.messages == 2,
	   "a mixed segment is compacted");
	free(res.removed);
	ok(gone(s, "mx", 1) && gone(s, "mx", 3), "the expired messages are gone");
	store_msg_t *mm = NULL;
	ok(reads_str(s, "mx", 2, m[1]) && reads_str(s, "mx", 4, m[3]) &&
	       store_msg_get(s, "mx", 2, &mm) == STORE_OK && mm->narrivals == 2,
	   "the survivors read, with all their arrivals");
	store_msg_free(mm);
	ok(file_size(p1) > 0 && seg_packed(p1), "the segment is rewritten in place, packed");
	ok(decryptable_with_remaining_keys(s, "mx", saved) == 0,
	   "the old file, saved, cannot be decrypted any more (new key)");
	vres_t v = {0};
	store_verify_report_t rep;
	is_int(verify(s, "mx", &v, &rep), 0, "verify clean: the elided records are signed");
	ok(strstr((char *)v.nall.data, "compacted"), "and noted: %s", (char *)v.nall.data);
	uint64_t before = rep.records;

	/* purge: a message in the active segment, with its tombstone */
	uint64_t p5 = put(s, "mx", "m5 misdirected privileged mail");
	put(s, "mx", "m6 stays");
	uint64_t pid[] = {p5};
	store_tombstone_t tb = {.msg_seq = p5,
	                        .reason = "court order 12-345",
	                        .requested_by = "alice",
	                        .approved_by = "bob"};
	store_delete_req_t preq = {.kind = STORE_DEL_PURGE,
	                           .reason = "purge",
	                           .actor = "bob",
	                           .msgs = pid,
	                           .nmsgs = 1,
	                           .tombstones = &tb,
	                           .ntombstones = 1};
	ok(store_delete(s, "mx", &preq, &res) == STORE_OK && res.messages == 0 &&
	       res.skipped_active == 1,
	   "without seal_active, a message in the active segment is left (skipped)");
	free(res.removed);
	preq.seal_active = true;
	ok(store_delete(s, "mx", &preq, &res) == STORE_OK && res.messages == 1 &&
	       res.segments_compacted == 1,
	   "with it, the active segment is sealed and compacted");
	free(res.removed);
	ok(gone(s, "mx", p5) && reads_str(s, "mx", p5 + 1, "m6 stays"),
	   "purged; its neighbour stays");
	/* the tombstone is in the DELETION record */
	store_scan_t *sc;
	store_scan_open(s, "mx", 0, &sc);
	const store_scan_item_t *it;
	int dels = 0;
	while (store_scan_next(sc, &it) == STORE_OK && it)
		dels += it->type == STORE_ITEM_DELETION;
	store_scan_close(sc);
	is_int(dels, 2, "two deletions in the chain");
	is_int(verify(s, "mx", &v, &rep), 0, "verify clean");
	ok(rep.records > before, "the chain grew (seal, deletion records)");
	store_close(s);

	/* the ELISION trailer removed from the compacted file: tampering */
	buf_t b = {0};
	util_read_file(p1, 1u << 24, &b);
	uint64_t off = STORE_SEG_HDR_SIZE, el = 0;
	while (off + STORE_REC_HDR_SIZE <= b.len) {
		store_rec_hdr_t h;
		const char *why;
		if (store_rec_hdr_decode(b.data + off, &h, &why) != STORE_OK)
			break;
		if (h.type == STORE_REC_ELISION)
			el = off;
		off += h.length;
	}
	ok(el > 0, "the compacted segment carries its signed elision list");
	copy_file(p1, saved);
	truncate(p1, (off_t)el);
	s = open_rw(cfg);
	int np = verify(s, "mx", &v, NULL);
	ok(np >= 1 && strstr((char *)v.all.data, "removed without a signed deletion"),
	   "without it, the elided records are reported: %s", v.first);
	store_close(s);
	copy_file(saved, p1);
	s = open_rw(cfg);
	is_int(verify(s, "mx", &v, NULL), 0, "restored: clean");
	store_close(s);
	buf_free(&b);
	free(p1);
	free(saved);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

static void test_archive_delete(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "tmp1");
	store_archive_create(s, "keep");
	put(s, "tmp1", "x");
	put(s, "keep", "y");
	/* a message streaming into it while it is deleted */
	const char *arch = "tmp1";
	store_envelope_t e = {.listener = "test"};
	store_append_t *ap = NULL;
	ok(store_append_begin(s, &e, &arch, 1, &ap) == STORE_OK, "an append into it begins");
	uint8_t *big = xcalloc(1, 2 * STORE_CHUNK_SIZE + 10);
	store_append_write(ap, big, STORE_CHUNK_SIZE + 5); /* a chunk record goes out */
	char *dir = xasprintf("%s/archives/tmp1", cfg->storage.data_dir);
	char *copy = xasprintf("%s/tmp1.copy", root);
	char *cmd = xasprintf("cp -a %s %s", dir, copy);
	ok(system(cmd) == 0, "a copy of the archive's directory (a crash between the record "
	                     "and the removal, staged)");
	free(cmd);
	uint64_t rec = 0;
	ok(store_archive_delete(s, "tmp1", "no longer needed", "cli:root", &rec) == STORE_OK &&
	       rec > 0,
	   "archive deleted (record %" PRIu64 " in _store)", rec);
	struct stat st;
	ok(stat(dir, &st) != 0, "its directory is gone");
	store_append_write(ap, big, STORE_CHUNK_SIZE + 5);
	store_completion_t *cp = store_append_commit_wait(ap);
	ok(cp->status == STORE_ENOTFOUND, "the append that was streaming into it fails: %s",
	   store_strerror(cp->status));
	store_completion_free(cp);
	free(big);
	ok(put(s, "keep", "after") == 2, "and the store goes on (nothing failed closed)");
	ok(!store_archive_exists(s, "tmp1") && gone(s, "tmp1", 1), "and the archive with it");
	ok(reads_str(s, "keep", 1, "y"), "others untouched");
	vres_t v = {0};
	store_verify_report_t rep;
	is_int(verify(s, NULL, &v, &rep), 0, "verify of everything clean");
	ok(strstr((char *)v.nall.data, "archive 'tmp1' deleted (no longer needed, by cli:root)"),
	   "the deletion is on the _store chain: %s", (char *)v.nall.data);
	store_close(s);
	cmd = xasprintf("cp -a %s %s", copy, dir);
	ok(system(cmd) == 0, "the directory put back as if its removal never happened");
	free(cmd);
	s = open_rw(cfg);
	ok(s && !store_archive_exists(s, "tmp1") && stat(dir, &st) != 0,
	   "the next open finishes the deletion the _store record names");
	ok(store_archive_create(s, "tmp1") == STORE_OK && put(s, "tmp1", "z") == 1,
	   "the name can be used again");
	store_close(s);
	s = open_rw(cfg);
	ok(s && reads_str(s, "tmp1", 1, "z") && verify(s, NULL, &v, NULL) == 0,
	   "after reopen: the new one, clean");
	store_close(s);
	free(dir);
	free(copy);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

/* ---- keys ---- */

static void test_rotate(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	store_t *s = open_rw(cfg);
	store_archive_create(s, "k1");
	put(s, "k1", "secret one");
	store_seal(s, "k1");
	put(s, "k1", "secret two");
	char *old = xasprintf("%s/old.key", root);
	copy_file(cfg->storage.master_key_file, old);
	store_rotate_result_t r;
	ok(store_key_rotate(s, NULL, &r) == STORE_OK && r.archives >= 1 &&
	       strcmp(r.old_id, r.new_id),
	   "rotated: %s -> %s, %" PRIu64 " archive keys re-wrapped", r.old_id, r.new_id,
	   r.archives);
	ok(reads_str(s, "k1", 1, "secret one") && put(s, "k1", "three") == 3,
	   "the running store goes on");
	store_close(s);
	s = open_rw(cfg);
	ok(s && reads_str(s, "k1", 1, "secret one") && reads_str(s, "k1", 3, "three"),
	   "reopened with the new key: every message reads, nothing re-encrypted");
	vres_t v = {0};
	is_int(verify(s, NULL, &v, NULL), 0, "clean");
	store_close(s);
	/* the old key no longer opens the store */
	char *cur = xasprintf("%s/cur.key", root);
	copy_file(cfg->storage.master_key_file, cur);
	copy_file(old, cfg->storage.master_key_file);
	chmod(cfg->storage.master_key_file, 0600);
	store_t *bad = NULL;
	ok(store_open(cfg, NULL, &bad) == STORE_EKEY, "the old master key is refused");
	copy_file(cur, cfg->storage.master_key_file);
	chmod(cfg->storage.master_key_file, 0600);

	/* an interrupted rotation: .next files written and the master switched,
	 * one archive not renamed yet — the next open finishes it */
	s = open_rw(cfg);
	store_archive_t *a = store_archive_get(s, "k1");
	uint8_t *nk = keys_secure_alloc(KEYS_BYTES);
	keys_random(nk);
	char *next = xasprintf("%s/archive.key.next", a->dir);
	ok(store_archive_akey_write_to(next, "k1", nk, a->akey) == STORE_OK, "archive.key.next");
	char hex[65];
	util_hex(nk, KEYS_BYTES, hex);
	hex[64] = '\n';
	store_close(s);
	util_write_file_atomic(cfg->storage.master_key_file, hex, 65, 0600);
	s = open_rw(cfg);
	ok(s && reads_str(s, "k1", 3, "three") && access(next, F_OK) != 0,
	   "an interrupted rotation is finished at open");
	store_close(s);
	/* and one that never switched the master: the stale .next is removed */
	util_write_file_atomic(next, "junk", 4, 0600);
	s = open_rw(cfg);
	ok(s && reads_str(s, "k1", 1, "secret one") && access(next, F_OK) != 0,
	   "a rotation that never switched the master is undone");
	/* an explicit new key file */
	char *kf = xasprintf("%s/new.key", root);
	keys_master_create(kf);
	ok(store_key_rotate(s, kf, &r) == STORE_OK, "rotate to a given key file");
	store_close(s);
	buf_t b1 = {0}, b2 = {0};
	util_read_file(kf, 100, &b1);
	util_read_file(cfg->storage.master_key_file, 100, &b2);
	ok(b1.len == b2.len && !memcmp(b1.data, b2.data, b1.len), "it became the master key");
	s = open_rw(cfg);
	ok(s && reads_str(s, "k1", 1, "secret one"), "and opens the store");
	store_close(s);
	buf_free(&b1);
	buf_free(&b2);
	keys_secure_free(nk);
	free(kf);
	free(next);
	free(cur);
	free(old);
	buf_free(&v.all);
	buf_free(&v.nall);
	config_free(cfg);
}

/* ---- metrics ---- */

static void test_metrics(const char *root)
{
	config_t *cfg = make_cfg(root, NULL);
	metrics_t *mx = metrics_new();
	store_opts_t o = {.metrics = mx};
	store_t *s = open_opts(cfg, &o);
	store_archive_create(s, "met");
	for (int i = 0; i < 5; i++)
		put_at(s, "met", "abc", 3, i + 1);
	buf_t out = {0};
	metrics_render(mx, &out);
	const char *t = (const char *)out.data;
	ok(t && strstr(t, "vellum_store_append_seconds_count 5"), "append latency histogram");
	ok(t && strstr(t, "vellum_store_fsync_seconds_bucket"), "fsync latency histogram");
	ok(t && strstr(t, "vellum_store_segments{archive=\"met\"} 1"), "segments per archive");
	ok(t && strstr(t, "vellum_store_bytes{archive=\"met\"}"), "bytes per archive");
	buf_free(&out);
	store_close(s);
	metrics_free(mx);
	config_free(cfg);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	if (sodium_init() < 0)
		return 1;
	struct {
		const char *tag;
		void (*fn)(const char *);
	} tests[] = {
	    {"pack", test_packing},
	    {"dedup", test_dedup},
	    {"ckpt", test_checkpoints},
	    {"whole", test_retention_whole},
	    {"cmp", test_compaction_and_purge},
	    {"adel", test_archive_delete},
	    {"rot", test_rotate},
	    {"met", test_metrics},
	};
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		char *root = tap_tmpdir(tests[i].tag);
		tests[i].fn(root);
		tap_rmtree(root);
		free(root);
	}
	return tap_done();
}
