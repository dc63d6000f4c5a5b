/* test_api.c — the API handlers called in-process (api_handle) on a real
 * data dir: JSON shapes and format_version, login and cookies, 401/403/404/
 * 400/405/413/415 paths, malformed JSON, CSRF, archive isolation (also by
 * guessing ids), raw downloads, users, the audit trail and fail-closed
 * auditing. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testapp.h"
#include "vellum/api.h"
#include "vellum/audit.h"
#include "vellum/log.h"

static testapp_t *T;

typedef struct rq {
	const char *method, *path;
	const char *query[16];      /* key, value, ..., NULL */
	const char *body;
	size_t body_len;            /* 0 = strlen(body) */
	const char *headers[16];    /* name, value, ..., NULL */
	const auth_principal_t *p;
	bool tls, too_big;
	const char *peer;           /* client IPv4 address, default 127.0.0.1 */
	api_transport_t via;
} rq_t;

typedef struct rs {
	int status;
	json_t *j;                  /* parsed body (JSON answers) */
	api_response_t r;
	buf_t streamed;
} rs_t;

static const char *code_of(const rs_t *s)
{
	return json_string_value(json_object_get(json_object_get(s->j, "error"), "code"));
}

static const char *hdr_of(const rs_t *s, const char *name)
{
	for (size_t i = 0; i < s->r.nheaders; i++)
		if (!strcasecmp(s->r.headers[i].key, name))
			return s->r.headers[i].value;
	return NULL;
}

static void rs_free(rs_t *s)
{
	json_decref(s->j);
	api_response_clear(&s->r);
	buf_free(&s->streamed);
	memset(s, 0, sizeof *s);
}

static rs_t call(const rq_t *q)
{
	api_kv_t query[8], headers[8];
	size_t nq = 0, nh = 0;
	for (size_t i = 0; q->query[i]; i += 2)
		query[nq++] = (api_kv_t){q->query[i], q->query[i + 1]};
	for (size_t i = 0; q->headers[i]; i += 2)
		headers[nh++] = (api_kv_t){q->headers[i], q->headers[i + 1]};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, q->peer ? q->peer : "127.0.0.1", &sin.sin_addr);
	api_request_t req = {
		.method = q->method,
		.path = q->path,
		.query = query,
		.nquery = nq,
		.headers = headers,
		.nheaders = nh,
		.body = (const uint8_t *)q->body,
		.body_len = q->body ? (q->body_len ? q->body_len : strlen(q->body)) : 0,
		.body_too_big = q->too_big,
		.client = q->peer ? q->peer : "127.0.0.1",
		.client_sa = (struct sockaddr *)&sin,
		.tls = q->tls,
		.transport = q->via,
	};
	rs_t s = {0};
	api_response_init(&s.r);
	api_handle(T->app, q->p, &req, &s.r);
	s.status = s.r.status;
	if (s.r.json) {
		char *text = api_response_json_text(&s.r, NULL);
		s.j = json_loads(text, 0, NULL);
		free(text);
	}
	if (s.r.stream.read) {
		uint8_t b[7];   /* small reads: exercise the loop */
		long n;
		while ((n = s.r.stream.read(s.r.stream.arg, b, sizeof b)) > 0)
			buf_append(&s.streamed, b, (size_t)n);
	}
	return s;
}

typedef struct sess {
	char cookie[128];
	char csrf[64];
} sess_t;

static bool login(const char *user, sess_t *out)
{
	char body[256];
	snprintf(body, sizeof body, "{\"user\": \"%s\", \"password\": \"%s-password-1\"}", user, user);
	rs_t s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = body});
	const char *c = hdr_of(&s, "Set-Cookie");
	bool ok = s.status == 200 && c;
	if (ok) {
		snprintf(out->cookie, sizeof out->cookie, "%.*s", (int)strcspn(c, ";"), c);
		snprintf(out->csrf, sizeof out->csrf, "%s",
		         json_string_value(json_object_get(s.j, "csrf_token")));
	}
	rs_free(&s);
	return ok;
}

/* A GET with a session cookie. */
static rs_t get(const sess_t *se, const char *path, const char *k, const char *v)
{
	return call(&(rq_t){.method = "GET", .path = path, .query = {k, v, NULL},
	                    .headers = {"Cookie", se->cookie, NULL}});
}

/* A state-changing request the way the UI sends it. */
static rs_t change(const sess_t *se, const char *method, const char *path, const char *body)
{
	return call(&(rq_t){.method = method, .path = path, .body = body,
	                    .headers = {"Cookie", se->cookie, "X-CSRF-Token", se->csrf, "Origin",
	                                "http://vellum.test", "Host", "vellum.test",
	                                "Content-Type", "application/json", NULL}});
}

static int64_t audit_count(const char *who, const char *action, const char *outcome)
{
	audit_filter_t f = {.user = who, .action = action};
	json_t *e;
	bool more;
	uint64_t next;
	audit_list(T->app->audit, &f, &e, &more, &next);
	int64_t n = 0;
	size_t i;
	json_t *x;
	json_array_foreach(e, i, x)
		if (!outcome || !strcmp(json_string_value(json_object_get(x, "outcome")), outcome))
			n++;
	json_decref(e);
	return n;
}

static void test_basics(void)
{
	rs_t s = call(&(rq_t){.method = "GET", .path = "/healthz"});
	ok(s.status == 200 && json_integer_value(json_object_get(s.j, "format_version")) ==
	                          API_FORMAT_VERSION, "healthz 200 with format_version");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/nope"});
	ok(s.status == 404 && !strcmp(code_of(&s), "not_found"), "unknown route 404 not_found");
	ok(json_object_get(s.j, "format_version") != NULL, "errors carry format_version too");
	rs_free(&s);
	s = call(&(rq_t){.method = "PUT", .path = "/api/v1/search"});
	ok(s.status == 405 && !strcmp(code_of(&s), "method_not_allowed"), "wrong method 405");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/search", .query = {"q", "x", NULL}});
	ok(s.status == 401 && !strcmp(code_of(&s), "unauthorized"), "search without session 401");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/messages/default-1"});
	is_int(s.status, 401, "message without session 401");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/search",
	                 .headers = {"Cookie", "vellum=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	                             NULL}});
	is_int(s.status, 401, "unknown session cookie 401");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/search",
	                 .headers = {"Authorization", "Bearer nope", NULL}});
	is_int(s.status, 401, "unknown bearer token 401");
	rs_free(&s);
	static const char *const cookies[] = {
		"vellum=", "vellum", "xvellum=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ";;;;",
		"a=b; vellum=\xff\xfe; c=d", "vellum=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < sizeof cookies / sizeof cookies[0]; i++) {
		s = call(&(rq_t){.method = "GET", .path = "/api/v1/search",
		                 .headers = {"Cookie", cookies[i], NULL}});
		ok(s.status == 401, "hostile cookie header %zu: 401", i);
		rs_free(&s);
	}
	s = call(&(rq_t){.method = "GET", .path = "/"});
	ok(s.status == 200 && hdr_of(&s, "Content-Security-Policy") && s.r.content_type &&
	   strstr(s.r.content_type, "text/html"), "UI index served without session, with CSP");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/no-such-file.js"});
	is_int(s.status, 404, "unknown static file 404");
	rs_free(&s);
}

static void test_login(void)
{
	static const struct {
		const char *body, *ctype, *code;
		int status;
		const char *name;
	} bad[] = {
		{"{\"user\": \"admin\", ", NULL, "bad_request", 400, "truncated JSON 400"},
		{"[1,2]", NULL, "bad_request", 400, "JSON array 400"},
		{"{\"user\": \"admin\"}", NULL, "bad_request", 400, "missing password 400"},
		{"{\"user\": 1, \"password\": 2}", NULL, "bad_request", 400, "wrong types 400"},
		{"{\"user\":\"a\",\"user\":\"b\",\"password\":\"x\"}", NULL, "bad_request", 400,
		 "duplicate keys 400"},
		{"{\"user\": \"\xff\", \"password\": \"x\"}", NULL, "bad_request", 400,
		 "invalid UTF-8 400"},
		{"{\"user\":\"admin\",\"password\":\"x\"}", "text/plain", "unsupported_media_type", 415,
		 "wrong content type 415"},
		{"", NULL, "bad_request", 400, "empty body 400"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rs_t s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = bad[i].body,
		                      .headers = {bad[i].ctype ? "Content-Type" : NULL, bad[i].ctype, NULL}});
		ok(s.status == bad[i].status && code_of(&s) && !strcmp(code_of(&s), bad[i].code),
		   "%s", bad[i].name);
		rs_free(&s);
	}
	rs_t s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = "{}",
	                      .too_big = true});
	ok(s.status == 413 && !strcmp(code_of(&s), "payload_too_large"), "oversized body 413");
	rs_free(&s);
	char nul[] = "{\"user\": \"admin\"}\0 trailing";
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = nul,
	                 .body_len = sizeof nul - 1});
	is_int(s.status, 400, "NUL inside the body 400");
	rs_free(&s);

	int64_t failed0 = audit_count("admin", "login", "failed");
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"admin\", \"password\": \"wrong\"}"});
	ok(s.status == 401 && !hdr_of(&s, "Set-Cookie"), "wrong password 401, no cookie");
	rs_free(&s);
	is_int(audit_count("admin", "login", "failed"), failed0 + 1, "failed login audited");
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"nobody\", \"password\": \"nobody-password-1\"}"});
	is_int(s.status, 401, "unknown user 401");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"carol\", \"password\": \"carol-password-1\"}"});
	is_int(s.status, 401, "disabled user 401");
	rs_free(&s);

	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"alice\", \"password\": \"alice-password-1\"}"});
	const char *c = hdr_of(&s, "Set-Cookie");
	ok(s.status == 200 && c && !strncmp(c, "vellum=", 7), "login sets the vellum cookie");
	ok(c && strstr(c, "HttpOnly") && strstr(c, "SameSite=Strict") && strstr(c, "Path=/") &&
	   !strstr(c, "Secure"), "HttpOnly, SameSite=Strict, Path=/, not Secure on plain HTTP");
	is_str(json_string_value(json_object_get(s.j, "user")), "alice", "answer names the user");
	json_t *g = json_array_get(json_object_get(s.j, "grants"), 0);
	ok(g && !strcmp(json_string_value(json_object_get(g, "role")), "auditor") &&
	   !strcmp(json_string_value(json_object_get(g, "archive")), "default"), "grants listed");
	ok(json_string_length(json_object_get(s.j, "csrf_token")) == AUTH_TOKEN_LEN, "csrf_token");
	ok(json_object_get(s.j, "format_version") != NULL, "format_version");
	rs_free(&s);
	ok(audit_count("alice", "login", "ok") == 1, "successful login audited");

	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .tls = true,
	                 .body = "{\"user\": \"alice\", \"password\": \"alice-password-1\"}"});
	c = hdr_of(&s, "Set-Cookie");
	ok(c && !strncmp(c, "__Host-vellum=", 14) && strstr(c, "; Secure"),
	   "under TLS: __Host-vellum, Secure");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"alice\", \"password\": \"alice-password-1\"}",
	                 .headers = {"Origin", "http://evil.example", "Host", "vellum.test", NULL}});
	ok(s.status == 403 && !strcmp(code_of(&s), "csrf"), "login from another origin 403");
	rs_free(&s);
}

static void test_search(void)
{
	sess_t alice, bob, admin, dave;
	ok(login("alice", &alice) && login("bob", &bob) && login("admin", &admin) &&
	   login("dave", &dave), "log in alice, bob, admin, dave");
	rs_t s = get(&alice, "/api/v1/search", "q", "");
	ok(s.status == 200 && json_is_integer(json_object_get(s.j, "total")) &&
	   json_is_boolean(json_object_get(s.j, "total_exact")) &&
	   json_is_array(json_object_get(s.j, "results")) &&
	   json_object_get(s.j, "format_version"), "search answers total, total_exact, results");
	rs_free(&s);
	is_int(audit_count("alice", "search", "ok"), 1, "search audited");
	char jar[256];
	snprintf(jar, sizeof jar, "theme=dark; %s; other=1", alice.cookie);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/search", .headers = {"Cookie", jar, NULL}});
	is_int(s.status, 200, "the session cookie is found among others");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "archive", "other");
	ok(s.status == 403 && !strcmp(code_of(&s), "forbidden"), "alice may not search other");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "archive", "default");
	is_int(s.status, 200, "alice may search default");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "archive", "BAD!");
	is_int(s.status, 400, "bad archive name 400");
	rs_free(&s);
	s = get(&bob, "/api/v1/search", "q", "x");
	is_int(s.status, 403, "admin without auditor may not search (no mail content)");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "sort", "sideways");
	is_int(s.status, 400, "bad sort 400");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "limit", "100000");
	is_int(s.status, 400, "limit over the maximum 400");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "offset", "-1");
	is_int(s.status, 400, "negative offset 400");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", "q", "subject:(unclosed");
	ok(s.status == 400 && !strcmp(code_of(&s), "bad_query") &&
	   json_string_value(json_object_get(json_object_get(s.j, "error"), "message")),
	   "unparseable query: 400 bad_query with a message");
	rs_free(&s);

	/* Messages: isolation by archive, also when guessing ids. */
	s = get(&alice, "/api/v1/messages/default-1", NULL, NULL);
	ok(s.status == 200 && !strcmp(json_string_value(json_object_get(s.j, "sha256")),
	                              T->msg_sha[0]), "alice reads default-1, SHA-256 given");
	ok(json_is_array(json_object_get(s.j, "arrivals")) &&
	   json_array_size(json_object_get(s.j, "arrivals")) == 1, "one arrival listed");
	ok(json_object_get(json_object_get(s.j, "store"), "segment") != NULL, "store position");
	is_str(json_string_value(json_object_get(s.j, "id")), "default-1", "id");
	is_str(json_string_value(json_object_get(s.j, "subject")), "first", "decoded subject");
	is_str(json_string_value(json_array_get(json_object_get(s.j, "from"), 0)), "a@example.com",
	       "from addresses");
	json_t *h0 = json_array_get(json_object_get(s.j, "headers"), 2);
	ok(h0 && !strcmp(json_string_value(json_object_get(h0, "name")), "Subject") &&
	   !strcmp(json_string_value(json_object_get(h0, "value")), "first"), "headers in order");
	ok(json_array_size(json_object_get(s.j, "parts")) == 1, "part tree");
	ok(json_is_array(json_object_get(s.j, "warnings")), "warnings listed (none: no Date)");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/other-1", NULL, NULL);
	ok(s.status == 404, "alice guessing other-1 gets 404, as if it did not exist");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/nonexistent-1", NULL, NULL);
	is_int(s.status, 404, "an archive that does not exist: the same 404");
	rs_free(&s);
	ok(audit_count("alice", "message.view", "denied") == 2, "refused views audited");
	s = get(&dave, "/api/v1/messages/other-1", NULL, NULL);
	is_int(s.status, 200, "legal reads its archive");
	rs_free(&s);
	s = get(&bob, "/api/v1/messages/default-1", NULL, NULL);
	is_int(s.status, 403, "admin without auditor: 403 on message content");
	rs_free(&s);
	static const char *badids[] = {"default", "default-0", "default-01", "default-",
	                               "-1", "default-1x", "default-99999999999999999999",
	                               "default-2", "Default-1"};
	for (size_t i = 0; i < sizeof badids / sizeof badids[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "/api/v1/messages/%s", badids[i]);
		s = get(&admin, path, NULL, NULL);
		ok(s.status == 404, "id '%s' is 404", badids[i]);
		rs_free(&s);
	}
	s = get(&alice, "/api/v1/messages/default-1/raw", NULL, NULL);
	ok(s.status == 200 && s.r.content_type && !strcmp(s.r.content_type, "message/rfc822"),
	   "raw: 200 message/rfc822");
	ok(hdr_of(&s, "Content-Disposition") &&
	   !strncmp(hdr_of(&s, "Content-Disposition"), "attachment", 10), "raw: attachment");
	ok(hdr_of(&s, "X-Content-Type-Options") &&
	   !strcmp(hdr_of(&s, "X-Content-Type-Options"), "nosniff"), "raw: nosniff");
	is_mem(s.streamed.data, s.streamed.len, testapp_msg[0], strlen(testapp_msg[0]),
	       "raw: exactly the stored bytes");
	is_int(s.r.stream.size, strlen(testapp_msg[0]), "raw: length known up front");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/other-1/raw", NULL, NULL);
	ok(s.status == 404 && !s.streamed.len, "raw of another archive: 404, no bytes");
	rs_free(&s);
	ok(audit_count("alice", "message.raw", "ok") == 1, "raw download audited");
}

static void test_csrf_logout(void)
{
	sess_t a;
	login("alice", &a);
	rs_t s = call(&(rq_t){.method = "DELETE", .path = "/api/v1/session",
	                      .headers = {"Cookie", a.cookie, "Origin", "http://vellum.test", "Host",
	                                  "vellum.test", NULL}});
	ok(s.status == 403 && !strcmp(code_of(&s), "csrf"), "logout without X-CSRF-Token 403");
	rs_free(&s);
	s = call(&(rq_t){.method = "DELETE", .path = "/api/v1/session",
	                 .headers = {"Cookie", a.cookie, "X-CSRF-Token", a.csrf, "Origin",
	                             "http://evil.example", "Host", "vellum.test", NULL}});
	ok(s.status == 403, "logout from another origin 403");
	rs_free(&s);
	s = call(&(rq_t){.method = "DELETE", .path = "/api/v1/session",
	                 .headers = {"Cookie", a.cookie, "X-CSRF-Token", a.csrf, NULL}});
	ok(s.status == 403, "no Origin and no Sec-Fetch-Site: 403");
	rs_free(&s);
	s = call(&(rq_t){.method = "DELETE", .path = "/api/v1/session",
	                 .headers = {"Cookie", a.cookie, "X-CSRF-Token", "x", "Sec-Fetch-Site",
	                             "same-origin", NULL}});
	ok(s.status == 403, "wrong token 403");
	rs_free(&s);
	s = get(&a, "/api/v1/search", NULL, NULL);
	is_int(s.status, 200, "session still valid after refused logouts");
	rs_free(&s);
	s = call(&(rq_t){.method = "DELETE", .path = "/api/v1/session",
	                 .headers = {"Cookie", a.cookie, "X-CSRF-Token", a.csrf, "Sec-Fetch-Site",
	                             "same-origin", NULL}});
	ok(s.status == 200 && hdr_of(&s, "Set-Cookie") && strstr(hdr_of(&s, "Set-Cookie"), "Max-Age=0"),
	   "logout with token and Sec-Fetch-Site: 200, cookie cleared");
	rs_free(&s);
	s = get(&a, "/api/v1/search", NULL, NULL);
	is_int(s.status, 401, "after logout the cookie is refused");
	rs_free(&s);
	ok(audit_count("alice", "logout", "ok") == 1, "logout audited");
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"alice\", \"password\": \"alice-password-1\"}",
	                 .headers = {"Cookie", a.cookie, NULL}});
	is_int(s.status, 200, "a stale cookie does not block the next login");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/healthz", .headers = {"Cookie", a.cookie, NULL}});
	is_int(s.status, 200, "nor a public route");
	rs_free(&s);
}

static void test_users(void)
{
	sess_t admin, alice;
	login("admin", &admin);
	login("alice", &alice);
	rs_t s = get(&alice, "/api/v1/users", NULL, NULL);
	is_int(s.status, 403, "alice may not list users");
	rs_free(&s);
	s = get(&admin, "/api/v1/users", NULL, NULL);
	ok(s.status == 200 && json_array_size(json_object_get(s.j, "users")) == 5, "admin lists 5");
	char *text = json_dumps(s.j, 0);
	ok(text && !strstr(text, "argon2"), "no password hash in the listing");
	free(text);
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/users",
	           "{\"name\": \"erin\", \"grants\": [{\"role\": \"auditor\", \"archive\": \"other\"}]}");
	const char *pw = json_string_value(json_object_get(s.j, "password"));
	ok(s.status == 201 && pw && strlen(pw) == AUTH_PASSWORD_GEN_LEN,
	   "create erin: 201 with a generated password");
	char erinpw[64];
	snprintf(erinpw, sizeof erinpw, "%s", pw ? pw : "");
	ok(json_array_size(json_object_get(s.j, "grants")) == 1, "with her grant");
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/users", "{\"name\": \"erin\"}");
	ok(s.status == 409 && !strcmp(code_of(&s), "conflict"), "duplicate user 409");
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/users", "{\"name\": \"cli:x\"}");
	is_int(s.status, 400, "invalid user name 400");
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/users", "{\"name\": \"fay\", \"password\": \"short\"}");
	is_int(s.status, 400, "too short password 400");
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/users",
	           "{\"name\": \"gus\", \"grants\": [{\"role\": \"king\"}]}");
	is_int(s.status, 400, "unknown role 400");
	rs_free(&s);
	s = change(&admin, "PATCH", "/api/v1/users/erin",
	           "{\"grant\": [{\"role\": \"legal\", \"archive\": \"default\"}, "
	           "{\"role\": \"legal\", \"archive\": \"nowhere\"}]}");
	is_int(s.status, 404, "grant on an unknown archive 404");
	rs_free(&s);
	s = get(&admin, "/api/v1/users/erin", NULL, NULL);
	is_int(json_array_size(json_object_get(s.j, "grants")), 1,
	       "a list with one bad grant changes nothing");
	rs_free(&s);
	s = change(&alice, "POST", "/api/v1/users", "{\"name\": \"hal\"}");
	is_int(s.status, 403, "alice may not create users");
	rs_free(&s);

	char body[256];
	snprintf(body, sizeof body, "{\"user\": \"erin\", \"password\": \"%s\"}", erinpw);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = body});
	is_int(s.status, 200, "erin logs in with the generated password");
	rs_free(&s);
	s = change(&admin, "PATCH", "/api/v1/users/erin", "{\"disabled\": true}");
	ok(s.status == 200 && json_is_true(json_object_get(s.j, "disabled")), "disable erin");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = body});
	is_int(s.status, 401, "disabled erin cannot log in");
	rs_free(&s);
	s = change(&admin, "PATCH", "/api/v1/users/erin", "{\"disabled\": \"yes\"}");
	is_int(s.status, 400, "disabled must be boolean");
	rs_free(&s);
	s = change(&admin, "PATCH", "/api/v1/users/erin", "{\"colour\": \"red\"}");
	is_int(s.status, 400, "unknown field 400");
	rs_free(&s);
	s = change(&admin, "PATCH", "/api/v1/users/nobody", "{\"disabled\": true}");
	is_int(s.status, 404, "unknown user 404");
	rs_free(&s);
	s = change(&admin, "PATCH", "/api/v1/users/erin",
	           "{\"revoke\": [{\"role\": \"auditor\", \"archive\": \"other\"}]}");
	ok(s.status == 200 && json_array_size(json_object_get(s.j, "grants")) == 0, "revoke");
	rs_free(&s);

	s = change(&alice, "PATCH", "/api/v1/users/alice",
	           "{\"password\": \"new alice pw\", \"current_password\": \"wrong\"}");
	is_int(s.status, 403, "own password change with a wrong current password 403");
	rs_free(&s);
	s = change(&alice, "PATCH", "/api/v1/users/alice", "{\"disabled\": true}");
	is_int(s.status, 403, "alice may not disable herself");
	rs_free(&s);
	s = change(&alice, "PATCH", "/api/v1/users/admin", "{\"password\": \"xxxxxxxxxx\"}");
	is_int(s.status, 403, "alice may not change another's password");
	rs_free(&s);
	s = get(&alice, "/api/v1/users/alice", NULL, NULL);
	is_int(s.status, 200, "alice reads her own entry");
	rs_free(&s);
	s = change(&alice, "PATCH", "/api/v1/users/alice",
	           "{\"password\": \"new alice pw\", \"current_password\": \"alice-password-1\"}");
	is_int(s.status, 200, "own password change with the current one");
	rs_free(&s);
	s = get(&alice, "/api/v1/search", NULL, NULL);
	is_int(s.status, 401, "the password change ended alice's session");
	rs_free(&s);
	auth_user_passwd(T->app->db, "alice", "alice-password-1");
	ok(audit_count(NULL, "user", NULL) >= 5, "user changes audited");
}

static void test_audit_route(void)
{
	sess_t admin, alice;
	login("admin", &admin);
	login("alice", &alice);
	rs_t s = get(&alice, "/api/v1/audit", NULL, NULL);
	is_int(s.status, 403, "alice may not read the audit trail");
	rs_free(&s);
	s = get(&admin, "/api/v1/audit", "action", "login");
	ok(s.status == 200 && json_array_size(json_object_get(s.j, "entries")) > 3,
	   "admin lists logins");
	ok(json_object_get(s.j, "format_version") && json_is_false(json_object_get(s.j, "more")),
	   "with format_version and more=false");
	rs_free(&s);
	s = get(&admin, "/api/v1/audit", "since", "yesterday-ish");
	is_int(s.status, 400, "bad since 400");
	rs_free(&s);
	s = get(&admin, "/api/v1/audit", "since", "1h");
	ok(s.status == 200 && json_array_size(json_object_get(s.j, "entries")) > 0, "since=1h");
	rs_free(&s);
	s = get(&admin, "/api/v1/audit", "after", "abc");
	is_int(s.status, 400, "bad after 400");
	rs_free(&s);
	ok(audit_count("admin", "audit.list", "ok") >= 2, "listing the trail is audited");
}

static void test_transports(void)
{
	auth_principal_t *cli = auth_principal_cli("root");
	rs_t s = call(&(rq_t){.method = "GET", .path = "/api/v1/search", .p = cli,
	                      .via = API_VIA_CONTROL, .query = {"q", "anything", NULL}});
	is_int(s.status, 200, "cli principal searches");
	rs_free(&s);
	ok(audit_count("cli:root", "search", "ok") == 1, "audited as cli:root");
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/users", .p = cli, .via = API_VIA_DIRECT,
	                 .body = "{\"name\": \"ivy\", \"password\": \"ivy password\"}"});
	is_int(s.status, 201, "cli creates a user without CSRF headers (not a browser)");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/metrics", .p = cli, .via = API_VIA_CONTROL});
	is_int(s.status, 200, "metrics over the control socket");
	rs_free(&s);
	auth_principal_free(cli);

	s = call(&(rq_t){.method = "GET", .path = "/metrics"});
	ok(s.status == 200 && s.r.content_type && strstr(s.r.content_type, "text/plain") &&
	   strstr((char *)s.r.body.data, "vellum_http_requests_total"),
	   "metrics from loopback without a session");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/metrics", .peer = "10.1.2.3"});
	is_int(s.status, 401, "metrics from elsewhere without credentials 401");
	rs_free(&s);
	sess_t admin, alice;
	login("admin", &admin);
	login("alice", &alice);
	s = call(&(rq_t){.method = "GET", .path = "/metrics", .peer = "10.1.2.3",
	                 .headers = {"Cookie", admin.cookie, NULL}});
	ok(s.status == 403 && !strcmp(code_of(&s), "tls_required"),
	   "a session cookie over plain HTTP from off loopback is refused (tls_required)");
	rs_free(&s);
	char tok[AUTH_API_TOKEN_LEN + 1], bearer[AUTH_API_TOKEN_LEN + 16];
	db_grant_t mg = {"auditor", "default"};
	ok(auth_api_token_create(T->app->db, "scraper", &mg, 1, "test", 0, tok) == AUTH_OK,
	   "a token for the scraper");
	snprintf(bearer, sizeof bearer, "Bearer %s", tok);
	s = call(&(rq_t){.method = "GET", .path = "/metrics", .peer = "10.1.2.3",
	                 .headers = {"Authorization", bearer, NULL}});
	is_int(s.status, 200, "metrics from elsewhere with a bearer token");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/metrics", .peer = "10.1.2.3", .tls = true,
	                 .headers = {"Cookie", alice.cookie, NULL}});
	is_int(s.status, 401, "the plain-HTTP cookie is not the HTTPS one (__Host-vellum)");
	rs_free(&s);

	/* Fail closed: with the audit trail unavailable nothing is served. */
	audit_t *real = T->app->audit;
	T->app->audit = audit_new(NULL);
	s = get(&alice, "/api/v1/search", "q", "x");
	ok(s.status == 503 && !json_object_get(s.j, "results"), "no audit trail: search 503");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/default-1/raw", NULL, NULL);
	ok(s.status == 503 && !s.streamed.len, "no audit trail: no raw bytes");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"alice\", \"password\": \"alice-password-1\"}"});
	ok(s.status == 503 && !hdr_of(&s, "Set-Cookie"), "no audit trail: no login");
	rs_free(&s);
	audit_free(T->app->audit);
	T->app->audit = real;
}

/* The OpenAPI document lists exactly the routes the router serves: every
 * row of the route table has its path and method in the document, and
 * every operation in the document has a row.  Other modules' routes are
 * rows too, so this covers them as they are added. */
static void test_openapi(void)
{
	rs_t s = call(&(rq_t){.method = "GET", .path = "/api/v1/openapi.json"});
	json_t *doc = json_loadb((const char *)s.r.body.data, s.r.body.len, 0, NULL);
	ok(s.status == 200 && json_is_object(doc), "openapi.json without credentials, JSON");
	const char *ver = json_string_value(json_object_get(doc, "openapi"));
	ok(ver && !strncmp(ver, "3.", 2), "an OpenAPI 3 document");
	json_t *paths = json_object_get(doc, "paths");
	size_t rows = api_route_count(), missing = 0, ops = 0, extra = 0;
	for (size_t i = 0; i < rows; i++) {
		const char *m, *pat;
		bool pub;
		api_route_at(i, &m, &pat, &pub);
		char lower[16];
		size_t k = 0;
		for (; m[k] && k + 1 < sizeof lower; k++)
			lower[k] = (char)(m[k] | 0x20);
		lower[k] = '\0';
		if (!json_object_get(json_object_get(paths, pat), lower)) {
			diag("route %s %s is not in doc/api/openapi.json", m, pat);
			missing++;
		}
	}
	const char *path;
	json_t *item;
	json_object_foreach(paths, path, item) {
		const char *method;
		json_t *o;
		json_object_foreach(item, method, o) {
			ops++;
			bool found = false;
			for (size_t i = 0; i < rows && !found; i++) {
				const char *m, *pat;
				bool pub;
				api_route_at(i, &m, &pat, &pub);
				found = !strcmp(pat, path) && !strcasecmp(m, method);
			}
			if (!found) {
				diag("doc/api/openapi.json has %s %s, which no route serves", method, path);
				extra++;
			}
		}
	}
	ok(rows > 20 && !missing, "every route (%zu) is in the document", rows);
	ok(!extra && ops == rows, "and the document has nothing else (%zu operations)", ops);
	json_decref(doc);
	rs_free(&s);
}

static void bearer(char *out, size_t n, const char *tok)
{
	snprintf(out, n, "Bearer %s", tok);
}

static void test_tokens_api(void)
{
	sess_t admin;
	login("admin", &admin);
	rs_t s = change(&admin, "POST", "/api/v1/tokens",
	                "{\"name\": \"reader\", \"grants\": [{\"role\": \"auditor\", "
	                "\"archive\": \"default\"}, {\"role\": \"ingest\", \"archive\": \"default\"}]}");
	const char *tv = json_string_value(json_object_get(s.j, "token"));
	ok(s.status == 201 && tv, "admin creates a token; its value comes back once");
	char auth[128];
	bearer(auth, sizeof auth, tv ? tv : "");
	rs_free(&s);
	s = get(&admin, "/api/v1/tokens", NULL, NULL);
	json_t *t0 = json_array_get(json_object_get(s.j, "tokens"), 0);
	ok(s.status == 200 && t0 && !json_object_get(t0, "token") &&
	   !strcmp(json_string_value(json_object_get(t0, "created_by")), "admin"),
	   "listed without its value");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/messages/default-1",
	                 .headers = {"Authorization", auth, NULL}});
	is_int(s.status, 200, "the token reads its archive");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/messages/other-1",
	                 .headers = {"Authorization", auth, NULL}});
	is_int(s.status, 404, "but not another (404, as for a guessed id)");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/users",
	                 .headers = {"Authorization", auth, NULL}});
	is_int(s.status, 403, "and has no admin role");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/archives/default/messages",
	                 .body = "Subject: via token\r\n\r\nhello\r\n",
	                 .headers = {"Authorization", auth, "Origin", "http://evil.test", NULL}});
	ok(s.status == 201 && !strncmp(json_string_value(json_object_get(s.j, "id")), "default-", 8),
	   "a token submits without CSRF headers (no ambient credentials)");
	rs_free(&s);
	ok(audit_count("token:reader", "message.submit", "ok") == 1, "audited as token:reader");
	s = change(&admin, "DELETE", "/api/v1/tokens/reader", NULL);
	is_int(s.status, 200, "revoke");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/search",
	                 .headers = {"Authorization", auth, NULL}});
	ok(s.status == 401 && !strcmp(code_of(&s), "unauthorized"), "a revoked token: 401");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/search",
	                 .headers = {"Authorization", "Basic YWRtaW46YWRtaW4=", NULL}});
	is_int(s.status, 401, "another scheme: 401");
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/tokens", "{\"name\": \"x\", \"grants\": []}");
	is_int(s.status, 400, "a token needs grants");
	rs_free(&s);
	s = change(&admin, "POST", "/api/v1/tokens",
	           "{\"name\": \"x\", \"grants\": [{\"role\": \"auditor\", \"archive\": \"nope\"}]}");
	is_int(s.status, 404, "on an archive that exists");
	rs_free(&s);
	sess_t alice;
	login("alice", &alice);
	s = change(&alice, "POST", "/api/v1/tokens",
	           "{\"name\": \"mine\", \"grants\": [{\"role\": \"auditor\"}]}");
	is_int(s.status, 403, "an auditor cannot create tokens");
	rs_free(&s);
}

/* The code for now from an otpauth URI's secret. */
static void code_now(const char *secret, int offset_steps, char out[AUTH_TOTP_DIGITS + 1])
{
	auth_totp_code(secret, util_now() / UTIL_US_PER_SEC / AUTH_TOTP_STEP + offset_steps, out);
}

static void test_totp_api(void)
{
	sess_t alice, admin;
	login("alice", &alice);
	rs_t s = change(&alice, "POST", "/api/v1/users/alice/totp", NULL);
	const char *sec = json_string_value(json_object_get(s.j, "secret"));
	const char *uri = json_string_value(json_object_get(s.j, "otpauth_uri"));
	const char *svg = json_string_value(json_object_get(s.j, "qr_svg"));
	ok(s.status == 201 && sec && uri && !strncmp(uri, "otpauth://totp/Vellum:alice?secret=", 35),
	   "alice enrols herself: key and otpauth URI");
	ok(svg && !strncmp(svg, "<svg", 4), "with the URI as an SVG QR code");
	char secret[AUTH_TOTP_B32_LEN + 1];
	snprintf(secret, sizeof secret, "%s", sec ? sec : "");
	rs_free(&s);
	s = change(&alice, "POST", "/api/v1/users/admin/totp", NULL);
	is_int(s.status, 403, "but not someone else");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session",
	                 .body = "{\"user\": \"alice\", \"password\": \"alice-password-1\"}"});
	ok(s.status == 401 && !strcmp(code_of(&s), "totp_required") && !hdr_of(&s, "Set-Cookie"),
	   "login without the code: 401 totp_required, no session");
	rs_free(&s);
	char body[256], code[8];
	snprintf(body, sizeof body,
	         "{\"user\": \"alice\", \"password\": \"alice-password-1\", \"totp\": \"%s\"}",
	         "000000");
	code_now(secret, 0, code);
	if (!strcmp(code, "000000"))
		snprintf(body, sizeof body, "{\"user\": \"alice\", \"password\": "
		                            "\"alice-password-1\", \"totp\": \"111111\"}");
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = body});
	ok(s.status == 401 && !strcmp(code_of(&s), "unauthorized"), "a wrong code: 401");
	rs_free(&s);
	ok(audit_count("alice", "login", "failed") >= 1, "audited as a failed login");
	snprintf(body, sizeof body,
	         "{\"user\": \"alice\", \"password\": \"alice-password-1\", \"totp\": \"%s\"}",
	         code);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = body});
	ok(s.status == 200 && json_is_true(json_object_get(s.j, "totp")), "the right code: in");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .body = body});
	is_int(s.status, 401, "the same code twice: refused (replay)");
	rs_free(&s);
	login("admin", &admin);
	s = change(&admin, "DELETE", "/api/v1/users/alice/totp", NULL);
	is_int(s.status, 200, "an admin removes it");
	rs_free(&s);
	ok(login("alice", &alice), "and the password alone works again");
	s = change(&alice, "DELETE", "/api/v1/users/alice/totp", NULL);
	is_int(s.status, 403, "removal is for admins");
	rs_free(&s);
	ok(audit_count(NULL, "user.totp", "ok") == 2, "enrolment and removal audited");
}

static void test_throttle_api(void)
{
	rs_t s;
	for (int i = 0; i < AUTH_THROTTLE_USER_FAILS; i++) {
		s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .peer = "127.0.0.9",
		                 .body = "{\"user\": \"dave\", \"password\": \"wrong password\"}"});
		rs_free(&s);
	}
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/session", .peer = "127.0.0.9",
	                 .body = "{\"user\": \"dave\", \"password\": \"dave-password-1\"}"});
	const char *ra = hdr_of(&s, "Retry-After");
	ok(s.status == 429 && !strcmp(code_of(&s), "too_many_requests") && ra && atoi(ra) > 0,
	   "after %d failures even the right password gets 429 with Retry-After (%s)",
	   AUTH_THROTTLE_USER_FAILS, ra ? ra : "-");
	rs_free(&s);
	ok(audit_count("dave", "login", "failed") == AUTH_THROTTLE_USER_FAILS &&
	   audit_count("dave", "login", "throttled") == 1, "failures and the throttled try audited");
}

static void test_messages_api(void)
{
	sess_t admin, alice, bob;
	login("admin", &admin);
	login("alice", &alice);
	login("bob", &bob);
	rs_t s = get(&alice, "/api/v1/messages/default-1/body", "format", "text");
	ok(s.status == 200 && s.r.body.len && strstr((char *)s.r.body.data, "body one") &&
	   !strncmp(s.r.content_type, "text/plain", 10), "text body");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/default-1/body", "format", "html");
	is_int(s.status, 404, "no HTML body: 404");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/default-1/body", "format", "pdf");
	is_int(s.status, 400, "unknown format: 400");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/default-1/parts/1", NULL, NULL);
	ok(s.status == 200 && !strncmp(hdr_of(&s, "Content-Disposition"), "attachment", 10) &&
	   !strcmp(hdr_of(&s, "X-Content-Type-Options"), "nosniff"), "part 1 as a download");
	rs_free(&s);
	const char *bad[] = {"0", "2", "01", "-1", "x", "99999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[64];
		snprintf(path, sizeof path, "/api/v1/messages/default-1/parts/%s", bad[i]);
		s = get(&alice, path, NULL, NULL);
		is_int(s.status, 404, "part %s: 404", bad[i]);
		rs_free(&s);
	}
	s = get(&alice, "/api/v1/messages/other-1/parts/1", NULL, NULL);
	is_int(s.status, 404, "a part in an archive not granted: 404");
	rs_free(&s);
	s = get(&bob, "/api/v1/messages/default-1/body", NULL, NULL);
	is_int(s.status, 403, "admin without auditor: no bodies");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/default-1/raw", "inner", "1");
	is_int(s.status, 404, "not a journal report: no inner message");
	rs_free(&s);
	s = get(&alice, "/api/v1/messages/default-1", NULL, NULL);
	json_t *integ = json_object_get(s.j, "integrity");
	ok(s.status == 200 && json_integer_value(json_object_get(integ, "chain_seq")) > 0 &&
	   !strcmp(json_string_value(json_object_get(integ, "sha256")), T->msg_sha[0]),
	   "detail: integrity with chain sequence and SHA-256");
	ok(json_is_array(json_object_get(s.j, "parts")) &&
	   !strcmp(json_string_value(json_object_get(s.j, "subject")), "first"),
	   "detail: rendered headers and parts");
	rs_free(&s);
	/* Submission: ingest or admin on the archive. */
	s = change(&alice, "POST", "/api/v1/archives/default/messages", "Subject: x\r\n\r\ny\r\n");
	is_int(s.status, 403, "an auditor cannot submit");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/archives/default/messages",
	                 .query = {"mail_from", "a@b.example", "rcpt", "c@d.example,e@f.example", NULL},
	                 .body = "Subject: submitted\r\n\r\nhello\r\n",
	                 .headers = {"Cookie", bob.cookie, "X-CSRF-Token", bob.csrf, "Origin",
	                             "http://vellum.test", "Host", "vellum.test", NULL}});
	const char *id = json_string_value(json_object_get(s.j, "id"));
	ok(s.status == 201 && id, "an admin submits a message");
	char mid[64];
	snprintf(mid, sizeof mid, "%s", id ? id : "");
	rs_free(&s);
	s = call(&(rq_t){.method = "POST", .path = "/api/v1/archives/default/messages",
	                 .body = "Subject: submitted\r\n\r\nhello\r\n",
	                 .headers = {"Cookie", bob.cookie, "X-CSRF-Token", bob.csrf, "Origin",
	                             "http://vellum.test", "Host", "vellum.test", NULL}});
	ok(s.status == 201 && json_is_true(json_object_get(s.j, "duplicate")) &&
	   !strcmp(json_string_value(json_object_get(s.j, "id")), mid),
	   "the same bytes again: the same id, a duplicate");
	rs_free(&s);
	char path[96];
	snprintf(path, sizeof path, "/api/v1/messages/%s", mid);
	s = get(&admin, path, NULL, NULL);
	json_t *a0 = json_array_get(json_object_get(s.j, "arrivals"), 0);
	ok(s.status == 200 && !strcmp(json_string_value(json_object_get(a0, "listener")), "api") &&
	   !strcmp(json_string_value(json_object_get(a0, "auth_id")), "bob") &&
	   json_array_size(json_object_get(a0, "rcpt")) == 2 &&
	   json_array_size(json_object_get(s.j, "arrivals")) == 2, "stored like an arrival, twice");
	rs_free(&s);
	s = change(&bob, "POST", "/api/v1/archives/nope/messages", "x");
	is_int(s.status, 404, "no such archive: 404");
	rs_free(&s);
	s = change(&bob, "POST", "/api/v1/archives/default/messages", "");
	is_int(s.status, 400, "an empty message: 400");
	rs_free(&s);
}

static void test_session_route(void)
{
	sess_t alice;
	login("alice", &alice);
	rs_t s = get(&alice, "/api/v1/session", NULL, NULL);
	ok(s.status == 200 && !strcmp(json_string_value(json_object_get(s.j, "user")), "alice") &&
	   !strcmp(json_string_value(json_object_get(s.j, "csrf_token")), alice.csrf),
	   "GET /api/v1/session: who am I, with the CSRF token");
	rs_free(&s);
	s = call(&(rq_t){.method = "GET", .path = "/api/v1/session"});
	is_int(s.status, 401, "without a session: 401");
	rs_free(&s);
}

static void test_audit_verify_api(void)
{
	sess_t admin, alice;
	login("admin", &admin);
	login("alice", &alice);
	rs_t s = get(&admin, "/api/v1/audit/verify", NULL, NULL);
	ok(s.status == 200 && json_is_true(json_object_get(s.j, "intact")) &&
	   json_integer_value(json_object_get(s.j, "entries")) > 10, "the trail verifies");
	rs_free(&s);
	s = get(&alice, "/api/v1/audit/verify", NULL, NULL);
	is_int(s.status, 403, "admins only");
	rs_free(&s);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	T = testapp_new("api", NULL);
	test_basics();
	test_login();
	test_search();
	test_csrf_logout();
	test_users();
	test_audit_route();
	test_transports();
	test_openapi();
	test_tokens_api();
	test_totp_api();
	test_throttle_api();
	test_messages_api();
	test_session_route();
	test_audit_verify_api();
	testapp_free(T);
	return tap_done();
}
