/* store_record.c — the record format: framing, encryption, compression,
 * envelopes and the chain (doc/format.md §4–§6, which is normative).
 *
 * Does: encode/decode record headers, seal (compress + encrypt) and open
 * (authenticate, then decompress with a bounded window and output) records,
 * encode/decode ENVELOPE payloads, compute chain links.  Does not: touch
 * files, choose sequence numbers or keys (store_segment.c, store_writer.c).
 *
 * Record (all integers little-endian):
 *   off          size        field
 *     0             4        length      64 + stored_len
 *     4             1        type        1 CONTENT 2 CHUNK 3 ENVELOPE 4 LOG
 *                                        5 CHECKPOINT 6 SEAL 7 DELETION (signed)
 *                                        8 BLOCK 9 ELISION (packed segments)
 *     5             1        version     1
 *     6             2        flags       bit 0: payload zstd-compressed
 *     8             8        seq         chain position in the archive, from 1
 *    16             4        plain_len   payload bytes before compression (<= 16 MiB;
 *                                        a BLOCK may exceed it by its 64-byte directory)
 *    20             4        stored_len  payload bytes as encrypted (<= plain_len)
 *    24            24        nonce       random XChaCha20 nonce
 *    48    stored_len        ciphertext  XChaCha20-Poly1305(segment key), AD = bytes 0..47
 *    48+stored_len 16        tag
 *
 * ENVELOPE payload: fields tag(u16) || len(u32) || value, tags 1..18 as listed
 * in doc/format.md §4 (MSG_SEQ SHA256 SIZE RECEIVED LISTENER CLIENT_ADDR
 * CLIENT_PORT HELO TLS_VERSION TLS_CIPHER AUTH_ID MAIL_FROM MAIL_PARAMS RCPT
 * FLAGS CONTENT ARCHIVE KIND).
 *
 * Chain: link_0 = BLAKE2b-256("vellum chain v1" || 0 || archive);
 *        link_n = BLAKE2b-256(link_{n-1} || le64(n) || u8 type_n || h_n),
 *        h_n = BLAKE2b-256(payload of record n, uncompressed).
 * The chain covers what each record says, not its encoding: a sealed segment
 * repacked into blocks (store_pack.c) keeps every link.
 *
 * TLV fields (envelopes, signed records): u16 tag || u32 len || value.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <zstd.h>

#include "store_private.h"
#include "vellum/log.h"

#define put16 store_put16
#define put32 store_put32
#define put64 store_put64
#define get16 store_get16
#define get32 store_get32
#define get64 store_get64

void store_rec_hdr_encode(const store_rec_hdr_t *h, uint8_t out[STORE_REC_HDR_SIZE])
{
	put32(out, h->length);
	out[4] = h->type;
	out[5] = h->version;
	put16(out + 6, h->flags);
	put64(out + 8, h->seq);
	put32(out + 16, h->plain_len);
	put32(out + 20, h->stored_len);
	memcpy(out + 24, h->nonce, sizeof h->nonce);
}

store_status_t store_rec_hdr_decode(const uint8_t in[STORE_REC_HDR_SIZE], store_rec_hdr_t *h,
                                    const char **why)
{
	h->length = get32(in);
	h->type = in[4];
	h->version = in[5];
	h->flags = get16(in + 6);
	h->seq = get64(in + 8);
	h->plain_len = get32(in + 16);
	h->stored_len = get32(in + 20);
	memcpy(h->nonce, in + 24, sizeof h->nonce);
	const char *w = NULL;
	if (h->version != 1)
		w = "unknown record version";
	else if (h->type < STORE_REC_CONTENT || h->type > STORE_REC_TYPE_MAX)
		w = "unknown record type";
	else if (h->flags & ~STORE_RECF_ZSTD)
		w = "unknown record flags";
	else if (h->seq == 0)
		w = "sequence 0";
	else if (h->plain_len >
	         (h->type == STORE_REC_BLOCK ? STORE_BLOCK_PLAIN_MAX : STORE_RECORD_PLAIN_MAX))
		w = "payload larger than the format allows";
	else if (h->stored_len > h->plain_len ||
	         (!(h->flags & STORE_RECF_ZSTD) && h->stored_len != h->plain_len))
		w = "stored length inconsistent with payload length";
	else if ((uint64_t)h->length != (uint64_t)h->stored_len + STORE_REC_OVERHEAD)
		w = "record length inconsistent with stored length";
	if (w) {
		if (why)
			*why = w;
		return STORE_ECORRUPT;
	}
	return STORE_OK;
}

void store_sha256_init(store_sha256_t *c)
{
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		log_error("store.sha256", "msg=%s", "gnutls_hash_init failed");
		abort(); /* out of memory, like xmalloc */
	}
	c->h = h;
}

void store_sha256_update(store_sha256_t *c, const void *p, size_t n)
{
	if (n)
		gnutls_hash((gnutls_hash_hd_t)c->h, p, n);
}

void store_sha256_final(store_sha256_t *c, uint8_t out[32])
{
	gnutls_hash_deinit((gnutls_hash_hd_t)c->h, out);
	c->h = NULL;
}

void store_sha256_free(store_sha256_t *c)
{
	if (c->h)
		gnutls_hash_deinit((gnutls_hash_hd_t)c->h, NULL);
	c->h = NULL;
}

void store_sha256(const void *p, size_t n, uint8_t out[32])
{
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, out) < 0) {
		log_error("store.sha256", "msg=%s", "gnutls_hash_fast failed");
		abort();
	}
}

void store_payload_compress(const void *p, size_t n, buf_t *out, uint16_t *flags)
{
	store_payload_compress_cctx(NULL, p, n, out, flags);
}

void store_payload_compress_cctx(void *cctx, const void *p, size_t n, buf_t *out, uint16_t *flags)
{
	buf_reset(out);
	*flags = 0;
	if (n >= 64) { /* below that a zstd frame header costs more than it saves */
		size_t bound = ZSTD_compressBound(n);
		buf_reserve(out, bound);
		size_t r = cctx ? ZSTD_compressCCtx(cctx, out->data, bound, p, n, STORE_ZSTD_LEVEL)
		                : ZSTD_compress(out->data, bound, p, n, STORE_ZSTD_LEVEL);
		if (!ZSTD_isError(r) && r < n) {
			out->len = r;
			*flags = STORE_RECF_ZSTD;
			return;
		}
	}
	buf_append(out, p, n);
}

void store_rec_seal(const uint8_t key[KEYS_BYTES], uint8_t type, uint64_t seq, uint16_t flags,
                    const void *stored, size_t stored_len, size_t plain_len, buf_t *out)
{
	store_rec_hdr_t h = {
	    .length = (uint32_t)(stored_len + STORE_REC_OVERHEAD),
	    .type = type,
	    .version = 1,
	    .flags = flags,
	    .seq = seq,
	    .plain_len = (uint32_t)plain_len,
	    .stored_len = (uint32_t)stored_len,
	};
	randombytes_buf(h.nonce, sizeof h.nonce);
	buf_reserve(out, h.length);
	uint8_t *rec = out->data + out->len;
	store_rec_hdr_encode(&h, rec);
	unsigned long long maclen;
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
	    rec + STORE_REC_HDR_SIZE, rec + STORE_REC_HDR_SIZE + stored_len, &maclen, stored,
	    stored_len, rec, STORE_REC_HDR_SIZE, NULL, h.nonce, key);
	out->len += h.length;
	out->data[out->len] = 0;
}

store_status_t store_rec_open_stored(const uint8_t key[KEYS_BYTES], const uint8_t *rec, size_t len,
                                     store_rec_hdr_t *h, buf_t *stored, const char **why)
{
	if (len < STORE_REC_OVERHEAD) {
		*why = "record shorter than its header";
		return STORE_ECORRUPT;
	}
	if (store_rec_hdr_decode(rec, h, why) != STORE_OK)
		return STORE_ECORRUPT;
	if (h->length != len) {
		*why = "record length does not match";
		return STORE_ECORRUPT;
	}
	buf_reset(stored);
	buf_reserve(stored, h->stored_len);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
	        stored->data, NULL, rec + STORE_REC_HDR_SIZE, h->stored_len,
	        rec + STORE_REC_HDR_SIZE + h->stored_len, rec, STORE_REC_HDR_SIZE, h->nonce,
	        key) != 0) {
		*why = "authentication failed";
		return STORE_ECORRUPT;
	}
	stored->len = h->stored_len;
	stored->data[stored->len] = 0;
	return STORE_OK;
}

store_status_t store_payload_decompress(void *dctx, const store_rec_hdr_t *h, const uint8_t *stored,
                                        size_t stored_len, buf_t *plain, const char **why)
{
	buf_reset(plain);
	buf_reserve(plain, (size_t)h->plain_len + 1);
	ZSTD_DCtx *d = dctx;
	if (!d && !(d = ZSTD_createDCtx())) {
		log_error("store.zstd", "msg=%s", "ZSTD_createDCtx failed");
		abort();
	}
	ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, STORE_ZSTD_WINDOW_LOG_MAX);
	ZSTD_inBuffer in = {stored, stored_len, 0};
	/* One spare byte of room tells "exactly plain_len" from "more". */
	ZSTD_outBuffer out = {plain->data, (size_t)h->plain_len + 1, 0};
	size_t r;
	do {
		r = ZSTD_decompressStream(d, &out, &in);
	} while (!ZSTD_isError(r) && r != 0 && in.pos < in.size && out.pos < out.size);
	if (!dctx)
		ZSTD_freeDCtx(d);
	if (ZSTD_isError(r) || r != 0 || in.pos != in.size || out.pos != h->plain_len) {
		*why = "payload does not decompress to its stated length";
		return STORE_ECORRUPT;
	}
	plain->len = out.pos;
	plain->data[plain->len] = 0;
	return STORE_OK;
}

store_status_t store_rec_open(const uint8_t key[KEYS_BYTES], const uint8_t *rec, size_t len,
                              store_rec_hdr_t *h, buf_t *plain, const char **why)
{
	if (!(len >= STORE_REC_OVERHEAD && (get16(rec + 6) & STORE_RECF_ZSTD)))
		return store_rec_open_stored(key, rec, len, h, plain, why);
	buf_t stored = {0};
	store_status_t st = store_rec_open_stored(key, rec, len, h, &stored, why);
	if (st == STORE_OK)
		st = store_payload_decompress(NULL, h, stored.data, stored.len, plain, why);
	sodium_memzero(stored.data, stored.cap);
	buf_free(&stored);
	return st;
}

void store_payload_hash(const void *p, size_t n, uint8_t out[STORE_HASH_BYTES])
{
	crypto_generichash(out, STORE_HASH_BYTES, p, n, NULL, 0);
}

void store_chain_init(const char *archive, uint8_t link[STORE_HASH_BYTES])
{
	static const char label[] = "vellum chain v1";
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, STORE_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof label); /* with its NUL */
	crypto_generichash_update(&st, (const uint8_t *)archive, strlen(archive));
	crypto_generichash_final(&st, link, STORE_HASH_BYTES);
}

void store_chain_next(uint8_t link[STORE_HASH_BYTES], uint64_t seq, uint8_t type,
                      const uint8_t phash[STORE_HASH_BYTES])
{
	uint8_t m[STORE_HASH_BYTES + 8 + 1 + STORE_HASH_BYTES];
	memcpy(m, link, STORE_HASH_BYTES);
	put64(m + STORE_HASH_BYTES, seq);
	m[STORE_HASH_BYTES + 8] = type;
	memcpy(m + STORE_HASH_BYTES + 9, phash, STORE_HASH_BYTES);
	crypto_generichash(link, STORE_HASH_BYTES, m, sizeof m, NULL, 0);
}

/* ---- TLV ---- */

void store_tlv_put(buf_t *b, uint16_t tag, const void *p, size_t n)
{
	uint8_t h[6];
	put16(h, tag);
	put32(h + 2, (uint32_t)n);
	buf_append(b, h, sizeof h);
	buf_append(b, p, n);
}

void store_tlv_put64(buf_t *b, uint16_t tag, uint64_t v)
{
	uint8_t x[8];
	put64(x, v);
	store_tlv_put(b, tag, x, sizeof x);
}

void store_tlv_put_str(buf_t *b, uint16_t tag, const char *s)
{
	if (s)
		store_tlv_put(b, tag, s, strnlen(s, STORE_FIELD_MAX));
}

int store_tlv_next(store_tlv_iter_t *it, uint16_t *tag, const uint8_t **v, uint32_t *len,
                   const char **why)
{
	if (it->off >= it->n)
		return 0;
	if (it->n - it->off < 6) {
		*why = "field cut off";
		return -1;
	}
	const uint8_t *f = it->p + it->off;
	uint32_t l = get32(f + 2);
	if (l > it->n - it->off - 6) {
		*why = "field longer than the record";
		return -1;
	}
	*tag = get16(f);
	*len = l;
	*v = f + 6;
	it->field_off = it->off;
	it->off += 6 + (size_t)l;
	return 1;
}

/* ---- envelopes ---- */

enum {
	ENV_MSG_SEQ = 1,
	ENV_SHA256,
	ENV_SIZE,
	ENV_RECEIVED,
	ENV_LISTENER,
	ENV_CLIENT_ADDR,
	ENV_CLIENT_PORT,
	ENV_HELO,
	ENV_TLS_VERSION,
	ENV_TLS_CIPHER,
	ENV_AUTH_ID,
	ENV_MAIL_FROM,
	ENV_MAIL_PARAMS,
	ENV_RCPT,
	ENV_FLAGS,
	ENV_CONTENT,
	ENV_ARCHIVE,
	ENV_KIND,
	ENV_TAG_MAX = ENV_KIND,
};

#define env_put   store_tlv_put
#define env_put64 store_tlv_put64

static bool env_put_str(buf_t *b, uint16_t tag, const char *s)
{
	if (!s)
		return true;
	size_t n = strnlen(s, STORE_FIELD_MAX + 1);
	if (n > STORE_FIELD_MAX)
		return false;
	env_put(b, tag, s, n);
	return true;
}

store_status_t store_env_encode_fields(const store_envelope_t *env, int64_t received, buf_t *out)
{
	if (env->nrcpt > STORE_RCPT_MAX || (env->nrcpt && !env->rcpt))
		return STORE_EINVAL;
	env_put64(out, ENV_RECEIVED, (uint64_t)received);
	bool ok = env_put_str(out, ENV_LISTENER, env->listener) &&
	          env_put_str(out, ENV_CLIENT_ADDR, env->client_addr) &&
	          env_put_str(out, ENV_HELO, env->helo) &&
	          env_put_str(out, ENV_TLS_VERSION, env->tls_version) &&
	          env_put_str(out, ENV_TLS_CIPHER, env->tls_cipher) &&
	          env_put_str(out, ENV_AUTH_ID, env->auth_id) &&
	          env_put_str(out, ENV_MAIL_FROM, env->mail_from ? env->mail_from : "") &&
	          env_put_str(out, ENV_MAIL_PARAMS, env->mail_params);
	if (!ok)
		return STORE_EINVAL;
	uint8_t port[2];
	put16(port, env->client_port);
	env_put(out, ENV_CLIENT_PORT, port, sizeof port);
	uint8_t fl[4];
	put32(fl, env->flags);
	env_put(out, ENV_FLAGS, fl, sizeof fl);
	for (size_t i = 0; i < env->nrcpt; i++) {
		if (!env->rcpt[i] || !env_put_str(out, ENV_RCPT, env->rcpt[i]))
			return STORE_EINVAL;
		if (out->len > STORE_ENVELOPE_MAX)
			return STORE_EINVAL;
	}
	return out->len > STORE_ENVELOPE_MAX ? STORE_EINVAL : STORE_OK;
}

void store_env_or_flags(buf_t *env, uint32_t flags)
{
	for (size_t off = 0; off + 6 <= env->len;) {
		uint16_t tag = get16(env->data + off);
		uint32_t n = get32(env->data + off + 2);
		if (n > env->len - off - 6)
			return;
		if (tag == ENV_FLAGS && n == 4) {
			put32(env->data + off + 6, get32(env->data + off + 6) | flags);
			return;
		}
		off += 6 + (size_t)n;
	}
}

void store_env_encode_tail(buf_t *out, uint64_t msg_seq, const uint8_t sha256[32], uint64_t size,
                           const char *archive, bool duplicate, const store_ref_t *refs,
                           size_t nrefs)
{
	env_put64(out, ENV_MSG_SEQ, msg_seq);
	env_put(out, ENV_SHA256, sha256, 32);
	env_put64(out, ENV_SIZE, size);
	env_put_str(out, ENV_ARCHIVE, archive);
	uint8_t kind = duplicate ? 1 : 0;
	env_put(out, ENV_KIND, &kind, 1);
	uint8_t h[6];
	put16(h, ENV_CONTENT);
	put32(h + 2, (uint32_t)(nrefs * 16));
	buf_append(out, h, sizeof h);
	for (size_t i = 0; i < nrefs; i++) {
		uint8_t r[16];
		put64(r, refs[i].seq);
		put64(r + 8, refs[i].offset);
		buf_append(out, r, sizeof r);
	}
}

void store_arrival_clear(store_arrival_t *a)
{
	free(a->segment);
	free(a->listener);
	free(a->client_addr);
	free(a->helo);
	free(a->tls_version);
	free(a->tls_cipher);
	free(a->auth_id);
	free(a->mail_from);
	free(a->mail_params);
	if (a->rcpt)
		for (size_t i = 0; i < a->nrcpt; i++)
			free(a->rcpt[i]);
	free(a->rcpt);
	memset(a, 0, sizeof *a);
}

void store_env_rec_free(store_env_rec_t *e)
{
	store_arrival_clear(&e->arr);
	free(e->archive);
	free(e->refs);
	memset(e, 0, sizeof *e);
}

static char **env_str_slot(store_env_rec_t *e, uint16_t tag)
{
	switch (tag) {
	case ENV_LISTENER: return &e->arr.listener;
	case ENV_CLIENT_ADDR: return &e->arr.client_addr;
	case ENV_HELO: return &e->arr.helo;
	case ENV_TLS_VERSION: return &e->arr.tls_version;
	case ENV_TLS_CIPHER: return &e->arr.tls_cipher;
	case ENV_AUTH_ID: return &e->arr.auth_id;
	case ENV_MAIL_FROM: return &e->arr.mail_from;
	case ENV_MAIL_PARAMS: return &e->arr.mail_params;
	case ENV_ARCHIVE: return &e->archive;
	}
	return NULL;
}

/* Size of a fixed-length field, 0 for variable ones. */
static size_t env_fixed_len(uint16_t tag)
{
	switch (tag) {
	case ENV_MSG_SEQ:
	case ENV_SIZE:
	case ENV_RECEIVED: return 8;
	case ENV_SHA256: return 32;
	case ENV_CLIENT_PORT: return 2;
	case ENV_FLAGS: return 4;
	case ENV_KIND: return 1;
	}
	return 0;
}

/* Counts recipients first so the array is allocated once, bounded. */
static store_status_t env_count_rcpt(const uint8_t *p, size_t n, size_t *count, const char **why)
{
	size_t off = 0, c = 0;
	while (off < n) {
		if (n - off < 6) {
			*why = "envelope field cut off";
			return STORE_ECORRUPT;
		}
		uint32_t len = get32(p + off + 2);
		if (len > n - off - 6) {
			*why = "envelope field longer than the record";
			return STORE_ECORRUPT;
		}
		if (get16(p + off) == ENV_RCPT && ++c > STORE_RCPT_MAX) {
			*why = "too many recipients";
			return STORE_ECORRUPT;
		}
		off += 6 + (size_t)len;
	}
	*count = c;
	return STORE_OK;
}

static store_status_t env_field(store_env_rec_t *e, uint16_t tag, const uint8_t *v, uint32_t len,
                                const char **why)
{
	size_t fixed = env_fixed_len(tag);
	if (fixed && len != fixed) {
		*why = "envelope field has the wrong length";
		return STORE_ECORRUPT;
	}
	char **slot = env_str_slot(e, tag);
	if (slot || tag == ENV_RCPT) {
		if (len > STORE_FIELD_MAX || memchr(v, 0, len)) {
			*why = "envelope string too long or holds NUL";
			return STORE_ECORRUPT;
		}
		char *s = xstrndup((const char *)v, len);
		if (tag == ENV_RCPT) {
			e->arr.rcpt[e->arr.nrcpt++] = s;
			return STORE_OK;
		}
		*slot = s;
		return STORE_OK;
	}
	switch (tag) {
	case ENV_MSG_SEQ: e->msg_seq = get64(v); break;
	case ENV_SHA256: memcpy(e->sha256, v, 32); break;
	case ENV_SIZE: e->size = get64(v); break;
	case ENV_RECEIVED: e->arr.received = (int64_t)get64(v); break;
	case ENV_CLIENT_PORT: e->arr.client_port = get16(v); break;
	case ENV_FLAGS: e->arr.flags = get32(v); break;
	case ENV_KIND:
		if (v[0] > 1) {
			*why = "unknown envelope kind";
			return STORE_ECORRUPT;
		}
		e->duplicate = v[0] == 1;
		break;
	case ENV_CONTENT:
		if (len == 0 || len % 16 || len / 16 > STORE_CHUNKS_MAX) {
			*why = "bad content reference list";
			return STORE_ECORRUPT;
		}
		e->nrefs = len / 16;
		e->refs = xcalloc(e->nrefs, sizeof *e->refs);
		for (size_t i = 0; i < e->nrefs; i++) {
			e->refs[i].seq = get64(v + 16 * i);
			e->refs[i].offset = get64(v + 16 * i + 8);
		}
		break;
	default: break; /* unknown: a later version's field */
	}
	return STORE_OK;
}

store_status_t store_env_decode(const uint8_t *p, size_t n, store_env_rec_t *e, const char **why)
{
	memset(e, 0, sizeof *e);
	size_t nrcpt;
	if (env_count_rcpt(p, n, &nrcpt, why) != STORE_OK)
		return STORE_ECORRUPT;
	e->arr.rcpt = xcalloc(nrcpt + 1, sizeof *e->arr.rcpt);
	uint32_t seen = 0;
	for (size_t off = 0; off < n;) {
		uint16_t tag = get16(p + off);
		uint32_t len = get32(p + off + 2);
		const uint8_t *v = p + off + 6;
		off += 6 + (size_t)len;
		if (tag >= 1 && tag <= ENV_TAG_MAX && tag != ENV_RCPT) {
			if (seen & (1u << tag)) {
				*why = "envelope field repeated";
				goto bad;
			}
			seen |= 1u << tag;
		}
		if (env_field(e, tag, v, len, why) != STORE_OK)
			goto bad;
	}
	const uint32_t required = 1u << ENV_MSG_SEQ | 1u << ENV_SHA256 | 1u << ENV_SIZE |
	                          1u << ENV_RECEIVED | 1u << ENV_CONTENT | 1u << ENV_ARCHIVE |
	                          1u << ENV_KIND;
	if ((seen & required) != required) {
		*why = "envelope lacks a required field";
		goto bad;
	}
	if (e->msg_seq == 0 || e->size > STORE_MSG_MAX) {
		*why = "envelope message sequence or size out of range";
		goto bad;
	}
	return STORE_OK;
bad:
	store_env_rec_free(e);
	return STORE_ECORRUPT;
}
