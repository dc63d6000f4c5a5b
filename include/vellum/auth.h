/* auth.h — identity: passwords, roles and grants, sessions, principals.
 *
 * A principal is who is asking: a user with a browser session (or, later, a
 * bearer token), or the operator at the CLI ("cli:<unix user>", with admin,
 * auditor and legal on every archive).  Grants give a role on one archive or
 * on "*" (DESIGN.md §5): admin manages archives and users and sees no mail
 * unless also auditor; auditor and legal search and read; ingest submits.
 *
 * Passwords are Argon2id strings (crypto_pwhash_str).  Session tokens are 256
 * random bits, base64url in the cookie; the database keeps only their
 * SHA-256.  This module knows nothing about HTTP: cookies, CSRF headers and
 * status codes are the API's business.
 */
#ifndef VELLUM_AUTH_H
#define VELLUM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vellum/config.h"
#include "vellum/db.h"

typedef enum {
	AUTH_OK = 0,
	AUTH_EDENIED,     /* wrong user name or password, or disabled user */
	AUTH_ENOSESSION,  /* unknown, expired or revoked session */
	AUTH_EINVAL,      /* bad name, role, archive or password */
	AUTH_ENOTFOUND,   /* no such user or grant */
	AUTH_EEXIST,      /* user or grant exists */
	AUTH_EIO,         /* database or randomness failure (logged) */
} auth_status_t;

const char *auth_strerror(auth_status_t st);

typedef enum {
	ROLE_ADMIN = 1u << 0,
	ROLE_AUDITOR = 1u << 1,
	ROLE_LEGAL = 1u << 2,
	ROLE_INGEST = 1u << 3,
} auth_role_t;
/* Roles that may see mail content (search, read, download). */
#define ROLE_READ (ROLE_AUDITOR | ROLE_LEGAL)

/* "admin" → ROLE_ADMIN; 0 when unknown.  And back (static text). */
unsigned auth_role_parse(const char *name);
const char *auth_role_name(unsigned role);

/* Passwords: longest accepted (bytes), shortest chosen by a human. */
#define AUTH_PASSWORD_MAX 1024
#define AUTH_PASSWORD_MIN 8
/* A generated password: 20 characters from a 57-letter alphabet without
 * look-alikes (about 116 bits). */
#define AUTH_PASSWORD_GEN_LEN 20

typedef enum {
	AUTH_VIA_NONE = 0,
	AUTH_VIA_SESSION,    /* browser cookie: state changes need CSRF checks */
	AUTH_VIA_TOKEN,      /* bearer token (issue 6) */
	AUTH_VIA_CLI,        /* control socket or in-process CLI */
} auth_via_t;

typedef struct auth_principal {
	char name[DB_NAME_MAX + 8];      /* "alice" or "cli:root" */
	auth_via_t via;
	db_grant_t *grants;              /* owned */
	size_t ngrants;
	char token_hash[DB_TOKEN_HASH_HEX + 1];  /* session, for logout */
	char csrf_token[64];
} auth_principal_t;

/* The CLI operator: cli:<unix_user> with admin, auditor, legal on "*".
 * Caller frees with auth_principal_free. */
auth_principal_t *auth_principal_cli(const char *unix_user);
/* The principal of a local caller with this uid (control socket peer, or
 * the CLI itself): cli:<name> when uid is root or owns data_dir;
 * AUTH_EDENIED otherwise.  Caller frees *out. */
auth_status_t auth_principal_unix(const char *data_dir, uid_t uid, auth_principal_t **out);
void auth_principal_free(auth_principal_t *p);

/* Does p hold any of `roles` on archive (a grant on "*" covers every
 * archive)?  archive "*" asks for a grant on "*" itself. */
bool auth_has_role(const auth_principal_t *p, unsigned roles, const char *archive);
/* Any of `roles` on any archive. */
bool auth_has_role_any(const auth_principal_t *p, unsigned roles);

/* ---- passwords ---- */
/* Hashes pw into out (crypto_pwhash_STRBYTES = 128 bytes). */
auth_status_t auth_password_hash(const char *pw, char out[128]);
bool auth_password_verify(const char *hash, const char *pw);
/* A random password of AUTH_PASSWORD_GEN_LEN characters into out (+NUL). */
void auth_password_generate(char out[AUTH_PASSWORD_GEN_LEN + 1]);
/* Acceptable as a new password: AUTH_PASSWORD_MIN..MAX bytes of valid UTF-8
 * without control characters. */
bool auth_password_acceptable(const char *pw);

/* ---- users ---- */
auth_status_t auth_user_create(db_t *db, const char *name, const char *password);
auth_status_t auth_user_passwd(db_t *db, const char *name, const char *password);

/* Checks user + password.  A missing user costs the same time as a wrong
 * password.  On AUTH_OK a fresh principal (with grants) is in *out (caller
 * frees); rehashes the stored password when libsodium's parameters moved. */
auth_status_t auth_check_password(db_t *db, const char *user, const char *password,
                                  auth_principal_t **out);

/* ---- sessions ----
 * Token: 43 base64url characters (32 random bytes). */
#define AUTH_TOKEN_LEN 43
typedef struct auth_session_opts {
	int64_t idle;      /* seconds; 0 = 30 min */
	int64_t max;       /* seconds; 0 = 12 h */
} auth_session_opts_t;

/* Starts a session for p (from auth_check_password): writes the token into
 * token, fills p->token_hash and p->csrf_token and sets p->via. */
auth_status_t auth_session_create(db_t *db, auth_principal_t *p, const char *client,
                                  char token[AUTH_TOKEN_LEN + 1]);
/* Resolves a cookie token; AUTH_ENOSESSION when unknown, idle or too old
 * (then deleted), or the user is disabled.  Refreshes last_seen. */
auth_status_t auth_session_resolve(db_t *db, const auth_session_opts_t *o, const char *token,
                                   auth_principal_t **out);
auth_status_t auth_session_revoke(db_t *db, const auth_principal_t *p);

/* Hex SHA-256 of a token (65 bytes with NUL). */
void auth_token_hash(const char *token, char out[DB_TOKEN_HASH_HEX + 1]);
/* Constant-time string comparison. */
bool auth_str_equal(const char *a, const char *b);

#endif
