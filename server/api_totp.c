/* api_totp.c — POST|DELETE /api/v1/users/{name}/totp: two-factor enrolment.
 *
 * Does: enrol a user in TOTP (RFC 6238): a new random key, stored in the
 * database, answered once as the otpauth:// URI authenticator apps read,
 * the key itself for typing in, and the URI drawn as an SVG QR code for the
 * UI.  Who may: the user for themselves (with a browser session; replacing
 * an existing enrolment needs a current code), an admin on "*" for anyone,
 * the CLI (`vellum user totp NAME`).  A session held to enrolment by
 * require_totp_for_admin is released by it.  DELETE removes a user's TOTP
 * (admin on "*" only: losing the phone is an admin's case).  Both are
 * audited (user.totp.enrol, user.totp.remove), never with the key.
 * Does not: check codes at login (api_session.c) or compute them (auth.h).
 */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"

/* The issuer authenticator apps show next to the account. */
#define TOTP_ISSUER "Vellum"

static bool is_self(api_ctx_t *c)
{
	return c->p->via == AUTH_VIA_SESSION && !strcmp(c->p->name, c->params[0]);
}

/* Who may enrol this user; answers the refusal otherwise.  An existing
 * enrolment is replaced by its owner only with a current code. */
static bool enrol_allowed(api_ctx_t *c, const db_user_t *u)
{
	bool admin = auth_has_role(c->p, ROLE_ADMIN, "*") && !c->p->enrol_totp;
	if (!is_self(c)) {
		if (c->p->enrol_totp) {
			api_error(c, API_E_TOTP_ENROL, "enrol yourself first");
			return false;
		}
		return api_require(c, ROLE_ADMIN, NULL);
	}
	if (!u->totp_secret || admin)
		return true;
	json_t *body = c->req->body_len ? api_body_object(c) : json_object();
	if (!body)
		return false;
	const char *code = json_string_value(json_object_get(body, "code"));
	auth_status_t st = code ? auth_totp_verify(c->app->db, u->name, code) : AUTH_EDENIED;
	json_decref(body);
	if (st == AUTH_EIO) {
		api_error(c, API_E_INTERNAL, "cannot check the code");
		return false;
	}
	if (st != AUTH_OK) {
		if (api_audit(c, "user.totp.enrol", u->name, "denied", NULL, NULL))
			api_error(c, API_E_FORBIDDEN,
			          "replacing your TOTP needs a current code (code)");
		return false;
	}
	return true;
}

void api_user_totp_enrol(api_ctx_t *c)
{
	db_user_t *u = NULL;
	db_status_t dst = db_user_get(c->app->db, c->params[0], &u);
	if (dst != DB_OK) {
		/* Only an admin learns whether a user exists. */
		if (dst != DB_ENOTFOUND)
			api_error(c, API_E_INTERNAL, "cannot read user");
		else if (api_require(c, ROLE_ADMIN, NULL))
			api_error(c, API_E_NOT_FOUND, "no user %s", c->params[0]);
		return;
	}
	if (!enrol_allowed(c, u)) {
		db_user_free(u);
		return;
	}
	char secret[AUTH_TOTP_B32_LEN + 1];
	auth_totp_secret_new(secret);
	bool replaced = u->totp_secret != NULL;
	if (db_user_set_totp(c->app->db, u->name, secret) != DB_OK) {
		api_error(c, API_E_INTERNAL, "cannot store the TOTP key");
	} else {
		json_t *d = json_pack("{s:b}", "replaced", replaced);
		bool ok = api_audit(c, "user.totp.enrol", u->name, "ok", NULL, d);
		json_decref(d);
		if (!ok) {
			/* Not recorded: not done.  The old key (or none) again. */
			db_user_set_totp(c->app->db, u->name, u->totp_secret);
		} else {
			if (is_self(c) && c->owned && c->owned->enrol_totp)
				auth_session_set_enrol(c->app->db, c->owned, false);
			char *uri = auth_totp_uri(TOTP_ISSUER, u->name, secret);
			char *svg = auth_qr_svg(uri);
			json_t *o = json_object();
			json_object_set_new(o, "user", json_string(u->name));
			json_object_set_new(o, "secret", json_string(secret));
			json_object_set_new(o, "otpauth_uri", json_string(uri));
			json_object_set_new(o, "qr_svg", api_str(svg));
			json_object_set_new(o, "issuer", json_string(TOTP_ISSUER));
			json_object_set_new(o, "algorithm", json_string("SHA1"));
			json_object_set_new(o, "digits", json_integer(AUTH_TOTP_DIGITS));
			json_object_set_new(o, "period", json_integer(AUTH_TOTP_STEP));
			json_object_set_new(o, "replaced", json_boolean(replaced));
			api_json(c, 201, o);
			json_decref(o);
			sodium_memzero(uri, strlen(uri));
			free(uri);
			free(svg);
		}
	}
	sodium_memzero(secret, sizeof secret);
	db_user_free(u);
}

void api_user_totp_remove(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	db_user_t *u = NULL;
	db_status_t dst = db_user_get(c->app->db, c->params[0], &u);
	if (dst == DB_ENOTFOUND) {
		api_error(c, API_E_NOT_FOUND, "no user %s", c->params[0]);
		return;
	}
	if (dst != DB_OK) {
		api_error(c, API_E_INTERNAL, "cannot read user");
		return;
	}
	bool had = u->totp_secret != NULL;
	db_user_free(u);
	if (had && db_user_set_totp(c->app->db, c->params[0], NULL) != DB_OK) {
		api_error(c, API_E_INTERNAL, "cannot remove the TOTP key");
		return;
	}
	json_t *d = json_pack("{s:b}", "was_enrolled", had);
	bool ok = api_audit(c, "user.totp.remove", c->params[0], "ok", NULL, d);
	json_decref(d);
	if (!ok)
		return;
	json_t *o = json_pack("{s:s, s:b}", "user", c->params[0], "totp", 0);
	api_json(c, 200, o);
	json_decref(o);
}
