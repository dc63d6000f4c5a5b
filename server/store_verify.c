/* store_verify.c — `vellum verify`: re-read every record of an archive and
 * check everything the format promises, reporting each problem with the
 * segment file, byte offset and sequence.
 *
 * Checks: segment headers (magic, version, MAC under the key the keystore
 * has for the header's id, first_seq equal to the file name); framing,
 * authentication and decompression of every record and block; sequence
 * continuity (a removed, duplicated or reordered record or segment); the
 * chain link carried across segments; every signature (CHECKPOINT, SEAL,
 * DELETION, ELISION) against the server's public key, which gives
 * anchored_seq; that every sealed segment ends with its SEAL; envelopes
 * (their content references name content records of the same segment, and
 * the content's SHA-256 and size match); and that the chain reaches the
 * recorded head with the head's link.  Records beyond the head are not
 * acknowledged yet and are not read.
 *
 * Deletions are told from tampering: a run of missing records between two
 * segments is a problem unless the newest DELETION record's list of deleted
 * ranges has exactly that run with the links on both sides; an elided record
 * in a packed segment is a problem unless it is content no envelope
 * references (dropped at packing) or the segment's signed ELISION trailer
 * lists it.  Does not: repair anything, or read the catalog.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"
#include "vellum/log.h"

typedef struct vrec {
	uint64_t off; /* record offset, or its block's offset when packed */
	uint8_t type;
	bool ok; /* authenticated */
	bool elided;
	uint8_t sha[32]; /* CONTENT: SHA-256 of the payload */
	uint64_t len;    /* CONTENT: payload length */
} vrec_t;

typedef struct vgap {
	uint64_t first, last;
	uint8_t before[STORE_HASH_BYTES], after[STORE_HASH_BYTES];
	char seg[STORE_SEG_NAME_MAX];
} vgap_t;

typedef struct vctx {
	store_t *s;
	store_archive_t *a;
	store_verify_cb cb, note;
	void *arg;
	store_verify_report_t *rep;
	store_head_t head;
	uint8_t link[STORE_HASH_BYTES];
	uint8_t head_link[STORE_HASH_BYTES];
	bool head_link_seen;
	uint64_t expect;   /* next sequence */
	bool broken;       /* chain continuity lost; resync at the next segment */
	bool link_unknown; /* a record of this segment failed: links after it are unknown */
	uint64_t anchored;
	/* deletions */
	store_gap_t *gaps; /* from the newest DELETION */
	size_t ngaps;
	uint64_t gaps_seq;
	vgap_t *pending; /* runs of missing records seen between segments */
	size_t npending;
	/* the current segment */
	char name[STORE_SEG_NAME_MAX];
	uint64_t first;
	const uint8_t *key;
	bool packed;
	store_segfile_t rf; /* for re-reading chunks */
	bool rf_open;
	vrec_t *recs; /* indexed by seq - first */
	size_t nrecs, caprecs;
	uint8_t last_type;
	uint64_t *elided_strict; /* elided records that need a signed ELISION */
	size_t nstrict;
	buf_t raw, plain, blk;
} vctx_t;

static void vreport(vctx_t *v, store_verify_cb fn, uint64_t off, uint64_t seq, const char *fmt,
                    va_list ap) __attribute__((format(printf, 5, 0)));
static void vreport(vctx_t *v, store_verify_cb fn, uint64_t off, uint64_t seq, const char *fmt,
                    va_list ap)
{
	buf_t b = {0};
	buf_printf(&b, "segment %s offset %" PRIu64 " seq %" PRIu64 ": ", v->name, off, seq);
	buf_vprintf(&b, fmt, ap);
	if (fn == v->cb) {
		/* Each at info (the caller shows them); one warning per archive. */
		char q[LOG_Q_MAX];
		log_info("store.verify", "archive=%s problem=%s", v->a->name,
		         log_q(q, sizeof q, (const char *)b.data));
	}
	if (fn)
		fn(v->arg, v->a->name, (const char *)b.data);
	buf_free(&b);
}

static void problem(vctx_t *v, uint64_t off, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(vctx_t *v, uint64_t off, uint64_t seq, const char *fmt, ...)
{
	v->rep->problems++;
	va_list ap;
	va_start(ap, fmt);
	vreport(v, v->cb, off, seq, fmt, ap);
	va_end(ap);
}

static void note(vctx_t *v, uint64_t off, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(vctx_t *v, uint64_t off, uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(v, v->note, off, seq, fmt, ap);
	va_end(ap);
}

static vrec_t *vrec_new(vctx_t *v, uint64_t off, uint8_t type)
{
	if (v->nrecs == v->caprecs) {
		v->caprecs = v->caprecs ? 2 * v->caprecs : 256;
		v->recs = xrealloc(v->recs, v->caprecs * sizeof *v->recs);
	}
	vrec_t *r = &v->recs[v->nrecs++];
	memset(r, 0, sizeof *r);
	r->off = off;
	r->type = type;
	return r;
}

/* ---- envelopes ---- */

static bool rehash_chunks(vctx_t *v, const store_env_rec_t *e)
{
	if (!v->rf_open) {
		if (store_segfile_open(v->s, v->a, v->first, &v->rf) != STORE_OK)
			return false;
		v->rf_open = true;
	}
	store_sha256_t sh;
	store_sha256_init(&sh);
	uint64_t total = 0;
	for (size_t i = 0; i < e->nrefs; i++) {
		store_lrec_t lr;
		if (store_segfile_get(&v->rf, e->refs[i].seq, e->refs[i].offset, STORE_REC_CHUNK,
		                      &lr) != STORE_OK) {
			store_sha256_free(&sh);
			return false;
		}
		store_sha256_update(&sh, lr.p, lr.n);
		total += lr.n;
	}
	uint8_t d[32];
	store_sha256_final(&sh, d);
	return total == e->size && !sodium_memcmp(d, e->sha256, 32);
}

/* Checks one ENVELOPE's references against the records of its segment. */
static void verify_envelope(vctx_t *v, const uint8_t *p, size_t n, uint64_t off, uint64_t seq)
{
	store_env_rec_t e;
	const char *why;
	if (store_env_decode(p, n, &e, &why) != STORE_OK) {
		problem(v, off, seq, "envelope: %s", why);
		return;
	}
	if (strcmp(e.archive, v->a->name) != 0)
		problem(v, off, seq, "envelope names archive '%s'", e.archive);
	if (!e.duplicate)
		v->rep->messages++;
	bool refs_ok = true;
	for (size_t i = 0; i < e.nrefs && refs_ok; i++) {
		uint64_t rs = e.refs[i].seq;
		const vrec_t *r = rs >= v->first && rs < seq ? &v->recs[rs - v->first] : NULL;
		if (!r || (!v->packed && r->off != e.refs[i].offset) ||
		    !(r->type == STORE_REC_CHUNK ||
		      (r->type == STORE_REC_CONTENT && e.nrefs == 1))) {
			problem(v, off, seq,
			        "envelope references seq %" PRIu64 " at offset %" PRIu64
			        ", which is not content of this segment",
			        rs, e.refs[i].offset);
			refs_ok = false;
		} else if (r->elided) {
			problem(v, off, seq,
			        "envelope references seq %" PRIu64 ", which was removed", rs);
			refs_ok = false;
		} else if (!r->ok) {
			refs_ok = false; /* already reported */
		}
	}
	if (refs_ok && e.nrefs == 1 &&
	    v->recs[e.refs[0].seq - v->first].type == STORE_REC_CONTENT) {
		const vrec_t *r = &v->recs[e.refs[0].seq - v->first];
		if (r->len != e.size || sodium_memcmp(r->sha, e.sha256, 32) != 0)
			problem(v, off, seq,
			        "content does not match the envelope's SHA-256 and size");
	} else if (refs_ok && !rehash_chunks(v, &e)) {
		problem(v, off, seq, "content does not match the envelope's SHA-256 and size");
	}
	store_env_rec_free(&e);
}

/* ---- signed records ---- */

static void verify_signed(vctx_t *v, uint8_t type, const uint8_t *p, size_t n, uint64_t off,
                          uint64_t seq, const uint8_t prev_link[STORE_HASH_BYTES])
{
	store_srec_t r;
	const char *why = NULL;
	if (store_srec_decode(p, n, type, &r, &why) != STORE_OK) {
		problem(v, off, seq, "signed record: %s", why);
		return;
	}
	if (v->link_unknown)
		; /* a record before it failed: the signed link cannot be computed */
	else if (!v->s->have_pk)
		problem(v, off, seq, "no server public key (keys/signing.pub) to check signatures");
	else if (store_sign_check(p, n, v->a->name, seq, type, prev_link, v->s->sign_pk, &why) !=
	         STORE_OK)
		problem(v, off, seq, "%s", why);
	else {
		v->rep->signatures++;
		if (seq > v->anchored)
			v->anchored = seq;
	}
	if (r.archive && strcmp(r.archive, v->a->name) != 0)
		problem(v, off, seq, "signed record names archive '%s'", r.archive);
	if (type == STORE_REC_SEAL && r.segment != v->first)
		problem(v, off, seq, "seal names segment %" PRIu64, r.segment);
	if (type == STORE_REC_CHECKPOINT && r.has_q) {
		v->rep->quarantined++;
		note(v, off, seq,
		     "segment %020" PRIu64
		     ".seg was quarantined by recovery (damage at offset %" PRIu64 " seq %" PRIu64
		     ": %s); the chain resumed here",
		     r.q_segment, r.q_offset, r.q_seq, r.q_reason ? r.q_reason : "?");
	}
	if (type == STORE_REC_DELETION) {
		v->rep->deletions++;
		if (seq >= v->gaps_seq) {
			free(v->gaps);
			v->gaps = r.gaps;
			v->ngaps = r.ngaps;
			v->gaps_seq = seq;
			r.gaps = NULL;
			r.ngaps = 0;
		}
		uint64_t recs = 0;
		for (size_t i = 0; i < r.nelided; i++)
			recs += r.elided[i].last - r.elided[i].first + 1;
		if (r.del_archive)
			note(v, off, seq, "archive '%s' deleted (%s, by %s)", r.del_archive,
			     r.reason ? r.reason : "no reason given", r.actor ? r.actor : "?");
		else
			note(v, off, seq,
			     "%s: %zu segment(s) deleted, %zu compacted, %zu message(s) removed "
			     "(%s, by "
			     "%s)",
			     r.kind == STORE_DEL_PURGE ? "purge" : "retention", r.ndsegs, r.ndcmps,
			     r.nmsgs, r.reason ? r.reason : "no reason given",
			     r.actor ? r.actor : "?");
		(void)recs;
	}
	store_srec_free(&r);
}

/* One logical record: chain, and what its type promises. */
static void verify_payload(vctx_t *v, vrec_t *r, uint8_t type, uint64_t seq, const uint8_t *p,
                           size_t n)
{
	uint8_t prev[STORE_HASH_BYTES];
	memcpy(prev, v->link, sizeof prev);
	uint8_t ph[STORE_HASH_BYTES];
	store_payload_hash(p, n, ph);
	store_chain_next(v->link, seq, type, ph);
	switch (type) {
	case STORE_REC_CONTENT:
		store_sha256(p, n, r->sha);
		r->len = n;
		break;
	case STORE_REC_ENVELOPE: verify_envelope(v, p, n, r->off, seq); break;
	case STORE_REC_CHECKPOINT:
	case STORE_REC_SEAL:
	case STORE_REC_DELETION: verify_signed(v, type, p, n, r->off, seq, prev); break;
	default: break;
	}
}

static void chained(vctx_t *v, uint64_t seq)
{
	if (seq == v->head.seq) {
		memcpy(v->head_link, v->link, sizeof v->link);
		v->head_link_seen = true;
	}
	v->rep->records++;
	v->expect = seq + 1;
}

/* ---- unpacked segments ---- */

static void verify_records(vctx_t *v, int fd, const char *path, uint64_t size)
{
	uint64_t off = STORE_SEG_HDR_SIZE;
	while (v->expect <= v->head.seq) {
		store_rec_hdr_t h;
		const char *why = NULL;
		store_rd_t rd = store_seg_read_rec(fd, path, off, size, &v->raw, &h, &why);
		if (rd == STORE_RD_END)
			return;
		if (rd != STORE_RD_OK || h.seq != v->expect || h.type > STORE_REC_CHAINED_MAX) {
			problem(v, off, v->expect, "%s",
			        rd == STORE_RD_TORN  ? "record cut off at the end of the segment"
			        : rd == STORE_RD_EIO ? "read error"
			        : rd == STORE_RD_BAD ? why
			        : h.seq != v->expect ? "record out of sequence"
			                             : "a block in a segment that is not packed");
			v->broken = true;
			return;
		}
		vrec_t *r = vrec_new(v, off, h.type);
		v->last_type = h.type;
		if (store_rec_open(v->key, v->raw.data, v->raw.len, &h, &v->plain, &why) !=
		    STORE_OK) {
			problem(v, off, h.seq, "%s", why);
			/* The link cannot be computed: carry on with the next record's
			 * framing, and take the chain up again at the next segment. */
			v->link_unknown = true;
		} else {
			r->ok = true;
			verify_payload(v, r, h.type, h.seq, v->plain.data, v->plain.len);
		}
		chained(v, h.seq);
		off += h.length;
	}
}

/* ---- packed segments ---- */

static bool elision_covers(const store_srec_t *el, uint64_t seq)
{
	for (size_t i = 0; el && i < el->nelided; i++)
		if (seq >= el->elided[i].first && seq <= el->elided[i].last)
			return true;
	return false;
}

static void verify_block(vctx_t *v, const store_rec_hdr_t *h, uint64_t off)
{
	const char *why = NULL;
	store_blk_ent_t *ents = NULL;
	uint32_t count = 0;
	if (store_rec_open(v->key, v->raw.data, v->raw.len, (store_rec_hdr_t *)h, &v->blk, &why) !=
	        STORE_OK ||
	    store_blk_parse(v->blk.data, v->blk.len, v->blk.len, &ents, &count, &why) != STORE_OK) {
		problem(v, off, h->seq, "block: %s", why);
		v->broken = true;
		return;
	}
	for (uint32_t i = 0; i < count && v->expect <= v->head.seq; i++) {
		uint64_t seq = h->seq + i;
		const store_blk_ent_t *e = &ents[i];
		vrec_t *r = vrec_new(v, off, e->type);
		v->last_type = e->type;
		r->ok = true;
		if (e->elided) {
			r->elided = true;
			store_chain_next(v->link, seq, e->type, v->blk.data + e->off);
			v->rep->deleted_records++;
			if (e->type != STORE_REC_CONTENT && e->type != STORE_REC_CHUNK) {
				v->elided_strict = xrealloc(
				    v->elided_strict, (v->nstrict + 1) * sizeof *v->elided_strict);
				v->elided_strict[v->nstrict++] = seq;
			}
		} else {
			verify_payload(v, r, e->type, seq, v->blk.data + e->off, e->len);
		}
		chained(v, seq);
	}
	free(ents);
}

static void verify_elision(vctx_t *v, const store_rec_hdr_t *h, uint64_t off,
                           const store_seg_hdr_t *hdr, store_srec_t *el, bool *have)
{
	const char *why = NULL;
	if (store_rec_open(v->key, v->raw.data, v->raw.len, (store_rec_hdr_t *)h, &v->plain,
	                   &why) != STORE_OK ||
	    store_srec_decode(v->plain.data, v->plain.len, STORE_REC_ELISION, el, &why) !=
	        STORE_OK) {
		problem(v, off, h->seq, "elision list: %s", why);
		return;
	}
	*have = true;
	if (!v->s->have_pk ||
	    store_sign_check(v->plain.data, v->plain.len, v->a->name, hdr->first_seq,
	                     STORE_REC_ELISION, hdr->prev_link, v->s->sign_pk, &why) != STORE_OK) {
		problem(v, off, h->seq, "elision list: %s", v->s->have_pk ? why : "no public key");
		*have = false;
	} else {
		v->rep->signatures++;
	}
}

static void verify_packed(vctx_t *v, int fd, const char *path, uint64_t size,
                          const store_seg_hdr_t *hdr)
{
	uint64_t off = STORE_SEG_HDR_SIZE;
	store_srec_t el = {0};
	bool have_el = false, stopped = false;
	v->nstrict = 0;
	while (off < size) {
		store_rec_hdr_t h;
		const char *why = NULL;
		store_rd_t rd = store_seg_read_rec(fd, path, off, size, &v->raw, &h, &why);
		if (rd != STORE_RD_OK) {
			problem(v, off, v->expect, "%s",
			        rd == STORE_RD_TORN  ? "record cut off at the end of the segment"
			        : rd == STORE_RD_EIO ? "read error"
			                             : why);
			v->broken = true;
			break;
		}
		if (h.type == STORE_REC_BLOCK && !stopped) {
			if (h.seq != v->expect) {
				problem(v, off, v->expect,
				        "block out of sequence (it starts at %" PRIu64 ")", h.seq);
				v->broken = true;
				break;
			}
			verify_block(v, &h, off);
			if (v->broken)
				break;
			stopped = v->expect > v->head.seq;
		} else if (h.type == STORE_REC_ELISION && !have_el && h.seq == hdr->first_seq) {
			verify_elision(v, &h, off, hdr, &el, &have_el);
		} else if (!stopped) {
			problem(v, off, h.seq, "a record that is not a block in a packed segment");
		}
		off += h.length;
	}
	if (!v->broken && v->expect - 1 != hdr->last_seq && v->expect <= v->head.seq)
		problem(v, 0, v->expect,
		        "packed segment ends at seq %" PRIu64 " but its header says %" PRIu64,
		        v->expect - 1, hdr->last_seq);
	for (size_t i = 0; i < v->nstrict; i++)
		if (!elision_covers(have_el ? &el : NULL, v->elided_strict[i]))
			problem(
			    v, 0, v->elided_strict[i],
			    "record removed without a signed deletion (no elision list names it)");
	if (have_el && el.nelided)
		note(v, 0, hdr->first_seq, "segment compacted: %zu range(s) of records removed",
		     el.nelided);
	store_srec_free(&el);
}

/* ---- segments ---- */

static bool seg_open(vctx_t *v, uint64_t first, int *fd, uint64_t *size, store_seg_hdr_t *hdr)
{
	store_seg_t sg;
	char *path = store_archive_seg_path(v->a, first);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	uint8_t hb[STORE_SEG_HDR_SIZE];
	size_t got = 0;
	const char *why = "segment header cut off";
	if (*fd < 0 || fstat(*fd, &st) != 0 || util_read_all(*fd, hb, sizeof hb, &got) != UTIL_OK) {
		problem(v, 0, first, "%s", strerror(errno));
		return false;
	}
	*size = (uint64_t)st.st_size;
	uint8_t id[STORE_SEG_ID_BYTES];
	store_seg_hdr_peek_id(hb, id);
	if (store_archive_seg_for(v->s, v->a, first, &sg) != STORE_OK || sg.first_seq != first ||
	    !(v->key = store_seg_key_for(&sg, id))) {
		problem(v, 0, first, "no key for this segment in the keystore");
		return false;
	}
	if (got != sizeof hb || store_seg_hdr_decode(hb, v->key, hdr, &why) != STORE_OK ||
	    (hdr->first_seq != first && (why = "segment header names another sequence"))) {
		problem(v, 0, first, "%s", why);
		return false;
	}
	return true;
}

/* Where the previous segment left the chain, and this one takes it up. */
static void seg_continuity(vctx_t *v, uint64_t first, const store_seg_hdr_t *hdr)
{
	bool link_known = !v->link_unknown;
	v->link_unknown = false;
	if (v->broken) {
		memcpy(v->link, hdr->prev_link, sizeof v->link);
		v->expect = first;
		v->broken = false;
		return;
	}
	if (first > v->expect) {
		/* Missing records: deleted (checked against the deletion records at
		 * the end) or removed. */
		v->pending = xrealloc(v->pending, (v->npending + 1) * sizeof *v->pending);
		vgap_t *g = &v->pending[v->npending++];
		g->first = v->expect;
		g->last = first - 1;
		memcpy(g->before, v->link, 32);
		memcpy(g->after, hdr->prev_link, 32);
		memcpy(g->seg, v->name, sizeof g->seg);
	} else if (first < v->expect) {
		problem(v, 0, first,
		        "segment starts at seq %" PRIu64 ", expected %" PRIu64
		        " (records duplicated or out of order)",
		        first, v->expect);
	} else if (link_known && sodium_memcmp(hdr->prev_link, v->link, sizeof v->link) != 0) {
		problem(v, 0, first,
		        "chain link before this segment differs from the end of the previous one");
	}
	memcpy(v->link, hdr->prev_link, sizeof v->link);
	v->expect = first;
}

static void verify_segment(vctx_t *v, uint64_t first, bool last)
{
	store_seg_name(first, v->name);
	v->first = first;
	v->nrecs = 0;
	v->last_type = 0;
	if (first > v->head.seq)
		return; /* created after the head: nothing acknowledged in it yet */
	v->rep->segments++;
	int fd;
	uint64_t size = 0;
	store_seg_hdr_t hdr;
	char *path = store_archive_seg_path(v->a, first);
	if (!seg_open(v, first, &fd, &size, &hdr)) {
		v->broken = true;
	} else {
		seg_continuity(v, first, &hdr);
		v->packed = hdr.flags & STORE_SEGF_PACKED;
		if (v->packed)
			verify_packed(v, fd, path, size, &hdr);
		else
			verify_records(v, fd, path, size);
		bool head_here = v->expect > v->head.seq;
		if (!v->broken && (!last || v->packed) && !head_here &&
		    v->last_type != STORE_REC_SEAL)
			problem(v, 0, v->expect - 1,
			        "sealed segment ends at seq %" PRIu64
			        " without its seal (records cut from its end?)",
			        v->expect - 1);
	}
	if (fd >= 0)
		close(fd);
	if (v->rf_open)
		store_segfile_close(&v->rf);
	v->rf_open = false;
	free(path);
}

/* Every run of missing records must be a range the newest DELETION lists,
 * with the same links on both sides; what no listed range covers is
 * reported as missing. */
static void resolve_gaps(vctx_t *v)
{
	for (size_t i = 0; i < v->npending; i++) {
		const vgap_t *g = &v->pending[i];
		memcpy(v->name, g->seg, sizeof v->name);
		bool exact = false;
		for (size_t k = 0; k < v->ngaps && !exact; k++)
			exact = v->gaps[k].first == g->first && v->gaps[k].last == g->last &&
			        !sodium_memcmp(v->gaps[k].prev_link, g->before, 32) &&
			        !sodium_memcmp(v->gaps[k].end_link, g->after, 32);
		if (exact) {
			v->rep->deleted_records += g->last - g->first + 1;
			note(v, 0, g->first,
			     "records %" PRIu64 "..%" PRIu64 " deleted by a signed deletion record",
			     g->first, g->last);
			continue;
		}
		/* Name what no deletion covers (the listed ranges are sorted and
		 * disjoint). */
		uint64_t at = g->first;
		bool reported = false;
		for (size_t k = 0; k < v->ngaps && at <= g->last; k++) {
			const store_gap_t *d = &v->gaps[k];
			if (d->last < at || d->first > g->last)
				continue;
			if (d->first > at) {
				problem(
				    v, 0, at,
				    "records %" PRIu64 "..%" PRIu64
				    " missing before this segment (no deletion record covers them)",
				    at, d->first - 1);
				reported = true;
			}
			at = d->last + 1;
		}
		if (at <= g->last) {
			problem(v, 0, at,
			        "records %" PRIu64 "..%" PRIu64
			        " missing before this segment (no deletion record covers them)",
			        at, g->last);
			reported = true;
		}
		if (!reported)
			problem(
			    v, 0, g->first,
			    "records %" PRIu64 "..%" PRIu64
			    " deleted, but the chain links around them differ from the deletion "
			    "record's",
			    g->first, g->last);
	}
}

static void verify_end(vctx_t *v, size_t nsegs)
{
	if (v->expect <= v->head.seq) {
		snprintf(v->name, sizeof v->name, "%s", nsegs ? v->name : "(none)");
		problem(v, 0, v->expect,
		        "chain ends at seq %" PRIu64 " before the recorded head %" PRIu64,
		        v->expect - 1, v->head.seq);
	} else if (v->head.seq > 0 && v->head_link_seen &&
	           sodium_memcmp(v->head_link, v->head.link, sizeof v->head_link) != 0) {
		problem(v, 0, v->head.seq, "chain link at the head differs from the recorded head");
	} else if (v->head.seq == 0) {
		uint8_t l0[STORE_HASH_BYTES];
		store_chain_init(v->a->name, l0);
		if (sodium_memcmp(l0, v->head.link, sizeof l0) != 0) {
			snprintf(v->name, sizeof v->name, "head");
			problem(v, 0, 0, "empty head does not carry this archive's initial link");
		}
	}
}

static store_status_t verify_archive(store_t *s, store_archive_t *a, store_verify_cb cb,
                                     store_verify_cb nt, void *arg, store_verify_report_t *rep)
{
	vctx_t v = {.s = s, .a = a, .cb = cb, .note = nt, .arg = arg, .rep = rep, .expect = 1};
	uint64_t problems_before = rep->problems;
	store_status_t st = store_archive_head(s, a, &v.head);
	if (st != STORE_OK) {
		snprintf(v.name, sizeof v.name, "head");
		problem(&v, 0, 0, "no valid head");
		return STORE_OK;
	}
	store_chain_init(a->name, v.link);
	uint64_t *firsts;
	size_t n;
	if ((st = store_seg_list(a->dir, &firsts, &n)) != STORE_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		verify_segment(&v, firsts[i], i + 1 == n);
	free(firsts);
	verify_end(&v, n);
	resolve_gaps(&v);
	rep->anchored_seq = v.anchored;
	if (rep->problems > problems_before)
		log_warn("store.verify", "archive=%s problems=%" PRIu64 " msg=%s", a->name,
		         rep->problems - problems_before, "verify found problems");
	if (v.head.seq) {
		snprintf(v.name, sizeof v.name, "head");
		note(&v, 0, v.head.seq,
		     "chain anchored by a signature up to seq %" PRIu64 " of %" PRIu64, v.anchored,
		     v.head.seq);
	}
	free(v.recs);
	free(v.gaps);
	free(v.pending);
	free(v.elided_strict);
	buf_free(&v.raw);
	sodium_memzero(v.plain.data, v.plain.cap);
	buf_free(&v.plain);
	sodium_memzero(v.blk.data, v.blk.cap);
	buf_free(&v.blk);
	return STORE_OK;
}

store_status_t store_verify_ex(store_t *s, const char *archive, store_verify_cb cb,
                               store_verify_cb nt, void *arg, store_verify_report_t *out)
{
	memset(out, 0, sizeof *out);
	if (archive) {
		store_archive_t *a = store_archive_get(s, archive);
		return a ? verify_archive(s, a, cb, nt, arg, out) : STORE_ENOTFOUND;
	}
	DIR *d = opendir(s->archives_dir);
	if (!d)
		return errno == ENOENT ? STORE_OK : STORE_EIO;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (store_name_valid(de->d_name, NULL)) {
			names = xrealloc(names, (n + 1) * sizeof *names);
			names[n++] = xstrdup(de->d_name);
		}
	closedir(d);
	store_status_t st = STORE_OK;
	for (size_t i = 0; i < n; i++) {
		store_archive_t *a = store_archive_get(s, names[i]);
		if (a && st == STORE_OK)
			st = verify_archive(s, a, cb, nt, arg, out);
		free(names[i]);
	}
	free(names);
	return st;
}

store_status_t store_verify(store_t *s, const char *archive, store_verify_cb cb, void *arg,
                            store_verify_report_t *out)
{
	return store_verify_ex(s, archive, cb, NULL, arg, out);
}
