/* fuzz_store_record.c — libFuzzer target for the store's record parsers
 * (doc/format.md §2, §4): record header framing, the ENVELOPE payload
 * decoder, the segment header, and decompression of an authenticated payload
 * (what a reader does after the tag checks, so a hostile zstd frame that an
 * attacker with the key could plant must still be bounded).
 *
 * Also the signed records (CHECKPOINT, SEAL, DELETION, ELISION payloads and
 * their signature check), block directories of packed segments, and the
 * merging of deleted ranges.
 *
 * The first byte chooses the parser; the rest is its input.  Any input must
 * be refused or accepted cleanly: never crash, leak, overread or allocate
 * beyond the format's named limits. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_key[KEYS_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};

static void fuzz_record(const uint8_t *p, size_t n)
{
	store_rec_hdr_t h;
	const char *why = NULL;
	buf_t plain = {0};
	if (n >= STORE_REC_HDR_SIZE)
		store_rec_hdr_decode(p, &h, &why);
	if (store_rec_open(fuzz_key, p, n, &h, &plain, &why) == STORE_OK)
		abort(); /* nobody without the key can forge a tag */
	buf_free(&plain);
}

static void fuzz_envelope(const uint8_t *p, size_t n)
{
	store_env_rec_t e;
	const char *why = NULL;
	if (store_env_decode(p, n, &e, &why) == STORE_OK) {
		if (!e.archive || e.nrefs == 0 || e.nrefs > STORE_CHUNKS_MAX || e.msg_seq == 0)
			abort();
		for (size_t i = 0; i < e.arr.nrcpt; i++)
			if (!e.arr.rcpt[i])
				abort();
		store_env_rec_free(&e);
	} else if (!why) {
		abort();
	}
}

/* p = u32 plain_len || zstd frame: sealed with a known key, then opened. */
static void fuzz_decompress(const uint8_t *p, size_t n)
{
	if (n < 4)
		return;
	uint32_t plain_len =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	plain_len %= STORE_RECORD_PLAIN_MAX + 1;
	if (n - 4 > plain_len)
		return; /* a writer never stores more than plain_len */
	buf_t rec = {0}, plain = {0};
	store_rec_seal(fuzz_key, STORE_REC_CONTENT, 1, STORE_RECF_ZSTD, p + 4, n - 4, plain_len,
	               &rec);
	store_rec_hdr_t h;
	const char *why = NULL;
	if (store_rec_open(fuzz_key, rec.data, rec.len, &h, &plain, &why) == STORE_OK &&
	    plain.len != plain_len)
		abort();
	if (plain.cap > 2 * ((size_t)plain_len + 1) && plain.cap > 128)
		abort(); /* output bounded by the header, never by the frame */
	buf_free(&rec);
	buf_free(&plain);
}

static void fuzz_segment_header(const uint8_t *p, size_t n)
{
	if (n < STORE_SEG_HDR_SIZE)
		return;
	store_seg_hdr_t h;
	const char *why = NULL;
	store_seg_hdr_decode(p, NULL, &h, &why);
	if (store_seg_hdr_decode(p, fuzz_key, &h, &why) == STORE_OK)
		abort();
	char name[64];
	size_t k =
	    n - STORE_SEG_HDR_SIZE < sizeof name - 1 ? n - STORE_SEG_HDR_SIZE : sizeof name - 1;
	memcpy(name, p + STORE_SEG_HDR_SIZE, k);
	name[k] = 0;
	uint64_t first;
	store_seg_name_parse(name, &first);
}

/* p = u8 type selector || signed payload. */
static void fuzz_signed(const uint8_t *p, size_t n)
{
	if (n < 1)
		return;
	static const uint8_t types[] = {STORE_REC_CHECKPOINT, STORE_REC_SEAL, STORE_REC_DELETION,
	                                STORE_REC_ELISION};
	uint8_t type = types[p[0] % 4];
	store_srec_t r;
	const char *why = NULL;
	if (store_srec_decode(p + 1, n - 1, type, &r, &why) == STORE_OK) {
		if (r.ndsegs > STORE_SIGNED_LIST_MAX || r.nelided > STORE_SIGNED_LIST_MAX)
			abort();
		for (size_t i = 0; i < r.nelided; i++)
			if (r.elided[i].last < r.elided[i].first)
				abort();
		store_srec_free(&r);
	} else if (!why) {
		abort();
	}
	uint8_t pk[KEYS_SIGN_PUBLIC_BYTES] = {7}, link[STORE_HASH_BYTES] = {0};
	if (store_sign_check(p + 1, n - 1, "a", 1, type, link, pk, &why) == STORE_OK)
		abort(); /* nobody without the key forges a signature */
}

static void fuzz_block(const uint8_t *p, size_t n)
{
	store_blk_ent_t *e = NULL;
	uint32_t count = 0;
	const char *why = NULL;
	if (store_blk_parse(p, n, n, &e, &count, &why) == STORE_OK) {
		for (uint32_t i = 0; i < count; i++)
			if (e[i].off + e[i].len > n || e[i].off < 4)
				abort();
		free(e);
	} else if (!why || e) {
		abort();
	}
	/* Deleted ranges from the same bytes: the merged list stays sorted and
	 * disjoint. */
	store_gap_t *g = NULL;
	size_t ng = 0;
	for (size_t off = 0; off + 16 <= n && ng < 64; off += 16) {
		store_gap_t r = {.first = store_get64(p + off) % 1000, .last = 0};
		r.last = r.first + store_get64(p + off + 8) % 50;
		store_gaps_add(&g, &ng, &r);
	}
	for (size_t i = 1; i < ng; i++)
		if (g[i].first <= g[i - 1].last + 1)
			abort();
	free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0: fuzz_record(data + 1, size - 1); break;
	case 1: fuzz_envelope(data + 1, size - 1); break;
	case 2: fuzz_decompress(data + 1, size - 1); break;
	case 3: fuzz_segment_header(data + 1, size - 1); break;
	case 4: fuzz_signed(data + 1, size - 1); break;
	case 5: fuzz_block(data + 1, size - 1); break;
	}
	return 0;
}
