/* api_session.c — POST /api/v1/session (login), GET (who am I), DELETE
 * (logout).
 *
 * Does: a login is throttled first (per user name and client address,
 * auth_guard: 429 with Retry-After, audited as "throttled" without touching
 * the password), then the password is checked in one of a bounded number
 * of Argon2id slots, then the TOTP code when the user has enrolled (a
 * missing code is 401 totp_required so the UI can ask for it; a wrong one
 * counts as a failure).  An administrator without TOTP while [http]
 * require_totp_for_admin is on gets a session that may only enrol.  Then a
 * new session (rotated: whatever session the browser had ends), the cookie
 * (HttpOnly, SameSite=Strict, Path=/; __Host- and Secure under TLS), and
 * {user, grants, csrf_token, totp}.  Sessions over plain HTTP are refused
 * off loopback unless allow_plain_http.  Every outcome is audited.
 * GET answers the same document for the current principal (the UI's
 * "who am I" after a reload); DELETE revokes the session.
 * Does not: resolve cookies (api_core.c) or know how TOTP works (auth.h).
 */
#include "config.h"

#include <string.h>

#include "api_private.h"
#include "vellum/metrics.h"

/* How long a login waits for an Argon2id slot before it is refused: a
 * burst of logins queues briefly; a flood gets 429 instead of piling up. */
#define LOGIN_HASH_WAIT_MS 3000

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

/* Audits a login that did not succeed as the account tried (the caller
 * has none).  False (503 answered) when the trail refused it. */
static bool login_audit(api_ctx_t *c, const char *user, const char *outcome, const char *why)
{
	count_login(c, outcome);
	json_t *d = json_pack("{s:s}", "reason", why);
	audit_event_t e = {
		.who = user,
		.from = c->req->client,
		.action = "login",
		.target = user,
		.outcome = outcome,
		.detail = d,
	};
	bool recorded = audit_record(c->app->audit, &e, NULL) == AUDIT_OK;
	json_decref(d);
	if (!recorded)
		api_error(c, API_E_UNAVAILABLE, "the audit trail cannot be written");
	return recorded;
}

static void login_failed(api_ctx_t *c, const char *user, const char *why)
{
	auth_guard_failed(c->app->guard, user, c->req->client);
	if (login_audit(c, user, "failed", why))
		api_error(c, API_E_UNAUTHORIZED, "wrong user name, password or code");
}

/* The session document: POST and GET answer the same shape. */
static json_t *session_json(api_ctx_t *c, const auth_principal_t *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "user", json_string(p->name));
	json_object_set_new(o, "via", json_string(p->via == AUTH_VIA_SESSION ? "session"
	                                          : p->via == AUTH_VIA_TOKEN ? "token"
	                                                                     : "cli"));
	json_object_set_new(o, "grants", api_grants_json(p->grants, p->ngrants));
	if (p->via == AUTH_VIA_SESSION) {
		json_object_set_new(o, "csrf_token", json_string(p->csrf_token));
		json_object_set_new(o, "created", api_time(p->session_created));
		json_object_set_new(o, "idle_timeout", json_integer(c->app->cfg->http.session_idle));
		json_object_set_new(o, "max_age", json_integer(c->app->cfg->http.session_max));
	}
	db_user_t *u = NULL;
	bool totp = p->via == AUTH_VIA_SESSION && db_user_get(c->app->db, p->name, &u) == DB_OK &&
	            u->totp_secret;
	db_user_free(u);
	json_object_set_new(o, "totp", json_boolean(totp));
	json_object_set_new(o, "totp_enrolment_required", json_boolean(p->enrol_totp));
	return o;
}

/* Password, then TOTP.  On success *out holds the principal; otherwise the
 * answer is given and NULL returned. */
static auth_principal_t *login_check(api_ctx_t *c, const char *user, const char *shown,
                                     const char *pw, const char *code)
{
	if (!auth_guard_hash_enter(c->app->guard, LOGIN_HASH_WAIT_MS)) {
		count_login(c, "throttled");
		api_throttled(c, 1, "too many logins at once; try again in a moment");
		return NULL;
	}
	auth_principal_t *p = NULL;
	auth_status_t st = auth_check_password(c->app->db, user, pw, &p);
	auth_guard_hash_leave(c->app->guard);
	if (st == AUTH_EIO) {
		api_error(c, API_E_INTERNAL, "login failed: internal error");
		return NULL;
	}
	if (st != AUTH_OK) {
		login_failed(c, shown, "wrong user name, password, or disabled");
		return NULL;
	}
	db_user_t *u = NULL;
	if (db_user_get(c->app->db, user, &u) != DB_OK) {
		auth_principal_free(p);
		api_error(c, API_E_INTERNAL, "login failed: internal error");
		return NULL;
	}
	bool enrolled = u->totp_secret != NULL;
	db_user_free(u);
	if (enrolled && (!code || !*code)) {
		/* The password was right; the second step is still to come.  Not
		 * a failure, but audited, and no session yet. */
		auth_principal_free(p);
		if (login_audit(c, shown, "totp_required", "password right, TOTP code missing"))
			api_error(c, API_E_TOTP_REQUIRED, "this account needs its TOTP code (totp)");
		return NULL;
	}
	if (enrolled) {
		st = auth_totp_verify(c->app->db, user, code);
		if (st != AUTH_OK) {
			auth_principal_free(p);
			if (st == AUTH_EIO)
				api_error(c, API_E_INTERNAL, "login failed: internal error");
			else
				login_failed(c, shown, "wrong or reused TOTP code");
			return NULL;
		}
	} else if (c->app->cfg->http.require_totp_for_admin && auth_has_role_any(p, ROLE_ADMIN)) {
		p->enrol_totp = true;
	}
	return p;
}

void api_session_create(api_ctx_t *c)
{
	if (api_plain_http_refused(c)) {
		api_error(c, API_E_TLS_REQUIRED, "log in over HTTPS (plain HTTP is allowed only on "
		                                 "loopback unless [http] allow_plain_http = yes)");
		return;
	}
	json_t *body = api_body_object(c);
	if (!body)
		return;
	const char *user = json_string_value(json_object_get(body, "user"));
	const char *pw = json_string_value(json_object_get(body, "password"));
	json_t *jt = json_object_get(body, "totp");
	const char *code = json_string_value(jt);
	if (!user || !pw || (jt && !json_is_null(jt) && !code)) {
		json_decref(body);
		api_error(c, API_E_BAD_REQUEST, "user and password (strings, and totp when enrolled) "
		                                "are required");
		return;
	}
	/* A name that cannot exist is still audited, but quoted safely. */
	char shown[DB_NAME_MAX + 8];
	snprintf(shown, sizeof shown, "%s", db_user_name_valid(user) ? user : "(invalid name)");
	int64_t wait = auth_guard_retry_after(c->app->guard, shown, c->req->client);
	if (wait > 0) {
		json_decref(body);
		if (login_audit(c, shown, "throttled", "too many failed logins"))
			api_throttled(c, wait, "too many failed logins; try again in %llds",
			              (long long)wait);
		return;
	}
	auth_principal_t *p = login_check(c, user, shown, pw, code);
	json_decref(body);
	if (!p)
		return;
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
	json_t *d = p->enrol_totp ? json_pack("{s:b}", "totp_enrolment_required", 1) : NULL;
	bool recorded = api_audit(c, "login", p->name, "ok", NULL, d);
	json_decref(d);
	c->p = c->owned;
	if (!recorded) {
		auth_session_revoke(c->app->db, p);
		auth_principal_free(p);
		return;
	}
	auth_guard_succeeded(c->app->guard, p->name);
	count_login(c, "ok");
	/* Housekeeping: sessions past their idle or absolute limit go now
	 * (they are refused anyway; this keeps the table small). */
	int64_t now = util_now();
	db_session_expire(c->app->db, now - c->app->cfg->http.session_idle * UTIL_US_PER_SEC,
	                  now - c->app->cfg->http.session_max * UTIL_US_PER_SEC, NULL);
	set_cookie(c, token, false);
	json_t *o = session_json(c, p);
	api_json(c, 200, o);
	json_decref(o);
	auth_principal_free(p);
}

void api_session_get(api_ctx_t *c)
{
	json_t *o = session_json(c, c->p);
	api_json(c, 200, o);
	json_decref(o);
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
