/* store_verify.c — `vellum verify`: re-read every record of an archive and
 * check everything the format promises.
 *
 * Checks, reporting each problem with segment file, byte offset and sequence:
 * segment headers (magic, version, MAC under the segment's key, first_seq
 * equal to the file name), sequence continuity across segments (a missing,
 * extra or reordered segment or record), framing, authentication and
 * decompression of every record, the chain link carried across segments, the
 * envelope of every arrival (its content references point at content records
 * of the same segment, the content's SHA-256 and size match), and that the
 * chain reaches the recorded head with the head's link.  Stops at the head:
 * records beyond it are not acknowledged yet (in flight, or a torn tail the
 * next read-write open truncates).
 *
 * Does not: check signatures (no signed checkpoints yet: anchored_seq is 0),
 * repair anything, or read the catalog.
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
	uint64_t off;
	uint8_t type;
	bool ok;         /* authenticated */
	uint8_t sha[32]; /* CONTENT: SHA-256 of the payload */
	uint64_t len;    /* CONTENT: payload length */
} vrec_t;

typedef struct vctx {
	store_t *s;
	store_archive_t *a;
	store_verify_cb cb;
	void *arg;
	store_verify_report_t *rep;
	store_head_t head;
	uint8_t link[STORE_HASH_BYTES];
	uint8_t head_link[STORE_HASH_BYTES];
	bool head_link_seen;
	uint64_t expect; /* next sequence */
	bool broken;     /* chain continuity lost; resync at the next segment */
	/* the current segment */
	char name[STORE_SEG_NAME_MAX];
	uint64_t first;
	vrec_t *recs; /* indexed by seq - first */
	size_t nrecs, caprecs;
	buf_t raw, plain;
} vctx_t;

static void problem(vctx_t *v, uint64_t off, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(vctx_t *v, uint64_t off, uint64_t seq, const char *fmt, ...)
{
	buf_t b = {0};
	buf_printf(&b, "segment %s offset %" PRIu64 " seq %" PRIu64 ": ", v->name, off, seq);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	v->rep->problems++;
	char q[LOG_Q_MAX];
	log_warn("store.verify", "archive=%s problem=%s", v->a->name,
	         log_q(q, sizeof q, (const char *)b.data));
	if (v->cb)
		v->cb(v->arg, v->a->name, (const char *)b.data);
	buf_free(&b);
}

/* Checks one ENVELOPE's references against the records of its segment. */
static void verify_envelope(vctx_t *v, uint64_t off, uint64_t seq, int fd)
{
	store_env_rec_t e;
	const char *why;
	if (store_env_decode(v->plain.data, v->plain.len, &e, &why) != STORE_OK) {
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
		if (!r || r->off != e.refs[i].offset ||
		    !(r->type == STORE_REC_CHUNK ||
		      (r->type == STORE_REC_CONTENT && e.nrefs == 1))) {
			problem(v, off, seq,
			        "envelope references seq %" PRIu64 " at offset %" PRIu64
			        ", which is not content of this segment",
			        rs, e.refs[i].offset);
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
	} else if (refs_ok) {
		/* A streamed message: hash its chunks again, one at a time. */
		crypto_hash_sha256_state sh;
		crypto_hash_sha256_init(&sh);
		uint64_t total = 0;
		buf_t raw = {0}, plain = {0};
		store_rec_hdr_t h;
		for (size_t i = 0; i < e.nrefs && refs_ok; i++) {
			refs_ok = store_archive_read_rec(v->s, v->a, v->first, fd, e.refs[i].offset,
			                                 e.refs[i].seq, STORE_REC_CHUNK, &raw,
			                                 &plain, &h) == STORE_OK;
			crypto_hash_sha256_update(&sh, plain.data, plain.len);
			total += plain.len;
		}
		uint8_t d[32];
		crypto_hash_sha256_final(&sh, d);
		if (!refs_ok || total != e.size || sodium_memcmp(d, e.sha256, 32) != 0)
			problem(v, off, seq,
			        "content does not match the envelope's SHA-256 and size");
		buf_free(&raw);
		buf_free(&plain);
	}
	store_env_rec_free(&e);
}

static void verify_payload(vctx_t *v, vrec_t *r, const store_rec_hdr_t *h, uint64_t off, int fd)
{
	switch (h->type) {
	case STORE_REC_CONTENT:
		crypto_hash_sha256(r->sha, v->plain.data, v->plain.len);
		r->len = v->plain.len;
		break;
	case STORE_REC_ENVELOPE: verify_envelope(v, off, h->seq, fd); break;
	case STORE_REC_CHUNK:
	case STORE_REC_LOG: break;
	default: problem(v, off, h->seq, "record type %u not supported by this version", h->type);
	}
}

/* Walks the records of one segment from its header to the end (or the head). */
static void verify_records(vctx_t *v, int fd, const char *path, const store_seg_t *sg,
                           uint64_t size)
{
	uint64_t off = STORE_SEG_HDR_SIZE;
	v->nrecs = 0;
	while (v->expect <= v->head.seq) {
		store_rec_hdr_t h;
		const char *why = NULL;
		store_rd_t rd = store_seg_read_rec(fd, path, off, size, &v->raw, &h, &why);
		if (rd == STORE_RD_END)
			return;
		if (rd != STORE_RD_OK || h.seq != v->expect) {
			problem(v, off, v->expect, "%s",
			        rd == STORE_RD_TORN  ? "record cut off at the end of the segment"
			        : rd == STORE_RD_EIO ? "read error"
			        : rd == STORE_RD_BAD ? why
			                             : "record out of sequence");
			v->broken = true;
			return;
		}
		if (v->nrecs == v->caprecs) {
			v->caprecs = v->caprecs ? 2 * v->caprecs : 256;
			v->recs = xrealloc(v->recs, v->caprecs * sizeof *v->recs);
		}
		vrec_t *r = &v->recs[v->nrecs++];
		memset(r, 0, sizeof *r);
		r->off = off;
		r->type = h.type;
		if (store_rec_open(sg->key, v->raw.data, v->raw.len, &h, &v->plain, &why) !=
		    STORE_OK)
			problem(v, off, h.seq, "%s", why);
		else {
			r->ok = true;
			verify_payload(v, r, &h, off, fd);
		}
		store_chain_next(v->link, h.seq, v->raw.data, v->raw.len);
		if (h.seq == v->head.seq) {
			memcpy(v->head_link, v->link, sizeof v->link);
			v->head_link_seen = true;
		}
		v->rep->records++;
		off += h.length;
		v->expect++;
	}
}

static void verify_segment(vctx_t *v, uint64_t first)
{
	store_seg_name(first, v->name);
	v->first = first;
	if (first > v->head.seq)
		return; /* created after the head: nothing acknowledged in it yet */
	if (first != v->expect && !v->broken)
		problem(v, 0, first,
		        "segment starts at seq %" PRIu64 ", expected %" PRIu64
		        " (records or a segment missing, or out of order)",
		        first, v->expect);
	store_seg_t sg;
	if (store_archive_seg_for(v->s, v->a, first, &sg) != STORE_OK || sg.first_seq != first) {
		problem(v, 0, first, "no key for this segment in the keystore");
		v->broken = true;
		return;
	}
	char *path = store_archive_seg_path(v->a, first);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t hb[STORE_SEG_HDR_SIZE];
	size_t got = 0;
	store_seg_hdr_t hdr;
	const char *why = "segment header cut off";
	if (fd < 0 || fstat(fd, &st) != 0 || util_read_all(fd, hb, sizeof hb, &got) != UTIL_OK ||
	    got != sizeof hb || store_seg_hdr_decode(hb, sg.key, &hdr, &why) != STORE_OK ||
	    (hdr.first_seq != first && (why = "segment header names another sequence"))) {
		problem(v, 0, first, "%s", fd < 0 ? strerror(errno) : why);
		v->broken = true;
	} else {
		if (v->broken) {
			memcpy(v->link, hdr.prev_link, sizeof v->link);
			v->expect = first;
			v->broken = false;
		} else if (first == v->expect &&
		           sodium_memcmp(hdr.prev_link, v->link, sizeof v->link) != 0) {
			problem(v, 0, first,
			        "chain link before this segment differs from the end of "
			        "the previous one");
			memcpy(v->link, hdr.prev_link, sizeof v->link);
		}
		v->expect = first;
		verify_records(v, fd, path, &sg, (uint64_t)st.st_size);
	}
	if (fd >= 0)
		close(fd);
	free(path);
}

static store_status_t verify_archive(store_t *s, store_archive_t *a, store_verify_cb cb, void *arg,
                                     store_verify_report_t *rep)
{
	vctx_t v = {.s = s, .a = a, .cb = cb, .arg = arg, .rep = rep, .expect = 1};
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
		verify_segment(&v, firsts[i]);
	free(firsts);
	if (v.expect <= v.head.seq) {
		snprintf(v.name, sizeof v.name, "%s", n ? v.name : "(none)");
		problem(&v, 0, v.expect,
		        "chain ends at seq %" PRIu64 " before the recorded head %" PRIu64,
		        v.expect - 1, v.head.seq);
	} else if (v.head.seq > 0 && v.head_link_seen &&
	           sodium_memcmp(v.head_link, v.head.link, sizeof v.head_link) != 0) {
		problem(&v, 0, v.head.seq, "chain link at the head differs from the recorded head");
	} else if (v.head.seq == 0) {
		uint8_t l0[STORE_HASH_BYTES];
		store_chain_init(a->name, l0);
		if (sodium_memcmp(l0, v.head.link, sizeof l0) != 0) {
			snprintf(v.name, sizeof v.name, "head");
			problem(&v, 0, 0, "empty head does not carry this archive's initial link");
		}
	}
	free(v.recs);
	buf_free(&v.raw);
	sodium_memzero(v.plain.data, v.plain.cap);
	buf_free(&v.plain);
	return STORE_OK;
}

store_status_t store_verify(store_t *s, const char *archive, store_verify_cb cb, void *arg,
                            store_verify_report_t *out)
{
	memset(out, 0, sizeof *out);
	if (archive) {
		store_archive_t *a = store_archive_get(s, archive);
		return a ? verify_archive(s, a, cb, arg, out) : STORE_ENOTFOUND;
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
			st = verify_archive(s, a, cb, arg, out);
		free(names[i]);
	}
	free(names);
	return st;
}
