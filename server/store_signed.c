/* store_signed.c — the signed records of the chain (doc/format.md §6.1):
 * CHECKPOINT, SEAL, DELETION, and the ELISION trailer of a compacted segment.
 *
 * Does: encode the list fields, sign a payload with the server's Ed25519 key,
 * check a signature, decode every field of a signed payload into
 * store_srec_t with bounds checked before anything is allocated, merge
 * deleted ranges.  Does not: decide when to sign (store_writer.c) or what to
 * delete (store_delete.c, the retention policy above the store).
 *
 * Payload: TLV fields (SF_* in store_private.h), SF_SIGNER and SF_SIGNATURE
 * last.  The signature is Ed25519 over
 *   "vellum signed record v1" || 0x00 || archive || 0x00 || le64(seq) ||
 *   u8 type || prev_link[32] || payload bytes before the SF_SIGNATURE field
 * where prev_link is link_{seq-1} (for ELISION: the segment's prev_link and
 * seq its first_seq), so a signature anchors the whole chain before it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store_private.h"

static void sig_message(const char *archive, uint64_t seq, uint8_t type,
                        const uint8_t prev_link[STORE_HASH_BYTES], const uint8_t *body, size_t n,
                        buf_t *m)
{
	static const char label[] = "vellum signed record v1";
	buf_append(m, label, sizeof label);
	buf_append(m, archive, strlen(archive) + 1);
	uint8_t x[9];
	store_put64(x, seq);
	x[8] = type;
	buf_append(m, x, sizeof x);
	buf_append(m, prev_link, STORE_HASH_BYTES);
	buf_append(m, body, n);
}

void store_sign_append(const uint8_t *sk, const uint8_t pk[KEYS_SIGN_PUBLIC_BYTES],
                       const char *archive, uint64_t seq, uint8_t type,
                       const uint8_t prev_link[STORE_HASH_BYTES], buf_t *body)
{
	store_tlv_put(body, SF_SIGNER, pk, KEYS_SIGN_PUBLIC_BYTES);
	buf_t m = {0};
	sig_message(archive, seq, type, prev_link, body->data, body->len, &m);
	uint8_t sig[KEYS_SIGNATURE_BYTES];
	crypto_sign_detached(sig, NULL, m.data, m.len, sk);
	buf_free(&m);
	store_tlv_put(body, SF_SIGNATURE, sig, sizeof sig);
}

store_status_t store_sign_check(const uint8_t *p, size_t n, const char *archive, uint64_t seq,
                                uint8_t type, const uint8_t prev_link[STORE_HASH_BYTES],
                                const uint8_t pk[KEYS_SIGN_PUBLIC_BYTES], const char **why)
{
	store_tlv_iter_t it = {.p = p, .n = n};
	uint16_t tag;
	const uint8_t *v, *signer = NULL, *sig = NULL;
	uint32_t len;
	size_t sig_at = 0;
	int r;
	while ((r = store_tlv_next(&it, &tag, &v, &len, why)) == 1) {
		if (sig) {
			*why = "fields after the signature";
			return STORE_ECORRUPT;
		}
		if (tag == SF_SIGNER && len == KEYS_SIGN_PUBLIC_BYTES)
			signer = v;
		else if (tag == SF_SIGNATURE && len == KEYS_SIGNATURE_BYTES) {
			sig = v;
			sig_at = it.field_off;
		}
	}
	if (r < 0)
		return STORE_ECORRUPT;
	if (!sig || !signer) {
		*why = "signed record without a signature";
		return STORE_ECORRUPT;
	}
	if (sodium_memcmp(signer, pk, KEYS_SIGN_PUBLIC_BYTES) != 0) {
		*why = "signed by a key other than this server's";
		return STORE_ECORRUPT;
	}
	buf_t m = {0};
	sig_message(archive, seq, type, prev_link, p, sig_at, &m);
	int bad = crypto_sign_verify_detached(sig, m.data, m.len, pk);
	buf_free(&m);
	if (bad) {
		*why = "bad signature";
		return STORE_ECORRUPT;
	}
	return STORE_OK;
}

/* ---- list fields ---- */

void store_srec_put_delseg(buf_t *b, const store_del_seg_t *d)
{
	uint8_t x[STORE_DEL_SEG_BYTES];
	store_put64(x, d->first);
	store_put64(x + 8, d->last);
	memcpy(x + 16, d->id, 16);
	memcpy(x + 32, d->file_hash, 32);
	memcpy(x + 64, d->prev_link, 32);
	memcpy(x + 96, d->end_link, 32);
	store_put64(x + 128, d->bytes);
	store_put64(x + 136, (uint64_t)d->created);
	store_put64(x + 144, d->arrivals);
	store_tlv_put(b, SF_DEL_SEGMENT, x, sizeof x);
}

void store_srec_put_delcmp(buf_t *b, const store_del_cmp_t *d)
{
	uint8_t x[STORE_DEL_CMP_BYTES];
	store_put64(x, d->first);
	store_put64(x + 8, d->last);
	memcpy(x + 16, d->old_id, 16);
	memcpy(x + 32, d->new_id, 16);
	memcpy(x + 48, d->old_hash, 32);
	memcpy(x + 80, d->new_hash, 32);
	store_put64(x + 112, d->bytes_before);
	store_put64(x + 120, d->bytes_after);
	store_tlv_put(b, SF_DEL_COMPACTED, x, sizeof x);
}

void store_srec_put_gaps(buf_t *b, const store_gap_t *g, size_t n)
{
	uint8_t h[6];
	store_put16(h, SF_GAPS);
	store_put32(h + 2, (uint32_t)(n * STORE_GAP_BYTES));
	buf_append(b, h, sizeof h);
	for (size_t i = 0; i < n; i++) {
		uint8_t x[STORE_GAP_BYTES];
		store_put64(x, g[i].first);
		store_put64(x + 8, g[i].last);
		memcpy(x + 16, g[i].prev_link, 32);
		memcpy(x + 48, g[i].end_link, 32);
		buf_append(b, x, sizeof x);
	}
}

void store_srec_put_elided(buf_t *b, const store_elided_t *e)
{
	uint8_t x[STORE_ELIDED_BYTES];
	store_put64(x, e->first);
	store_put64(x + 8, e->last);
	store_put64(x + 16, (uint64_t)e->time);
	x[24] = e->kind;
	store_tlv_put(b, SF_ELIDED, x, sizeof x);
}

void store_srec_put_tomb(buf_t *b, const store_tomb_t *t)
{
	buf_t n = {0};
	store_tlv_put64(&n, TB_MSG_SEQ, t->msg_seq);
	store_tlv_put(&n, TB_SHA256, t->sha256, 32);
	store_tlv_put_str(&n, TB_REASON, t->reason);
	store_tlv_put_str(&n, TB_REQUESTED_BY, t->requested_by);
	store_tlv_put_str(&n, TB_APPROVED_BY, t->approved_by);
	store_tlv_put(b, SF_TOMBSTONE, n.data, n.len);
	buf_free(&n);
}

void store_gaps_add(store_gap_t **g, size_t *n, const store_gap_t *r)
{
	size_t i = 0;
	while (i < *n && (*g)[i].last + 1 < r->first)
		i++;
	/* (*g)[i] is the first range that touches or follows r. */
	if (i < *n && (*g)[i].first <= r->last + 1) {
		store_gap_t *x = &(*g)[i];
		if (r->first < x->first) {
			x->first = r->first;
			memcpy(x->prev_link, r->prev_link, 32);
		}
		if (r->last > x->last) {
			x->last = r->last;
			memcpy(x->end_link, r->end_link, 32);
		}
		/* It may now reach the ranges after it. */
		while (i + 1 < *n && (*g)[i + 1].first <= x->last + 1) {
			if ((*g)[i + 1].last > x->last) {
				x->last = (*g)[i + 1].last;
				memcpy(x->end_link, (*g)[i + 1].end_link, 32);
			}
			memmove(&(*g)[i + 1], &(*g)[i + 2], (*n - i - 2) * sizeof **g);
			(*n)--;
		}
		return;
	}
	*g = xrealloc(*g, (*n + 1) * sizeof **g);
	memmove(&(*g)[i + 1], &(*g)[i], (*n - i) * sizeof **g);
	(*g)[i] = *r;
	(*n)++;
}

/* ---- decoding ---- */

static char *dup_str(const uint8_t *v, uint32_t len, const char **why)
{
	if (len > STORE_FIELD_MAX || memchr(v, 0, len)) {
		*why = "string field too long or holds NUL";
		return NULL;
	}
	return xstrndup((const char *)v, len);
}

/* Counts the repeated fields first so every array is allocated once. */
static store_status_t srec_count(const uint8_t *p, size_t n, size_t counts[64], const char **why)
{
	store_tlv_iter_t it = {.p = p, .n = n};
	uint16_t tag;
	const uint8_t *v;
	uint32_t len;
	int r;
	memset(counts, 0, 64 * sizeof *counts);
	while ((r = store_tlv_next(&it, &tag, &v, &len, why)) == 1)
		if (tag < 64 && ++counts[tag] > STORE_SIGNED_LIST_MAX) {
			*why = "too many list entries";
			return STORE_ECORRUPT;
		}
	return r < 0 ? STORE_ECORRUPT : STORE_OK;
}

static store_status_t tomb_decode(const uint8_t *p, size_t n, store_tomb_t *t, const char **why)
{
	store_tlv_iter_t it = {.p = p, .n = n};
	uint16_t tag;
	const uint8_t *v;
	uint32_t len;
	int r;
	bool have_seq = false, have_sha = false;
	while ((r = store_tlv_next(&it, &tag, &v, &len, why)) == 1) {
		char **slot = tag == TB_REASON         ? &t->reason
		              : tag == TB_REQUESTED_BY ? &t->requested_by
		              : tag == TB_APPROVED_BY  ? &t->approved_by
		                                       : NULL;
		if (tag == TB_MSG_SEQ && len == 8 && !have_seq) {
			t->msg_seq = store_get64(v);
			have_seq = true;
		} else if (tag == TB_SHA256 && len == 32 && !have_sha) {
			memcpy(t->sha256, v, 32);
			have_sha = true;
		} else if (slot && !*slot) {
			if (!(*slot = dup_str(v, len, why)))
				return STORE_ECORRUPT;
		} else if (tag >= TB_MSG_SEQ && tag <= TB_APPROVED_BY) {
			*why = "bad tombstone field";
			return STORE_ECORRUPT;
		}
	}
	if (r < 0)
		return STORE_ECORRUPT;
	if (!have_seq || !have_sha) {
		*why = "tombstone without id or hash";
		return STORE_ECORRUPT;
	}
	return STORE_OK;
}

static void get_delseg(const uint8_t *x, store_del_seg_t *d)
{
	d->first = store_get64(x);
	d->last = store_get64(x + 8);
	memcpy(d->id, x + 16, 16);
	memcpy(d->file_hash, x + 32, 32);
	memcpy(d->prev_link, x + 64, 32);
	memcpy(d->end_link, x + 96, 32);
	d->bytes = store_get64(x + 128);
	d->created = (int64_t)store_get64(x + 136);
	d->arrivals = store_get64(x + 144);
}

static void get_delcmp(const uint8_t *x, store_del_cmp_t *d)
{
	d->first = store_get64(x);
	d->last = store_get64(x + 8);
	memcpy(d->old_id, x + 16, 16);
	memcpy(d->new_id, x + 32, 16);
	memcpy(d->old_hash, x + 48, 32);
	memcpy(d->new_hash, x + 80, 32);
	d->bytes_before = store_get64(x + 112);
	d->bytes_after = store_get64(x + 120);
}

/* One field into r; sizes were checked against the tag by the caller. */
static store_status_t srec_field(store_srec_t *r, uint16_t tag, const uint8_t *v, uint32_t len,
                                 const char **why)
{
	switch (tag) {
	case SF_TIME: r->time = (int64_t)store_get64(v); break;
	case SF_SIGNER: memcpy(r->signer, v, KEYS_SIGN_PUBLIC_BYTES); break;
	case SF_MSG_SEQ_MAX: r->msg_seq_max = store_get64(v); break;
	case SF_HEAD: r->head = store_get64(v); break;
	case SF_SEGMENT: r->segment = store_get64(v); break;
	case SF_SEGMENT_ID: memcpy(r->segment_id, v, STORE_SEG_ID_BYTES); break;
	case SF_CREATED: r->created = (int64_t)store_get64(v); break;
	case SF_RECEIVED:
		r->rmin = (int64_t)store_get64(v);
		r->rmax = (int64_t)store_get64(v + 8);
		break;
	case SF_COUNTS:
		r->messages = store_get64(v);
		r->arrivals = store_get64(v + 8);
		r->raw_bytes = store_get64(v + 16);
		break;
	case SF_Q_SEGMENT: r->q_segment = store_get64(v), r->has_q = true; break;
	case SF_Q_OFFSET: r->q_offset = store_get64(v); break;
	case SF_Q_SEQ: r->q_seq = store_get64(v); break;
	case SF_KIND: r->kind = v[0]; break;
	case SF_DEL_SEGMENT: get_delseg(v, &r->dsegs[r->ndsegs++]); break;
	case SF_DEL_COMPACTED: get_delcmp(v, &r->dcmps[r->ndcmps++]); break;
	case SF_DEL_MSGS:
		r->nmsgs = len / 8;
		r->msgs = xcalloc(r->nmsgs + 1, sizeof *r->msgs);
		for (size_t i = 0; i < r->nmsgs; i++)
			r->msgs[i] = store_get64(v + 8 * i);
		break;
	case SF_GAPS:
		r->ngaps = len / STORE_GAP_BYTES;
		r->gaps = xcalloc(r->ngaps + 1, sizeof *r->gaps);
		for (size_t i = 0; i < r->ngaps; i++) {
			const uint8_t *x = v + i * STORE_GAP_BYTES;
			r->gaps[i].first = store_get64(x);
			r->gaps[i].last = store_get64(x + 8);
			memcpy(r->gaps[i].prev_link, x + 16, 32);
			memcpy(r->gaps[i].end_link, x + 48, 32);
		}
		break;
	case SF_DEL_HEAD:
		r->del_head = store_get64(v);
		memcpy(r->del_link, v + 8, 32);
		break;
	case SF_DEL_AKEY:
		memcpy(r->del_akey, v, KEYS_ID_BYTES);
		r->has_del_akey = true;
		break;
	case SF_ELIDED: {
		store_elided_t *e = &r->elided[r->nelided++];
		e->first = store_get64(v);
		e->last = store_get64(v + 8);
		e->time = (int64_t)store_get64(v + 16);
		e->kind = v[24];
		if (e->first == 0 || e->last < e->first) {
			*why = "bad elided range";
			return STORE_ECORRUPT;
		}
		break;
	}
	case SF_TOMBSTONE: return tomb_decode(v, len, &r->tombs[r->ntombs++], why);
	default: break;
	}
	return STORE_OK;
}

/* Fixed length of a field, 0 for a string, SIZE_MAX for "multiple of" lists
 * handled by the caller, and 1 for unknown (skipped) tags. */
static bool srec_len_ok(uint16_t tag, uint32_t len)
{
	switch (tag) {
	case SF_TIME:
	case SF_MSG_SEQ_MAX:
	case SF_HEAD:
	case SF_SEGMENT:
	case SF_CREATED:
	case SF_Q_SEGMENT:
	case SF_Q_OFFSET:
	case SF_Q_SEQ: return len == 8;
	case SF_SIGNER: return len == KEYS_SIGN_PUBLIC_BYTES;
	case SF_SIGNATURE: return len == KEYS_SIGNATURE_BYTES;
	case SF_SEGMENT_ID: return len == STORE_SEG_ID_BYTES;
	case SF_RECEIVED: return len == 16;
	case SF_COUNTS: return len == 24;
	case SF_KIND: return len == 1;
	case SF_DEL_SEGMENT: return len == STORE_DEL_SEG_BYTES;
	case SF_DEL_COMPACTED: return len == STORE_DEL_CMP_BYTES;
	case SF_DEL_MSGS: return len % 8 == 0 && len / 8 <= STORE_SIGNED_LIST_MAX;
	case SF_GAPS: return len % STORE_GAP_BYTES == 0;
	case SF_DEL_HEAD: return len == 40;
	case SF_DEL_AKEY: return len == KEYS_ID_BYTES;
	case SF_ELIDED: return len == STORE_ELIDED_BYTES;
	}
	return true;
}

static store_status_t srec_strings(store_srec_t *r, uint16_t tag, const uint8_t *v, uint32_t len,
                                   const char **why, bool *handled)
{
	char **slot = tag == SF_ARCHIVE       ? &r->archive
	              : tag == SF_Q_REASON    ? &r->q_reason
	              : tag == SF_REASON      ? &r->reason
	              : tag == SF_ACTOR       ? &r->actor
	              : tag == SF_DEL_ARCHIVE ? &r->del_archive
	                                      : NULL;
	*handled = slot != NULL;
	if (!slot)
		return STORE_OK;
	if (*slot) {
		*why = "string field repeated";
		return STORE_ECORRUPT;
	}
	*slot = dup_str(v, len, why);
	return *slot ? STORE_OK : STORE_ECORRUPT;
}

store_status_t store_srec_decode(const uint8_t *p, size_t n, uint8_t type, store_srec_t *r,
                                 const char **why)
{
	memset(r, 0, sizeof *r);
	r->type = type;
	size_t counts[64];
	if (srec_count(p, n, counts, why) != STORE_OK)
		return STORE_ECORRUPT;
	r->dsegs = xcalloc(counts[SF_DEL_SEGMENT] + 1, sizeof *r->dsegs);
	r->dcmps = xcalloc(counts[SF_DEL_COMPACTED] + 1, sizeof *r->dcmps);
	r->tombs = xcalloc(counts[SF_TOMBSTONE] + 1, sizeof *r->tombs);
	r->elided = xcalloc(counts[SF_ELIDED] + 1, sizeof *r->elided);
	store_tlv_iter_t it = {.p = p, .n = n};
	uint16_t tag;
	const uint8_t *v;
	uint32_t len;
	int rc;
	uint64_t seen = 0;
	while ((rc = store_tlv_next(&it, &tag, &v, &len, why)) == 1) {
		bool list = tag == SF_DEL_SEGMENT || tag == SF_DEL_COMPACTED ||
		            tag == SF_TOMBSTONE || tag == SF_ELIDED;
		if (tag < 64 && !list) {
			if (seen & (UINT64_C(1) << tag)) {
				*why = "field repeated";
				goto bad;
			}
			seen |= UINT64_C(1) << tag;
		}
		if (!srec_len_ok(tag, len)) {
			*why = "field has the wrong length";
			goto bad;
		}
		bool handled;
		if (srec_strings(r, tag, v, len, why, &handled) != STORE_OK)
			goto bad;
		if (!handled && srec_field(r, tag, v, len, why) != STORE_OK)
			goto bad;
	}
	if (rc < 0)
		goto bad;
	if (!(seen & (UINT64_C(1) << SF_TIME)) || !(seen & (UINT64_C(1) << SF_SIGNER)) ||
	    !(seen & (UINT64_C(1) << SF_SIGNATURE))) {
		*why = "signed record lacks time, signer or signature";
		goto bad;
	}
	if ((type == STORE_REC_SEAL || type == STORE_REC_ELISION) &&
	    !(seen & (UINT64_C(1) << SF_SEGMENT))) {
		*why = "seal without its segment";
		goto bad;
	}
	if (type == STORE_REC_DELETION && !(seen & (UINT64_C(1) << SF_KIND))) {
		*why = "deletion without its kind";
		goto bad;
	}
	return STORE_OK;
bad:
	store_srec_free(r);
	return STORE_ECORRUPT;
}

void store_srec_free(store_srec_t *r)
{
	if (!r)
		return;
	free(r->archive);
	free(r->q_reason);
	free(r->reason);
	free(r->actor);
	free(r->dsegs);
	free(r->dcmps);
	free(r->msgs);
	for (size_t i = 0; i < r->ntombs; i++) {
		free(r->tombs[i].reason);
		free(r->tombs[i].requested_by);
		free(r->tombs[i].approved_by);
	}
	free(r->tombs);
	free(r->gaps);
	free(r->del_archive);
	free(r->elided);
	memset(r, 0, sizeof *r);
}
