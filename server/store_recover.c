/* store_recover.c — opening an archive: load its keys and head, recover the
 * end of its chain, bring the catalog up to date; and creating an archive.
 *
 * Recovery (doc/format.md §8), in a read-write open:
 *  1. The segment holding the head record is authenticated from its start to
 *     the head's end offset.  Damage there is acknowledged data lost: it is
 *     logged (store.recover.loss) with segment, offset and sequence, the
 *     segment is quarantined — left as it is, never appended to again — and
 *     the chain resumes from the recorded head in a new segment whose first
 *     record is a signed CHECKPOINT naming the damage.  Appends go on.
 *  2. Records beyond the head were never acknowledged.  Those that are
 *     complete and authentic are kept (the crash came between the fsync and
 *     the head write) and the head is advanced; at the first torn or bad one
 *     the segment is truncated (store.recover.truncate), and segment files
 *     after it that do not continue the chain are removed with their keys.
 *  3. Deletions whose DELETION record is durable but whose files or keys
 *     were not removed yet are finished; compactions that never reached
 *     their DELETION record are undone (store_delete.c).
 * Open time stays proportional to the last segment: sealed segments are
 * checked by verify, on demand.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"
#include "vellum/log.h"

typedef struct rec_ctx {
	store_t *s;
	store_archive_t *a;
	store_srec_t *dels; /* DELETION records seen in the last segments */
	size_t ndels;
	uint8_t last_type; /* of the newest record */
	bool quarantined;
	uint64_t *firsts; /* segment files on disk */
	size_t nfirsts;
	buf_t raw, plain;
} rec_ctx_t;

static void quarantine(rec_ctx_t *rc, uint64_t seg, uint64_t off, uint64_t seq, const char *why)
{
	store_archive_t *a = rc->a;
	char name[STORE_SEG_NAME_MAX];
	store_seg_name(seg, name);
	log_error("store.recover.loss",
	          "archive=%s segment=%s offset=%" PRIu64 " seq=%" PRIu64 " head=%" PRIu64
	          " msg=%s action=quarantined",
	          a->name, name, off, seq, a->head.seq, why);
	rc->quarantined = true;
	a->quarantine_pending = true;
	a->q_segment = seg;
	a->q_offset = off;
	a->q_seq = seq;
	snprintf(a->q_reason, sizeof a->q_reason, "%s", why);
	/* The chain goes on from the recorded head, in a new segment. */
	a->next_seq = a->head.seq + 1;
	memcpy(a->link, a->head.link, sizeof a->link);
	a->active_fd = -1;
	a->last_seg = a->head.segment;
	a->last_end = a->head.end;
}

static void collect_deletion(rec_ctx_t *rc, const uint8_t *p, size_t n, uint64_t seq)
{
	store_srec_t r;
	const char *why;
	if (store_srec_decode(p, n, STORE_REC_DELETION, &r, &why) != STORE_OK) {
		log_error("store.corrupt", "archive=%s seq=%" PRIu64 " msg=%s", rc->a->name, seq,
		          why);
		return;
	}
	rc->dels = xrealloc(rc->dels, (rc->ndels + 1) * sizeof *rc->dels);
	rc->dels[rc->ndels++] = r;
}

/* Opens segment `first` read-write and checks its header. */
static store_status_t seg_open(rec_ctx_t *rc, uint64_t first, int *fd, store_seg_hdr_t *hdr,
                               uint64_t *size, const char **why)
{
	char q[LOG_Q_MAX];
	store_archive_t *a = rc->a;
	*fd = -1;
	*why = NULL;
	store_seg_t sg;
	char *path = store_archive_seg_path(a, first);
	int f = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (f < 0 || fstat(f, &st) != 0) {
		int e = errno;
		if (f >= 0)
			close(f);
		if (e != ENOENT)
			log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, path),
			          strerror(e));
		free(path);
		*why = "segment file missing";
		return e == ENOENT ? STORE_ENOTFOUND : STORE_EIO;
	}
	uint8_t hb[STORE_SEG_HDR_SIZE];
	size_t got = 0;
	if (util_read_all(f, hb, sizeof hb, &got) != UTIL_OK) {
		log_error("store.read", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(errno));
		close(f);
		free(path);
		return STORE_EIO;
	}
	free(path);
	uint8_t id[STORE_SEG_ID_BYTES];
	const uint8_t *key = NULL;
	if (got == sizeof hb) {
		store_seg_hdr_peek_id(hb, id);
		if (store_archive_seg_for(rc->s, a, first, &sg) == STORE_OK &&
		    sg.first_seq == first)
			key = store_seg_key_for(&sg, id);
	}
	if (got != sizeof hb)
		*why = "segment header cut off";
	else if (!key)
		*why = "no key for segment in keystore";
	else if (store_seg_hdr_decode(hb, key, hdr, why) == STORE_OK && hdr->first_seq != first)
		*why = "segment header names another sequence";
	if (*why) {
		close(f);
		return STORE_ECORRUPT;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return STORE_OK;
}

/* Removes a segment file (and its key) that holds nothing acknowledged. */
static store_status_t seg_drop(rec_ctx_t *rc, uint64_t first, const char *why)
{
	char q[LOG_Q_MAX];
	store_archive_t *a = rc->a;
	char *path = store_archive_seg_path(a, first);
	log_warn("store.recover.truncate", "path=%s offset=0 seq=%" PRIu64 " msg=%s",
	         log_q(q, sizeof q, path), first, why);
	store_status_t st = STORE_OK;
	if ((unlink(path) != 0 && errno != ENOENT) || util_fsync_dir(a->dir) != UTIL_OK) {
		log_error("store.unlink", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(errno));
		st = STORE_EIO;
	}
	free(path);
	pthread_mutex_lock(&a->lock);
	bool had = store_archive_seg_remove(a, first);
	pthread_mutex_unlock(&a->lock);
	if (st == STORE_OK && had)
		st = store_archive_ks_save(a);
	return st;
}

/* Step 1: authenticates the head's segment up to the head.  Returns with
 * rc->quarantined set when acknowledged data is damaged. */
static store_status_t check_to_head(rec_ctx_t *rc, int fd, const store_seg_hdr_t *hdr,
                                    uint64_t size, const uint8_t *key)
{
	store_archive_t *a = rc->a;
	char *path = store_archive_seg_path(a, hdr->first_seq);
	uint64_t off = STORE_SEG_HDR_SIZE, seq = hdr->first_seq;
	const char *why = NULL;
	store_status_t st = STORE_OK;
	while (off < a->head.end && !why) {
		store_rec_hdr_t h;
		store_rd_t rd = store_seg_read_rec(fd, path, off, size, &rc->raw, &h, &why);
		if (rd == STORE_RD_EIO) {
			st = STORE_EIO;
			break;
		}
		if (rd == STORE_RD_END || rd == STORE_RD_TORN)
			why = "acknowledged records cut off (segment shorter than the head)";
		else if (rd == STORE_RD_BAD)
			;
		else if (h.seq != seq)
			why = "record out of sequence";
		else if (h.type > STORE_REC_CHAINED_MAX)
			why = "not a record of the chain";
		else if (h.type == STORE_REC_DELETION)
			store_rec_open(key, rc->raw.data, rc->raw.len, &h, &rc->plain, &why);
		else
			store_rec_open_stored(key, rc->raw.data, rc->raw.len, &h, &rc->plain, &why);
		if (why)
			break;
		if (h.type == STORE_REC_DELETION)
			collect_deletion(rc, rc->plain.data, rc->plain.len, h.seq);
		rc->last_type = h.type;
		off += h.length;
		seq++;
	}
	if (st == STORE_OK && !why && (off != a->head.end || seq - 1 != a->head.seq))
		why = "the head does not end at a record boundary";
	if (st == STORE_OK && why) {
		quarantine(rc, hdr->first_seq, off, seq, why);
		/* Anything beyond the head's end was never acknowledged. */
		if (size > a->head.end && ftruncate(fd, (off_t)a->head.end) != 0)
			log_error("store.truncate", "path=%s err=%s", path, strerror(errno));
	}
	free(path);
	return st;
}

/* Keeps evidence rather than deleting data it cannot place: a segment file
 * beyond the head that does not continue the chain is moved aside. */
static store_status_t drop_from(rec_ctx_t *rc, size_t i, const char *why)
{
	store_status_t st = STORE_OK;
	for (; i < rc->nfirsts && st == STORE_OK; i++) {
		uint64_t first = rc->firsts[i];
		char *path = store_archive_seg_path(rc->a, first);
		struct stat stt;
		bool small = stat(path, &stt) == 0 && (uint64_t)stt.st_size <= STORE_SEG_HDR_SIZE;
		if (small) {
			st = seg_drop(rc, first, why); /* a torn creation: nothing in it */
		} else {
			char *aside = xasprintf("%s.orphan", path);
			char q[LOG_Q_MAX];
			log_error("store.recover.orphan", "path=%s msg=%s moved_to=%s",
			          log_q(q, sizeof q, path), why, aside);
			if (rename(path, aside) != 0 || util_fsync_dir(rc->a->dir) != UTIL_OK)
				st = STORE_EIO;
			free(aside);
		}
		free(path);
	}
	return st;
}

static size_t first_index(const rec_ctx_t *rc, uint64_t first)
{
	for (size_t i = 0; i < rc->nfirsts; i++)
		if (rc->firsts[i] == first)
			return i;
	return rc->nfirsts;
}

typedef struct walk {
	size_t fi; /* index of the current segment in rc->firsts */
	int fd;
	store_seg_hdr_t hdr;
	uint64_t size, off;
	const uint8_t *key;
	bool packed;
	bool grew;      /* records beyond the head were kept */
	bool seg_empty; /* the current segment holds no record (only its header) */
} walk_t;

/* Reads the records of w's segment from w->off on, extending the chain.
 * False when a torn or bad record ended the chain (the file is cut there). */
static store_status_t walk_records(rec_ctx_t *rc, walk_t *w, bool *ended)
{
	store_archive_t *a = rc->a;
	char q[LOG_Q_MAX];
	char *path = store_archive_seg_path(a, w->hdr.first_seq);
	store_status_t st = STORE_OK;
	*ended = false;
	while (!w->packed) {
		store_rec_hdr_t h;
		const char *why = NULL;
		store_rd_t rd =
		    store_seg_read_rec(w->fd, path, w->off, w->size, &rc->raw, &h, &why);
		if (rd == STORE_RD_END)
			break;
		if (rd == STORE_RD_EIO) {
			st = STORE_EIO;
			break;
		}
		if (rd == STORE_RD_TORN)
			why = "record cut off by the end of the file";
		else if (rd == STORE_RD_OK && h.seq != a->next_seq)
			why = "record out of sequence";
		else if (rd == STORE_RD_OK && h.type > STORE_REC_CHAINED_MAX)
			why = "not a record of the chain";
		else if (rd == STORE_RD_OK)
			store_rec_open(w->key, rc->raw.data, rc->raw.len, &h, &rc->plain, &why);
		if (why) {
			log_warn(
			    "store.recover.truncate",
			    "path=%s offset=%" PRIu64 " seq=%" PRIu64 " dropped=%" PRIu64 " msg=%s",
			    log_q(q, sizeof q, path), w->off, a->next_seq, w->size - w->off, why);
			int e = util_fault("store.truncate");
			if (e || ftruncate(w->fd, (off_t)w->off) != 0 || fdatasync(w->fd) != 0) {
				log_error("store.truncate", "path=%s err=%s",
				          log_q(q, sizeof q, path), strerror(e ? e : errno));
				st = STORE_EIO;
			}
			w->size = w->off;
			*ended = true;
			break;
		}
		uint8_t ph[STORE_HASH_BYTES];
		store_payload_hash(rc->plain.data, rc->plain.len, ph);
		store_chain_next(a->link, h.seq, h.type, ph);
		if (h.type == STORE_REC_DELETION)
			collect_deletion(rc, rc->plain.data, rc->plain.len, h.seq);
		rc->last_type = h.type;
		w->seg_empty = false;
		w->off += h.length;
		a->next_seq++;
		a->last_seg = w->hdr.first_seq;
		a->last_end = w->off;
		w->grew = true;
	}
	free(path);
	return st;
}

/* Moves w to the next segment file if it continues the chain. */
static store_status_t walk_next_segment(rec_ctx_t *rc, walk_t *w, bool *moved)
{
	store_archive_t *a = rc->a;
	*moved = false;
	size_t i = w->fi + 1;
	if (i >= rc->nfirsts)
		return STORE_OK;
	const char *why = NULL;
	int fd = -1;
	store_seg_hdr_t hdr;
	uint64_t size = 0;
	store_status_t st = STORE_OK;
	if (rc->firsts[i] != a->next_seq)
		why = "segment beyond the head does not continue the chain";
	else if ((st = seg_open(rc, rc->firsts[i], &fd, &hdr, &size, &why)) == STORE_EIO)
		return st;
	else if (st == STORE_OK && (hdr.flags & STORE_SEGF_PACKED))
		why = "packed segment beyond the head";
	else if (st == STORE_OK && sodium_memcmp(hdr.prev_link, a->link, STORE_HASH_BYTES))
		why = "segment beyond the head does not continue the chain";
	if (why) {
		if (fd >= 0)
			close(fd);
		return drop_from(rc, i, why);
	}
	if (w->grew && fdatasync(w->fd) != 0) {
		log_error("store.fsync", "archive=%s err=%s", a->name, strerror(errno));
		close(fd);
		return STORE_EIO;
	}
	close(w->fd);
	store_seg_t sg;
	store_archive_seg_for(rc->s, a, hdr.first_seq, &sg);
	w->fi = i;
	w->fd = fd;
	w->hdr = hdr;
	w->size = size;
	w->off = STORE_SEG_HDR_SIZE;
	w->key = store_seg_key_for(&sg, hdr.id);
	w->packed = false;
	w->seg_empty = true;
	*moved = true;
	return STORE_OK;
}

/* Positions w at the head (or at the first segment for an empty head). */
static store_status_t walk_start(rec_ctx_t *rc, walk_t *w, bool *done)
{
	store_archive_t *a = rc->a;
	const char *why = NULL;
	*done = false;
	a->last_seg = a->head.segment;
	a->last_end = a->head.end;
	if (a->head.seq == 0) {
		a->next_seq = 1;
		store_chain_init(a->name, a->link);
		if (rc->nfirsts == 0) {
			*done = true;
			return STORE_OK;
		}
		/* The walk enters the first file as "the next segment". */
		w->fi = (size_t)-1;
		w->fd = -1;
		return STORE_OK;
	}
	a->next_seq = a->head.seq + 1;
	memcpy(a->link, a->head.link, sizeof a->link);
	w->fi = first_index(rc, a->head.segment);
	store_status_t st = seg_open(rc, a->head.segment, &w->fd, &w->hdr, &w->size, &why);
	if (st == STORE_EIO)
		return st;
	if (st != STORE_OK) {
		quarantine(rc, a->head.segment, 0, a->head.seq, why);
		*done = true;
		return drop_from(rc, w->fi == rc->nfirsts ? rc->nfirsts : w->fi + 1,
		                 "segment beyond the head");
	}
	store_seg_t sg;
	store_archive_seg_for(rc->s, a, a->head.segment, &sg);
	w->key = store_seg_key_for(&sg, w->hdr.id);
	w->packed = w->hdr.flags & STORE_SEGF_PACKED;
	if (w->packed) {
		if (w->hdr.last_seq != a->head.seq)
			quarantine(rc, a->head.segment, 0, a->head.seq,
			           "packed segment does not end at the head");
		rc->last_type = STORE_REC_SEAL;
		w->off = w->size;
	} else {
		st = check_to_head(rc, w->fd, &w->hdr, w->size, w->key);
		w->off = a->head.end;
	}
	if (st == STORE_OK && rc->quarantined) {
		close(w->fd);
		w->fd = -1;
		*done = true;
		return drop_from(rc, w->fi + 1, "segment beyond the head");
	}
	return st;
}

static store_status_t archive_recover(store_t *s, store_archive_t *a, rec_ctx_t *rc)
{
	walk_t w = {.fd = -1};
	bool done;
	store_status_t st = walk_start(rc, &w, &done);
	while (st == STORE_OK && !done) {
		bool ended = false, moved = false;
		if (w.fd >= 0)
			st = walk_records(rc, &w, &ended);
		if (st != STORE_OK || ended) {
			if (st == STORE_OK)
				st = drop_from(rc, w.fi + 1, "segment after a torn record");
			break;
		}
		if (w.fd < 0) {
			/* Empty head: the first file must start the chain. */
			const char *why = NULL;
			if (rc->firsts[0] != 1)
				why = "first segment does not start the chain";
			else if ((st = seg_open(rc, 1, &w.fd, &w.hdr, &w.size, &why)) == STORE_EIO)
				break;
			else if (st == STORE_OK && sodium_memcmp(w.hdr.prev_link, a->link, 32))
				why = "first segment does not start the chain";
			if (why) {
				if (w.fd >= 0)
					close(w.fd);
				w.fd = -1;
				st = drop_from(rc, 0, why);
				break;
			}
			store_seg_t sg;
			store_archive_seg_for(s, a, 1, &sg);
			w.key = store_seg_key_for(&sg, w.hdr.id);
			w.fi = 0;
			w.off = STORE_SEG_HDR_SIZE;
			w.seg_empty = true;
			continue;
		}
		st = walk_next_segment(rc, &w, &moved);
		if (!moved)
			break;
	}
	if (st != STORE_OK) {
		if (w.fd >= 0)
			close(w.fd);
		return st;
	}
	if (w.fd >= 0 && w.grew && fdatasync(w.fd) != 0) {
		log_error("store.fsync", "archive=%s err=%s", a->name, strerror(errno));
		close(w.fd);
		return STORE_EIO;
	}
	/* The last segment takes appends unless it ends with its seal; one
	 * holding only its header (created, nothing written) takes them too. */
	if (w.fd >= 0 && !w.packed && (w.seg_empty || rc->last_type != STORE_REC_SEAL)) {
		a->active_fd = w.fd;
		atomic_store(&a->pub_active, w.hdr.first_seq);
		a->active_first = w.hdr.first_seq;
		a->active_size = w.off;
		a->active_created = w.hdr.created;
	} else if (w.fd >= 0) {
		close(w.fd);
	}
	if (a->next_seq - 1 > a->head.seq) {
		/* Records made durable by a batch whose head write did not happen. */
		store_head_t h = {
		    .seq = a->next_seq - 1, .segment = a->last_seg, .end = a->last_end};
		memcpy(h.link, a->link, sizeof h.link);
		if ((st = store_archive_head_write(a, &h)) != STORE_OK)
			return st;
		log_info("store.recover.head", "archive=%s from=%" PRIu64 " to=%" PRIu64, a->name,
		         a->head.seq, h.seq);
		a->head = h;
	}
	return STORE_OK;
}

/* Leftovers of interrupted work: packer output, keystore temp files. */
static void remove_leftovers(store_archive_t *a)
{
	DIR *d = opendir(a->dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		bool pack = n > 5 && !strcmp(de->d_name + n - 5, ".pack");
		bool tmp = n > 4 && !strcmp(de->d_name + n - 4, ".tmp");
		if (!pack && !tmp)
			continue;
		char *p = util_path_join(a->dir, de->d_name);
		char q[LOG_Q_MAX];
		log_info("store.recover.leftover", "path=%s", log_q(q, sizeof q, p));
		unlink(p);
		free(p);
	}
	closedir(d);
}

/* Brings the catalog up to the head: envelopes add arrivals, deletions
 * remove them, signed records carry the highest message seq. */
static store_status_t cat_apply(store_archive_t *a, const store_lrec_t *lr, uint64_t seg)
{
	const char *why;
	store_status_t st = STORE_OK;
	if (lr->type == STORE_REC_ENVELOPE) {
		store_env_rec_t e;
		if (store_env_decode(lr->p, lr->n, &e, &why) != STORE_OK) {
			log_error("store.corrupt",
			          "archive=%s segment=%" PRIu64 " seq=%" PRIu64 " msg=%s", a->name,
			          seg, lr->seq, why);
			return STORE_OK;
		}
		st = store_cat_add(a->cat_w, &e, lr->seq, seg, lr->off);
		store_env_rec_free(&e);
		return st;
	}
	store_srec_t r;
	if (store_srec_decode(lr->p, lr->n, lr->type, &r, &why) != STORE_OK) {
		log_error("store.corrupt", "archive=%s segment=%" PRIu64 " seq=%" PRIu64 " msg=%s",
		          a->name, seg, lr->seq, why);
		return STORE_OK;
	}
	st = store_cat_note_msg_seq(a->cat_w, r.msg_seq_max);
	if (st == STORE_OK && lr->type == STORE_REC_SEAL)
		st = store_cat_seg_sealed(a->cat_w, r.segment);
	for (size_t i = 0; st == STORE_OK && lr->type == STORE_REC_DELETION && i < r.ndsegs; i++)
		st = store_cat_seg_remove(a->cat_w, r.dsegs[i].first);
	for (size_t i = 0; st == STORE_OK && lr->type == STORE_REC_DELETION && i < r.nelided; i++)
		st = store_cat_range_remove(a->cat_w, r.elided[i].first, r.elided[i].last);
	if (st == STORE_OK && lr->type == STORE_REC_DELETION)
		st = store_cat_gaps_set(a->cat_w, r.gaps, r.ngaps);
	store_srec_free(&r);
	return st;
}

static store_status_t cat_replay(store_t *s, store_archive_t *a, uint64_t after, uint64_t to)
{
	store_cursor_t c;
	store_status_t st = store_cursor_open(s, a, after, &c);
	c.skip_damage = true;
	if (st == STORE_OK)
		st = store_cat_begin(a->cat_w);
	const uint32_t mask = STORE_TYPE_BIT(STORE_REC_ENVELOPE) |
	                      STORE_TYPE_BIT(STORE_REC_CHECKPOINT) |
	                      STORE_TYPE_BIT(STORE_REC_SEAL) | STORE_TYPE_BIT(STORE_REC_DELETION);
	while (st == STORE_OK) {
		bool got;
		st = store_cursor_next(&c, to, mask, &got);
		if (st != STORE_OK || (!got && c.next_seq > to))
			break;
		if (!got || !c.lr.opened || !(mask & STORE_TYPE_BIT(c.lr.type)))
			continue;
		st = cat_apply(a, &c.lr, c.f.seg.first_seq);
	}
	store_cursor_close(&c);
	if (st == STORE_ECORRUPT) /* logged; keep what was read */
		st = STORE_OK;
	if (st == STORE_OK)
		st = store_cat_set_last_seq(a->cat_w, to);
	if (st == STORE_OK)
		st = store_cat_commit(a->cat_w);
	else
		store_cat_rollback(a->cat_w);
	if (st == STORE_OK && to > after)
		log_info("store.catalog_replay", "archive=%s from=%" PRIu64 " to=%" PRIu64, a->name,
		         after + 1, to);
	return st;
}

static store_status_t cat_sync(store_t *s, store_archive_t *a)
{
	uint64_t last = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		store_status_t st = store_cat_open(a->dir, false, &a->cat_w);
		if (st == STORE_OK && store_cat_last_seq(a->cat_w, &last) == STORE_OK &&
		    last <= a->head.seq)
			break;
		log_warn("store.catalog_rebuild", "archive=%s msg=%s", a->name,
		         st == STORE_OK ? "catalog ahead of the chain" : "catalog unusable");
		store_cat_close(a->cat_w);
		a->cat_w = NULL;
		store_cat_remove(a->dir);
		last = 0;
	}
	if (!a->cat_w)
		return STORE_EIO;
	store_status_t st = STORE_OK;
	if (last < a->head.seq)
		st = cat_replay(s, a, last, a->head.seq);
	uint64_t max_msg = 0;
	if (st == STORE_OK)
		st = store_cat_max_msg(a->cat_w, &max_msg);
	if (st == STORE_OK)
		st = store_cat_gaps_get(a->cat_w, &a->gaps, &a->ngaps);
	a->next_msg_seq = max_msg + 1;
	return st;
}

static store_status_t archive_open_rw(store_t *s, store_archive_t *a)
{
	rec_ctx_t rc = {.s = s, .a = a};
	store_status_t st = store_seg_list(a->dir, &rc.firsts, &rc.nfirsts);
	if (st == STORE_OK)
		st = archive_recover(s, a, &rc);
	if (st == STORE_OK)
		st = store_delete_recover(s, a, rc.dels, rc.ndels);
	if (st == STORE_OK)
		remove_leftovers(a);
	if (st == STORE_OK)
		st = cat_sync(s, a);
	bool signed_last = rc.last_type == STORE_REC_CHECKPOINT || rc.last_type == STORE_REC_SEAL ||
	                   rc.last_type == STORE_REC_DELETION;
	a->last_signed_seq = signed_last ? a->next_seq - 1 : 0;
	a->last_signed_time = util_now();
	for (size_t i = 0; i < rc.ndels; i++)
		store_srec_free(&rc.dels[i]);
	free(rc.dels);
	free(rc.firsts);
	buf_free(&rc.raw);
	if (rc.plain.data)
		sodium_memzero(rc.plain.data, rc.plain.cap);
	buf_free(&rc.plain);
	if (st == STORE_OK)
		store_archive_count_bytes(a);
	return st;
}

store_status_t store_archive_open(store_t *s, const char *name, store_archive_t **out)
{
	*out = NULL;
	store_archive_t *a = xcalloc(1, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	a->is_log = name[0] == '_';
	a->dir = util_path_join(s->archives_dir, name);
	a->active_fd = a->sealed_fd = a->head_fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->cat_r_lock, NULL);
	pthread_mutex_init(&a->maint, NULL);
	store_status_t st = store_archive_akey_load(s, a);
	if (st == STORE_OK)
		st = store_archive_ks_load(a);
	if (st == STORE_OK) {
		char *hp = util_path_join(a->dir, "head");
		a->head_fd = open(hp, (s->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (a->head_fd < 0) {
			char q[LOG_Q_MAX];
			log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, hp),
			          strerror(errno));
			st = STORE_EIO;
		}
		free(hp);
	}
	if (st == STORE_OK)
		st = store_archive_head_read(a, a->head_fd, &a->head);
	if (st == STORE_OK && !s->readonly)
		st = archive_open_rw(s, a);
	if (st != STORE_OK) {
		store_archive_free(a);
		return st;
	}
	/* Readers' connection; a read-only store retries later if it is missing. */
	store_cat_open(a->dir, true, &a->cat_r);
	*out = a;
	return STORE_OK;
}

/* Removes a directory left by an archive creation that did not finish. */
static void remove_tmpdir(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				char *p = util_path_join(path, de->d_name);
				unlink(p);
				free(p);
			}
		closedir(d);
	}
	rmdir(path);
}

static store_status_t create_files(store_t *s, const char *tmp, const char *name)
{
	store_archive_t t = {.head_fd = -1};
	snprintf(t.name, sizeof t.name, "%s", name);
	t.akey = keys_secure_alloc(KEYS_BYTES);
	t.headkey = keys_secure_alloc(KEYS_BYTES);
	keys_random(t.akey);
	keys_derive(t.akey, 2, "vlhead__", t.headkey);
	store_status_t st = store_archive_akey_write(s, tmp, name, t.akey);
	if (st == STORE_OK)
		st = store_archive_ks_write(tmp, NULL, 0);
	if (st == STORE_OK) {
		store_head_t h = {.gen = 1};
		store_chain_init(name, h.link);
		uint8_t slots[2 * HEAD_SLOT_SIZE] = {0};
		store_archive_head_encode(&t, &h, slots + HEAD_SLOT_SIZE); /* gen 1: slot 1 */
		char *hp = util_path_join(tmp, "head");
		if (util_write_file_atomic(hp, slots, sizeof slots, 0600) != UTIL_OK) {
			char q[LOG_Q_MAX];
			log_error("store.write", "path=%s err=%s", log_q(q, sizeof q, hp),
			          strerror(errno));
			st = STORE_EIO;
		}
		free(hp);
	}
	if (st == STORE_OK) {
		store_cat_t *c;
		st = store_cat_open(tmp, false, &c);
		store_cat_close(c);
	}
	keys_secure_free(t.akey);
	keys_secure_free(t.headkey);
	return st;
}

store_status_t store_archive_create_locked(store_t *s, const char *name, store_archive_t **out)
{
	char q[LOG_Q_MAX];
	*out = NULL;
	char *final = util_path_join(s->archives_dir, name);
	struct stat stt;
	if (stat(final, &stt) == 0) {
		free(final);
		return STORE_EEXIST;
	}
	uint32_t r = randombytes_random();
	char *tmp = xasprintf("%s/.tmp-%s-%ld-%08x", s->archives_dir, name, (long)getpid(), r);
	store_status_t st = STORE_OK;
	if (mkdir(tmp, 0700) != 0) {
		log_error("store.mkdir", "path=%s err=%s", log_q(q, sizeof q, tmp),
		          strerror(errno));
		st = STORE_EIO;
	}
	if (st == STORE_OK)
		st = create_files(s, tmp, name);
	if (st == STORE_OK && rename(tmp, final) != 0) {
		st = errno == EEXIST || errno == ENOTEMPTY ? STORE_EEXIST : STORE_EIO;
		if (st == STORE_EIO)
			log_error("store.rename", "path=%s err=%s", log_q(q, sizeof q, final),
			          strerror(errno));
	}
	if (st == STORE_OK && util_fsync_dir(s->archives_dir) != UTIL_OK) {
		log_error("store.fsync", "path=%s err=%s", log_q(q, sizeof q, s->archives_dir),
		          strerror(errno));
		st = STORE_EIO;
	}
	if (st != STORE_OK)
		remove_tmpdir(tmp);
	free(tmp);
	free(final);
	if (st == STORE_OK) {
		st = store_archive_open(s, name, out);
		if (st == STORE_OK)
			log_info("store.archive_created", "archive=%s", name);
	}
	return st;
}

store_status_t store_archives_load_all(store_t *s)
{
	char q[LOG_Q_MAX];
	DIR *d = opendir(s->archives_dir);
	if (!d) {
		log_error("store.opendir", "path=%s err=%s", log_q(q, sizeof q, s->archives_dir),
		          strerror(errno));
		return STORE_EIO;
	}
	store_status_t st = STORE_OK;
	struct dirent *de;
	while (st == STORE_OK && (de = readdir(d))) {
		if ((!strncmp(de->d_name, ".tmp-", 5) || !strncmp(de->d_name, ".deleted-", 9)) &&
		    !s->readonly) {
			char *p = util_path_join(s->archives_dir, de->d_name);
			log_warn("store.archive_incomplete", "path=%s msg=%s",
			         log_q(q, sizeof q, p),
			         "removing an archive creation that did not finish");
			remove_tmpdir(p);
			free(p);
			continue;
		}
		if (!store_name_valid(de->d_name, NULL))
			continue;
		store_archive_t *a;
		st = store_archive_open(s, de->d_name, &a);
		if (st != STORE_OK)
			break;
		store_table_add(s, a);
	}
	closedir(d);
	return st;
}
