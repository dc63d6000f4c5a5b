/* api_core.c — routing, authentication, CSRF, errors and JSON for the API.
 *
 * Does: match the request against one route table, resolve the principal
 * (given by the transport, or from a bearer token or the session cookie),
 * enforce CSRF on state-changing browser requests (same-origin Origin or
 * Sec-Fetch-Site, and X-CSRF-Token), hold sessions that must enrol TOTP to
 * enrolment, call the handler, count the request in the metrics.  Owns the
 * one table that maps API errors to HTTP statuses and JSON codes, and the
 * UI's static files.
 * Does not: touch sockets or parse HTTP (http_server.c does), or know what
 * a handler does.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_private.h"
#include "vellum/log.h"
#include "vellum/metrics.h"
#include "vellum/web.h"

static const struct {
	int status;
	const char *code;
} errors[] = {
	[API_E_BAD_REQUEST] = {400, "bad_request"},
	[API_E_BAD_QUERY] = {400, "bad_query"},
	[API_E_UNAUTHORIZED] = {401, "unauthorized"},
	[API_E_FORBIDDEN] = {403, "forbidden"},
	[API_E_CSRF] = {403, "csrf"},
	[API_E_NOT_FOUND] = {404, "not_found"},
	[API_E_METHOD] = {405, "method_not_allowed"},
	[API_E_CONFLICT] = {409, "conflict"},
	[API_E_TOO_LARGE] = {413, "payload_too_large"},
	[API_E_MEDIA_TYPE] = {415, "unsupported_media_type"},
	[API_E_THROTTLED] = {429, "too_many_requests"},
	[API_E_INTERNAL] = {500, "internal"},
	[API_E_UNAVAILABLE] = {503, "unavailable"},
	[API_E_TOTP_REQUIRED] = {401, "totp_required"},
	[API_E_TOTP_ENROL] = {403, "totp_enrolment_required"},
	[API_E_TLS_REQUIRED] = {403, "tls_required"},
	[API_E_RENDER] = {500, "render_failed"},
};

/* ---- requests and responses ---- */

const char *api_request_query(const api_request_t *r, const char *key)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (r->query[i].key && !strcmp(r->query[i].key, key))
			return r->query[i].value ? r->query[i].value : "";
	return NULL;
}

const char *api_request_header(const api_request_t *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (r->headers[i].key && !strcasecmp(r->headers[i].key, name))
			return r->headers[i].value ? r->headers[i].value : "";
	return NULL;
}

void api_response_init(api_response_t *r)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
}

void api_response_clear(api_response_t *r)
{
	json_decref(r->json);
	buf_free(&r->body);
	free(r->content_type);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].key);
		free(r->headers[i].value);
	}
	if (r->stream.close)
		r->stream.close(r->stream.arg);
	api_response_init(r);
}

void api_response_header(api_response_t *r, const char *key, const char *value)
{
	if (r->nheaders == API_HEADERS_MAX)
		abort();   /* a handler adding more headers than it may is a bug */
	r->headers[r->nheaders].key = xstrdup(key);
	r->headers[r->nheaders].value = xstrdup(value);
	r->nheaders++;
}

char *api_response_json_text(const api_response_t *r, size_t *len)
{
	if (!r->json)
		return NULL;
	char *s = json_dumps(r->json, JSON_COMPACT);
	if (s && len)
		*len = strlen(s);
	return s;
}

void api_json(api_ctx_t *c, int status, json_t *body)
{
	json_decref(c->resp->json);
	buf_free(&c->resp->body);
	c->resp->status = status;
	c->resp->json = json_incref(body);
	json_object_set_new(body, "format_version", json_integer(API_FORMAT_VERSION));
}

void api_error(api_ctx_t *c, api_err_t e, const char *fmt, ...)
{
	va_list ap;
	buf_t msg = {0};
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	json_t *err = json_object();
	json_object_set_new(err, "code", json_string(errors[e].code));
	/* A message may quote user input that is not UTF-8; never lose the error. */
	json_t *m = json_stringn((const char *)msg.data, msg.len);
	json_object_set_new(err, "message", m ? m : json_string("(message not UTF-8)"));
	buf_free(&msg);
	json_t *body = json_object();
	json_object_set_new(body, "error", err);
	api_json(c, errors[e].status, body);
	json_decref(body);
}

json_t *api_time(int64_t us)
{
	char t[UTIL_TIME_MAX];
	util_time_format(us, false, t);
	return json_string(t);
}

json_t *api_body_object(api_ctx_t *c)
{
	if (c->req->body_too_big || c->req->body_len > API_BODY_MAX) {
		api_error(c, API_E_TOO_LARGE, "request body larger than %u bytes", API_BODY_MAX);
		return NULL;
	}
	const char *ct = api_request_header(c->req, "Content-Type");
	if (ct && strncasecmp(ct, "application/json", 16)) {
		api_error(c, API_E_MEDIA_TYPE, "request body must be application/json");
		return NULL;
	}
	json_error_t jerr;
	json_t *o = json_loadb((const char *)c->req->body, c->req->body_len,
	                       JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		api_error(c, API_E_BAD_REQUEST, "malformed JSON at line %d column %d: %s", jerr.line,
		          jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		api_error(c, API_E_BAD_REQUEST, "request body must be a JSON object");
		return NULL;
	}
	return o;
}

bool api_audit(api_ctx_t *c, const char *action, const char *target, const char *outcome,
               const int64_t *count, json_t *detail)
{
	audit_event_t e = {
		.who = c->p ? c->p->name : "anonymous",
		.from = c->req->client,
		.action = action,
		.target = target,
		.outcome = outcome,
		.count = count ? *count : 0,
		.has_count = count != NULL,
		.detail = detail,
	};
	if (audit_record(c->app->audit, &e, NULL) == AUDIT_OK)
		return true;
	/* Fail closed: an access that cannot be recorded does not happen. */
	api_error(c, API_E_UNAVAILABLE, "the audit trail cannot be written");
	return false;
}

bool api_require(api_ctx_t *c, unsigned roles, const char *archive)
{
	if (!c->p) {
		api_error(c, API_E_UNAUTHORIZED, "log in first");
		return false;
	}
	if (!auth_has_role(c->p, roles, archive ? archive : "*")) {
		api_error(c, API_E_FORBIDDEN, "%s lacks the role for this", c->p->name);
		return false;
	}
	return true;
}

void api_throttled(api_ctx_t *c, int64_t retry_after, const char *fmt, ...)
{
	va_list ap;
	buf_t msg = {0};
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	api_error(c, API_E_THROTTLED, "%s", (const char *)msg.data);
	buf_free(&msg);
	char ra[24];
	snprintf(ra, sizeof ra, "%lld", (long long)(retry_after > 0 ? retry_after : 1));
	api_response_header(c->resp, "Retry-After", ra);
}

bool api_uint_param(api_ctx_t *c, const char *name, uint64_t *out)
{
	const char *s = api_request_query(c->req, name);
	if (!s || !*s)
		return true;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || *s == '-' || *s == '+' || *s == ' ') {
		api_error(c, API_E_BAD_REQUEST, "%s must be a non-negative integer", name);
		return false;
	}
	*out = v;
	return true;
}

json_t *api_str(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

json_t *api_grants_json(const db_grant_t *g, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "role", g[i].role, "archive",
		                                   g[i].archive));
	return a;
}

bool api_grants_parse(api_ctx_t *c, json_t *list, db_grant_t **out, size_t *n)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	if (!json_is_array(list)) {
		api_error(c, API_E_BAD_REQUEST, "grants must be a list of {role, archive}");
		return false;
	}
	size_t i;
	json_t *g;
	json_array_foreach(list, i, g) {
		const char *role = json_string_value(json_object_get(g, "role"));
		json_t *ja = json_object_get(g, "archive");
		const char *archive = ja ? json_string_value(ja) : "*";
		if (!json_is_object(g) || !role || !auth_role_parse(role)) {
			api_error(c, API_E_BAD_REQUEST,
			          "a grant needs a role: admin, auditor, legal or ingest");
			return false;
		}
		if (!archive || (strcmp(archive, "*") && !db_archive_name_valid(archive))) {
			api_error(c, API_E_BAD_REQUEST, "a grant's archive is an archive name or \"*\"");
			return false;
		}
		if (strcmp(archive, "*") && !db_archive_exists(c->app->db, archive)) {
			api_error(c, API_E_NOT_FOUND, "no archive %s", archive);
			return false;
		}
	}
	if (out) {
		*out = xcalloc(json_array_size(list) + 1, sizeof **out);
		json_array_foreach(list, i, g) {
			json_t *ja = json_object_get(g, "archive");
			snprintf((*out)[i].role, sizeof (*out)[i].role, "%s",
			         json_string_value(json_object_get(g, "role")));
			snprintf((*out)[i].archive, sizeof (*out)[i].archive, "%s",
			         ja ? json_string_value(ja) : "*");
		}
		*n = json_array_size(list);
	}
	return true;
}

const char *api_cookie_name(const api_request_t *r)
{
	/* The __Host- prefix makes browsers refuse the cookie unless it is
	 * Secure, Path=/ and host-only (RFC 6265bis §4.1.3.2). */
	return r->tls ? "__Host-vellum" : "vellum";
}

/* The UI's static files (DESIGN.md §5: no session needed).  The policy
 * allows only our own scripts and styles; message HTML is never shown in
 * these pages but in a sandboxed frame (issue 6). */
static bool web_static(api_ctx_t *c)
{
	const web_asset_t *a = web_asset_find(c->req->path);
	if (!a)
		return false;
	api_response_t *r = c->resp;
	r->route = "static";
	api_response_header(r, "ETag", a->etag);
	api_response_header(r, "Cache-Control", "no-cache");
	api_response_header(r, "Content-Security-Policy",
	                    "default-src 'self'; img-src 'self' data:; frame-src 'self'; "
	                    "object-src 'none'; base-uri 'none'; form-action 'self'; "
	                    "frame-ancestors 'none'");
	api_response_header(r, "X-Frame-Options", "DENY");
	api_response_header(r, "Referrer-Policy", "no-referrer");
	const char *inm = api_request_header(c->req, "If-None-Match");
	if (inm && !strcmp(inm, a->etag)) {
		r->status = 304;
		return true;
	}
	r->status = 200;
	r->content_type = xstrdup(a->content_type);
	buf_append(&r->body, a->data, a->len);
	return true;
}

/* ---- routing ---- */

#define R_PUBLIC 0x1u   /* no credentials needed (they are still resolved) */
#define R_ENROL 0x2u    /* allowed to a session that must enrol TOTP first */
#define R_STREAM 0x4u   /* the body is streamed to the handler (api_upload_*) */

/* Every route the API serves.  The OpenAPI document (doc/api/openapi.json)
 * lists exactly these; test_api checks both ways through api_route_at.
 * Other modules add their rows here (and their paths to the document). */
static const struct route {
	const char *method;
	const char *pattern;
	api_handler_fn fn;
	unsigned flags;
} routes[] = {
	{"GET", "/healthz", api_healthz, R_PUBLIC | R_ENROL},
	{"GET", "/metrics", api_metrics, R_PUBLIC | R_ENROL},
	{"GET", "/api/v1/openapi.json", api_openapi, R_PUBLIC | R_ENROL},
	{"POST", "/api/v1/session", api_session_create, R_PUBLIC | R_ENROL},
	{"GET", "/api/v1/session", api_session_get, R_ENROL},
	{"DELETE", "/api/v1/session", api_session_delete, R_ENROL},
	{"GET", "/api/v1/search", api_search, 0},
	{"GET", "/api/v1/messages/{id}", api_message_get, 0},
	{"GET", "/api/v1/messages/{id}/raw", api_message_raw, 0},
	{"GET", "/api/v1/messages/{id}/body", api_message_body, 0},
	{"GET", "/api/v1/messages/{id}/parts/{n}", api_message_part, 0},
	{"POST", "/api/v1/archives/{name}/messages", api_message_submit, R_STREAM},
	{"GET", "/api/v1/users", api_users_list, 0},
	{"POST", "/api/v1/users", api_users_create, 0},
	{"GET", "/api/v1/users/{name}", api_user_get, 0},
	{"PATCH", "/api/v1/users/{name}", api_user_patch, 0},
	{"POST", "/api/v1/users/{name}/totp", api_user_totp_enrol, R_ENROL},
	{"DELETE", "/api/v1/users/{name}/totp", api_user_totp_remove, 0},
	{"GET", "/api/v1/tokens", api_tokens_list, 0},
	{"POST", "/api/v1/tokens", api_tokens_create, 0},
	{"DELETE", "/api/v1/tokens/{name}", api_token_revoke, 0},
	{"GET", "/api/v1/audit", api_audit_list, 0},
	{"GET", "/api/v1/audit/verify", api_audit_verify, 0},
	{"GET", "/api/v1/verify", api_verify, 0},
	{"POST", "/api/v1/keys/rotate", api_keys_rotate, 0},
};
#define NROUTES (sizeof routes / sizeof routes[0])

size_t api_route_count(void)
{
	return NROUTES;
}

bool api_route_at(size_t i, const char **method, const char **pattern, bool *public_route)
{
	if (i >= NROUTES)
		return false;
	*method = routes[i].method;
	*pattern = routes[i].pattern;
	*public_route = (routes[i].flags & R_PUBLIC) != 0;
	return true;
}

/* Matches path against pattern segment by segment; {x} captures one
 * non-empty segment.  Captures go to c->params on success. */
static bool route_match(const char *pattern, const char *path, api_ctx_t *c)
{
	char *caps[API_PARAMS_MAX];
	size_t ncaps = 0;
	const char *p = pattern, *s = path;
	bool ok = true;
	while (ok && *p && *s) {
		if (*p == '{') {
			size_t n = strcspn(s, "/");
			if (n == 0 || ncaps == API_PARAMS_MAX) {
				ok = false;
				break;
			}
			caps[ncaps++] = xstrndup(s, n);
			s += n;
			const char *close = strchr(p, '}');
			p = close ? close + 1 : p + strlen(p);
		} else if (*p++ != *s++) {
			ok = false;
		}
	}
	ok = ok && !*p && !*s;
	for (size_t i = 0; i < ncaps; i++) {
		if (ok)
			c->params[i] = caps[i];
		else
			free(caps[i]);
	}
	if (ok)
		c->nparams = ncaps;
	return ok;
}

static const struct route *route_find(api_ctx_t *c, bool *path_known)
{
	const char *m = c->req->method;
	if (!strcmp(m, "HEAD"))
		m = "GET";
	*path_known = false;
	for (size_t i = 0; i < NROUTES; i++) {
		if (!route_match(routes[i].pattern, c->req->path, c))
			continue;
		if (!strcmp(routes[i].method, m))
			return &routes[i];
		*path_known = true;
		for (size_t k = 0; k < c->nparams; k++) {
			free(c->params[k]);
			c->params[k] = NULL;
		}
		c->nparams = 0;
	}
	return NULL;
}

/* The value of cookie `name` in a Cookie header ("a=1; b=2"), copied into
 * out; false when absent or longer than n-1. */
static bool cookie_get(const char *header, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	const char *p = header;
	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t len = strcspn(p, ";");
		if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			size_t vl = len - nl - 1;
			if (vl >= n)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p += len;
	}
	return false;
}

/* "Bearer <token>" (RFC 6750 §2.1; the scheme is case-insensitive). */
static const char *bearer_of(const char *authz)
{
	if (strncasecmp(authz, "Bearer ", 7))
		return NULL;
	authz += 7;
	while (*authz == ' ')
		authz++;
	return authz;
}

/* Resolves the principal from a bearer token or a session cookie.
 * Returns false with a 401 answered when credentials were given but are not
 * valid; true otherwise (c->p may stay NULL when none were given). */
static bool authenticate(api_ctx_t *c)
{
	const char *authz = api_request_header(c->req, "Authorization");
	auth_status_t st;
	if (authz && *authz) {
		const char *tok = bearer_of(authz);
		st = tok ? auth_api_token_resolve(c->app->db, tok, &c->owned) : AUTH_ENOSESSION;
		if (st == AUTH_EIO) {
			api_error(c, API_E_INTERNAL, "token lookup failed");
			return false;
		}
		if (st != AUTH_OK) {
			api_response_header(c->resp, "WWW-Authenticate",
			                    "Bearer realm=\"vellum\", error=\"invalid_token\"");
			api_error(c, API_E_UNAUTHORIZED, "invalid, expired or revoked token");
			return false;
		}
		c->p = c->owned;
		return true;
	}
	const char *cookies = api_request_header(c->req, "Cookie");
	char token[AUTH_TOKEN_LEN + 2];
	if (!cookies || !cookie_get(cookies, api_cookie_name(c->req), token, sizeof token))
		return true;
	auth_session_opts_t o = {
		.idle = c->app->cfg->http.session_idle,
		.max = c->app->cfg->http.session_max,
	};
	st = auth_session_resolve(c->app->db, &o, token, &c->owned);
	if (st == AUTH_EIO) {
		api_error(c, API_E_INTERNAL, "session lookup failed");
		return false;
	}
	if (st != AUTH_OK) {
		api_error(c, API_E_UNAUTHORIZED, "session expired or logged out; log in again");
		return false;
	}
	c->p = c->owned;
	return true;
}

/* Origin of the request as the browser would write it: scheme://Host. */
static bool same_origin(const api_request_t *r)
{
	const char *origin = api_request_header(r, "Origin");
	const char *host = api_request_header(r, "Host");
	if (origin && host) {
		char want[512];
		snprintf(want, sizeof want, "%s://%s", r->tls ? "https" : "http", host);
		return !strcasecmp(origin, want);
	}
	if (origin)
		return false;
	const char *site = api_request_header(r, "Sec-Fetch-Site");
	return site && !strcmp(site, "same-origin");
}

/* public: the login (no session to take a token from; a stale cookie must
 * not stand in its way) needs the same-origin check only. */
static bool csrf_ok(api_ctx_t *c, bool public_route)
{
	const char *m = c->req->method;
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
		return true;
	if (!same_origin(c->req)) {
		api_error(c, API_E_CSRF, "cross-origin request refused (Origin must be this server)");
		return false;
	}
	/* Only sessions carry ambient credentials (the cookie); bearer tokens
	 * and the control socket cannot be forged by another site. */
	if (!public_route && c->p && c->p->via == AUTH_VIA_SESSION &&
	    !auth_str_equal(api_request_header(c->req, "X-CSRF-Token"), c->p->csrf_token)) {
		api_error(c, API_E_CSRF, "missing or wrong X-CSRF-Token");
		return false;
	}
	return true;
}

static void count_request(api_ctx_t *c, const char *route)
{
	char status[8];
	snprintf(status, sizeof status, "%d", c->resp->status);
	metric_inc(metrics_counter(c->app->metrics, "vellum_http_requests_total",
	                           "HTTP requests by route and status",
	                           (const char *[]){"route", route, "status", status, NULL}));
}

/* Plain HTTP carries the session cookie in clear: fine on loopback (and
 * the control socket), refused elsewhere unless allow_plain_http says the
 * network in between is trusted (DESIGN.md §4). */
static bool plain_http_refused(api_ctx_t *c)
{
	const api_request_t *r = c->req;
	if (r->transport != API_VIA_TCP || r->tls || c->app->cfg->http.allow_plain_http)
		return false;
	return !r->client_sa || !util_sockaddr_is_loopback(r->client_sa);
}

/* Everything before the handler: routing, static files, credentials, CSRF,
 * the TOTP-enrolment hold.  Returns the route to run, or NULL when the
 * request has been answered. */
static const struct route *dispatch_prepare(api_ctx_t *c)
{
	bool path_known;
	const struct route *rt = route_find(c, &path_known);
	c->resp->route = rt ? rt->pattern : "other";
	bool get = !strcmp(c->req->method, "GET") || !strcmp(c->req->method, "HEAD");
	if (!rt && get && !util_str_has_prefix(c->req->path, "/api/") && web_static(c))
		return NULL;
	if (!rt) {
		if (path_known)
			api_error(c, API_E_METHOD, "%s is not allowed on %s", c->req->method, c->req->path);
		else
			api_error(c, API_E_NOT_FOUND, "no such resource: %s", c->req->path);
		return NULL;
	}
	if (!c->p && !authenticate(c)) {
		/* Stale credentials do not stand in the way of public routes: a
		 * browser with an expired cookie must still reach the login. */
		if (!(rt->flags & R_PUBLIC) || c->resp->status == 500)
			return NULL;
		api_response_clear(c->resp);
		c->resp->route = rt->pattern;
	}
	if (c->p && c->p->via == AUTH_VIA_SESSION && plain_http_refused(c)) {
		api_error(c, API_E_TLS_REQUIRED, "sessions need HTTPS off loopback "
		                                 "(or [http] allow_plain_http = yes)");
		return NULL;
	}
	/* Browser requests with a session (and a login attempt carrying an
	 * Origin) must come from our own pages. */
	bool browser = c->req->transport == API_VIA_TCP &&
	               ((c->p && c->p->via == AUTH_VIA_SESSION) ||
	                (!c->p && api_request_header(c->req, "Origin")));
	if (browser && !csrf_ok(c, (rt->flags & R_PUBLIC) != 0))
		return NULL;
	if (!(rt->flags & R_PUBLIC) && !c->p) {
		api_error(c, API_E_UNAUTHORIZED, "log in first (session cookie or bearer token)");
		return NULL;
	}
	if (c->p && c->p->enrol_totp && !(rt->flags & R_ENROL)) {
		api_error(c, API_E_TOTP_ENROL,
		          "two-factor authentication is required for administrators: enrol first "
		          "(POST /api/v1/users/%s/totp)", c->p->name);
		return NULL;
	}
	return rt;
}

bool api_plain_http_refused(api_ctx_t *c)
{
	return plain_http_refused(c);
}

static void ctx_clear(api_ctx_t *c)
{
	for (size_t i = 0; i < c->nparams; i++)
		free(c->params[i]);
	c->nparams = 0;
	auth_principal_free(c->owned);
	c->owned = NULL;
}

void api_handle(app_t *app, const auth_principal_t *principal, const api_request_t *req,
                api_response_t *resp)
{
	api_ctx_t c = {.app = app, .req = req, .resp = resp, .p = principal};
	if (req->body_too_big) {
		c.resp->route = "other";
		api_error(&c, API_E_TOO_LARGE, "request body larger than %u bytes", API_BODY_MAX);
	} else {
		const struct route *rt = dispatch_prepare(&c);
		if (rt)
			rt->fn(&c);
	}
	count_request(&c, resp->route ? resp->route : "other");
	ctx_clear(&c);
}

/* ---- streamed bodies ---- */

struct api_upload {
	api_ctx_t c;
	void *state;        /* api_submit.c's */
	const char *route;  /* static pattern, for the answer at the end */
};

bool api_route_streams(const char *method, const char *path)
{
	if (strcmp(method, "POST"))
		return false;
	api_ctx_t c = {0};
	api_request_t r = {.method = method, .path = path};
	c.req = &r;
	bool known;
	const struct route *rt = route_find(&c, &known);
	ctx_clear(&c);
	return rt && (rt->flags & R_STREAM);
}

api_upload_t *api_upload_begin(app_t *app, const auth_principal_t *principal,
                               const api_request_t *req, api_response_t *resp)
{
	api_upload_t *u = xcalloc(1, sizeof *u);
	u->c = (api_ctx_t){.app = app, .req = req, .resp = resp, .p = principal};
	const struct route *rt = dispatch_prepare(&u->c);
	if (rt && !(rt->flags & R_STREAM)) {
		api_error(&u->c, API_E_INTERNAL, "%s is not a streaming route", rt->pattern);
		rt = NULL;
	}
	if (rt && api_submit_begin(&u->c, &u->state)) {
		u->route = rt->pattern;
		return u;
	}
	count_request(&u->c, resp->route ? resp->route : "other");
	ctx_clear(&u->c);
	free(u);
	return NULL;
}

bool api_upload_write(api_upload_t *u, const void *p, size_t n)
{
	return api_submit_write(u->state, p, n);
}

void api_upload_end(api_upload_t *u, const api_request_t *req, api_response_t *resp)
{
	u->c.req = req;
	u->c.resp = resp;
	resp->route = u->route;
	api_submit_end(&u->c, u->state);
	count_request(&u->c, resp->route ? resp->route : "other");
	ctx_clear(&u->c);
	free(u);
}

void api_upload_abort(api_upload_t *u)
{
	if (!u)
		return;
	api_submit_abort(u->state);
	ctx_clear(&u->c);
	free(u);
}
