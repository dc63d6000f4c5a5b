/* store_segment.c — segment files: names, the segment header, reading
 * records by offset, listing (doc/format.md §2).
 *
 * Does: encode/decode and authenticate the 128-byte segment header, read one
 * record's bytes with framing checks and bounds, list a directory's segments,
 * hash a whole file, replace a small file atomically (keystore, archive key).
 * Does not: decrypt records (store_record.c), write records or decide when to
 * seal (store_writer.c), recover (store_archive.c).
 *
 * Segment file "<first_seq, 20 digits>.seg" (integers little-endian):
 *   off size field
 *     0   8  magic        "\x89VLSEG\r\n"
 *     8   2  version      1
 *    10   2  header_size  128
 *    12   4  flags        bit 0: packed (records regrouped into BLOCKs)
 *    16   8  first_seq
 *    24   8  created      microseconds since the epoch
 *    32  16  segment_id   random, bound into the keystore entry's AD
 *    48  32  prev_link    chain link before first_seq
 *    80   8  last_seq     packed: the last record's sequence; else 0
 *    88  24  reserved     0
 *   112  16  mac          BLAKE2b-128, key KDF(segment key, 1, "vlseghdr"), over 0..111
 *   128 ...  records, back to back
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_private.h"
#include "vellum/log.h"

static const uint8_t seg_magic[8] = {0x89, 'V', 'L', 'S', 'E', 'G', '\r', '\n'};

#define put64 store_put64
#define get64 store_get64

void store_seg_name(uint64_t first_seq, char out[STORE_SEG_NAME_MAX])
{
	snprintf(out, STORE_SEG_NAME_MAX, "%020" PRIu64 ".seg", first_seq);
}

bool store_seg_name_parse(const char *name, uint64_t *first_seq)
{
	if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v == 0)
		return false;
	*first_seq = v;
	return true;
}

static void seg_hdr_mac(const uint8_t *hdr, const uint8_t key[KEYS_BYTES], uint8_t mac[16])
{
	uint8_t sub[KEYS_BYTES];
	keys_derive(key, 1, "vlseghdr", sub);
	crypto_generichash(mac, 16, hdr, 112, sub, sizeof sub);
	sodium_memzero(sub, sizeof sub);
}

void store_seg_hdr_encode(const store_seg_hdr_t *h, const uint8_t key[KEYS_BYTES],
                          uint8_t out[STORE_SEG_HDR_SIZE])
{
	memset(out, 0, STORE_SEG_HDR_SIZE);
	memcpy(out, seg_magic, 8);
	out[8] = STORE_FORMAT_VERSION;
	out[10] = STORE_SEG_HDR_SIZE;
	store_put32(out + 12, h->flags);
	put64(out + 16, h->first_seq);
	put64(out + 24, (uint64_t)h->created);
	memcpy(out + 32, h->id, STORE_SEG_ID_BYTES);
	memcpy(out + 48, h->prev_link, STORE_HASH_BYTES);
	put64(out + 80, h->last_seq);
	seg_hdr_mac(out, key, out + 112);
}

store_status_t store_seg_hdr_decode(const uint8_t in[STORE_SEG_HDR_SIZE],
                                    const uint8_t key[KEYS_BYTES], store_seg_hdr_t *h,
                                    const char **why)
{
	uint8_t mac[16];
	static const uint8_t zero[32];
	const char *w = NULL;
	if (memcmp(in, seg_magic, 8) != 0)
		w = "not a segment file (bad magic)";
	else if (in[8] != STORE_FORMAT_VERSION || in[9] != 0)
		w = "unsupported segment format version";
	else if (in[10] != STORE_SEG_HDR_SIZE || in[11] != 0 ||
	         (store_get32(in + 12) & ~STORE_SEGF_PACKED) != 0 ||
	         memcmp(in + 88, zero, 24) != 0 ||
	         (!(store_get32(in + 12) & STORE_SEGF_PACKED) && memcmp(in + 80, zero, 8) != 0))
		w = "unsupported segment header layout";
	if (!w && key) {
		seg_hdr_mac(in, key, mac);
		if (sodium_memcmp(mac, in + 112, 16) != 0)
			w = "segment header authentication failed";
	}
	if (w) {
		*why = w;
		return STORE_ECORRUPT;
	}
	h->first_seq = get64(in + 16);
	h->created = (int64_t)get64(in + 24);
	memcpy(h->id, in + 32, STORE_SEG_ID_BYTES);
	memcpy(h->prev_link, in + 48, STORE_HASH_BYTES);
	h->flags = store_get32(in + 12);
	h->last_seq = get64(in + 80);
	if ((h->flags & STORE_SEGF_PACKED) && (h->last_seq < h->first_seq || h->first_seq == 0)) {
		*why = "packed segment header with a bad last sequence";
		return STORE_ECORRUPT;
	}
	return STORE_OK;
}

void store_seg_hdr_peek_id(const uint8_t in[STORE_SEG_HDR_SIZE], uint8_t id[STORE_SEG_ID_BYTES])
{
	memcpy(id, in + 32, STORE_SEG_ID_BYTES);
}

store_rd_t store_seg_pread(int fd, const char *path, void *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		int e = util_fault("store.read");
		ssize_t r = e ? -1 : pread(fd, (uint8_t *)p + got, n - got, (off_t)(off + got));
		if (e)
			errno = e;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			char q[LOG_Q_MAX];
			log_error("store.read", "path=%s offset=%" PRIu64 " err=%s",
			          log_q(q, sizeof q, path), off, strerror(errno));
			return STORE_RD_EIO;
		}
		if (r == 0)
			return STORE_RD_TORN;
		got += (size_t)r;
	}
	return STORE_RD_OK;
}

store_rd_t store_seg_read_hdr(int fd, const char *path, uint64_t off, uint64_t file_end,
                              store_rec_hdr_t *h, const char **why)
{
	if (off >= file_end)
		return off == file_end ? STORE_RD_END : STORE_RD_TORN;
	if (file_end - off < STORE_REC_HDR_SIZE)
		return STORE_RD_TORN;
	uint8_t hb[STORE_REC_HDR_SIZE];
	store_rd_t rd = store_seg_pread(fd, path, hb, sizeof hb, off);
	if (rd != STORE_RD_OK)
		return rd;
	if (store_rec_hdr_decode(hb, h, why) != STORE_OK)
		return STORE_RD_BAD;
	if (h->length > file_end - off)
		return STORE_RD_TORN;
	return STORE_RD_OK;
}

store_rd_t store_seg_read_rec(int fd, const char *path, uint64_t off, uint64_t file_end, buf_t *rec,
                              store_rec_hdr_t *h, const char **why)
{
	store_rd_t rd = store_seg_read_hdr(fd, path, off, file_end, h, why);
	if (rd != STORE_RD_OK)
		return rd;
	/* h->length is bounded by the header checks (<= STORE_RECORD_MAX). */
	buf_reset(rec);
	buf_reserve(rec, h->length);
	rd = store_seg_pread(fd, path, rec->data, h->length, off);
	if (rd != STORE_RD_OK)
		return rd;
	rec->len = h->length;
	rec->data[rec->len] = 0;
	return STORE_RD_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

store_status_t store_seg_list(const char *dir, uint64_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		char q[LOG_Q_MAX];
		log_error("store.opendir", "path=%s err=%s", log_q(q, sizeof q, dir),
		          strerror(errno));
		return STORE_EIO;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t first;
		if (!store_seg_name_parse(de->d_name, &first))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[(*n)++] = first;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof **out, cmp_u64);
	return STORE_OK;
}

store_status_t store_file_hash(const char *path, uint8_t out[STORE_HASH_BYTES], uint64_t *size)
{
	char q[LOG_Q_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("store.open", "path=%s err=%s", log_q(q, sizeof q, path),
		          strerror(errno));
		return errno == ENOENT ? STORE_ENOTFOUND : STORE_EIO;
	}
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, STORE_HASH_BYTES);
	uint8_t *b = xmalloc(1u << 16);
	uint64_t total = 0;
	ssize_t r;
	while ((r = read(fd, b, 1u << 16)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("store.read", "path=%s err=%s", log_q(q, sizeof q, path),
			          strerror(errno));
			free(b);
			close(fd);
			return STORE_EIO;
		}
		crypto_generichash_update(&st, b, (size_t)r);
		total += (uint64_t)r;
	}
	free(b);
	close(fd);
	crypto_generichash_final(&st, out, STORE_HASH_BYTES);
	if (size)
		*size = total;
	return STORE_OK;
}

store_status_t store_file_replace(const char *path, const void *p, size_t n, mode_t mode)
{
	char q[LOG_Q_MAX];
	char *tmp = xasprintf("%s.tmp", path);
	const char *op = "open";
	int e = util_fault("store.open");
	int fd = e ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0) {
		op = "write";
		e = util_fault("store.write");
		if (!e && util_write_all(fd, p, n) != UTIL_OK)
			e = errno;
		if (!e) {
			op = "fsync";
			e = util_fault("store.fsync");
			if (!e && fsync(fd) != 0)
				e = errno;
		}
		if (close(fd) != 0 && !e)
			e = errno;
		if (!e) {
			op = "rename";
			e = util_fault("store.rename");
			if (!e && rename(tmp, path) != 0)
				e = errno;
		}
		if (!e) {
			op = "fsync";
			char *dir = util_dirname(path);
			e = util_fault("store.fsync");
			if (!e && util_fsync_dir(dir) != UTIL_OK)
				e = errno;
			free(dir);
		}
	} else if (!e) {
		e = errno;
	}
	if (e) {
		log_error("store.write", "path=%s op=%s err=%s", log_q(q, sizeof q, path), op,
		          strerror(e));
		unlink(tmp);
	}
	free(tmp);
	return e ? STORE_EIO : STORE_OK;
}
