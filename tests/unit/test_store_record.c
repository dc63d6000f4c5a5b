/* test_store_record.c — the record format (doc/format.md §4–§6): headers,
 * seal/open round trips, every header field corrupted in turn, bounded
 * decompression, envelopes (including hostile ones), segment headers, chain.
 */
#include "config.h"

#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* the test inspects a frame header */
#include <zstd.h>

#include "store_private.h"
#include "tap.h"
#include "vellum/log.h"

static uint8_t key[KEYS_BYTES], key2[KEYS_BYTES];

/* Evaluates the call before printing the reason it sets (argument order). */
#define expect_corrupt(call, label)                                          \
	do {                                                                 \
		why = NULL;                                                  \
		store_status_t st_ = (call);                                 \
		ok(st_ == STORE_ECORRUPT, "%s: %s", label, why ? why : "-"); \
	} while (0)

static void seal(const void *p, size_t n, uint8_t type, uint64_t seq, buf_t *out)
{
	buf_t z = {0};
	uint16_t flags;
	store_payload_compress(p, n, &z, &flags);
	buf_reset(out);
	store_rec_seal(key, type, seq, flags, z.data, z.len, n, out);
	buf_free(&z);
}

static void test_round_trip(void)
{
	buf_t rec = {0}, plain = {0};
	store_rec_hdr_t h;
	const char *why = NULL;
	seal("", 0, STORE_REC_CONTENT, 1, &rec);
	ok(rec.len == STORE_REC_OVERHEAD, "empty payload: 64 bytes of overhead");
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_OK && plain.len == 0 &&
	       h.type == STORE_REC_CONTENT && h.seq == 1,
	   "empty payload round trip");

	const char *small = "Subject: hi\r\n\r\nhello\r\n";
	seal(small, strlen(small), STORE_REC_LOG, 7, &rec);
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_OK &&
	       plain.len == strlen(small) && !memcmp(plain.data, small, plain.len) && h.seq == 7 &&
	       !(h.flags & STORE_RECF_ZSTD),
	   "small payload stored raw, round trip");

	size_t n = STORE_CHUNK_SIZE;
	uint8_t *text = xmalloc(n), *noise = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		text[i] = "The quick brown fox jumps over the lazy dog.\r\n"[i % 46];
	randombytes_buf(noise, n);
	seal(text, n, STORE_REC_CHUNK, 1u << 20, &rec);
	ok(rec.len < n / 10, "compressible chunk compressed (%zu bytes)", rec.len);
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_OK && plain.len == n &&
	       !memcmp(plain.data, text, n) && (h.flags & STORE_RECF_ZSTD),
	   "compressed chunk round trip");
	seal(noise, n, STORE_REC_CHUNK, UINT64_MAX, &rec);
	ok(rec.len == n + STORE_REC_OVERHEAD, "incompressible chunk stored raw");
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_OK && plain.len == n &&
	       !memcmp(plain.data, noise, n) && h.seq == UINT64_MAX,
	   "incompressible chunk round trip");
	expect_corrupt(store_rec_open(key2, rec.data, rec.len, &h, &plain, &why),
	               "another segment's key fails");
	free(text);
	free(noise);
	buf_free(&rec);
	buf_free(&plain);
}

static void test_header_corruption(void)
{
	buf_t rec = {0}, plain = {0};
	const char *msg = "From: a@example.com\r\nSubject: corrupt me\r\n\r\n"
	                  "body body body body body body body body body body body\r\n";
	seal(msg, strlen(msg), STORE_REC_CONTENT, 42, &rec);
	store_rec_hdr_t h;
	const char *why;
	int failed = 0, total = 0;
	/* Every bit of every header field: length, type, version, flags, seq,
	 * plain_len, stored_len, nonce. */
	for (size_t i = 0; i < STORE_REC_HDR_SIZE; i++)
		for (int bit = 0; bit < 8; bit++) {
			rec.data[i] ^= (uint8_t)(1u << bit);
			total++;
			failed += store_rec_open(key, rec.data, rec.len, &h, &plain, &why) ==
			          STORE_ECORRUPT;
			rec.data[i] ^= (uint8_t)(1u << bit);
		}
	is_int(failed, total, "every flipped header bit fails (%d cases)", total);
	failed = total = 0;
	for (size_t i = STORE_REC_HDR_SIZE; i < rec.len; i++) {
		rec.data[i] ^= 0x80;
		total++;
		failed +=
		    store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_ECORRUPT;
		rec.data[i] ^= 0x80;
	}
	is_int(failed, total, "every flipped ciphertext/tag byte fails");
	failed = 0;
	for (size_t cut = 0; cut < rec.len; cut++)
		failed += store_rec_open(key, rec.data, cut, &h, &plain, &why) == STORE_ECORRUPT;
	is_int(failed, rec.len, "every truncation fails");
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_OK,
	   "the original still opens");

	/* Framing checks without a key. */
	uint8_t hb[STORE_REC_HDR_SIZE];
	store_rec_hdr_t g = {.length = 64 + 10,
	                     .type = 1,
	                     .version = 1,
	                     .seq = 1,
	                     .plain_len = 10,
	                     .stored_len = 10};
	store_rec_hdr_encode(&g, hb);
	ok(store_rec_hdr_decode(hb, &h, &why) == STORE_OK, "valid header decodes");
	g.type = STORE_REC_TYPE_MAX + 1;
	store_rec_hdr_encode(&g, hb);
	expect_corrupt(store_rec_hdr_decode(hb, &h, &why), "unknown type");
	g.type = 1;
	g.plain_len = STORE_RECORD_PLAIN_MAX + 1;
	g.stored_len = g.plain_len;
	g.length = g.plain_len + 64;
	store_rec_hdr_encode(&g, hb);
	expect_corrupt(store_rec_hdr_decode(hb, &h, &why), "oversized payload");
	g.plain_len = 10;
	g.stored_len = 11;
	g.length = 75;
	g.flags = STORE_RECF_ZSTD;
	store_rec_hdr_encode(&g, hb);
	expect_corrupt(store_rec_hdr_decode(hb, &h, &why), "stored > plain");
	g.flags = 4;
	g.stored_len = 10;
	g.length = 74;
	store_rec_hdr_encode(&g, hb);
	expect_corrupt(store_rec_hdr_decode(hb, &h, &why), "unknown flag");
	g.flags = 0;
	g.seq = 0;
	store_rec_hdr_encode(&g, hb);
	expect_corrupt(store_rec_hdr_decode(hb, &h, &why), "sequence 0");
	buf_free(&rec);
	buf_free(&plain);
}

static void test_decompression_bounds(void)
{
	buf_t rec = {0}, plain = {0};
	store_rec_hdr_t h;
	const char *why;
	/* A frame that decodes to far more than the header admits. */
	size_t big = 4u << 20;
	uint8_t *zeros = xcalloc(1, big);
	size_t bound = ZSTD_compressBound(big);
	uint8_t *z = xmalloc(bound);
	size_t zn = ZSTD_compress(z, bound, zeros, big, 3);
	store_rec_seal(key, STORE_REC_CONTENT, 1, STORE_RECF_ZSTD, z, zn, 1000, &rec);
	expect_corrupt(store_rec_open(key, rec.data, rec.len, &h, &plain, &why),
	               "authenticated bomb stops at plain_len");
	ok(plain.cap < 1100, "no more than plain_len was allocated (%zu)", plain.cap);
	/* A frame that is shorter than stated. */
	buf_reset(&rec);
	store_rec_seal(key, STORE_REC_CONTENT, 1, STORE_RECF_ZSTD, z, zn, big + 1, &rec);
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_ECORRUPT,
	   "frame shorter than plain_len refused");
	/* A frame demanding a window larger than the bound. */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 27);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	ZSTD_inBuffer in = {zeros, 1000, 0};
	ZSTD_outBuffer out = {z, bound, 0};
	/* Fed in two calls so zstd cannot learn the size and shrink the window. */
	ZSTD_compressStream2(c, &out, &in, ZSTD_e_continue);
	ZSTD_inBuffer none = {NULL, 0, 0};
	while (ZSTD_compressStream2(c, &out, &none, ZSTD_e_end) > 0)
		;
	ZSTD_freeCCtx(c);
	ZSTD_frameHeader fh;
	size_t fr = ZSTD_getFrameHeader(&fh, z, out.pos);
	ok(fr == 0 && fh.windowSize > (1u << 24), "test frame declares a %llu-byte window",
	   (unsigned long long)fh.windowSize);
	buf_reset(&rec);
	store_rec_seal(key, STORE_REC_CONTENT, 1, STORE_RECF_ZSTD, z, out.pos, 1000, &rec);
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_ECORRUPT,
	   "window beyond 2^%d refused", STORE_ZSTD_WINDOW_LOG_MAX);
	/* Garbage that authenticates but is not zstd. */
	buf_reset(&rec);
	store_rec_seal(key, STORE_REC_CONTENT, 1, STORE_RECF_ZSTD, "garbage!", 8, 100, &rec);
	ok(store_rec_open(key, rec.data, rec.len, &h, &plain, &why) == STORE_ECORRUPT,
	   "non-zstd payload refused");
	free(zeros);
	free(z);
	buf_free(&rec);
	buf_free(&plain);
}

static void test_envelope(void)
{
	const char *rcpt[] = {"a@example.com", "b@example.org", ""};
	store_envelope_t env = {
	    .listener = "default",
	    .client_addr = "192.0.2.7",
	    .client_port = 40112,
	    .helo = "mx.example.com",
	    .tls_version = "TLS1.3",
	    .tls_cipher = "AES-256-GCM",
	    .auth_id = NULL,
	    .mail_from = "",
	    .mail_params = "SIZE=10 BODY=8BITMIME",
	    .rcpt = rcpt,
	    .nrcpt = 3,
	    .flags = STORE_ENV_BARE_LF | STORE_ENV_8BITMIME,
	};
	buf_t b = {0};
	ok(store_env_encode_fields(&env, 1234567, &b) == STORE_OK, "encode envelope fields");
	uint8_t sha[32];
	memset(sha, 0xab, sizeof sha);
	store_ref_t refs[2] = {{5, 128}, {9, 4096}};
	store_env_encode_tail(&b, 17, sha, 99, "default", true, refs, 2);
	store_env_rec_t e;
	const char *why = NULL;
	ok(store_env_decode(b.data, b.len, &e, &why) == STORE_OK, "decode envelope");
	ok(e.msg_seq == 17 && e.size == 99 && e.duplicate && !memcmp(e.sha256, sha, 32) &&
	       e.arr.received == 1234567 && e.arr.client_port == 40112 &&
	       e.arr.flags == (STORE_ENV_BARE_LF | STORE_ENV_8BITMIME),
	   "numeric fields");
	is_str(e.archive, "default", "archive");
	is_str(e.arr.helo, "mx.example.com", "helo");
	is_str(e.arr.mail_from, "", "null sender kept as empty string");
	ok(e.arr.auth_id == NULL, "absent field stays NULL");
	ok(e.arr.nrcpt == 3 && !strcmp(e.arr.rcpt[1], "b@example.org") && !e.arr.rcpt[2][0] &&
	       e.arr.rcpt[3] == NULL,
	   "recipients in order, NULL-terminated");
	ok(e.nrefs == 2 && e.refs[1].seq == 9 && e.refs[1].offset == 4096, "content references");
	store_env_rec_free(&e);

	int bad = 0, good = 0;
	for (size_t cut = 0; cut < b.len; cut++) {
		if (store_env_decode(b.data, cut, &e, &why) == STORE_OK) {
			good++;
			store_env_rec_free(&e);
		} else
			bad++;
	}
	ok(bad + good == (int)b.len && bad > 0,
	   "every truncation decodes or fails cleanly (%d refused)", bad);
	/* Hostile variations. */
	buf_t h = {0};
	buf_append(&h, b.data, b.len);
	buf_append(&h,
	           "\x01\x00\x08\x00\x00\x00"
	           "12345678",
	           14); /* MSG_SEQ again */
	expect_corrupt(store_env_decode(h.data, h.len, &e, &why), "repeated field");
	buf_reset(&h);
	buf_append(&h, b.data, b.len);
	buf_append(&h,
	           "\x63\x00\x03\x00\x00\x00"
	           "new",
	           9); /* unknown tag 99 */
	ok(store_env_decode(h.data, h.len, &e, &why) == STORE_OK, "unknown field skipped");
	store_env_rec_free(&e);
	buf_reset(&h);
	buf_append(&h, b.data, b.len);
	buf_append(&h,
	           "\x0e\x00\x03\x00\x00\x00"
	           "a\0b",
	           9); /* RCPT with NUL */
	expect_corrupt(store_env_decode(h.data, h.len, &e, &why), "NUL in a string");
	buf_reset(&h);
	buf_append(&h, b.data, b.len);
	buf_append(&h,
	           "\x0e\x00\xff\xff\xff\x7f"
	           "x",
	           7); /* length beyond the payload */
	expect_corrupt(store_env_decode(h.data, h.len, &e, &why), "overlong field");
	buf_t m = {0};
	store_env_encode_fields(&env, 1, &m);
	expect_corrupt(store_env_decode(m.data, m.len, &e, &why), "missing required");
	buf_reset(&h);
	store_env_encode_fields(&env, 1, &h);
	store_env_encode_tail(&h, 1, sha, 1, "x", false, refs, 0);
	expect_corrupt(store_env_decode(h.data, h.len, &e, &why), "no content");

	char *longs = xmalloc(STORE_FIELD_MAX + 2);
	memset(longs, 'x', STORE_FIELD_MAX + 1);
	longs[STORE_FIELD_MAX + 1] = 0;
	store_envelope_t env2 = env;
	env2.helo = longs;
	buf_reset(&h);
	ok(store_env_encode_fields(&env2, 1, &h) == STORE_EINVAL, "over-long HELO refused");
	free(longs);
	buf_free(&h);
	buf_free(&m);
	buf_free(&b);
}

static void test_segment_header(void)
{
	store_seg_hdr_t h = {.first_seq = 12345, .created = 1700000000000000};
	randombytes_buf(h.id, sizeof h.id);
	randombytes_buf(h.prev_link, sizeof h.prev_link);
	uint8_t b[STORE_SEG_HDR_SIZE];
	store_seg_hdr_encode(&h, key, b);
	store_seg_hdr_t g;
	const char *why;
	ok(store_seg_hdr_decode(b, key, &g, &why) == STORE_OK && g.first_seq == 12345 &&
	       g.created == h.created && !memcmp(g.id, h.id, 16) &&
	       !memcmp(g.prev_link, h.prev_link, 32),
	   "segment header round trip");
	expect_corrupt(store_seg_hdr_decode(b, key2, &g, &why), "other key");
	int failed = 0;
	for (size_t i = 0; i < sizeof b; i++) {
		b[i] ^= 0x10;
		failed += store_seg_hdr_decode(b, key, &g, &why) == STORE_ECORRUPT;
		b[i] ^= 0x10;
	}
	is_int(failed, sizeof b, "every flipped header byte fails");
	char name[STORE_SEG_NAME_MAX];
	store_seg_name(12345, name);
	is_str(name, "00000000000000012345.seg", "segment name");
	uint64_t v;
	ok(store_seg_name_parse(name, &v) && v == 12345, "name parses");
	ok(!store_seg_name_parse("0000000000000001234.seg", &v), "19 digits refused");
	ok(!store_seg_name_parse("00000000000000000000.seg", &v), "sequence 0 refused");
	ok(!store_seg_name_parse("99999999999999999999.seg", &v), "overflow refused");
	ok(!store_seg_name_parse("0000000000000001234x.seg", &v), "non-digit refused");
}

static void test_chain(void)
{
	uint8_t a[32], b[32], c[32], h1[32], h2[32];
	store_chain_init("default", a);
	store_chain_init("default", b);
	store_chain_init("defaulu", c);
	ok(!memcmp(a, b, 32) && memcmp(a, c, 32), "link_0 depends on the archive name");
	store_payload_hash("rec", 3, h1);
	store_payload_hash("reC", 3, h2);
	store_chain_next(a, 1, STORE_REC_CONTENT, h1);
	store_chain_next(b, 2, STORE_REC_CONTENT, h1);
	ok(memcmp(a, b, 32), "link depends on the sequence");
	store_chain_init("default", b);
	store_chain_next(b, 1, STORE_REC_CONTENT, h2);
	ok(memcmp(a, b, 32), "link depends on the payload");
	store_chain_init("default", b);
	store_chain_next(b, 1, STORE_REC_CHUNK, h1);
	ok(memcmp(a, b, 32), "link depends on the record type");
	store_chain_init("default", b);
	store_chain_next(b, 1, STORE_REC_CONTENT, h1);
	ok(!memcmp(a, b, 32), "the same record gives the same link, whatever its encoding");
}

/* ---- signed records ---- */

static void seal_body(buf_t *b)
{
	buf_reset(b);
	store_tlv_put64(b, SF_TIME, 1700000000000000);
	store_tlv_put_str(b, SF_ARCHIVE, "default");
	store_tlv_put64(b, SF_MSG_SEQ_MAX, 41);
	store_tlv_put64(b, SF_SEGMENT, 100);
	uint8_t id[16] = {9};
	store_tlv_put(b, SF_SEGMENT_ID, id, 16);
	uint8_t c[24] = {3, 0, 0, 0, 0, 0, 0, 0, 4};
	store_tlv_put(b, SF_COUNTS, c, 24);
}

static void test_signed(void)
{
	uint8_t pk[32], sk[64], pk2[32], sk2[64], link[32], link2[32];
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	randombytes_buf(link, sizeof link);
	memcpy(link2, link, 32);
	link2[5] ^= 1;
	buf_t b = {0};
	seal_body(&b);
	store_sign_append(sk, pk, "default", 200, STORE_REC_SEAL, link, &b);
	const char *why = NULL;
	ok(store_sign_check(b.data, b.len, "default", 200, STORE_REC_SEAL, link, pk, &why) ==
	       STORE_OK,
	   "a signed seal checks");
	store_srec_t r;
	ok(store_srec_decode(b.data, b.len, STORE_REC_SEAL, &r, &why) == STORE_OK &&
	       r.segment == 100 && r.msg_seq_max == 41 && r.messages == 3 && r.arrivals == 4 &&
	       !strcmp(r.archive, "default") && !memcmp(r.signer, pk, 32),
	   "and decodes");
	store_srec_free(&r);
	expect_corrupt(
	    store_sign_check(b.data, b.len, "defaulu", 200, STORE_REC_SEAL, link, pk, &why),
	    "another archive");
	expect_corrupt(
	    store_sign_check(b.data, b.len, "default", 201, STORE_REC_SEAL, link, pk, &why),
	    "another position");
	expect_corrupt(
	    store_sign_check(b.data, b.len, "default", 200, STORE_REC_CHECKPOINT, link, pk, &why),
	    "another type");
	expect_corrupt(
	    store_sign_check(b.data, b.len, "default", 200, STORE_REC_SEAL, link2, pk, &why),
	    "another chain before it");
	expect_corrupt(
	    store_sign_check(b.data, b.len, "default", 200, STORE_REC_SEAL, link, pk2, &why),
	    "another server's key");
	int caught = 0;
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x04;
		store_srec_t x;
		bool dec = store_srec_decode(b.data, b.len, STORE_REC_SEAL, &x, &why) == STORE_OK;
		if (dec)
			store_srec_free(&x);
		caught += !dec || store_sign_check(b.data, b.len, "default", 200, STORE_REC_SEAL,
		                                   link, pk, &why) != STORE_OK;
		b.data[i] ^= 0x04;
	}
	is_int(caught, b.len, "every flipped byte of a signed record is caught");
	/* a field after the signature, a repeated field, no signature */
	buf_t c = {0};
	buf_append(&c, b.data, b.len);
	store_tlv_put64(&c, SF_HEAD, 1);
	expect_corrupt(
	    store_sign_check(c.data, c.len, "default", 200, STORE_REC_SEAL, link, pk, &why),
	    "a field appended after the signature");
	seal_body(&c);
	store_tlv_put64(&c, SF_SEGMENT, 101);
	store_sign_append(sk, pk, "default", 200, STORE_REC_SEAL, link, &c);
	expect_corrupt(store_srec_decode(c.data, c.len, STORE_REC_SEAL, &r, &why),
	               "a repeated field");
	seal_body(&c);
	expect_corrupt(store_srec_decode(c.data, c.len, STORE_REC_SEAL, &r, &why), "no signature");
	/* a deletion with its lists */
	buf_reset(&c);
	store_tlv_put64(&c, SF_TIME, 5);
	uint8_t kind = STORE_DEL_PURGE;
	store_tlv_put(&c, SF_KIND, &kind, 1);
	store_del_seg_t ds = {.first = 1, .last = 9, .bytes = 77, .arrivals = 3};
	store_srec_put_delseg(&c, &ds);
	store_del_cmp_t dc = {.first = 10, .last = 20, .bytes_before = 5, .bytes_after = 4};
	store_srec_put_delcmp(&c, &dc);
	store_tomb_t tb = {
	    .msg_seq = 7, .reason = "court order", .requested_by = "alice", .approved_by = "bob"};
	store_srec_put_tomb(&c, &tb);
	store_elided_t el = {.first = 12, .last = 13, .time = 99, .kind = STORE_DEL_PURGE};
	store_srec_put_elided(&c, &el);
	store_gap_t g = {.first = 1, .last = 9};
	store_srec_put_gaps(&c, &g, 1);
	uint8_t ids[16] = {7, 0, 0, 0, 0, 0, 0, 0, 8};
	store_tlv_put(&c, SF_DEL_MSGS, ids, 16);
	store_sign_append(sk, pk, "x", 30, STORE_REC_DELETION, link, &c);
	ok(store_srec_decode(c.data, c.len, STORE_REC_DELETION, &r, &why) == STORE_OK &&
	       r.kind == STORE_DEL_PURGE && r.ndsegs == 1 && r.dsegs[0].last == 9 &&
	       r.dsegs[0].arrivals == 3 && r.ndcmps == 1 && r.dcmps[0].bytes_after == 4 &&
	       r.ntombs == 1 && r.tombs[0].msg_seq == 7 && !strcmp(r.tombs[0].approved_by, "bob") &&
	       r.nelided == 1 && r.elided[0].time == 99 && r.ngaps == 1 && r.gaps[0].last == 9 &&
	       r.nmsgs == 2 && r.msgs[1] == 8,
	   "a deletion record decodes with every list");
	store_srec_free(&r);
	expect_corrupt(store_srec_decode(c.data, c.len - 70, STORE_REC_DELETION, &r, &why),
	               "a cut-off deletion record");
	buf_free(&b);
	buf_free(&c);
}

static void test_tlv_and_blocks(void)
{
	const char *why = NULL;
	uint8_t t[16] = {1, 0, 200, 0, 0, 0, 1, 2};
	store_tlv_iter_t it = {.p = t, .n = 8};
	uint16_t tag;
	const uint8_t *v;
	uint32_t len;
	ok(store_tlv_next(&it, &tag, &v, &len, &why) == -1, "a field longer than its record");
	it = (store_tlv_iter_t){.p = t, .n = 4};
	ok(store_tlv_next(&it, &tag, &v, &len, &why) == -1, "a field header cut off");

	/* block: 3 entries: content (5), envelope (3), elided chunk (32) */
	buf_t b = {0};
	uint8_t cnt[4] = {3, 0, 0, 0};
	buf_append(&b, cnt, 4);
	uint8_t d1[8] = {STORE_REC_CONTENT, 0, 0, 0, 5}, d2[8] = {STORE_REC_ENVELOPE, 0, 0, 0, 3},
	        d3[8] = {STORE_REC_CHUNK, STORE_BLKE_ELIDED, 0, 0, 32};
	buf_append(&b, d1, 8);
	buf_append(&b, d2, 8);
	buf_append(&b, d3, 8);
	buf_append(&b, "ENV", 3);   /* envelopes first */
	buf_append(&b, "hello", 5); /* then content */
	uint8_t h32[32] = {1};
	buf_append(&b, h32, 32);
	store_blk_ent_t *e = NULL;
	uint32_t n = 0;
	ok(store_blk_parse(b.data, b.len, b.len, &e, &n, &why) == STORE_OK && n == 3 &&
	       !memcmp(b.data + e[0].off, "hello", 5) && !memcmp(b.data + e[1].off, "ENV", 3) &&
	       e[2].elided && e[2].off == b.len - 32,
	   "block directory: envelopes' payloads first, then content");
	free(e);
	ok(store_blk_parse(b.data, 28, b.len, &e, &n, &why) == STORE_OK,
	   "the directory alone is enough to parse");
	free(e);
	expect_corrupt(store_blk_parse(b.data, b.len, b.len - 1, &e, &n, &why),
	               "entries that do not fill the block");
	expect_corrupt(store_blk_parse(b.data, b.len, b.len + 1, &e, &n, &why),
	               "entries short of the block");
	b.data[4 + 16 + 4] = 31;
	expect_corrupt(store_blk_parse(b.data, b.len, b.len - 1, &e, &n, &why),
	               "an elided entry without its 32-byte hash");
	b.data[4 + 16 + 4] = 32;
	b.data[4] = STORE_REC_BLOCK;
	expect_corrupt(store_blk_parse(b.data, b.len, b.len, &e, &n, &why),
	               "a block inside a block");
	b.data[4] = STORE_REC_CONTENT;
	b.data[5] = 0x80;
	expect_corrupt(store_blk_parse(b.data, b.len, b.len, &e, &n, &why), "unknown entry flags");
	b.data[5] = 0;
	uint8_t zero[4] = {0}, huge[4] = {0xff, 0xff, 0xff, 0x7f};
	expect_corrupt(store_blk_parse(zero, 4, 4, &e, &n, &why), "an empty block");
	expect_corrupt(store_blk_parse(huge, 4, 1u << 20, &e, &n, &why), "a huge entry count");
	buf_free(&b);

	/* deleted ranges merge */
	store_gap_t *g = NULL;
	size_t ng = 0;
	store_gap_t r1 = {.first = 10, .last = 19}, r2 = {.first = 30, .last = 39},
	            r3 = {.first = 20, .last = 29}, r4 = {.first = 1, .last = 5};
	r1.end_link[0] = 19;
	r2.end_link[0] = 39;
	r3.prev_link[0] = 19;
	store_gaps_add(&g, &ng, &r1);
	store_gaps_add(&g, &ng, &r2);
	ok(ng == 2, "two separate ranges");
	store_gaps_add(&g, &ng, &r3);
	ok(ng == 1 && g[0].first == 10 && g[0].last == 39 && g[0].end_link[0] == 39,
	   "the range between joins all three, keeping the outer links");
	store_gaps_add(&g, &ng, &r4);
	ok(ng == 2 && g[0].first == 1 && g[1].first == 10, "an earlier one goes first");
	free(g);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	if (sodium_init() < 0)
		return 1;
	keys_random(key);
	keys_random(key2);
	test_round_trip();
	test_header_corruption();
	test_decompression_bounds();
	test_envelope();
	test_segment_header();
	test_chain();
	test_signed();
	test_tlv_and_blocks();
	return tap_done();
}
