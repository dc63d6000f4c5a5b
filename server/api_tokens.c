/* api_tokens.c — GET|POST /api/v1/tokens, DELETE /api/v1/tokens/{name}.
 *
 * Does: list API tokens (never their values), create one with its own
 * grants ({"name", "grants": [{"role", "archive"}], "expires"}: a date, a
 * time, or a duration from now such as "90d"; none = never) and answer its
 * value once, revoke one.  Managing tokens needs admin on "*" (a token is
 * a credential with whatever grants it is given, like a user).  Every
 * creation and revocation is audited, never with the value.
 * Does not: authenticate with tokens (api_core.c with auth.h).
 */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"

static json_t *token_json(const db_token_t *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "grants", api_grants_json(t->grants, t->ngrants));
	json_object_set_new(o, "created", api_time(t->created));
	json_object_set_new(o, "created_by", api_str(t->created_by));
	json_object_set_new(o, "last_used", t->last_used ? api_time(t->last_used) : json_null());
	json_object_set_new(o, "expires", t->expires ? api_time(t->expires) : json_null());
	return o;
}

void api_tokens_list(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	db_token_t *v;
	size_t n;
	if (db_token_list(c->app->db, &v, &n) != DB_OK) {
		api_error(c, API_E_INTERNAL, "cannot list tokens");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, token_json(&v[i]));
	db_token_list_free(v, n);
	json_t *o = json_pack("{s:o}", "tokens", a);
	api_json(c, 200, o);
	json_decref(o);
}

/* "2027-01-01", "2027-01-01T00:00:00Z" or "90d" from now; answers 400. */
static bool expires_parse(api_ctx_t *c, json_t *j, int64_t *out)
{
	*out = 0;
	if (!j || json_is_null(j))
		return true;
	const char *s = json_string_value(j);
	util_duration_t d;
	if (s && util_time_parse(s, out) == UTIL_OK && *out > util_now())
		return true;
	if (s && util_parse_duration(s, &d) == UTIL_OK && !d.forever) {
		*out = util_duration_add(util_now(), &d);
		return true;
	}
	api_error(c, API_E_BAD_REQUEST, "expires: a future date or time, or a duration (90d)");
	return false;
}

static void token_created(api_ctx_t *c, const char *name, const char *value)
{
	db_token_t *t = NULL;
	if (db_token_get(c->app->db, name, &t) != DB_OK) {
		api_error(c, API_E_INTERNAL, "token %s vanished", name);
		return;
	}
	json_t *o = token_json(t);
	db_token_free(t);
	json_object_set_new(o, "token", json_string(value));
	api_json(c, 201, o);
	json_decref(o);
}

void api_tokens_create(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	json_t *body = api_body_object(c);
	if (!body)
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	json_t *grants = json_object_get(body, "grants");
	db_grant_t *g = NULL;
	size_t ng = 0;
	int64_t expires = 0;
	if (!name || !db_user_name_valid(name)) {
		api_error(c, API_E_BAD_REQUEST,
		          "name: 1-64 of A-Z a-z 0-9 . _ @ + -, starting with a "
		          "letter or digit");
	} else if (!json_is_array(grants) || !json_array_size(grants)) {
		api_error(c, API_E_BAD_REQUEST, "grants: a non-empty list of {role, archive}");
	} else if (api_grants_parse(c, grants, &g, &ng) &&
	           expires_parse(c, json_object_get(body, "expires"), &expires)) {
		char value[AUTH_API_TOKEN_LEN + 1];
		auth_status_t st =
		    auth_api_token_create(c->app->db, name, g, ng, c->p->name, expires, value);
		if (st == AUTH_EEXIST) {
			api_error(c, API_E_CONFLICT, "token %s exists", name);
		} else if (st != AUTH_OK) {
			api_error(c, API_E_INTERNAL, "cannot create the token: %s",
			          auth_strerror(st));
		} else {
			json_t *d = json_pack("{s:o}", "grants", api_grants_json(g, ng));
			bool ok = api_audit(c, "token.create", name, "ok", NULL, d);
			json_decref(d);
			if (ok)
				token_created(c, name, value);
			else
				db_token_delete(c->app->db, name); /* not recorded: not done */
		}
		sodium_memzero(value, sizeof value);
	}
	free(g);
	json_decref(body);
}

void api_token_revoke(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	db_status_t st = db_token_delete(c->app->db, c->params[0]);
	if (st == DB_ENOTFOUND) {
		api_error(c, API_E_NOT_FOUND, "no token %s", c->params[0]);
		return;
	}
	if (st != DB_OK) {
		api_error(c, API_E_INTERNAL, "cannot revoke the token");
		return;
	}
	if (!api_audit(c, "token.revoke", c->params[0], "ok", NULL, NULL))
		return;
	json_t *o = json_pack("{s:s, s:b}", "name", c->params[0], "revoked", 1);
	api_json(c, 200, o);
	json_decref(o);
}
