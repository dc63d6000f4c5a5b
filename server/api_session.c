/* api_session.c — POST /api/v1/session (login) and DELETE (logout).
 *
 * Does: check the password, start a session (a new token every login), set
 * the cookie (HttpOnly, SameSite=Strict, Path=/; __Host- and Secure under
 * TLS), answer {user, grants, csrf_token}; revoke on logout.  Both outcomes
 * of a login, and every logout, are audited.  Does not: throttle or check
 * TOTP yet (issue 6 adds them here, before the password check).
 */
#include "config.h"

#include <string.h>

#include "api_private.h"
#include "vellum/metrics.h"

static json_t *grants_json(const auth_principal_t *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->ngrants; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "role", p->grants[i].role, "archive",
		                                   p->grants[i].archive));
	return a;
}

static void count_login(api_ctx_t *c, const char *outcome)
{
	metric_inc(metrics_counter(c->app->metrics, "vellum_http_logins_total", "Logins by outcome",
	                           (const char *[]){"outcome", outcome, NULL}));
}

static void set_cookie(api_ctx_t *c, const char *value, bool clear)
{
	char v[256];
	snprintf(v, sizeof v, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
	         api_cookie_name(c->req), value, c->req->tls ? "; Secure" : "",
	         clear ? "; Max-Age=0" : "");
	api_response_header(c->resp, "Set-Cookie", v);
}

/* Records the failed attempt; the audit record names the account tried. */
static void login_failed(api_ctx_t *c, const char *user, const char *why)
{
	count_login(c, "failed");
	json_t *d = json_pack("{s:s}", "reason", why);
	audit_event_t e = {
		.who = user,
		.from = c->req->client,
		.action = "login",
		.target = user,
		.outcome = "failed",
		.detail = d,
	};
	bool recorded = audit_record(c->app->audit, &e, NULL) == AUDIT_OK;
	json_decref(d);
	if (!recorded)
		api_error(c, API_E_UNAVAILABLE, "the audit trail cannot be written");
	else
		api_error(c, API_E_UNAUTHORIZED, "wrong user name or password");
}

void api_session_create(api_ctx_t *c)
{
	json_t *body = api_body_object(c);
	if (!body)
		return;
	const char *user = json_string_value(json_object_get(body, "user"));
	const char *pw = json_string_value(json_object_get(body, "password"));
	if (!user || !pw) {
		json_decref(body);
		api_error(c, API_E_BAD_REQUEST, "user and password (strings) are required");
		return;
	}
	/* A name that cannot exist is still audited, but quoted safely. */
	char shown[DB_NAME_MAX + 8];
	snprintf(shown, sizeof shown, "%s", db_user_name_valid(user) ? user : "(invalid name)");
	auth_principal_t *p = NULL;
	auth_status_t st = auth_check_password(c->app->db, user, pw, &p);
	json_decref(body);
	if (st == AUTH_EIO) {
		api_error(c, API_E_INTERNAL, "login failed: internal error");
		return;
	}
	if (st != AUTH_OK) {
		login_failed(c, shown, "wrong user name, password, or disabled");
		return;
	}
	/* Rotate: whatever session the browser had ends now. */
	if (c->owned && c->owned->via == AUTH_VIA_SESSION)
		auth_session_revoke(c->app->db, c->owned);
	char token[AUTH_TOKEN_LEN + 1];
	if (auth_session_create(c->app->db, p, c->req->client, token) != AUTH_OK) {
		auth_principal_free(p);
		api_error(c, API_E_INTERNAL, "cannot create a session");
		return;
	}
	c->p = p;
	bool recorded = api_audit(c, "login", p->name, "ok", NULL, NULL);
	c->p = c->owned;
	if (!recorded) {
		auth_session_revoke(c->app->db, p);
		auth_principal_free(p);
		return;
	}
	count_login(c, "ok");
	/* Housekeeping: sessions past their idle or absolute limit go now
	 * (they are refused anyway; this keeps the table small). */
	int64_t now = util_now();
	db_session_expire(c->app->db, now - c->app->cfg->http.session_idle * UTIL_US_PER_SEC,
	                  now - c->app->cfg->http.session_max * UTIL_US_PER_SEC, NULL);
	set_cookie(c, token, false);
	json_t *o = json_object();
	json_object_set_new(o, "user", json_string(p->name));
	json_object_set_new(o, "grants", grants_json(p));
	json_object_set_new(o, "csrf_token", json_string(p->csrf_token));
	api_json(c, 200, o);
	json_decref(o);
	auth_principal_free(p);
}

void api_session_delete(api_ctx_t *c)
{
	if (c->p->via != AUTH_VIA_SESSION) {
		api_error(c, API_E_BAD_REQUEST, "no browser session to end");
		return;
	}
	auth_status_t st = auth_session_revoke(c->app->db, c->p);
	if (st == AUTH_EIO) {
		api_error(c, API_E_INTERNAL, "logout failed");
		return;
	}
	if (!api_audit(c, "logout", c->p->name, "ok", NULL, NULL))
		return;
	set_cookie(c, "", true);
	json_t *o = json_object();
	json_object_set_new(o, "user", json_string(c->p->name));
	api_json(c, 200, o);
	json_decref(o);
}
