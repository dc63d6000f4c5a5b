/* store_archive_delete.c — deleting a whole archive (doc/format.md §7).
 *
 * Does: write a signed DELETION record naming the archive (its final head,
 * archive-key fingerprint, counts, every segment's hash) into the "_store"
 * log, then rename the archive's directory aside and remove it — with its
 * archive key gone nothing of it can be decrypted; at open, finish a
 * deletion whose record is durable but whose directory is still there.
 * Does not: check any policy (holds, compliance mode): the caller does.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_private.h"
#include "vellum/log.h"

typedef struct arch_del {
	store_archive_t *a, *log;
	const char *reason, *actor;
	store_head_t head;
	store_del_seg_t *segs;
	size_t nsegs;
	store_archive_stats_t stats;
	uint64_t seq;
	char *aside;
} arch_del_t;

static void rmtree(const char *path)
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

/* Renames the archive's directory aside and removes it. */
static store_status_t remove_dir(store_t *s, store_archive_t *a)
{
	char q[LOG_Q_MAX];
	char *aside =
	    xasprintf("%s/.deleted-%s-%08x", s->archives_dir, a->name, randombytes_random());
	store_status_t st = STORE_OK;
	if (rename(a->dir, aside) != 0 || util_fsync_dir(s->archives_dir) != UTIL_OK) {
		log_error("store.rename", "path=%s err=%s", log_q(q, sizeof q, a->dir),
		          strerror(errno));
		st = STORE_EIO;
	} else {
		rmtree(aside);
		util_fsync_dir(s->archives_dir);
	}
	free(aside);
	return st;
}

static store_status_t arch_del_commit(store_t *s, void *arg)
{
	arch_del_t *x = arg;
	store_archive_t *a = x->a;
	buf_t b = {0};
	uint8_t kind = STORE_DEL_ARCHIVE;
	store_tlv_put(&b, SF_KIND, &kind, 1);
	store_tlv_put_str(&b, SF_REASON, x->reason);
	store_tlv_put_str(&b, SF_ACTOR, x->actor);
	store_tlv_put_str(&b, SF_DEL_ARCHIVE, a->name);
	uint8_t hd[40];
	store_put64(hd, x->head.seq);
	memcpy(hd + 8, x->head.link, 32);
	store_tlv_put(&b, SF_DEL_HEAD, hd, sizeof hd);
	uint8_t kid[KEYS_ID_BYTES];
	keys_id(a->akey, kid); /* tells this archive from a later one of its name */
	store_tlv_put(&b, SF_DEL_AKEY, kid, sizeof kid);
	for (size_t i = 0; i < x->nsegs; i++)
		store_srec_put_delseg(&b, &x->segs[i]);
	uint8_t c[24];
	store_put64(c, x->stats.messages);
	store_put64(c + 8, x->stats.arrivals);
	store_put64(c + 16, x->stats.raw_bytes);
	store_tlv_put(&b, SF_COUNTS, c, sizeof c);
	store_status_t st = store_wr_signed(s, x->log, STORE_REC_DELETION, &b, &x->seq);
	buf_free(&b);
	if (st == STORE_OK)
		st = store_wr_sync(s);
	if (st != STORE_OK)
		return st;
	/* Durable: from here on the archive is gone. */
	atomic_store(&a->deleted, true);
	if (a->active_fd >= 0)
		close(a->active_fd);
	if (a->sealed_fd >= 0)
		close(a->sealed_fd);
	a->active_fd = a->sealed_fd = -1;
	atomic_store(&a->pub_active, 0);
	st = remove_dir(s, a);
	if (st != STORE_OK)
		store_wr_fail(s, st); /* recovery finishes it from the record */
	atomic_store(&a->bytes, 0);
	atomic_store(&a->nsegs_gauge, 0);
	store_archive_metrics_update(a);
	log_info("store.archive_deleted", "archive=%s record=%s:%" PRIu64, a->name, STORE_LOG_NAME,
	         x->seq);
	return st;
}

static store_status_t arch_del_plan(store_t *s, arch_del_t *x)
{
	store_archive_t *a = x->a;
	store_status_t st = store_archive_head(s, a, &x->head);
	if (st == STORE_OK)
		st = store_archive_stats(s, a->name, &x->stats);
	uint64_t *firsts = NULL;
	size_t n = 0;
	if (st == STORE_OK)
		st = store_seg_list(a->dir, &firsts, &n);
	x->segs = xcalloc(n + 1, sizeof *x->segs);
	for (size_t i = 0; i < n && st == STORE_OK; i++) {
		store_del_seg_t *d = &x->segs[x->nsegs++];
		d->first = firsts[i];
		store_segfile_t f;
		if (store_segfile_open(s, a, firsts[i], &f) == STORE_OK) {
			memcpy(d->id, f.hdr.id, STORE_SEG_ID_BYTES);
			memcpy(d->prev_link, f.hdr.prev_link, STORE_HASH_BYTES);
			d->created = f.hdr.created;
			if (f.packed)
				d->last = f.hdr.last_seq;
			store_segfile_close(&f);
		}
		if (!d->last)
			d->last = i + 1 < n ? firsts[i + 1] - 1 : x->head.seq;
		char *path = store_archive_seg_path(a, firsts[i]);
		st = store_file_hash(path, d->file_hash, &d->bytes);
		free(path);
	}
	free(firsts);
	return st;
}

store_status_t store_archive_delete(store_t *s, const char *archive, const char *reason,
                                    const char *actor, uint64_t *record_seq)
{
	if (record_seq)
		*record_seq = 0;
	if (s->readonly)
		return STORE_EREADONLY;
	bool is_log;
	if (!archive || !store_name_valid(archive, &is_log) || is_log)
		return STORE_EINVAL;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_archive_t *log = store_archive_get(s, STORE_LOG_NAME);
	if (!log) {
		store_status_t cs = store_archive_create(s, STORE_LOG_NAME);
		if (cs != STORE_OK && cs != STORE_EEXIST)
			return cs;
		if (!(log = store_archive_get(s, STORE_LOG_NAME)))
			return STORE_EIO;
	}
	pthread_mutex_lock(&a->maint);
	arch_del_t x = {.a = a, .log = log, .reason = reason, .actor = actor};
	store_status_t st = arch_del_plan(s, &x);
	if (st == STORE_OK)
		st = store_writer_call(s, arch_del_commit, &x);
	pthread_mutex_unlock(&a->maint);
	free(x.segs);
	if (record_seq)
		*record_seq = x.seq;
	return st;
}

/* An archive deletion recorded in "_store" whose directory is still there
 * (the crash came between the record and the removal) is finished. */
store_status_t store_archives_deleted_recover(store_t *s)
{
	store_archive_t *log = store_archive_get(s, STORE_LOG_NAME);
	if (!log)
		return STORE_OK;
	store_head_t h;
	store_status_t st = store_archive_head(s, log, &h);
	store_cursor_t c;
	if (st == STORE_OK)
		st = store_cursor_open(s, log, 0, &c);
	if (st != STORE_OK)
		return st;
	c.skip_damage = true;
	for (;;) {
		bool got;
		if (store_cursor_next(&c, h.seq, STORE_TYPE_BIT(STORE_REC_DELETION), &got) !=
		        STORE_OK ||
		    (!got && c.next_seq > h.seq))
			break;
		if (!got || !c.lr.opened || c.lr.type != STORE_REC_DELETION)
			continue;
		store_srec_t r;
		const char *why;
		if (store_srec_decode(c.lr.p, c.lr.n, STORE_REC_DELETION, &r, &why) != STORE_OK)
			continue;
		store_archive_t *a = r.del_archive ? store_archive_get(s, r.del_archive) : NULL;
		store_head_t ah;
		uint8_t kid[KEYS_ID_BYTES];
		if (a)
			keys_id(a->akey, kid);
		if (a && r.has_del_akey && !memcmp(kid, r.del_akey, KEYS_ID_BYTES) &&
		    store_archive_head(s, a, &ah) == STORE_OK && ah.seq == r.del_head &&
		    !sodium_memcmp(ah.link, r.del_link, STORE_HASH_BYTES)) {
			log_warn("store.recover.archive_deletion", "archive=%s action=%s", a->name,
			         "finished");
			atomic_store(&a->deleted, true);
			if (a->active_fd >= 0)
				close(a->active_fd);
			a->active_fd = -1;
			atomic_store(&a->pub_active, 0);
			remove_dir(s, a);
		}
		store_srec_free(&r);
	}
	store_cursor_close(&c);
	return STORE_OK;
}
