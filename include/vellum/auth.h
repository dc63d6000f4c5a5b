/* auth.h — identity: passwords, roles and grants, sessions, principals.
 *
 * A principal is who is asking: a user with a browser session, an API
 * token ("token:<name>", with the token's own grants), or the operator at
 * the CLI ("cli:<unix user>", with admin, auditor and legal on every
 * archive).  Grants give a role on one archive or
 * on "*" (DESIGN.md §5): admin manages archives and users and sees no mail
 * unless also auditor; auditor and legal search and read; ingest submits.
 *
 * Passwords are Argon2id strings (crypto_pwhash_str).  Session tokens are 256
 * random bits, base64url in the cookie; the database keeps only their
 * SHA-256.  API tokens likewise.  TOTP second factors (RFC 6238) and the
 * login guard (throttling, bounded Argon2id concurrency) live here too, in
 * auth_totp.c and auth_guard.c.  This module knows nothing about HTTP:
 * cookies, CSRF headers and status codes are the API's business.
 *
 * Stable for other modules (SMTP AUTH of ingest users): auth_check_password,
 * auth_has_role, auth_principal_free, auth_guard_*.
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
	AUTH_VIA_TOKEN,      /* bearer API token */
	AUTH_VIA_CLI,        /* control socket or in-process CLI */
} auth_via_t;

typedef struct auth_principal {
	char name[DB_NAME_MAX + 8];      /* "alice", "cli:root" or "token:ci" */
	auth_via_t via;
	db_grant_t *grants;              /* owned */
	size_t ngrants;
	char token_hash[DB_TOKEN_HASH_HEX + 1];  /* session, for logout */
	char csrf_token[64];
	/* A session opened by an admin without TOTP while
	 * require_totp_for_admin is on: it may only enrol (and log out). */
	bool enrol_totp;
	int64_t session_created;         /* us; sessions only */
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
/* Marks p's session as restricted to TOTP enrolment (or lifts that). */
auth_status_t auth_session_set_enrol(db_t *db, auth_principal_t *p, bool enrol);

/* ---- API tokens ----
 * "vellum_" + 43 base64url characters (256 random bits).  Shown once at
 * creation; the database keeps the SHA-256.  A token acts as
 * "token:<name>" with exactly its own grants. */
#define AUTH_API_TOKEN_PREFIX "vellum_"
#define AUTH_API_TOKEN_LEN (sizeof AUTH_API_TOKEN_PREFIX - 1 + AUTH_TOKEN_LEN)

/* Creates token `name` with grants (at least one; validated), made by
 * `created_by`, expiring at `expires` (us, 0 = never).  The value goes to
 * out.  AUTH_EEXIST, AUTH_EINVAL. */
auth_status_t auth_api_token_create(db_t *db, const char *name, const db_grant_t *grants,
                                    size_t ngrants, const char *created_by, int64_t expires,
                                    char out[AUTH_API_TOKEN_LEN + 1]);
/* Resolves a bearer token to its principal (caller frees);
 * AUTH_ENOSESSION when unknown, revoked or expired. */
auth_status_t auth_api_token_resolve(db_t *db, const char *token, auth_principal_t **out);

/* ---- TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) ---- */
#define AUTH_TOTP_KEY_BYTES 20      /* 160 bits, RFC 4226 §4 R6 */
#define AUTH_TOTP_B32_LEN 32        /* base32 of 20 bytes, no padding */
#define AUTH_TOTP_STEP 30           /* seconds per step (RFC 6238 §5.2 default) */
#define AUTH_TOTP_DIGITS 6
/* Steps accepted before and after the current one, for clock drift and
 * typing time (RFC 6238 §5.2 recommends at most one). */
#define AUTH_TOTP_WINDOW 1

/* A new random key, base32 (RFC 4648, upper case, no padding). */
void auth_totp_secret_new(char out[AUTH_TOTP_B32_LEN + 1]);
/* The code for time step `step` (counter = unix time / 30); false if the
 * secret is not base32. */
bool auth_totp_code(const char *secret_b32, int64_t step, char out[AUTH_TOTP_DIGITS + 1]);
/* Checks code at now_us ± AUTH_TOTP_WINDOW steps; *step gets the matching
 * step.  Constant-time comparison. */
bool auth_totp_match(const char *secret_b32, const char *code, int64_t now_us, int64_t *step);
/* Verifies user's code and burns its step so it cannot be replayed:
 * AUTH_OK, AUTH_EDENIED (wrong, replayed, or no TOTP), AUTH_EIO. */
auth_status_t auth_totp_verify(db_t *db, const char *user, const char *code);
/* otpauth://totp/Issuer:user?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
 * (caller frees). */
char *auth_totp_uri(const char *issuer, const char *user, const char *secret_b32);
/* The text as a QR code (libqrencode, error correction M), as a standalone
 * SVG document; caller frees; NULL if it cannot be encoded. */
char *auth_qr_svg(const char *text);

/* ---- login guard: throttling and the cost of Argon2id ----
 * Failed logins are counted per user name and per client address over a
 * window; past a limit the key is locked out for a time that doubles with
 * every further failure.  Argon2id hashes run at most `hash_slots` at once
 * (each takes 64 MiB and a core for ~0.1 s): more login attempts wait for a
 * slot, briefly, then are refused.  Thread-safe; one per process (app.h). */
typedef struct auth_guard auth_guard_t;

/* Failures before a user name is locked out, and before a client address is
 * (one address may legitimately serve several users: an office NAT). */
#define AUTH_THROTTLE_USER_FAILS 5
#define AUTH_THROTTLE_ADDR_FAILS 20
/* Failures older than this are forgotten. */
#define AUTH_THROTTLE_WINDOW_S (15 * 60)
/* First lockout; doubles per further failure, up to the maximum. */
#define AUTH_THROTTLE_LOCK_S 60
#define AUTH_THROTTLE_LOCK_MAX_S 3600
/* Keys remembered: beyond this the stalest are dropped (memory stays
 * bounded under a spray of made-up names). */
#define AUTH_THROTTLE_KEYS_MAX 10000
/* Default concurrent Argon2id hashes. */
#define AUTH_HASH_SLOTS 4

auth_guard_t *auth_guard_new(unsigned hash_slots);   /* 0 = AUTH_HASH_SLOTS */
void auth_guard_free(auth_guard_t *g);
/* Seconds before user (may be NULL) from client may try again: 0 = now. */
int64_t auth_guard_retry_after(auth_guard_t *g, const char *user, const char *client);
/* A failed attempt (wrong password or code). */
void auth_guard_failed(auth_guard_t *g, const char *user, const char *client);
/* A successful login clears the user's count (not the address's). */
void auth_guard_succeeded(auth_guard_t *g, const char *user);
/* Takes a hash slot, waiting at most wait_ms; false if none came free. */
bool auth_guard_hash_enter(auth_guard_t *g, int64_t wait_ms);
void auth_guard_hash_leave(auth_guard_t *g);

/* Hex SHA-256 of a token (65 bytes with NUL). */
void auth_token_hash(const char *token, char out[DB_TOKEN_HASH_HEX + 1]);
/* Constant-time string comparison. */
bool auth_str_equal(const char *a, const char *b);

#endif
