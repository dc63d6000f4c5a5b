/* store_keys.c — rotating the master key: every archive key re-wrapped under
 * a new master key, no data re-encrypted (the archive keys themselves, and
 * the segment keys they wrap, do not change).
 *
 * Order, so that a crash anywhere leaves a store that opens with the old key
 * or with the new one:
 *   1. archive.key.next written for every archive (wrapped by the new key);
 *   2. the master key file replaced by the new key (master_key_file only;
 *      with master_key_command the operator switches the command);
 *   3. archive.key.next renamed over archive.key, archive by archive.
 * At open (store_key_rotate_recover), an archive.key that the current master
 * key cannot unwrap is replaced by its archive.key.next when that one
 * unwraps (step 3 was interrupted); an archive.key.next next to a good
 * archive.key is left over from a rotation that never reached step 2 and is
 * removed.  Does not: write the audit record (the caller does).
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

#define AKEY_FILE_SIZE 96

/* Does the archive key file at path unwrap under mkey? */
static bool akey_unwraps(const char *path, const char *name, const uint8_t *mkey)
{
	buf_t b = {0};
	bool ok = false;
	if (util_read_file(path, AKEY_FILE_SIZE, &b) == UTIL_OK && b.len == AKEY_FILE_SIZE) {
		static const char label[] = "vellum archive key v1";
		buf_t ad = {0};
		buf_append(&ad, label, sizeof label);
		buf_append_str(&ad, name);
		uint8_t *k = keys_secure_alloc(KEYS_BYTES);
		ok = keys_unwrap(mkey, b.data + 24, ad.data, ad.len, k) == KEYS_OK;
		keys_secure_free(k);
		buf_free(&ad);
	}
	buf_free(&b);
	return ok;
}

store_status_t store_key_rotate_recover(store_t *s)
{
	char q[LOG_Q_MAX];
	DIR *d = opendir(s->archives_dir);
	if (!d)
		return STORE_OK;
	store_status_t st = STORE_OK;
	struct dirent *de;
	while (st == STORE_OK && (de = readdir(d))) {
		if (!store_name_valid(de->d_name, NULL))
			continue;
		char *dir = util_path_join(s->archives_dir, de->d_name);
		char *cur = util_path_join(dir, "archive.key");
		char *next = util_path_join(dir, "archive.key.next");
		if (access(next, F_OK) == 0) {
			if (akey_unwraps(cur, de->d_name, s->mkey)) {
				log_info("store.rotate.recover", "path=%s action=%s",
				         log_q(q, sizeof q, next),
				         "removed (rotation not finished)");
				unlink(next);
			} else if (akey_unwraps(next, de->d_name, s->mkey)) {
				log_warn("store.rotate.recover", "path=%s action=%s",
				         log_q(q, sizeof q, cur), "replaced by archive.key.next");
				if (rename(next, cur) != 0 || util_fsync_dir(dir) != UTIL_OK) {
					log_error("store.rename", "path=%s err=%s",
					          log_q(q, sizeof q, cur), strerror(errno));
					st = STORE_EIO;
				}
			}
		}
		free(dir);
		free(cur);
		free(next);
	}
	closedir(d);
	return st;
}

static store_status_t write_key_file(const char *path, const uint8_t *key)
{
	char *hex = (char *)keys_secure_alloc(2 * KEYS_BYTES + 2);
	util_hex(key, KEYS_BYTES, hex);
	hex[2 * KEYS_BYTES] = '\n';
	store_status_t st = store_file_replace(path, hex, 2 * KEYS_BYTES + 1, 0600);
	keys_secure_free((uint8_t *)hex);
	return st;
}

static store_status_t load_new_key(store_t *s, const char *new_key_file, uint8_t **key)
{
	*key = NULL;
	if (new_key_file) {
		keys_status_t ks = keys_master_load(new_key_file, NULL, key);
		if (ks != KEYS_OK)
			return STORE_EKEY;
		return STORE_OK;
	}
	if (s->master_key_command && *s->master_key_command) {
		log_error("store.rotate", "msg=%s",
		          "master_key_command is configured: give the new key as a file");
		return STORE_EINVAL;
	}
	*key = keys_secure_alloc(KEYS_BYTES);
	keys_random(*key);
	return STORE_OK;
}

store_status_t store_key_rotate(store_t *s, const char *new_key_file, store_rotate_result_t *out)
{
	char q[LOG_Q_MAX];
	memset(out, 0, sizeof *out);
	if (s->readonly)
		return STORE_EREADONLY;
	if (atomic_load(&s->failed))
		return STORE_EFAILED;
	uint8_t *nk;
	store_status_t st = load_new_key(s, new_key_file, &nk);
	if (st != STORE_OK)
		return st;
	uint8_t nid[KEYS_ID_BYTES];
	keys_id(nk, nid);
	if (!memcmp(nid, s->mkey_id, KEYS_ID_BYTES)) {
		keys_secure_free(nk);
		return STORE_EINVAL; /* the same key */
	}
	util_hex(s->mkey_id, KEYS_ID_BYTES, out->old_id);
	util_hex(nid, KEYS_ID_BYTES, out->new_id);
	/* The table lock keeps archives from being created with the old key
	 * while their siblings move to the new one. */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->narchives && st == STORE_OK; i++) {
		store_archive_t *a = s->archives[i];
		if (atomic_load(&a->deleted))
			continue;
		char *next = util_path_join(a->dir, "archive.key.next");
		st = store_archive_akey_write_to(next, a->name, nk, a->akey);
		free(next);
	}
	bool wrapped_all = st == STORE_OK, switched = false;
	bool file_mode = !(s->master_key_command && *s->master_key_command);
	if (st == STORE_OK && file_mode) {
		st = write_key_file(s->master_key_file, nk);
		switched = st == STORE_OK;
		if (switched)
			log_info("store.rotate.master", "path=%s new=%s",
			         log_q(q, sizeof q, s->master_key_file), out->new_id);
	}
	for (size_t i = 0; i < s->narchives && st == STORE_OK; i++) {
		store_archive_t *a = s->archives[i];
		if (atomic_load(&a->deleted))
			continue;
		char *next = util_path_join(a->dir, "archive.key.next");
		char *cur = util_path_join(a->dir, "archive.key");
		int e = util_fault("store.rename");
		if (e || rename(next, cur) != 0 || util_fsync_dir(a->dir) != UTIL_OK) {
			log_error("store.rename", "path=%s err=%s", log_q(q, sizeof q, cur),
			          strerror(e ? e : errno));
			st = STORE_EIO;
		}
		free(next);
		free(cur);
		out->archives += st == STORE_OK;
	}
	if (switched || out->archives > 0) {
		/* From here on the new key is the one on disk: archives created
		 * by this process must use it; any archive.key.next left over is
		 * promoted at the next open. */
		memcpy(s->mkey, nk, KEYS_BYTES);
		memcpy(s->mkey_id, nid, KEYS_ID_BYTES);
	} else if (!wrapped_all || st != STORE_OK) {
		/* Nothing switched: the .next files are stale. */
		for (size_t i = 0; i < s->narchives; i++) {
			char *next = util_path_join(s->archives[i]->dir, "archive.key.next");
			unlink(next);
			free(next);
		}
	}
	pthread_mutex_unlock(&s->lock);
	keys_secure_free(nk);
	log_info("store.rotate", "old=%s new=%s archives=%" PRIu64 " status=%s", out->old_id,
	         out->new_id, out->archives, store_strerror(st));
	return st;
}
