/* api_messages.c — one message: GET /api/v1/messages/{id}, .../raw[?inner=1],
 * .../body?format=text|html, .../parts/{n}.
 *
 * Does: parse "<archive>-<seq>" ids, check that the caller may read that
 * archive, answer the envelope, arrivals and integrity data from the store's
 * catalog beside what the renderer (api_render.c, out of process) makes of
 * the bytes — decoded headers, addresses, part tree, journal data, warnings
 * — and serve the exact stored bytes, the original inside a journal report,
 * the displayable body (HTML only under a CSP sandbox, for a sandboxed
 * iframe) and single parts, as downloads that are never rendered inline.
 * Every view and download (and every refused attempt) is audited before
 * anything is sent.  A message the renderer cannot handle still shows its
 * envelope, with a warning.
 * Does not: read the index or parse mail in this process.
 *
 * Isolation: a caller without read access to an archive gets the same 404
 * for an id there as for an id that does not exist, so guessing ids tells
 * nothing about other archives; a caller who may read no archive at all
 * gets 403.
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "vellum/mime.h"
#include "vellum/store.h"

/* The policy for message HTML (issue 6): a sandbox without scripts, forms
 * or same-origin access, nothing loaded from anywhere but the message
 * itself (inline images as data: or cid:), inline styles allowed. */
#define BODY_HTML_CSP "sandbox; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'"
/* Longest filename put in a Content-Disposition header (bytes, before
 * percent-encoding); longer names are cut (the part detail has the full one). */
#define PART_FILENAME_MAX 200

/* Resolves the {id} parameter to an archive + seq the caller may read;
 * answers the error (and audits a refusal) otherwise. */
static bool message_target(api_ctx_t *c, const char *action, char archive[STORE_NAME_MAX + 1],
                           uint64_t *seq)
{
	const char *id = c->params[0];
	if (!auth_has_role_any(c->p, ROLE_READ)) {
		if (api_audit(c, action, id, "denied", NULL, NULL))
			api_error(c, API_E_FORBIDDEN, "%s may not read mail (needs auditor or legal)",
			          c->p->name);
		return false;
	}
	if (!store_id_parse(id, archive, seq)) {
		api_error(c, API_E_NOT_FOUND, "no message %s", id);
		return false;
	}
	if (!auth_has_role(c->p, ROLE_READ, archive)) {
		if (api_audit(c, action, id, "denied", NULL, NULL))
			api_error(c, API_E_NOT_FOUND, "no message %s", id);
		return false;
	}
	return true;
}

static bool store_failed(api_ctx_t *c, store_status_t st, const char *id)
{
	if (st == STORE_OK)
		return false;
	if (st == STORE_ENOTFOUND)
		api_error(c, API_E_NOT_FOUND, "no message %s", id);
	else if (st == STORE_ECORRUPT)
		api_error(c, API_E_INTERNAL, "message %s fails its integrity check: %s", id,
		          store_strerror(st));
	else
		api_error(c, API_E_INTERNAL, "message %s cannot be read: %s", id, store_strerror(st));
	return true;
}

/* Reads up to max bytes of the message into b. */
static store_status_t read_raw(api_ctx_t *c, const char *archive, uint64_t seq, size_t max,
                               buf_t *b)
{
	store_reader_t *rd = NULL;
	store_status_t st = store_msg_open(c->app->store, archive, seq, &rd);
	while (st == STORE_OK && b->len < max) {
		buf_reserve(b, 65536);
		size_t want = b->cap - b->len, got = 0;
		if (want > max - b->len)
			want = max - b->len;
		st = store_reader_read(rd, b->data + b->len, want, &got);
		if (!got)
			break;
		b->len += got;
	}
	store_reader_close(rd);
	return st;
}

/* A target that the caller may read, the message's catalog entry, its
 * bytes (at most MIME_INPUT_MAX), and the access audited.  False when
 * answered. */
static bool message_load(api_ctx_t *c, const char *action, json_t *detail, store_msg_t **m,
                         buf_t *raw)
{
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;
	*m = NULL;
	if (!message_target(c, action, archive, &seq))
		return false;
	if (store_failed(c, store_msg_get(c->app->store, archive, seq, m), c->params[0]))
		return false;
	if (raw && store_failed(c, read_raw(c, archive, seq, MIME_INPUT_MAX, raw), c->params[0])) {
		store_msg_free(*m);
		*m = NULL;
		return false;
	}
	if (!api_audit(c, action, c->params[0], "ok", NULL, detail)) {
		store_msg_free(*m);
		*m = NULL;
		return false;
	}
	return true;
}

static json_t *arrival_json(const store_arrival_t *a)
{
	json_t *o = json_object();
	json_object_set_new(o, "received", api_time(a->received));
	json_object_set_new(o, "listener", api_str(a->listener));
	json_object_set_new(o, "client_addr", api_str(a->client_addr));
	json_object_set_new(o, "client_port", json_integer(a->client_port));
	json_object_set_new(o, "helo", api_str(a->helo));
	json_object_set_new(o, "tls", a->tls_version ? json_pack("{s:s, s:o}", "version",
	                                                         a->tls_version, "cipher",
	                                                         api_str(a->tls_cipher))
	                                             : json_null());
	json_object_set_new(o, "auth_id", api_str(a->auth_id));
	json_object_set_new(o, "mail_from", api_str(a->mail_from));
	json_object_set_new(o, "mail_params", api_str(a->mail_params));
	json_t *rcpt = json_array();
	for (size_t i = 0; i < a->nrcpt && a->rcpt && a->rcpt[i]; i++)
		json_array_append_new(rcpt, api_str(a->rcpt[i]));
	json_object_set_new(o, "rcpt", rcpt);
	json_t *flags = json_array();
	static const struct {
		uint32_t bit;
		const char *name;
	} fl[] = {{STORE_ENV_BARE_LF, "bare_lf"},     {STORE_ENV_BARE_CR, "bare_cr"},
	          {STORE_ENV_8BITMIME, "8bitmime"},   {STORE_ENV_SMTPUTF8, "smtputf8"},
	          {STORE_ENV_BDAT, "bdat"},           {STORE_ENV_IMPORT, "import"}};
	for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
		if (a->flags & fl[i].bit)
			json_array_append_new(flags, json_string(fl[i].name));
	json_object_set_new(o, "flags", flags);
	json_object_set_new(o, "position",
	                    json_pack("{s:I, s:o, s:I}", "record_seq", (json_int_t)a->record_seq,
	                              "segment", api_str(a->segment), "offset",
	                              (json_int_t)a->offset));
	return o;
}

static json_t *message_json(const store_msg_t *m, const char *id)
{
	char sha[65];
	util_hex(m->sha256, sizeof m->sha256, sha);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "archive", json_string(m->archive));
	json_object_set_new(o, "seq", json_integer((json_int_t)m->seq));
	json_object_set_new(o, "sha256", json_string(sha));
	json_object_set_new(o, "size", json_integer((json_int_t)m->size));
	json_object_set_new(o, "received", api_time(m->received));
	json_t *arr = json_array();
	for (size_t i = 0; i < m->narrivals; i++)
		json_array_append_new(arr, arrival_json(&m->arrivals[i]));
	json_object_set_new(o, "arrivals", arr);
	/* Integrity: where the message sits in its archive's chain (its first
	 * arrival's record), and when a verify last covered it. */
	json_t *integ = json_object();
	json_object_set_new(integ, "sha256", json_string(sha));
	if (m->narrivals) {
		json_t *pos = json_object_get(json_array_get(arr, 0), "position");
		json_object_set(o, "store", pos);
		json_object_set(integ, "store", pos);
		json_object_set_new(integ, "chain_seq",
		                    json_integer((json_int_t)m->arrivals[0].record_seq));
	}
	json_object_set_new(integ, "verified", json_null());
	json_object_set_new(o, "integrity", integ);
	return o;
}

/* Merges the renderer's view into o (the store's keys win), or records why
 * there is none. */
static void render_into(const buf_t *raw, uint64_t size, json_t *o)
{
	json_t *r = NULL;
	api_render_status_t st = api_render_detail(raw->data, raw->len, &r);
	json_t *w = json_array();
	if (st == RENDER_OK && r) {
		const char *key;
		json_t *v;
		json_object_foreach(r, key, v) {
			if (!strcmp(key, "warnings"))
				json_array_extend(w, v);
			else if (!json_object_get(o, key))
				json_object_set(o, key, v);
		}
	} else {
		json_array_append_new(w, json_string("render_failed"));
		json_object_set_new(o, "render_error", json_string(api_render_strerror(st)));
	}
	if (size > raw->len && !json_object_get(o, "render_error"))
		json_array_append_new(w, json_string("input_truncated"));
	json_decref(r);
	json_object_set_new(o, "warnings", w);
}

void api_message_get(api_ctx_t *c)
{
	store_msg_t *m;
	buf_t raw = {0};
	if (!message_load(c, "message.view", NULL, &m, &raw))
		return;
	json_t *o = message_json(m, c->params[0]);
	render_into(&raw, m->size, o);
	store_msg_free(m);
	buf_free(&raw);
	api_json(c, 200, o);
	json_decref(o);
}

/* ---- downloads ---- */

static long raw_read(void *arg, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	store_status_t st = store_reader_read(arg, buf, cap, &got);
	return st == STORE_OK ? (long)got : -1;
}

static void raw_close(void *arg)
{
	store_reader_close(arg);
}

/* Headers every download carries: never rendered, never cached. */
static void download_headers(api_response_t *r, const char *ctype, const char *disposition)
{
	r->status = 200;
	free(r->content_type);
	r->content_type = xstrdup(ctype);
	api_response_header(r, "Content-Disposition", disposition);
	api_response_header(r, "X-Content-Type-Options", "nosniff");
	api_response_header(r, "Content-Security-Policy", "sandbox; default-src 'none'");
	api_response_header(r, "Cache-Control", "no-store");
}

static void raw_inner(api_ctx_t *c)
{
	store_msg_t *m;
	buf_t raw = {0};
	json_t *d = json_pack("{s:b}", "inner", 1);
	bool ok = message_load(c, "message.raw", d, &m, &raw);
	json_decref(d);
	if (!ok)
		return;
	store_msg_free(m);
	buf_t inner = {0};
	bool exact = false;
	api_render_status_t st = api_render_inner(raw.data, raw.len, &inner, &exact);
	buf_free(&raw);
	if (st == RENDER_ENOTFOUND) {
		api_error(c, API_E_NOT_FOUND, "message %s is not a journal report with an original",
		          c->params[0]);
	} else if (st != RENDER_OK) {
		api_error(c, API_E_RENDER, "message %s: %s", c->params[0], api_render_strerror(st));
	} else {
		char disp[STORE_NAME_MAX + 64], sha[65];
		uint8_t h[32];
		crypto_hash_sha256(h, inner.data, inner.len);
		util_hex(h, sizeof h, sha);
		snprintf(disp, sizeof disp, "attachment; filename=\"%s-inner.eml\"", c->params[0]);
		download_headers(c->resp, "message/rfc822", disp);
		api_response_header(c->resp, "X-Vellum-Inner-Exact", exact ? "1" : "0");
		api_response_header(c->resp, "X-Vellum-SHA256", sha);
		buf_append(&c->resp->body, inner.data, inner.len);
	}
	buf_free(&inner);
}

void api_message_raw(api_ctx_t *c)
{
	const char *inner = api_request_query(c->req, "inner");
	if (inner && strcmp(inner, "0") && strcmp(inner, "false")) {
		if (strcmp(inner, "1") && strcmp(inner, "true")) {
			api_error(c, API_E_BAD_REQUEST, "inner: 1 or 0");
			return;
		}
		raw_inner(c);
		return;
	}
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;
	if (!message_target(c, "message.raw", archive, &seq))
		return;
	const char *id = c->params[0];
	store_msg_t *m = NULL;
	if (store_failed(c, store_msg_get(c->app->store, archive, seq, &m), id))
		return;
	int64_t size = (int64_t)m->size;
	char sha[65];
	util_hex(m->sha256, sizeof m->sha256, sha);
	store_msg_free(m);
	store_reader_t *rd = NULL;
	if (store_failed(c, store_msg_open(c->app->store, archive, seq, &rd), id))
		return;
	if (!api_audit(c, "message.raw", id, "ok", NULL, NULL)) {
		store_reader_close(rd);
		return;
	}
	char disp[STORE_NAME_MAX + 64];
	/* The id is [a-z0-9._-] and digits: safe inside a quoted filename. */
	snprintf(disp, sizeof disp, "attachment; filename=\"%s.eml\"", id);
	download_headers(c->resp, "message/rfc822", disp);
	api_response_header(c->resp, "X-Vellum-SHA256", sha);
	c->resp->stream =
		(api_stream_t){.read = raw_read, .close = raw_close, .arg = rd, .size = size};
}

void api_message_body(api_ctx_t *c)
{
	const char *fmt = api_request_query(c->req, "format");
	bool html = fmt && !strcmp(fmt, "html");
	if (fmt && !html && strcmp(fmt, "text")) {
		api_error(c, API_E_BAD_REQUEST, "format: text or html");
		return;
	}
	store_msg_t *m;
	buf_t raw = {0};
	json_t *d = json_pack("{s:s}", "format", html ? "html" : "text");
	bool ok = message_load(c, "message.body", d, &m, &raw);
	json_decref(d);
	if (!ok)
		return;
	store_msg_free(m);
	buf_t out = {0};
	api_render_status_t st = api_render_body(raw.data, raw.len, html, &out);
	buf_free(&raw);
	if (st == RENDER_ENOTFOUND) {
		api_error(c, API_E_NOT_FOUND, "message %s has no HTML body", c->params[0]);
	} else if (st != RENDER_OK) {
		api_error(c, API_E_RENDER, "message %s: %s", c->params[0], api_render_strerror(st));
	} else {
		api_response_t *r = c->resp;
		r->status = 200;
		r->content_type = xstrdup(html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8");
		/* Shown in the UI's sandboxed iframe; the CSP sandbox holds even if
		 * the page is opened on its own. */
		api_response_header(r, "Content-Security-Policy",
		                    html ? BODY_HTML_CSP : "sandbox; default-src 'none'");
		api_response_header(r, "X-Content-Type-Options", "nosniff");
		api_response_header(r, "X-Frame-Options", "SAMEORIGIN");
		api_response_header(r, "Referrer-Policy", "no-referrer");
		api_response_header(r, "Cache-Control", "no-store");
		buf_append(&r->body, out.data, out.len);
	}
	buf_free(&out);
}

/* Content-Disposition for a part: an ASCII fallback filename and the UTF-8
 * one (RFC 6266 §4.3, RFC 8187), with anything that could end or break the
 * header (quotes, controls, path separators) replaced. */
static char *part_disposition(const char *id, unsigned n, const char *filename)
{
	buf_t b = {0}, ascii = {0}, ext = {0};
	char fallback[STORE_NAME_MAX + 32];
	snprintf(fallback, sizeof fallback, "%s-part%u", id, n);
	const char *f = filename && *filename ? filename : fallback;
	size_t len = strlen(f) > PART_FILENAME_MAX ? PART_FILENAME_MAX : strlen(f);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)f[i];
		bool bad = ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\' || ch == '/' || ch == ';';
		buf_append_byte(&ascii, bad || ch >= 0x80 ? '_' : ch);
		if (!bad && ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		             (ch >= '0' && ch <= '9') || strchr("!#$&+-.^_`|~", ch)))
			buf_append_byte(&ext, ch);
		else if (bad)
			buf_append_byte(&ext, '_');
		else
			buf_printf(&ext, "%%%02X", ch);
	}
	buf_printf(&b, "attachment; filename=\"%s\"; filename*=UTF-8''%s",
	           ascii.len ? (const char *)ascii.data : "part", ext.len ? (const char *)ext.data : "part");
	buf_free(&ascii);
	buf_free(&ext);
	return buf_steal(&b);
}

/* A declared content type is passed on only when it is a plain type/subtype
 * token; anything else is application/octet-stream. */
static const char *part_type(const char *ct)
{
	if (!ct || strlen(ct) > 100 || !strchr(ct, '/'))
		return "application/octet-stream";
	for (const char *p = ct; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("/.+-_", *p)))
			return "application/octet-stream";
	return ct;
}

void api_message_part(api_ctx_t *c)
{
	const char *ns = c->params[1];
	char *end;
	errno = 0;
	unsigned long n = strtoul(ns, &end, 10);
	if (*ns < '1' || *ns > '9' || *end || errno || n > MIME_PARTS_MAX) {
		api_error(c, API_E_NOT_FOUND, "no part %s (parts are numbered from 1)", ns);
		return;
	}
	store_msg_t *m;
	buf_t raw = {0};
	json_t *d = json_pack("{s:i}", "part", (int)n);
	bool ok = message_load(c, "message.part", d, &m, &raw);
	json_decref(d);
	if (!ok)
		return;
	store_msg_free(m);
	buf_t out = {0};
	char *filename = NULL, *ctype = NULL;
	api_render_status_t st = api_render_part(raw.data, raw.len, (unsigned)n, &out, &filename,
	                                         &ctype);
	buf_free(&raw);
	if (st == RENDER_ENOTFOUND) {
		api_error(c, API_E_NOT_FOUND, "message %s has no part %lu", c->params[0], n);
	} else if (st != RENDER_OK) {
		api_error(c, API_E_RENDER, "message %s: %s", c->params[0], api_render_strerror(st));
	} else {
		char *disp = part_disposition(c->params[0], (unsigned)n, filename);
		download_headers(c->resp, part_type(ctype), disp);
		free(disp);
		buf_append(&c->resp->body, out.data, out.len);
	}
	free(filename);
	free(ctype);
	buf_free(&out);
}
