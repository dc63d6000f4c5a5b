/* api_users.c — GET|POST /api/v1/users, GET|PATCH /api/v1/users/{name}.
 *
 * Does: list users with their grants; create a user (password given, or
 * generated and returned once); change a password, disable/enable, add and
 * remove grants.  Users are global, so managing them needs admin on "*"; a
 * user may read their own entry and change their own password by giving the
 * current one.  Every change is audited (never with a password in it).
 * Does not: TOTP enrolment (api_totp.c) or tokens (api_tokens.c).
 *
 * PATCH body: {"password": "...", "current_password": "...",
 *              "disabled": true|false,
 *              "grant": [{"role": "auditor", "archive": "a"}],
 *              "revoke": [{"role": "auditor", "archive": "a"}]}
 */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"

static json_t *user_json(api_ctx_t *c, const db_user_t *u)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(u->name));
	json_object_set_new(o, "disabled", json_boolean(u->disabled));
	json_object_set_new(o, "created", api_time(u->created));
	json_object_set_new(o, "password_changed", api_time(u->password_changed));
	json_object_set_new(o, "totp", json_boolean(u->totp_secret != NULL));
	json_object_set_new(o, "totp_enrolled", u->totp_enrolled ? api_time(u->totp_enrolled)
	                                                         : json_null());
	db_grant_t *v = NULL;
	size_t n = 0;
	if (db_grant_list(c->app->db, u->name, &v, &n) != DB_OK)
		n = 0;
	json_object_set_new(o, "grants", api_grants_json(v, n));
	free(v);
	return o;
}

void api_users_list(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	db_user_t *v = NULL;
	size_t n = 0;
	if (db_user_list(c->app->db, &v, &n) != DB_OK) {
		api_error(c, API_E_INTERNAL, "cannot list users");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, user_json(c, &v[i]));
	db_user_list_free(v, n);
	json_t *o = json_pack("{s:o}", "users", a);
	api_json(c, 200, o);
	json_decref(o);
}

/* Applies a list of grants (add) or revokes; audits each.  Stops at the
 * first error (answered). */
static bool grants_apply(api_ctx_t *c, const char *user, json_t *list, bool add)
{
	if (!list)
		return true;
	if (!json_is_array(list)) {
		api_error(c, API_E_BAD_REQUEST, "%s must be a list of {role, archive}",
		          add ? "grant" : "revoke");
		return false;
	}
	/* Validate them all first, so that a bad entry changes nothing. */
	db_grant_t *v;
	size_t n;
	if (!api_grants_parse(c, list, &v, &n))
		return false;
	bool ok = true;
	for (size_t i = 0; ok && i < n; i++) {
		const char *role = v[i].role, *archive = v[i].archive;
		db_status_t st = add ? db_grant_add(c->app->db, user, role, archive)
		                     : db_grant_remove(c->app->db, user, role, archive);
		if (st == DB_EEXIST || (st == DB_ENOTFOUND && !add))
			continue;   /* already as asked: idempotent */
		if (st != DB_OK) {
			api_error(c, API_E_INTERNAL, "cannot change grants: %s", db_strerror(st));
			ok = false;
			break;
		}
		json_t *d = json_pack("{s:s, s:s}", "role", role, "archive", archive);
		ok = api_audit(c, add ? "user.grant" : "user.revoke", user, "ok", NULL, d);
		json_decref(d);
	}
	free(v);
	return ok;
}

void api_users_create(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	json_t *body = api_body_object(c);
	if (!body)
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	json_t *jpw = json_object_get(body, "password");
	const char *pw = json_string_value(jpw);
	char generated[AUTH_PASSWORD_GEN_LEN + 1] = "";
	if (!name || !db_user_name_valid(name)) {
		api_error(c, API_E_BAD_REQUEST, "name: 1-64 of A-Z a-z 0-9 . _ @ + -, starting with a "
		                                "letter or digit");
	} else if (jpw && !json_is_null(jpw) && (!pw || !auth_password_acceptable(pw))) {
		api_error(c, API_E_BAD_REQUEST, "password: %d to %d characters, no control characters",
		          AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
	} else {
		if (!pw) {
			auth_password_generate(generated);
			pw = generated;
		}
		auth_status_t st = auth_user_create(c->app->db, name, pw);
		if (st == AUTH_EEXIST)
			api_error(c, API_E_CONFLICT, "user %s exists", name);
		else if (st != AUTH_OK)
			api_error(c, API_E_INTERNAL, "cannot create user: %s", auth_strerror(st));
		else if (api_audit(c, "user.create", name, "ok", NULL, NULL) &&
		         grants_apply(c, name, json_object_get(body, "grants"), true)) {
			db_user_t *u = NULL;
			if (db_user_get(c->app->db, name, &u) == DB_OK) {
				json_t *o = user_json(c, u);
				if (*generated)
					json_object_set_new(o, "password", json_string(generated));
				api_json(c, 201, o);
				json_decref(o);
			} else {
				api_error(c, API_E_INTERNAL, "user %s vanished", name);
			}
			db_user_free(u);
		}
	}
	sodium_memzero(generated, sizeof generated);
	json_decref(body);
}

/* Loads {name}; answers 404 when missing. */
static db_user_t *user_load(api_ctx_t *c)
{
	db_user_t *u = NULL;
	db_status_t st = db_user_get(c->app->db, c->params[0], &u);
	if (st == DB_ENOTFOUND)
		api_error(c, API_E_NOT_FOUND, "no user %s", c->params[0]);
	else if (st != DB_OK)
		api_error(c, API_E_INTERNAL, "cannot read user");
	return st == DB_OK ? u : NULL;
}

static bool is_self(api_ctx_t *c)
{
	return c->p->via != AUTH_VIA_CLI && !strcmp(c->p->name, c->params[0]);
}

void api_user_get(api_ctx_t *c)
{
	if (!is_self(c) && !api_require(c, ROLE_ADMIN, NULL))
		return;
	db_user_t *u = user_load(c);
	if (!u)
		return;
	json_t *o = user_json(c, u);
	db_user_free(u);
	api_json(c, 200, o);
	json_decref(o);
}

static bool patch_password(api_ctx_t *c, const db_user_t *u, json_t *body, bool admin)
{
	json_t *jpw = json_object_get(body, "password");
	if (!jpw)
		return true;
	const char *pw = json_string_value(jpw);
	if (!pw || !auth_password_acceptable(pw)) {
		api_error(c, API_E_BAD_REQUEST, "password: %d to %d characters, no control characters",
		          AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
		return false;
	}
	if (!admin) {
		const char *cur = json_string_value(json_object_get(body, "current_password"));
		if (!cur || !auth_password_verify(u->password_hash, cur)) {
			if (api_audit(c, "user.passwd", u->name, "denied", NULL, NULL))
				api_error(c, API_E_FORBIDDEN, "current_password is wrong");
			return false;
		}
	}
	if (auth_user_passwd(c->app->db, u->name, pw) != AUTH_OK) {
		api_error(c, API_E_INTERNAL, "cannot change the password");
		return false;
	}
	return api_audit(c, "user.passwd", u->name, "ok", NULL, NULL);
}

static bool patch_disabled(api_ctx_t *c, const db_user_t *u, json_t *body)
{
	json_t *jd = json_object_get(body, "disabled");
	if (!jd)
		return true;
	if (!json_is_boolean(jd)) {
		api_error(c, API_E_BAD_REQUEST, "disabled must be true or false");
		return false;
	}
	bool d = json_is_true(jd);
	if (db_user_set_disabled(c->app->db, u->name, d) != DB_OK ||
	    (d && db_session_delete_user(c->app->db, u->name) != DB_OK)) {
		api_error(c, API_E_INTERNAL, "cannot change the user");
		return false;
	}
	return api_audit(c, d ? "user.disable" : "user.enable", u->name, "ok", NULL, NULL);
}

void api_user_patch(api_ctx_t *c)
{
	bool admin = auth_has_role(c->p, ROLE_ADMIN, "*");
	if (!admin && !is_self(c)) {
		api_require(c, ROLE_ADMIN, NULL);
		return;
	}
	json_t *body = api_body_object(c);
	if (!body)
		return;
	static const char *const known[] = {"password", "current_password", "disabled", "grant",
	                                    "revoke", NULL};
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		size_t i = 0;
		while (known[i] && strcmp(known[i], key))
			i++;
		if (!known[i]) {
			api_error(c, API_E_BAD_REQUEST, "unknown field %s", key);
			json_decref(body);
			return;
		}
	}
	if (!admin && (json_object_get(body, "disabled") || json_object_get(body, "grant") ||
	               json_object_get(body, "revoke"))) {
		json_decref(body);
		api_require(c, ROLE_ADMIN, NULL);
		return;
	}
	db_user_t *u = user_load(c);
	if (u && patch_password(c, u, body, admin) && patch_disabled(c, u, body) &&
	    grants_apply(c, u->name, json_object_get(body, "grant"), true) &&
	    grants_apply(c, u->name, json_object_get(body, "revoke"), false)) {
		db_user_t *now = NULL;
		if (db_user_get(c->app->db, u->name, &now) == DB_OK) {
			json_t *o = user_json(c, now);
			api_json(c, 200, o);
			json_decref(o);
		}
		db_user_free(now);
	}
	db_user_free(u);
	json_decref(body);
}
