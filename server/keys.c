/* keys.c — master key, signing key, key wrapping (include/vellum/keys.h).
 *
 * Does: read and create the key files with strict permissions, run
 * master_key_command, wrap and unwrap keys with XChaCha20-Poly1305, keep every
 * secret in sodium_malloc memory.  Does not: know about archives, segments or
 * the files that hold wrapped keys (the store does), or cache anything.
 *
 * Wrapped key layout (72 bytes): nonce[24] || ciphertext[32] || tag[16]; the
 * caller's associated data names the key's purpose (doc/format.md "Keys").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "vellum/keys.h"
#include "vellum/log.h"
#include "vellum/util.h"

/* A key file is 64 hex digits and a newline; anything much larger is not a
 * key file (and must not be read whole into memory). */
#define KEYS_FILE_MAX 4096

const char *keys_strerror(keys_status_t st)
{
	switch (st) {
	case KEYS_OK: return "ok";
	case KEYS_ENOENT: return "key file not found";
	case KEYS_EEXIST: return "key file exists";
	case KEYS_EIO: return "key file I/O error";
	case KEYS_EPERM: return "key file accessible to others or not a regular file";
	case KEYS_EFORMAT: return "not a key (expected 64 hex digits)";
	case KEYS_ECOMMAND: return "master_key_command failed";
	case KEYS_EAUTH: return "key unwrap failed (wrong key or altered data)";
	}
	return "unknown keys status";
}

static void keys_sodium_init(void)
{
	/* Idempotent and thread-safe; -1 only when no entropy source exists,
	 * which is a broken machine: refuse to run rather than make weak keys. */
	if (sodium_init() < 0) {
		log_error("keys.sodium_init", "msg=%s", "libsodium failed to initialise");
		abort();
	}
}

uint8_t *keys_secure_alloc(size_t n)
{
	keys_sodium_init();
	uint8_t *p = sodium_malloc(n ? n : 1);
	if (!p) {
		log_error("keys.alloc", "bytes=%zu msg=%s", n, "sodium_malloc failed");
		abort();
	}
	sodium_memzero(p, n);
	return p;
}

void keys_secure_free(uint8_t *p)
{
	if (p)
		sodium_free(p);
}

void keys_random(uint8_t key[KEYS_BYTES])
{
	keys_sodium_init();
	randombytes_buf(key, KEYS_BYTES);
}

void keys_id(const uint8_t key[KEYS_BYTES], uint8_t out[KEYS_ID_BYTES])
{
	uint8_t sub[KEYS_BYTES];
	keys_derive(key, 0, "vlkeyid_", sub);
	crypto_generichash(out, KEYS_ID_BYTES, sub, sizeof sub, NULL, 0);
	sodium_memzero(sub, sizeof sub);
}

void keys_derive(const uint8_t key[KEYS_BYTES], uint64_t id, const char ctx[8],
                 uint8_t out[KEYS_BYTES])
{
	keys_sodium_init();
	crypto_kdf_derive_from_key(out, KEYS_BYTES, id, ctx, key);
}

void keys_wrap(const uint8_t kek[KEYS_BYTES], const uint8_t key[KEYS_BYTES], const void *ad,
               size_t adlen, uint8_t out[KEYS_WRAPPED_BYTES])
{
	keys_sodium_init();
	randombytes_buf(out, KEYS_NONCE_BYTES);
	unsigned long long clen;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + KEYS_NONCE_BYTES, &clen, key, KEYS_BYTES,
	                                           ad, adlen, NULL, out, kek);
}

keys_status_t keys_unwrap(const uint8_t kek[KEYS_BYTES], const uint8_t in[KEYS_WRAPPED_BYTES],
                          const void *ad, size_t adlen, uint8_t key[KEYS_BYTES])
{
	keys_sodium_init();
	unsigned long long mlen;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, &mlen, NULL, in + KEYS_NONCE_BYTES,
	                                               KEYS_BYTES + KEYS_TAG_BYTES, ad, adlen, in,
	                                               kek) != 0 ||
	    mlen != KEYS_BYTES) {
		sodium_memzero(key, KEYS_BYTES);
		return KEYS_EAUTH;
	}
	return KEYS_OK;
}

/* Parses "64 hex digits" with optional surrounding whitespace from text of
 * length n (not NUL-terminated) into out. */
static keys_status_t keys_parse_hex(const char *text, size_t n, uint8_t out[KEYS_BYTES])
{
	size_t b = 0, e = n;
	while (b < e && (text[b] == ' ' || text[b] == '\t' || text[b] == '\r' || text[b] == '\n'))
		b++;
	while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r' ||
	                 text[e - 1] == '\n'))
		e--;
	if (e - b != 2 * KEYS_BYTES)
		return KEYS_EFORMAT;
	for (size_t i = 0; i < KEYS_BYTES; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = text[b + 2 * i + (size_t)k];
			int d = c >= '0' && c <= '9'   ? c - '0'
			        : c >= 'a' && c <= 'f' ? c - 'a' + 10
			        : c >= 'A' && c <= 'F' ? c - 'A' + 10
			                               : -1;
			if (d < 0)
				return KEYS_EFORMAT;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return KEYS_OK;
}

/* Reads a secret key file: regular, not accessible to others, hex. */
static keys_status_t keys_read_secret_file(const char *path, uint8_t *key)
{
	char q[LOG_Q_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return KEYS_ENOENT;
		log_error("keys.open", "path=%s err=%s", log_q(q, sizeof q, path), strerror(errno));
		return errno == ELOOP ? KEYS_EPERM : KEYS_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > KEYS_FILE_MAX) {
		log_error("keys.file", "path=%s msg=%s", log_q(q, sizeof q, path),
		          "not a regular key file");
		close(fd);
		return KEYS_EPERM;
	}
	if (st.st_mode & 007) {
		log_error("keys.mode", "path=%s mode=%04o msg=%s", log_q(q, sizeof q, path),
		          (unsigned)(st.st_mode & 07777),
		          "key file is accessible to others; chmod 600");
		close(fd);
		return KEYS_EPERM;
	}
	if (st.st_mode & 070)
		log_warn("keys.mode", "path=%s mode=%04o msg=%s", log_q(q, sizeof q, path),
		         (unsigned)(st.st_mode & 07777), "key file is group-accessible");
	char *text = (char *)keys_secure_alloc(KEYS_FILE_MAX);
	size_t got = 0;
	util_status_t us = util_read_all(fd, text, KEYS_FILE_MAX, &got);
	int e = errno;
	close(fd);
	keys_status_t ks = KEYS_EIO;
	if (us != UTIL_OK)
		log_error("keys.read", "path=%s err=%s", log_q(q, sizeof q, path), strerror(e));
	else if ((ks = keys_parse_hex(text, got, key)) != KEYS_OK)
		log_error("keys.format", "path=%s msg=%s", log_q(q, sizeof q, path),
		          keys_strerror(ks));
	keys_secure_free((uint8_t *)text);
	return ks;
}

static keys_status_t keys_run_command(const char *command, uint8_t *key)
{
	char q[LOG_Q_MAX];
	FILE *f = popen(command, "re");
	if (!f) {
		log_error("keys.command", "cmd=%s err=%s", log_q(q, sizeof q, command),
		          strerror(errno));
		return KEYS_ECOMMAND;
	}
	char *text = (char *)keys_secure_alloc(KEYS_FILE_MAX + 1);
	size_t got = fread(text, 1, KEYS_FILE_MAX + 1, f);
	/* Drain the rest so the command does not die of SIGPIPE before pclose. */
	char sink[512];
	while (fread(sink, 1, sizeof sink, f) > 0)
		;
	int status = pclose(f);
	keys_status_t ks = KEYS_ECOMMAND;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_error("keys.command", "cmd=%s status=%d msg=%s", log_q(q, sizeof q, command),
		          status, "master_key_command did not exit 0");
	else if (got > KEYS_FILE_MAX || keys_parse_hex(text, got, key) != KEYS_OK)
		log_error("keys.command", "cmd=%s msg=%s", log_q(q, sizeof q, command),
		          "master_key_command did not print 64 hex digits");
	else
		ks = KEYS_OK;
	keys_secure_free((uint8_t *)text);
	return ks;
}

keys_status_t keys_master_load(const char *path, const char *command, uint8_t **key)
{
	uint8_t *k = keys_secure_alloc(KEYS_BYTES);
	keys_status_t ks;
	if (command && *command)
		ks = keys_run_command(command, k);
	else if (path && *path)
		ks = keys_read_secret_file(path, k);
	else
		ks = KEYS_ENOENT;
	if (ks != KEYS_OK) {
		keys_secure_free(k);
		*key = NULL;
		return ks;
	}
	*key = k;
	return KEYS_OK;
}

/* Writes a new secret file with O_EXCL, 0600, fsync'd with its directory. */
static keys_status_t keys_write_new(const char *path, const uint8_t *bytes, size_t n, mode_t mode)
{
	char q[LOG_Q_MAX];
	char *dir = util_dirname(path);
	if (util_mkdir_p(dir, 0700) != UTIL_OK) {
		log_error("keys.mkdir", "path=%s err=%s", log_q(q, sizeof q, dir), strerror(errno));
		free(dir);
		return KEYS_EIO;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		int e = errno;
		free(dir);
		if (e == EEXIST)
			return KEYS_EEXIST;
		log_error("keys.create", "path=%s err=%s", log_q(q, sizeof q, path), strerror(e));
		return KEYS_EIO;
	}
	char *hex = (char *)keys_secure_alloc(2 * n + 2);
	util_hex(bytes, n, hex);
	hex[2 * n] = '\n';
	bool ok = fchmod(fd, mode) == 0 && util_write_all(fd, hex, 2 * n + 1) == UTIL_OK &&
	          fsync(fd) == 0;
	int e = errno;
	keys_secure_free((uint8_t *)hex);
	if (close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok && util_fsync_dir(dir) != UTIL_OK) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		log_error("keys.write", "path=%s err=%s", log_q(q, sizeof q, path), strerror(e));
		unlink(path);
	}
	free(dir);
	return ok ? KEYS_OK : KEYS_EIO;
}

keys_status_t keys_master_create(const char *path)
{
	uint8_t *k = keys_secure_alloc(KEYS_BYTES);
	keys_random(k);
	keys_status_t ks = keys_write_new(path, k, KEYS_BYTES, 0600);
	keys_secure_free(k);
	if (ks == KEYS_OK) {
		char q[LOG_Q_MAX];
		log_info("keys.master_created", "path=%s", log_q(q, sizeof q, path));
	}
	return ks;
}

keys_status_t keys_signing_create(const char *dir)
{
	char *skpath = util_path_join(dir, "signing.key");
	char *pkpath = util_path_join(dir, "signing.pub");
	uint8_t *seed = keys_secure_alloc(crypto_sign_SEEDBYTES);
	uint8_t *sk = keys_secure_alloc(crypto_sign_SECRETKEYBYTES);
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	randombytes_buf(seed, crypto_sign_SEEDBYTES);
	crypto_sign_seed_keypair(pk, sk, seed);
	keys_status_t ks = keys_write_new(skpath, seed, crypto_sign_SEEDBYTES, 0600);
	if (ks == KEYS_OK) {
		char hex[2 * crypto_sign_PUBLICKEYBYTES + 2];
		util_hex(pk, sizeof pk, hex);
		strcat(hex, "\n");
		if (util_write_file_atomic(pkpath, hex, strlen(hex), 0644) != UTIL_OK) {
			char q[LOG_Q_MAX];
			log_error("keys.write", "path=%s err=%s", log_q(q, sizeof q, pkpath),
			          strerror(errno));
			ks = KEYS_EIO;
		}
	}
	keys_secure_free(seed);
	keys_secure_free(sk);
	free(skpath);
	free(pkpath);
	return ks;
}

keys_status_t keys_signing_load(const char *dir, uint8_t **sk, uint8_t pk[KEYS_SIGN_PUBLIC_BYTES])
{
	char q[LOG_Q_MAX];
	keys_status_t ks = KEYS_OK;
	if (!sk) {
		char *pkpath = util_path_join(dir, "signing.pub");
		buf_t b = {0};
		util_status_t us = util_read_file(pkpath, KEYS_FILE_MAX, &b);
		if (us == UTIL_ENOENT)
			ks = KEYS_ENOENT;
		else if (us != UTIL_OK)
			ks = KEYS_EIO;
		else if (keys_parse_hex((const char *)b.data, b.len, pk) != KEYS_OK)
			ks = KEYS_EFORMAT;
		if (ks != KEYS_OK && ks != KEYS_ENOENT)
			log_error("keys.signing_pub", "path=%s msg=%s", log_q(q, sizeof q, pkpath),
			          keys_strerror(ks));
		buf_free(&b);
		free(pkpath);
		return ks;
	}
	char *skpath = util_path_join(dir, "signing.key");
	uint8_t *seed = keys_secure_alloc(crypto_sign_SEEDBYTES);
	ks = keys_read_secret_file(skpath, seed);
	if (ks == KEYS_OK) {
		uint8_t *s = keys_secure_alloc(crypto_sign_SECRETKEYBYTES);
		crypto_sign_seed_keypair(pk, s, seed);
		*sk = s;
	} else {
		*sk = NULL;
	}
	keys_secure_free(seed);
	free(skpath);
	return ks;
}
