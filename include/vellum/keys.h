/* keys.h — key material: the master key, the server signing key, key wrapping.
 *
 * The hierarchy (DESIGN.md §7, doc/format.md "Keys"): the master key, kept
 * outside the data dir (master_key_file, 0600, or printed by
 * master_key_command), wraps one key per archive; each archive key wraps one
 * random key per segment.  Wrapping is XChaCha20-Poly1305 with a random nonce
 * and associated data naming what the key is for, so a wrapped key cannot be
 * moved to another archive or segment.
 *
 * Every secret lives in sodium_malloc memory (guard pages, mlock'd where the
 * limit allows, wiped on free): allocate with keys_secure_alloc, free with
 * keys_secure_free.  Nothing here keeps global state.
 *
 * File formats: the master key file and the signing key file hold 64
 * lower-case hex digits (32 bytes; for the signing key, the Ed25519 seed) and
 * a newline; signing.pub holds the 32-byte public key in hex.
 */
#ifndef VELLUM_KEYS_H
#define VELLUM_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	KEYS_OK = 0,
	KEYS_ENOENT,   /* the key file does not exist */
	KEYS_EEXIST,   /* the key file exists already (create) */
	KEYS_EIO,      /* a read, write, fsync or rename failed (logged) */
	KEYS_EPERM,    /* key file readable by others, or not a regular file */
	KEYS_EFORMAT,  /* not a key in the expected format */
	KEYS_ECOMMAND, /* master_key_command failed or printed no key */
	KEYS_EAUTH,    /* unwrap failed: wrong wrapping key or altered data */
} keys_status_t;

const char *keys_strerror(keys_status_t st);

#define KEYS_BYTES       32 /* every symmetric key: XChaCha20-Poly1305, BLAKE2b */
#define KEYS_NONCE_BYTES 24
#define KEYS_TAG_BYTES   16
/* A wrapped key: nonce || ciphertext || tag. */
#define KEYS_WRAPPED_BYTES (KEYS_NONCE_BYTES + KEYS_BYTES + KEYS_TAG_BYTES)
/* A key's public fingerprint (BLAKE2b of a derived value, never the key). */
#define KEYS_ID_BYTES          8
#define KEYS_SIGN_SECRET_BYTES 64 /* libsodium Ed25519 secret key (seed || public) */
#define KEYS_SIGN_PUBLIC_BYTES 32
#define KEYS_SIGNATURE_BYTES   64

/* Secure memory for secrets; aborts on out of memory like xmalloc.  Zeroed. */
uint8_t *keys_secure_alloc(size_t n);
/* Wipes and frees; NULL is fine. */
void keys_secure_free(uint8_t *p);

/* Fills a fresh random key. */
void keys_random(uint8_t key[KEYS_BYTES]);
/* Fingerprint of a key (to name it in logs and files without revealing it). */
void keys_id(const uint8_t key[KEYS_BYTES], uint8_t out[KEYS_ID_BYTES]);
/* Derives a 32-byte subkey for one purpose; ctx is exactly 8 characters. */
void keys_derive(const uint8_t key[KEYS_BYTES], uint64_t id, const char ctx[8],
                 uint8_t out[KEYS_BYTES]);

/* Wraps key under kek with associated data ad (what the key is for). */
void keys_wrap(const uint8_t kek[KEYS_BYTES], const uint8_t key[KEYS_BYTES], const void *ad,
               size_t adlen, uint8_t out[KEYS_WRAPPED_BYTES]);
/* Unwraps into key (secure memory of KEYS_BYTES).  KEYS_EAUTH when kek or ad is
 * not the one used to wrap, or the bytes were altered; key is then zeroed. */
keys_status_t keys_unwrap(const uint8_t kek[KEYS_BYTES], const uint8_t in[KEYS_WRAPPED_BYTES],
                          const void *ad, size_t adlen, uint8_t key[KEYS_BYTES]);

/* ---- the master key ---- */

/* Loads the master key: the output of `command` when it is non-empty (run
 * with /bin/sh -c, must exit 0), else the file at `path`, which must be a
 * regular file not accessible to others (mode & 007 == 0; group access is
 * logged as a warning).  On success *key is secure memory of KEYS_BYTES,
 * caller frees with keys_secure_free.  Failures are logged. */
keys_status_t keys_master_load(const char *path, const char *command, uint8_t **key);
/* Creates a new random master key file at path (0600, parent directory made
 * 0700 if missing); KEYS_EEXIST if one is there. */
keys_status_t keys_master_create(const char *path);

/* ---- the server signing key (Ed25519) ----
 * dir is <data_dir>/keys; files signing.key (0600) and signing.pub. */
keys_status_t keys_signing_create(const char *dir);
/* *sk: secure memory of KEYS_SIGN_SECRET_BYTES (caller frees with
 * keys_secure_free); pk gets the public key.  pk may be loaded alone with
 * sk == NULL (only signing.pub is read then). */
keys_status_t keys_signing_load(const char *dir, uint8_t **sk, uint8_t pk[KEYS_SIGN_PUBLIC_BYTES]);

#endif
