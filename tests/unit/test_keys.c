/* test_keys.c — key files, permissions, master_key_command, wrapping. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tap.h"
#include "vellum/keys.h"
#include "vellum/log.h"
#include "vellum/util.h"

static void test_wrap(void)
{
	uint8_t *kek = keys_secure_alloc(KEYS_BYTES), *key = keys_secure_alloc(KEYS_BYTES);
	uint8_t *out = keys_secure_alloc(KEYS_BYTES), *other = keys_secure_alloc(KEYS_BYTES);
	keys_random(kek);
	keys_random(key);
	keys_random(other);
	uint8_t w[KEYS_WRAPPED_BYTES], w2[KEYS_WRAPPED_BYTES];
	keys_wrap(kek, key, "ad", 2, w);
	ok(keys_unwrap(kek, w, "ad", 2, out) == KEYS_OK && !memcmp(out, key, KEYS_BYTES),
	   "wrap/unwrap round trip");
	keys_wrap(kek, key, "ad", 2, w2);
	ok(memcmp(w, w2, sizeof w) != 0, "random nonce: two wraps differ");
	ok(keys_unwrap(other, w, "ad", 2, out) == KEYS_EAUTH, "wrong key fails");
	static const uint8_t zero[KEYS_BYTES];
	ok(!memcmp(out, zero, KEYS_BYTES), "output wiped after a failed unwrap");
	ok(keys_unwrap(kek, w, "ae", 2, out) == KEYS_EAUTH, "other associated data fails");
	ok(keys_unwrap(kek, w, "ad", 1, out) == KEYS_EAUTH, "shorter associated data fails");
	int flips = 0;
	for (size_t i = 0; i < sizeof w; i++) {
		memcpy(w2, w, sizeof w);
		w2[i] ^= 0x01;
		flips += keys_unwrap(kek, w2, "ad", 2, out) == KEYS_EAUTH;
	}
	is_int(flips, sizeof w, "every flipped byte of a wrapped key fails");

	uint8_t id1[KEYS_ID_BYTES], id2[KEYS_ID_BYTES], id3[KEYS_ID_BYTES];
	keys_id(kek, id1);
	keys_id(kek, id2);
	keys_id(other, id3);
	ok(!memcmp(id1, id2, sizeof id1) && memcmp(id1, id3, sizeof id1), "fingerprints");
	uint8_t d1[KEYS_BYTES], d2[KEYS_BYTES], d3[KEYS_BYTES];
	keys_derive(kek, 1, "testctx_", d1);
	keys_derive(kek, 2, "testctx_", d2);
	keys_derive(kek, 1, "otherctx", d3);
	ok(memcmp(d1, d2, 32) && memcmp(d1, d3, 32) && memcmp(d1, kek, 32), "derived keys differ");
	keys_secure_free(kek);
	keys_secure_free(key);
	keys_secure_free(out);
	keys_secure_free(other);
	keys_secure_free(NULL);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		diag("write %s failed", path);
	fchmod(fd, mode);
	close(fd);
}

static void test_master(const char *dir)
{
	char *path = util_path_join(dir, "sub/master.key");
	uint8_t *k = NULL, *k2 = NULL;
	ok(keys_master_load(path, NULL, &k) == KEYS_ENOENT && !k, "missing master key: ENOENT");
	ok(keys_master_create(path) == KEYS_OK, "create master key (and its directory)");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "master key file is 0600");
	char *sub = util_path_join(dir, "sub");
	ok(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700, "created directory is 0700");
	ok(keys_master_create(path) == KEYS_EEXIST, "create refuses to overwrite");
	ok(keys_master_load(path, NULL, &k) == KEYS_OK && k, "load master key");
	buf_t b = {0};
	util_read_file(path, 4096, &b);
	ok(b.len == 65 && b.data[64] == '\n', "file is 64 hex digits and a newline");
	char hex[65];
	util_hex(k, KEYS_BYTES, hex);
	ok(!memcmp(b.data, hex, 64), "file holds the loaded key");

	chmod(path, 0644);
	ok(keys_master_load(path, NULL, &k2) == KEYS_EPERM && !k2, "world-readable key refused");
	chmod(path, 0640);
	ok(keys_master_load(path, NULL, &k2) == KEYS_OK, "group-readable key loads (warned)");
	keys_secure_free(k2);
	k2 = NULL;
	chmod(path, 0600);

	char *link = util_path_join(dir, "link.key");
	ok(symlink(path, link) == 0 && keys_master_load(link, NULL, &k2) == KEYS_EPERM,
	   "symlinked key refused");

	char *bad = util_path_join(dir, "bad.key");
	write_text(bad, "not a key\n", 0600);
	ok(keys_master_load(bad, NULL, &k2) == KEYS_EFORMAT, "garbage refused");
	write_text(bad, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 0600);
	ok(keys_master_load(bad, NULL, &k2) == KEYS_EFORMAT, "63 hex digits refused");
	write_text(bad, "  0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef \r\n",
	           0600);
	ok(keys_master_load(bad, NULL, &k2) == KEYS_OK && k2[0] == 0x01 && k2[4] == 0x89,
	   "whitespace and upper case accepted");
	keys_secure_free(k2);
	k2 = NULL;
	ok(keys_master_load(dir, NULL, &k2) == KEYS_EPERM, "a directory is not a key file");

	/* master_key_command */
	char *cmd = xasprintf("cat '%s'", path);
	ok(keys_master_load(NULL, cmd, &k2) == KEYS_OK && !memcmp(k, k2, KEYS_BYTES),
	   "master_key_command output is the key");
	keys_secure_free(k2);
	k2 = NULL;
	ok(keys_master_load(path, "false", &k2) == KEYS_ECOMMAND && !k2,
	   "command failing: ECOMMAND (the file is not used instead)");
	ok(keys_master_load(NULL, "echo nothex", &k2) == KEYS_ECOMMAND, "command printing junk");
	ok(keys_master_load(NULL, "head -c 100000 /dev/zero", &k2) == KEYS_ECOMMAND,
	   "command printing too much");
	free(cmd);
	keys_secure_free(k);
	buf_free(&b);
	free(bad);
	free(link);
	free(sub);
	free(path);
}

static void test_signing(const char *dir)
{
	char *kd = util_path_join(dir, "keys");
	util_mkdir_p(kd, 0700);
	ok(keys_signing_create(kd) == KEYS_OK, "create signing key");
	ok(keys_signing_create(kd) == KEYS_EEXIST, "signing key not overwritten");
	uint8_t *sk = NULL, pk[KEYS_SIGN_PUBLIC_BYTES], pk2[KEYS_SIGN_PUBLIC_BYTES];
	ok(keys_signing_load(kd, &sk, pk) == KEYS_OK && sk, "load signing key");
	ok(keys_signing_load(kd, NULL, pk2) == KEYS_OK && !memcmp(pk, pk2, sizeof pk),
	   "signing.pub matches the secret key");
	uint8_t sig[KEYS_SIGNATURE_BYTES];
	crypto_sign_detached(sig, NULL, (const uint8_t *)"abc", 3, sk);
	ok(crypto_sign_verify_detached(sig, (const uint8_t *)"abc", 3, pk2) == 0,
	   "signature verifies with the public key file");
	char *skp = util_path_join(kd, "signing.key");
	struct stat st;
	ok(stat(skp, &st) == 0 && (st.st_mode & 0777) == 0600, "signing.key is 0600");
	keys_secure_free(sk);
	free(skp);
	free(kd);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	char *dir = tap_tmpdir("keys");
	test_wrap();
	test_master(dir);
	test_signing(dir);
	tap_rmtree(dir);
	free(dir);
	return tap_done();
}
