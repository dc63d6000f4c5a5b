/* store_recover.c — opening an archive: load its keys and head, recover the
 * active segment, bring the catalog up to date; and creating an archive.
 *
 * Recovery rules (doc/format.md §7): the active segment is read record by
 * record and each record authenticated.  At the first record that is cut off
 * or fails framing or authentication, if its sequence lies beyond the durable
 * head it was never acknowledged and the file is truncated there (logged
 * store.recover.truncate); otherwise acknowledged data is damaged, which is
 * logged as store.recover.loss with segment, offset and sequence, the file is
 * left alone and the archive refuses appends (reads keep working).  A newest
 * segment with a torn header beyond the head is a torn creation and removed.
 *
 * Does not: verify sealed segments (store_verify.c does, on demand) — open
 * time stays proportional to one segment.
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

/* Opens the newest segment, removing torn creations; *fd -1 when none is left. */
static store_status_t recover_last_segment(store_t *s, store_archive_t *a, int *fd,
                                           store_seg_hdr_t *hdr, uint64_t *size)
{
	char q[LOG_Q_MAX];
	uint64_t *firsts;
	size_t n;
	*fd = -1;
	if (store_seg_list(a->dir, &firsts, &n) != STORE_OK)
		return STORE_EIO;
	store_status_t st = STORE_OK;
	while (n > 0 && st == STORE_OK) {
		uint64_t first = firsts[n - 1];
		char *path = store_archive_seg_path(a, first);
		store_seg_t sg;
		bool have_key =
		    store_archive_seg_for(s, a, first, &sg) == STORE_OK && sg.first_seq == first;
		int f = open(path, O_RDWR | O_CLOEXEC);
		struct stat stt;
		uint8_t hb[STORE_SEG_HDR_SIZE];
		size_t got = 0;
		const char *why = "segment header cut off";
		if (f < 0 || fstat(f, &stt) != 0 ||
		    util_read_all(f, hb, sizeof hb, &got) != UTIL_OK) {
			log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, path),
			          strerror(errno));
			st = STORE_EIO;
		} else if (!have_key) {
			why = "no key for segment in keystore";
		} else if (got == sizeof hb &&
		           store_seg_hdr_decode(hb, sg.key, hdr, &why) == STORE_OK) {
			if (hdr->first_seq == first) {
				*fd = f;
				*size = (uint64_t)stt.st_size;
				free(path);
				break;
			}
			why = "segment header names another sequence";
		}
		if (st == STORE_OK && first > a->head.seq && have_key) {
			log_warn("store.recover.truncate",
			         "path=%s offset=0 seq=%" PRIu64 " msg=%s",
			         log_q(q, sizeof q, path), first, "removing torn segment creation");
			if (unlink(path) != 0 || util_fsync_dir(a->dir) != UTIL_OK) {
				log_error("store.unlink", "path=%s err=%s",
				          log_q(q, sizeof q, path), strerror(errno));
				st = STORE_EIO;
			}
			n--;
		} else if (st == STORE_OK) {
			log_error("store.recover.loss",
			          "archive=%s segment=%s offset=0 seq=%" PRIu64 " msg=%s", a->name,
			          log_q(q, sizeof q, path), first, why);
			a->damaged = true;
			n = 0;
		}
		if (f >= 0)
			close(f);
		free(path);
	}
	free(firsts);
	return st;
}

/* Walks the active segment; truncates a torn tail beyond the head. */
static store_status_t recover_walk(store_t *s, store_archive_t *a, int fd,
                                   const store_seg_hdr_t *hdr, uint64_t size)
{
	char q[LOG_Q_MAX];
	store_seg_t sg;
	store_archive_seg_for(s, a, hdr->first_seq, &sg);
	char *path = store_archive_seg_path(a, hdr->first_seq);
	uint8_t link[STORE_HASH_BYTES];
	memcpy(link, hdr->prev_link, sizeof link);
	uint64_t off = STORE_SEG_HDR_SIZE, seq = hdr->first_seq;
	buf_t raw = {0}, stored = {0};
	store_status_t st = STORE_OK;
	const char *why = NULL;
	bool link_bad = false;
	if (a->head.seq == seq - 1 && sodium_memcmp(link, a->head.link, sizeof link) != 0)
		link_bad = true;
	for (;;) {
		store_rec_hdr_t h;
		store_rd_t rd = store_seg_read_rec(fd, path, off, size, &raw, &h, &why);
		if (rd == STORE_RD_END)
			break;
		if (rd == STORE_RD_EIO) {
			st = STORE_EIO;
			break;
		}
		if (rd == STORE_RD_TORN)
			why = "record cut off by the end of the file";
		if (rd != STORE_RD_OK)
			break;
		if (h.seq != seq) {
			why = "record out of sequence";
			break;
		}
		if (store_rec_open_stored(sg.key, raw.data, raw.len, &h, &stored, &why) != STORE_OK)
			break;
		store_chain_next(link, seq, raw.data, raw.len);
		if (seq == a->head.seq && sodium_memcmp(link, a->head.link, sizeof link) != 0)
			link_bad = true;
		off += h.length;
		seq++;
		why = NULL;
	}
	if (st == STORE_OK && why && seq > a->head.seq) {
		log_warn("store.recover.truncate",
		         "path=%s offset=%" PRIu64 " seq=%" PRIu64 " dropped=%" PRIu64 " msg=%s",
		         log_q(q, sizeof q, path), off, seq, size - off, why);
		int e = util_fault("store.truncate");
		if (e || ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0) {
			log_error("store.truncate", "path=%s err=%s", log_q(q, sizeof q, path),
			          strerror(e ? e : errno));
			st = STORE_EIO;
		}
	} else if (st == STORE_OK && why) {
		log_error("store.recover.loss",
		          "archive=%s segment=%s offset=%" PRIu64 " seq=%" PRIu64 " head=%" PRIu64
		          " msg=%s",
		          a->name, log_q(q, sizeof q, path), off, seq, a->head.seq, why);
		a->damaged = true;
	}
	if (st == STORE_OK && !a->damaged && seq - 1 < a->head.seq) {
		log_error("store.recover.loss",
		          "archive=%s segment=%s offset=%" PRIu64 " seq=%" PRIu64 " head=%" PRIu64
		          " msg=%s",
		          a->name, log_q(q, sizeof q, path), off, seq, a->head.seq,
		          "chain ends before the recorded head");
		a->damaged = true;
	}
	if (st == STORE_OK && !a->damaged && link_bad) {
		log_error("store.recover.loss", "archive=%s segment=%s seq=%" PRIu64 " msg=%s",
		          a->name, log_q(q, sizeof q, path), a->head.seq,
		          "chain link differs from the head");
		a->damaged = true;
	}
	memcpy(a->link, link, sizeof link);
	a->next_seq = seq;
	a->active_size = off;
	buf_free(&raw);
	sodium_memzero(stored.data, stored.cap);
	buf_free(&stored);
	free(path);
	return st;
}

static store_status_t archive_recover(store_t *s, store_archive_t *a)
{
	int fd;
	store_seg_hdr_t hdr;
	uint64_t size = 0;
	store_status_t st = recover_last_segment(s, a, &fd, &hdr, &size);
	if (st != STORE_OK || a->damaged)
		return st;
	if (fd < 0) {
		if (a->head.seq > 0) {
			log_error("store.recover.loss", "archive=%s head=%" PRIu64 " msg=%s",
			          a->name, a->head.seq, "no segment holds the recorded head");
			a->damaged = true;
			return STORE_OK;
		}
		a->next_seq = 1;
		store_chain_init(a->name, a->link);
		return STORE_OK;
	}
	st = recover_walk(s, a, fd, &hdr, size);
	a->active_fd = fd;
	a->active_first = hdr.first_seq;
	a->active_created = hdr.created;
	if (st != STORE_OK || a->damaged)
		return st;
	if (a->next_seq - 1 > a->head.seq) {
		/* Records made durable by a batch whose head write did not happen. */
		store_head_t h = {
		    .seq = a->next_seq - 1, .segment = a->active_first, .end = a->active_size};
		memcpy(h.link, a->link, sizeof h.link);
		if (fdatasync(fd) != 0) {
			log_error("store.fsync", "archive=%s err=%s", a->name, strerror(errno));
			return STORE_EIO;
		}
		if ((st = store_archive_head_write(a, &h)) != STORE_OK)
			return st;
		log_info("store.recover.head", "archive=%s from=%" PRIu64 " to=%" PRIu64, a->name,
		         a->head.seq, h.seq);
		a->head = h;
	}
	return STORE_OK;
}

/* Brings the catalog up to the head, replaying ENVELOPE records. */
static store_status_t cat_replay(store_t *s, store_archive_t *a, uint64_t after, uint64_t to)
{
	store_cursor_t c;
	store_status_t st = store_cursor_open(s, a, after, &c);
	if (st == STORE_OK)
		st = store_cat_begin(a->cat_w);
	uint64_t done = after;
	while (st == STORE_OK) {
		bool got;
		st = store_cursor_next(&c, to, STORE_TYPE_BIT(STORE_REC_ENVELOPE), &got);
		if (st != STORE_OK || !got)
			break;
		done = c.h.seq;
		if (c.h.type != STORE_REC_ENVELOPE)
			continue;
		store_env_rec_t e;
		const char *why;
		if (store_env_decode(c.plain.data, c.plain.len, &e, &why) != STORE_OK) {
			log_error("store.corrupt",
			          "archive=%s segment=%" PRIu64 " offset=%" PRIu64 " seq=%" PRIu64
			          " msg=%s",
			          a->name, c.seg.first_seq, c.rec_off, c.h.seq, why);
			continue;
		}
		st = store_cat_add(a->cat_w, &e, c.h.seq, c.seg.first_seq, c.rec_off);
		store_env_rec_free(&e);
	}
	store_cursor_close(&c);
	if (st == STORE_ECORRUPT) /* logged; keep what was read, the archive is damaged */
		st = STORE_OK;
	if (st == STORE_OK)
		st = store_cat_set_last_seq(a->cat_w, done);
	if (st == STORE_OK)
		st = store_cat_commit(a->cat_w);
	else
		store_cat_rollback(a->cat_w);
	if (st == STORE_OK && done > after)
		log_info("store.catalog_replay", "archive=%s from=%" PRIu64 " to=%" PRIu64, a->name,
		         after + 1, done);
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
	a->next_msg_seq = max_msg + 1;
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
		st = archive_recover(s, a);
	if (st == STORE_OK && !s->readonly)
		st = cat_sync(s, a);
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
		if (!strncmp(de->d_name, ".tmp-", 5) && !s->readonly) {
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
		if (s->narchives == s->caparchives) {
			s->caparchives = s->caparchives ? 2 * s->caparchives : 8;
			s->archives = xrealloc(s->archives, s->caparchives * sizeof *s->archives);
		}
		s->archives[s->narchives++] = a;
	}
	closedir(d);
	return st;
}
