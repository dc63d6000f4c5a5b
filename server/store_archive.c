/* store_archive.c — one archive's directory: its keys, keystore, head,
 * segments table, recovery on open and catalog synchronisation.
 *
 * Does: the archive key (wrap, unwrap), the keystore (segment keys: load,
 * save, add, replace, remove), the two-slot head, creating a new active
 * segment file, the segment table readers look keys up in.  Does not: open
 * or recover archives (store_recover.c), write records (store_writer.c) or
 * serve reads (store_read.c, store_segfile.c).
 *
 * archive.key (96 bytes):  magic "\x89VLAKEY\n" | u16 version 1 | 6 reserved |
 *   master key fingerprint[8] | wrapped archive key[72]
 *   (AD "vellum archive key v1" 0x00 name)
 * keystore: magic "\x89VLKSTR\n" | u16 version 1 | u16 0 | u32 count, then
 *   count entries of 112 bytes: u64 first_seq | segment_id[16] | i64 created |
 *   8 reserved | wrapped segment key[72]
 *   (AD "vellum segment key v1" 0x00 name 0x00 le64(first_seq) segment_id).
 *   Ascending first_seq; a first_seq appears twice only while a compacted
 *   replacement of that segment is being committed (the file's header id
 *   says which key is its own; recovery drops the other).
 * head: two slots of 128 bytes: magic "\x89VLHEAD\n" | u16 version 1 |
 *   6 reserved | u64 generation | u64 seq | link[32] | u64 segment | u64 end |
 *   16 reserved | mac[32] = BLAKE2b-256 keyed KDF(archive key, 2, "vlhead__")
 *   over bytes 0..95.  Written to slot (generation mod 2).
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

static const uint8_t akey_magic[8] = {0x89, 'V', 'L', 'A', 'K', 'E', 'Y', '\n'};
static const uint8_t ks_magic[8] = {0x89, 'V', 'L', 'K', 'S', 'T', 'R', '\n'};
static const uint8_t head_magic[8] = {0x89, 'V', 'L', 'H', 'E', 'A', 'D', '\n'};
#define AKEY_FILE_SIZE 96
#define KS_HDR_SIZE    16
#define KS_ENTRY_SIZE  112

#define put64 store_put64
#define get64 store_get64

bool store_name_valid(const char *name, bool *is_log)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_NAME_MAX)
		return false;
	bool log = name[0] == '_';
	if (log && n < 2)
		return false;
	for (size_t i = log ? 1 : 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == (log ? 1u : 0u) || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	if (is_log)
		*is_log = log;
	return true;
}

char *store_archive_seg_path(const store_archive_t *a, uint64_t first_seq)
{
	char name[STORE_SEG_NAME_MAX];
	store_seg_name(first_seq, name);
	return util_path_join(a->dir, name);
}

static void akey_ad(const char *name, buf_t *ad)
{
	static const char label[] = "vellum archive key v1";
	buf_append(ad, label, sizeof label);
	buf_append_str(ad, name);
}

static void segkey_ad(const char *name, uint64_t first, const uint8_t id[STORE_SEG_ID_BYTES],
                      buf_t *ad)
{
	static const char label[] = "vellum segment key v1";
	uint8_t f[8];
	put64(f, first);
	buf_append(ad, label, sizeof label);
	buf_append(ad, name, strlen(name) + 1);
	buf_append(ad, f, 8);
	buf_append(ad, id, STORE_SEG_ID_BYTES);
}

/* A fresh key slot in the archive's slabs; a->lock held (or not yet shared). */
uint8_t *store_archive_key_slot(store_archive_t *a)
{
	if (a->nslabs == 0 || a->slab_used == STORE_KEYSLAB_KEYS) {
		a->slabs = xrealloc(a->slabs, (a->nslabs + 1) * sizeof *a->slabs);
		a->slabs[a->nslabs++] = keys_secure_alloc(STORE_KEYSLAB_KEYS * KEYS_BYTES);
		a->slab_used = 0;
	}
	return a->slabs[a->nslabs - 1] + KEYS_BYTES * a->slab_used++;
}

void store_archive_free(store_archive_t *a)
{
	if (!a)
		return;
	store_cat_close(a->cat_w);
	store_cat_close(a->cat_r);
	if (a->active_fd >= 0)
		close(a->active_fd);
	if (a->sealed_fd >= 0)
		close(a->sealed_fd);
	if (a->head_fd >= 0)
		close(a->head_fd);
	for (store_blkidx_t *b = a->blkidx, *nb; b; b = nb) {
		nb = b->next;
		free(b->seq);
		free(b->off);
		free(b);
	}
	free(a->gaps);
	for (size_t i = 0; i < a->nslabs; i++)
		keys_secure_free(a->slabs[i]);
	free(a->slabs);
	free(a->segs);
	keys_secure_free(a->akey);
	keys_secure_free(a->headkey);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->cat_r_lock);
	pthread_mutex_destroy(&a->maint);
	free(a->dir);
	free(a);
}

/* ---- archive.key ---- */

store_status_t store_archive_akey_write_to(const char *path, const char *name, const uint8_t *mkey,
                                           const uint8_t *akey)
{
	uint8_t file[AKEY_FILE_SIZE] = {0};
	memcpy(file, akey_magic, 8);
	file[8] = 1;
	keys_id(mkey, file + 16);
	buf_t ad = {0};
	akey_ad(name, &ad);
	keys_wrap(mkey, akey, ad.data, ad.len, file + 24);
	buf_free(&ad);
	return store_file_replace(path, file, sizeof file, 0600);
}

store_status_t store_archive_akey_write(store_t *s, const char *dir, const char *name,
                                        const uint8_t *akey)
{
	char *path = util_path_join(dir, "archive.key");
	store_status_t st = store_archive_akey_write_to(path, name, s->mkey, akey);
	free(path);
	return st;
}

store_status_t store_archive_akey_load(store_t *s, store_archive_t *a)
{
	char q[LOG_Q_MAX];
	char *path = util_path_join(a->dir, "archive.key");
	buf_t b = {0};
	util_status_t us = util_read_file(path, AKEY_FILE_SIZE, &b);
	store_status_t st = STORE_OK;
	if (us != UTIL_OK) {
		log_error("store.archive_key", "path=%s err=%s", log_q(q, sizeof q, path),
		          us == UTIL_ETOOBIG ? "not an archive key file" : strerror(errno));
		st = us == UTIL_ETOOBIG ? STORE_ECORRUPT : STORE_EIO;
	} else if (b.len != AKEY_FILE_SIZE || memcmp(b.data, akey_magic, 8) != 0 ||
	           b.data[8] != 1 || b.data[9] != 0) {
		log_error("store.archive_key", "path=%s msg=%s", log_q(q, sizeof q, path),
		          "not an archive key file of format version 1");
		st = STORE_ECORRUPT;
	} else {
		buf_t ad = {0};
		akey_ad(a->name, &ad);
		a->akey = keys_secure_alloc(KEYS_BYTES);
		if (keys_unwrap(s->mkey, b.data + 24, ad.data, ad.len, a->akey) != KEYS_OK) {
			char want[2 * KEYS_ID_BYTES + 1], have[2 * KEYS_ID_BYTES + 1];
			util_hex(b.data + 16, KEYS_ID_BYTES, want);
			util_hex(s->mkey_id, KEYS_ID_BYTES, have);
			log_error("store.archive_key", "archive=%s wrapped_by=%s master=%s msg=%s",
			          a->name, want, have,
			          "archive key does not unwrap: wrong master key or altered file");
			st = STORE_EKEY;
		} else {
			a->headkey = keys_secure_alloc(KEYS_BYTES);
			keys_derive(a->akey, 2, "vlhead__", a->headkey);
		}
		buf_free(&ad);
	}
	buf_free(&b);
	free(path);
	return st;
}

/* ---- keystore ---- */

static void ks_put_entry(uint8_t *e, uint64_t first, const uint8_t *id, int64_t created,
                         const uint8_t *wrapped)
{
	put64(e, first);
	memcpy(e + 8, id, STORE_SEG_ID_BYTES);
	put64(e + 24, (uint64_t)created);
	memcpy(e + 40, wrapped, KEYS_WRAPPED_BYTES);
}

store_status_t store_archive_ks_write(const char *dir, const store_seg_t *segs, size_t n)
{
	size_t count = n;
	for (size_t i = 0; i < n; i++)
		count += segs[i].has_next;
	size_t len = KS_HDR_SIZE + count * KS_ENTRY_SIZE;
	uint8_t *b = xcalloc(1, len);
	memcpy(b, ks_magic, 8);
	b[8] = 1;
	store_put32(b + 12, (uint32_t)count);
	uint8_t *e = b + KS_HDR_SIZE;
	for (size_t i = 0; i < n; i++) {
		ks_put_entry(e, segs[i].first_seq, segs[i].id, segs[i].created, segs[i].wrapped);
		e += KS_ENTRY_SIZE;
		if (segs[i].has_next) {
			ks_put_entry(e, segs[i].first_seq, segs[i].next_id, segs[i].next_created,
			             segs[i].next_wrapped);
			e += KS_ENTRY_SIZE;
		}
	}
	char *path = util_path_join(dir, "keystore");
	store_status_t st = STORE_OK;
	int fe = util_fault("store.keystore");
	if (fe) {
		char q[LOG_Q_MAX];
		log_error("store.keystore", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(fe));
		st = STORE_EIO;
	} else {
		st = store_file_replace(path, b, len, 0600);
	}
	free(path);
	free(b);
	return st;
}

store_status_t store_archive_ks_save(store_archive_t *a)
{
	pthread_mutex_lock(&a->lock);
	size_t n = a->nsegs;
	store_seg_t *copy = xcalloc(n + 1, sizeof *copy);
	if (n)
		memcpy(copy, a->segs, n * sizeof *copy);
	pthread_mutex_unlock(&a->lock);
	store_status_t st = store_archive_ks_write(a->dir, copy, n);
	free(copy);
	return st;
}

/* Index of the segment with this first_seq, or where it would go. */
static size_t seg_index(const store_archive_t *a, uint64_t first, bool *found)
{
	size_t lo = 0, hi = a->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->segs[mid].first_seq < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < a->nsegs && a->segs[lo].first_seq == first;
	return lo;
}

/* Inserts or replaces (a stale entry left by a torn segment creation). */
void store_archive_seg_insert(store_archive_t *a, const store_seg_t *sg)
{
	bool found;
	size_t i = seg_index(a, sg->first_seq, &found);
	if (found) {
		a->segs[i] = *sg;
		return;
	}
	if (a->nsegs == a->capsegs) {
		a->capsegs = a->capsegs ? 2 * a->capsegs : 16;
		a->segs = xrealloc(a->segs, a->capsegs * sizeof *a->segs);
	}
	memmove(a->segs + i + 1, a->segs + i, (a->nsegs - i) * sizeof *a->segs);
	a->segs[i] = *sg;
	a->nsegs++;
}

bool store_archive_seg_remove(store_archive_t *a, uint64_t first_seq)
{
	bool found;
	size_t i = seg_index(a, first_seq, &found);
	if (!found)
		return false;
	/* The key slot stays allocated (a concurrent reader may hold the
	 * pointer) until the archive is closed; only the files matter for
	 * crypto-shredding. */
	memmove(a->segs + i, a->segs + i + 1, (a->nsegs - i - 1) * sizeof *a->segs);
	a->nsegs--;
	return true;
}

void store_archive_seg_key_new(store_archive_t *a, uint64_t first,
                               const uint8_t id[STORE_SEG_ID_BYTES], uint8_t **key,
                               uint8_t wrapped[KEYS_WRAPPED_BYTES])
{
	buf_t ad = {0};
	segkey_ad(a->name, first, id, &ad);
	pthread_mutex_lock(&a->lock);
	*key = store_archive_key_slot(a);
	keys_random(*key);
	pthread_mutex_unlock(&a->lock);
	keys_wrap(a->akey, *key, ad.data, ad.len, wrapped);
	buf_free(&ad);
}

const uint8_t *store_seg_key_for(const store_seg_t *sg, const uint8_t id[STORE_SEG_ID_BYTES])
{
	if (!memcmp(sg->id, id, STORE_SEG_ID_BYTES))
		return sg->key;
	if (sg->has_next && !memcmp(sg->next_id, id, STORE_SEG_ID_BYTES))
		return sg->next_key;
	return NULL;
}

/* A key slot for (first, id): the one already unwrapped when the table has
 * it (its pointer must stay stable for readers), else a new unwrap. */
static uint8_t *ks_key(store_archive_t *a, uint64_t first, const uint8_t *id,
                       const uint8_t *wrapped)
{
	bool found;
	size_t at = seg_index(a, first, &found);
	if (found) {
		const store_seg_t *o = &a->segs[at];
		if (!memcmp(o->id, id, STORE_SEG_ID_BYTES))
			return o->key;
		if (o->has_next && !memcmp(o->next_id, id, STORE_SEG_ID_BYTES))
			return o->next_key;
	}
	buf_t ad = {0};
	segkey_ad(a->name, first, id, &ad);
	uint8_t *k = store_archive_key_slot(a);
	keys_status_t ks = keys_unwrap(a->akey, wrapped, ad.data, ad.len, k);
	buf_free(&ad);
	if (ks != KEYS_OK) {
		/* The segment stays unreadable; verify reports it by name. */
		log_error("store.keystore", "archive=%s segment=%" PRIu64 " msg=%s", a->name, first,
		          "segment key does not unwrap");
		return NULL;
	}
	return k;
}

/* (Re)loads the keystore into a fresh table, keeping key pointers of the
 * entries already known.  a->lock held, or the archive not shared yet. */
store_status_t store_archive_ks_load(store_archive_t *a)
{
	char q[LOG_Q_MAX];
	char *path = util_path_join(a->dir, "keystore");
	buf_t b = {0};
	struct stat st;
	store_status_t res = STORE_OK;
	if (stat(path, &st) == 0)
		a->ks_ino = (uint64_t)st.st_ino;
	util_status_t us =
	    util_read_file(path, KS_HDR_SIZE + (size_t)STORE_KEYSTORE_MAX * KS_ENTRY_SIZE, &b);
	uint32_t count = b.len >= KS_HDR_SIZE ? store_get32(b.data + 12) : 0;
	if (us != UTIL_OK) {
		log_error("store.keystore", "path=%s err=%s", log_q(q, sizeof q, path),
		          us == UTIL_ETOOBIG ? "too large" : strerror(errno));
		res = us == UTIL_ETOOBIG ? STORE_ECORRUPT : STORE_EIO;
	} else if (b.len < KS_HDR_SIZE || memcmp(b.data, ks_magic, 8) != 0 || b.data[8] != 1 ||
	           b.data[9] != 0 || count > STORE_KEYSTORE_MAX ||
	           b.len != KS_HDR_SIZE + (size_t)count * KS_ENTRY_SIZE) {
		log_error("store.keystore", "path=%s msg=%s", log_q(q, sizeof q, path),
		          "not a keystore of format version 1");
		res = STORE_ECORRUPT;
	}
	store_seg_t *segs = xcalloc((size_t)count + 1, sizeof *segs);
	size_t n = 0;
	for (uint32_t i = 0; res == STORE_OK && i < count; i++) {
		const uint8_t *e = b.data + KS_HDR_SIZE + (size_t)i * KS_ENTRY_SIZE;
		uint64_t first = get64(e);
		uint8_t *k = ks_key(a, first, e + 8, e + 40);
		if (!k)
			continue;
		if (n > 0 && segs[n - 1].first_seq == first && !segs[n - 1].has_next) {
			store_seg_t *o = &segs[n - 1];
			o->has_next = true;
			memcpy(o->next_id, e + 8, STORE_SEG_ID_BYTES);
			o->next_created = (int64_t)get64(e + 24);
			memcpy(o->next_wrapped, e + 40, KEYS_WRAPPED_BYTES);
			o->next_key = k;
			continue;
		}
		if (n > 0 && segs[n - 1].first_seq >= first) {
			log_error("store.keystore", "path=%s msg=%s", log_q(q, sizeof q, path),
			          "entries out of order");
			res = STORE_ECORRUPT;
			break;
		}
		store_seg_t *sg = &segs[n++];
		sg->first_seq = first;
		memcpy(sg->id, e + 8, STORE_SEG_ID_BYTES);
		sg->created = (int64_t)get64(e + 24);
		memcpy(sg->wrapped, e + 40, KEYS_WRAPPED_BYTES);
		sg->key = k;
	}
	if (res == STORE_OK) {
		free(a->segs);
		a->segs = segs;
		a->nsegs = n;
		a->capsegs = (size_t)count + 1;
	} else {
		free(segs);
	}
	buf_free(&b);
	free(path);
	return res;
}

static void ks_refresh(store_archive_t *a)
{
	char *path = util_path_join(a->dir, "keystore");
	struct stat st;
	if (stat(path, &st) == 0 && (uint64_t)st.st_ino != a->ks_ino)
		store_archive_ks_load(a);
	free(path);
}

void store_archive_ks_refresh(store_archive_t *a)
{
	pthread_mutex_lock(&a->lock);
	ks_refresh(a);
	pthread_mutex_unlock(&a->lock);
}

store_status_t store_archive_seg_for(store_t *s, store_archive_t *a, uint64_t seq, store_seg_t *out)
{
	for (int pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(&a->lock);
		if (s->readonly &&
		    (pass == 1 || a->nsegs == 0 || seq >= a->segs[a->nsegs - 1].first_seq))
			ks_refresh(a);
		bool found;
		size_t i = seg_index(a, seq, &found);
		bool ok = found || i > 0;
		if (ok)
			*out = a->segs[found ? i : i - 1];
		pthread_mutex_unlock(&a->lock);
		if (ok)
			return STORE_OK;
		if (!s->readonly)
			break;
	}
	return STORE_ENOTFOUND;
}

void store_archive_count_bytes(store_archive_t *a)
{
	uint64_t *firsts;
	size_t n;
	uint64_t total = 0;
	if (store_seg_list(a->dir, &firsts, &n) != STORE_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		char *p = store_archive_seg_path(a, firsts[i]);
		struct stat st;
		if (stat(p, &st) == 0)
			total += (uint64_t)st.st_size;
		free(p);
	}
	free(firsts);
	atomic_store(&a->bytes, total);
	atomic_store(&a->nsegs_gauge, (uint64_t)n);
}

/* ---- head ---- */

void store_archive_head_encode(const store_archive_t *a, const store_head_t *h,
                               uint8_t out[HEAD_SLOT_SIZE])
{
	memset(out, 0, HEAD_SLOT_SIZE);
	memcpy(out, head_magic, 8);
	out[8] = 1;
	put64(out + 16, h->gen);
	put64(out + 24, h->seq);
	memcpy(out + 32, h->link, STORE_HASH_BYTES);
	put64(out + 64, h->segment);
	put64(out + 72, h->end);
	crypto_generichash(out + 96, 32, out, 96, a->headkey, KEYS_BYTES);
}

static bool head_decode(const store_archive_t *a, const uint8_t in[HEAD_SLOT_SIZE], store_head_t *h)
{
	uint8_t mac[32];
	if (memcmp(in, head_magic, 8) != 0 || in[8] != 1 || in[9] != 0)
		return false;
	crypto_generichash(mac, sizeof mac, in, 96, a->headkey, KEYS_BYTES);
	if (sodium_memcmp(mac, in + 96, 32) != 0)
		return false;
	h->gen = get64(in + 16);
	h->seq = get64(in + 24);
	memcpy(h->link, in + 32, STORE_HASH_BYTES);
	h->segment = get64(in + 64);
	h->end = get64(in + 72);
	return true;
}

store_status_t store_archive_head_read(store_archive_t *a, int fd, store_head_t *out)
{
	uint8_t b[2 * HEAD_SLOT_SIZE];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof b && (r = pread(fd, b + got, sizeof b - got, (off_t)got)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_error("store.head_read", "archive=%s err=%s", a->name, strerror(errno));
			return STORE_EIO;
		}
		got += (size_t)r;
	}
	store_head_t h[2];
	bool ok0 = got >= HEAD_SLOT_SIZE && head_decode(a, b, &h[0]);
	bool ok1 = got >= 2 * HEAD_SLOT_SIZE && head_decode(a, b + HEAD_SLOT_SIZE, &h[1]);
	if (!ok0 && !ok1) {
		log_error("store.head_read", "archive=%s msg=%s", a->name,
		          "no valid head slot (altered or not written by this archive key)");
		return STORE_ECORRUPT;
	}
	*out = ok0 && (!ok1 || h[0].gen > h[1].gen) ? h[0] : h[1];
	return STORE_OK;
}

store_status_t store_archive_head_put(store_archive_t *a, store_head_t *h)
{
	h->gen = a->head.gen + 1;
	uint8_t slot[HEAD_SLOT_SIZE];
	store_archive_head_encode(a, h, slot);
	int e = util_fault("store.head_write");
	ssize_t w =
	    e ? -1 : pwrite(a->head_fd, slot, sizeof slot, (off_t)((h->gen % 2) * HEAD_SLOT_SIZE));
	if (e)
		errno = e;
	if (w != (ssize_t)sizeof slot) {
		log_error("store.head_write", "archive=%s err=%s", a->name,
		          w < 0 ? strerror(errno) : "short write");
		return STORE_EIO;
	}
	return STORE_OK;
}

store_status_t store_archive_head_sync(store_archive_t *a)
{
	int e = util_fault("store.fsync");
	if (e || fdatasync(a->head_fd) != 0) {
		log_error("store.fsync", "archive=%s file=head err=%s", a->name,
		          strerror(e ? e : errno));
		return STORE_EIO;
	}
	return STORE_OK;
}

store_status_t store_archive_head_write(store_archive_t *a, store_head_t *h)
{
	store_status_t st = store_archive_head_put(a, h);
	return st == STORE_OK ? store_archive_head_sync(a) : st;
}

store_status_t store_archive_head(store_t *s, store_archive_t *a, store_head_t *out)
{
	if (!s->readonly) {
		pthread_mutex_lock(&a->lock);
		*out = a->head;
		pthread_mutex_unlock(&a->lock);
		return STORE_OK;
	}
	store_head_t h;
	store_status_t st = store_archive_head_read(a, a->head_fd, &h);
	if (st == STORE_OK) {
		pthread_mutex_lock(&a->lock);
		a->head = h;
		pthread_mutex_unlock(&a->lock);
		*out = h;
	}
	return st;
}

/* ---- new segments ---- */

store_status_t store_archive_seg_new(store_t *s, store_archive_t *a)
{
	char q[LOG_Q_MAX];
	store_seg_t sg = {.first_seq = a->next_seq, .created = util_now()};
	randombytes_buf(sg.id, sizeof sg.id);
	store_archive_seg_key_new(a, sg.first_seq, sg.id, &sg.key, sg.wrapped);
	pthread_mutex_lock(&a->lock);
	store_archive_seg_insert(a, &sg);
	pthread_mutex_unlock(&a->lock);
	/* Only the writer changes the table, so readers are not held up by the
	 * keystore's fsyncs. */
	store_status_t st = store_archive_ks_save(a);
	if (st != STORE_OK)
		return st;

	char *path = store_archive_seg_path(a, sg.first_seq);
	int e = util_fault("store.open");
	int fd = e ? -1 : open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (e)
		errno = e;
	if (fd < 0) {
		log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(errno));
		free(path);
		return STORE_EIO;
	}
	store_seg_hdr_t h = {.first_seq = sg.first_seq, .created = sg.created};
	memcpy(h.id, sg.id, sizeof h.id);
	memcpy(h.prev_link, a->link, sizeof h.prev_link);
	uint8_t hb[STORE_SEG_HDR_SIZE];
	store_seg_hdr_encode(&h, sg.key, hb);
	e = util_fault("store.write");
	if (e)
		errno = e;
	int fe = 0;
	if (e || util_write_all(fd, hb, sizeof hb) != UTIL_OK ||
	    (fe = util_fault("store.fsync")) != 0 || fdatasync(fd) != 0 ||
	    util_fsync_dir(a->dir) != UTIL_OK) {
		log_error("store.segment_create", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(fe ? fe : errno));
		close(fd);
		free(path);
		return STORE_EIO;
	}
	free(path);
	a->active_fd = fd;
	atomic_store(&a->pub_active, sg.first_seq);
	a->active_first = sg.first_seq;
	a->active_size = STORE_SEG_HDR_SIZE;
	a->active_created = sg.created;
	atomic_fetch_add(&a->bytes, STORE_SEG_HDR_SIZE);
	atomic_fetch_add(&a->nsegs_gauge, 1);
	log_info("store.segment_new", "archive=%s first_seq=%" PRIu64, a->name, sg.first_seq);
	return STORE_OK;
}
