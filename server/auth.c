/* auth.c — passwords, roles, grants and sessions.
 *
 * Does: hash and check passwords with Argon2id (libsodium's interactive
 * limits), build principals with their grants, answer "may p do R on A",
 * create/resolve/revoke sessions (random tokens, stored hashed).  Does not:
 * parse HTTP, set cookies, check CSRF (api_*.c), or write audit records
 * (the caller knows what happened and records it).
 */
#include "config.h"

#include <pwd.h>
#include <sodium.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/auth.h"
#include "vellum/log.h"
#include "vellum/util.h"

/* Checked when the user does not exist, so that a wrong user name costs the
 * same Argon2id work as a wrong password (no user enumeration by timing).
 * The hash of a random string nobody knows. */
static const char dummy_hash[] =
	"$argon2id$v=19$m=65536,t=2,p=1$8sQa57QfGW78RVE0qLyG+g$"
	"aRFT5WFCfb2KFnOWEile3n2NIfxF82pxkey8euBYWZ4";

const char *auth_strerror(auth_status_t st)
{
	switch (st) {
	case AUTH_OK: return "ok";
	case AUTH_EDENIED: return "wrong user name or password";
	case AUTH_ENOSESSION: return "no valid session";
	case AUTH_EINVAL: return "invalid name, role, archive or password";
	case AUTH_ENOTFOUND: return "no such user or grant";
	case AUTH_EEXIST: return "already exists";
	case AUTH_EIO: return "internal error";
	}
	return "unknown error";
}

static const struct {
	unsigned role;
	const char *name;
} roles[] = {
	{ROLE_ADMIN, "admin"},
	{ROLE_AUDITOR, "auditor"},
	{ROLE_LEGAL, "legal"},
	{ROLE_INGEST, "ingest"},
};

unsigned auth_role_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof roles / sizeof roles[0]; i++)
		if (!strcmp(roles[i].name, name))
			return roles[i].role;
	return 0;
}

const char *auth_role_name(unsigned role)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "?";
}

static auth_status_t from_db(db_status_t st)
{
	switch (st) {
	case DB_OK: return AUTH_OK;
	case DB_ENOTFOUND: return AUTH_ENOTFOUND;
	case DB_EEXIST: return AUTH_EEXIST;
	case DB_EINVAL: return AUTH_EINVAL;
	default: return AUTH_EIO;
	}
}

/* ---- principals ---- */

static void add_grant(auth_principal_t *p, const char *role, const char *archive)
{
	p->grants = xrealloc(p->grants, (p->ngrants + 1) * sizeof *p->grants);
	db_grant_t *g = &p->grants[p->ngrants++];
	memset(g, 0, sizeof *g);
	snprintf(g->role, sizeof g->role, "%s", role);
	snprintf(g->archive, sizeof g->archive, "%s", archive);
}

auth_principal_t *auth_principal_cli(const char *unix_user)
{
	auth_principal_t *p = xcalloc(1, sizeof *p);
	snprintf(p->name, sizeof p->name, "cli:%s", unix_user && *unix_user ? unix_user : "?");
	p->via = AUTH_VIA_CLI;
	add_grant(p, "admin", "*");
	add_grant(p, "auditor", "*");
	add_grant(p, "legal", "*");
	return p;
}

auth_status_t auth_principal_unix(const char *data_dir, uid_t uid, auth_principal_t **out)
{
	*out = NULL;
	struct stat st;
	if (stat(data_dir, &st) != 0)
		return AUTH_EIO;
	if (uid != 0 && uid != st.st_uid)
		return AUTH_EDENIED;
	char name[64];
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	if (getpwuid_r(uid, &pw, pwbuf, sizeof pwbuf, &res) == 0 && res && res->pw_name &&
	    strlen(res->pw_name) < sizeof name)
		snprintf(name, sizeof name, "%s", res->pw_name);
	else
		snprintf(name, sizeof name, "uid%u", (unsigned)uid);
	*out = auth_principal_cli(name);
	return AUTH_OK;
}

void auth_principal_free(auth_principal_t *p)
{
	if (!p)
		return;
	free(p->grants);
	sodium_memzero(p, sizeof *p);
	free(p);
}

bool auth_has_role(const auth_principal_t *p, unsigned want, const char *archive)
{
	if (!p || !archive)
		return false;
	for (size_t i = 0; i < p->ngrants; i++) {
		const db_grant_t *g = &p->grants[i];
		if (!(auth_role_parse(g->role) & want))
			continue;
		if (!strcmp(g->archive, "*") || !strcmp(g->archive, archive))
			return true;
	}
	return false;
}

bool auth_has_role_any(const auth_principal_t *p, unsigned want)
{
	for (size_t i = 0; p && i < p->ngrants; i++)
		if (auth_role_parse(p->grants[i].role) & want)
			return true;
	return false;
}

/* ---- passwords ---- */

auth_status_t auth_password_hash(const char *pw, char out[128])
{
	if (sodium_init() < 0)
		return AUTH_EIO;
	if (crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		/* Only fails when the memory limit cannot be allocated. */
		log_error("auth.pwhash", "err=\"out of memory\"");
		return AUTH_EIO;
	}
	return AUTH_OK;
}

bool auth_password_verify(const char *hash, const char *pw)
{
	if (sodium_init() < 0 || !hash || !pw)
		return false;
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

void auth_password_generate(char out[AUTH_PASSWORD_GEN_LEN + 1])
{
	/* No 0/O, 1/l/I: the password is read off a terminal and typed. */
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	if (sodium_init() < 0)
		abort();   /* no randomness: nothing secure can be done */
	for (size_t i = 0; i < AUTH_PASSWORD_GEN_LEN; i++)
		out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	out[AUTH_PASSWORD_GEN_LEN] = '\0';
}

bool auth_password_acceptable(const char *pw)
{
	if (!pw)
		return false;
	size_t n = strlen(pw);
	if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f)
			return false;
	return util_utf8_valid((const uint8_t *)pw, n);
}

/* ---- users ---- */

auth_status_t auth_user_create(db_t *db, const char *name, const char *password)
{
	if (!db_user_name_valid(name) || !auth_password_acceptable(password))
		return AUTH_EINVAL;
	char hash[crypto_pwhash_STRBYTES];
	auth_status_t st = auth_password_hash(password, hash);
	if (st == AUTH_OK)
		st = from_db(db_user_create(db, name, hash));
	sodium_memzero(hash, sizeof hash);
	return st;
}

auth_status_t auth_user_passwd(db_t *db, const char *name, const char *password)
{
	if (!auth_password_acceptable(password))
		return AUTH_EINVAL;
	char hash[crypto_pwhash_STRBYTES];
	auth_status_t st = auth_password_hash(password, hash);
	if (st == AUTH_OK)
		st = from_db(db_user_set_password(db, name, hash));
	sodium_memzero(hash, sizeof hash);
	/* A new password ends every session opened with the old one. */
	if (st == AUTH_OK)
		st = from_db(db_session_delete_user(db, name));
	return st;
}

static auth_status_t principal_for(db_t *db, const char *user, auth_principal_t **out)
{
	auth_principal_t *p = xcalloc(1, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", user);
	if (db_grant_list(db, user, &p->grants, &p->ngrants) != DB_OK) {
		auth_principal_free(p);
		return AUTH_EIO;
	}
	*out = p;
	return AUTH_OK;
}

auth_status_t auth_check_password(db_t *db, const char *user, const char *password,
                                  auth_principal_t **out)
{
	*out = NULL;
	if (!password || strlen(password) > AUTH_PASSWORD_MAX)
		return AUTH_EDENIED;
	db_user_t *u = NULL;
	db_status_t dst = db_user_name_valid(user) ? db_user_get(db, user, &u) : DB_ENOTFOUND;
	if (dst != DB_OK && dst != DB_ENOTFOUND)
		return AUTH_EIO;
	bool ok = auth_password_verify(u ? u->password_hash : dummy_hash, password);
	if (!u || !ok || u->disabled) {
		db_user_free(u);
		return AUTH_EDENIED;
	}
	if (crypto_pwhash_str_needs_rehash(u->password_hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                                   crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		char hash[crypto_pwhash_STRBYTES];
		if (auth_password_hash(password, hash) == AUTH_OK &&
		    db_user_set_password(db, user, hash) == DB_OK)
			log_info("auth.rehash", "user=%s", user);
		sodium_memzero(hash, sizeof hash);
	}
	db_user_free(u);
	return principal_for(db, user, out);
}

/* ---- sessions ---- */

void auth_token_hash(const char *token, char out[DB_TOKEN_HASH_HEX + 1])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const uint8_t *)token, strlen(token));
	util_hex(h, sizeof h, out);
}

bool auth_str_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	size_t n = strlen(a);
	if (n != strlen(b))
		return false;
	return sodium_memcmp(a, b, n) == 0;
}

static void random_token(char out[AUTH_TOKEN_LEN + 1])
{
	uint8_t r[32];
	randombytes_buf(r, sizeof r);
	sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, r, sizeof r,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(r, sizeof r);
}

auth_status_t auth_session_create(db_t *db, auth_principal_t *p, const char *client,
                                  char token[AUTH_TOKEN_LEN + 1])
{
	if (sodium_init() < 0)
		return AUTH_EIO;
	db_session_t s = {0};
	random_token(token);
	auth_token_hash(token, s.token_hash);
	random_token(s.csrf_token);
	size_t nl = strnlen(p->name, sizeof p->name);
	if (nl >= sizeof s.user)   /* cli: principals have no sessions */
		return AUTH_EINVAL;
	memcpy(s.user, p->name, nl + 1);
	snprintf(s.client, sizeof s.client, "%s", client ? client : "");
	s.created = s.last_seen = util_now();
	s.flags = p->enrol_totp ? DB_SESSION_ENROL_TOTP : 0;
	auth_status_t st = from_db(db_session_create(db, &s));
	if (st == AUTH_OK) {
		memcpy(p->token_hash, s.token_hash, sizeof p->token_hash);
		memcpy(p->csrf_token, s.csrf_token, sizeof p->csrf_token);
		p->via = AUTH_VIA_SESSION;
		p->session_created = s.created;
	} else {
		sodium_memzero(token, AUTH_TOKEN_LEN + 1);
	}
	return st;
}

/* last_seen is written at most this often: a page of the UI makes several
 * requests, and each would otherwise be a durable database write. */
#define AUTH_TOUCH_EVERY (10 * UTIL_US_PER_SEC)

auth_status_t auth_session_resolve(db_t *db, const auth_session_opts_t *o, const char *token,
                                   auth_principal_t **out)
{
	*out = NULL;
	if (!token || strlen(token) != AUTH_TOKEN_LEN)
		return AUTH_ENOSESSION;
	int64_t idle = (o && o->idle ? o->idle : 1800) * UTIL_US_PER_SEC;
	int64_t max = (o && o->max ? o->max : 43200) * UTIL_US_PER_SEC;
	db_session_t s;
	char hash[DB_TOKEN_HASH_HEX + 1];
	auth_token_hash(token, hash);
	db_status_t dst = db_session_get(db, hash, &s);
	if (dst == DB_ENOTFOUND)
		return AUTH_ENOSESSION;
	if (dst != DB_OK)
		return AUTH_EIO;
	int64_t now = util_now();
	if (now - s.last_seen > idle || now - s.created > max) {
		db_session_delete(db, hash);
		return AUTH_ENOSESSION;
	}
	db_user_t *u = NULL;
	if (db_user_get(db, s.user, &u) != DB_OK || u->disabled) {
		db_user_free(u);
		return AUTH_ENOSESSION;
	}
	db_user_free(u);
	if (now - s.last_seen > AUTH_TOUCH_EVERY)
		db_session_touch(db, hash, now);
	auth_principal_t *p;
	auth_status_t st = principal_for(db, s.user, &p);
	if (st != AUTH_OK)
		return st;
	p->via = AUTH_VIA_SESSION;
	memcpy(p->token_hash, hash, sizeof p->token_hash);
	memcpy(p->csrf_token, s.csrf_token, sizeof p->csrf_token);
	p->enrol_totp = (s.flags & DB_SESSION_ENROL_TOTP) != 0;
	p->session_created = s.created;
	*out = p;
	return AUTH_OK;
}

auth_status_t auth_session_revoke(db_t *db, const auth_principal_t *p)
{
	if (!p || p->via != AUTH_VIA_SESSION)
		return AUTH_ENOSESSION;
	db_status_t st = db_session_delete(db, p->token_hash);
	return st == DB_ENOTFOUND ? AUTH_ENOSESSION : from_db(st);
}

auth_status_t auth_session_set_enrol(db_t *db, auth_principal_t *p, bool enrol)
{
	if (!p || p->via != AUTH_VIA_SESSION)
		return AUTH_ENOSESSION;
	auth_status_t st =
		from_db(db_session_set_flags(db, p->token_hash, enrol ? DB_SESSION_ENROL_TOTP : 0));
	if (st == AUTH_OK)
		p->enrol_totp = enrol;
	return st == AUTH_ENOTFOUND ? AUTH_ENOSESSION : st;
}

/* ---- API tokens ---- */

auth_status_t auth_api_token_create(db_t *db, const char *name, const db_grant_t *grants,
                                    size_t ngrants, const char *created_by, int64_t expires,
                                    char out[AUTH_API_TOKEN_LEN + 1])
{
	if (sodium_init() < 0)
		return AUTH_EIO;
	if (!db_user_name_valid(name) || ngrants == 0)
		return AUTH_EINVAL;
	db_token_t t = {.grants = (db_grant_t *)grants, .ngrants = ngrants, .expires = expires};
	snprintf(t.name, sizeof t.name, "%s", name);
	snprintf(t.created_by, sizeof t.created_by, "%s", created_by ? created_by : "?");
	char rnd[AUTH_TOKEN_LEN + 1];
	random_token(rnd);
	snprintf(out, AUTH_API_TOKEN_LEN + 1, "%s%s", AUTH_API_TOKEN_PREFIX, rnd);
	sodium_memzero(rnd, sizeof rnd);
	auth_token_hash(out, t.token_hash);
	auth_status_t st = from_db(db_token_create(db, &t));
	if (st != AUTH_OK)
		sodium_memzero(out, AUTH_API_TOKEN_LEN + 1);
	return st;
}

/* last_used is written at most this often (a script may make many calls). */
#define AUTH_TOKEN_TOUCH_EVERY (60 * UTIL_US_PER_SEC)

auth_status_t auth_api_token_resolve(db_t *db, const char *token, auth_principal_t **out)
{
	*out = NULL;
	if (!token || strlen(token) != AUTH_API_TOKEN_LEN ||
	    !util_str_has_prefix(token, AUTH_API_TOKEN_PREFIX))
		return AUTH_ENOSESSION;
	char hash[DB_TOKEN_HASH_HEX + 1];
	auth_token_hash(token, hash);
	db_token_t *t = NULL;
	db_status_t dst = db_token_get_by_hash(db, hash, &t);
	if (dst == DB_ENOTFOUND)
		return AUTH_ENOSESSION;
	if (dst != DB_OK)
		return AUTH_EIO;
	int64_t now = util_now();
	if (t->expires && now >= t->expires) {
		db_token_free(t);
		return AUTH_ENOSESSION;
	}
	if (now - t->last_used > AUTH_TOKEN_TOUCH_EVERY)
		db_token_touch(db, t->name, now);
	auth_principal_t *p = xcalloc(1, sizeof *p);
	snprintf(p->name, sizeof p->name, "token:%s", t->name);
	p->via = AUTH_VIA_TOKEN;
	p->grants = t->grants;   /* handed over */
	p->ngrants = t->ngrants;
	t->grants = NULL;
	db_token_free(t);
	*out = p;
	return AUTH_OK;
}
