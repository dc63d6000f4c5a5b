/* api_messages.c — GET /api/v1/messages/{id} and /messages/{id}/raw.
 *
 * Does: parse "<archive>-<seq>" ids, check that the caller may read that
 * archive, answer the envelope, arrivals and integrity data from the store's
 * catalog, and stream the exact stored bytes as message/rfc822 downloads.
 * Every view and download (and every refused attempt) is audited before
 * anything is sent.
 * The detail view also parses the message (mime.h) for its decoded
 * headers, addresses, part tree and warnings; the envelope comes from the
 * store either way, so a message that does not parse still shows.
 * Does not: read the index, or serve parts and bodies (issue 6).
 *
 * Isolation: a caller without read access to an archive gets the same 404
 * for an id there as for an id that does not exist, so guessing ids tells
 * nothing about other archives; a caller who may read no archive at all
 * gets 403.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "vellum/mime.h"
#include "vellum/store.h"

/* Bytes of a message parsed for the detail view.  Headers and the part tree
 * sit in the first bytes of any real message; a larger one is parsed this
 * far and says so in its warnings ("detail_truncated"). */
#define API_DETAIL_PARSE_MAX ((size_t)64 << 20)

/* Splits "<archive>-<seq>" on the last '-' (archive names may contain '-').
 * seq is decimal, 1.., without sign or leading zeros. */
static bool id_parse(const char *id, char archive[STORE_NAME_MAX + 1], uint64_t *seq)
{
	const char *dash = strrchr(id, '-');
	if (!dash || dash == id || (size_t)(dash - id) > STORE_NAME_MAX)
		return false;
	const char *s = dash + 1;
	if (!*s || *s == '0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	memcpy(archive, id, (size_t)(dash - id));
	archive[dash - id] = '\0';
	*seq = v;
	return db_archive_name_valid(archive);
}

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
	if (!id_parse(id, archive, seq)) {
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

static json_t *str_or_null(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

static json_t *arrival_json(const store_arrival_t *a)
{
	json_t *o = json_object();
	json_object_set_new(o, "received", api_time(a->received));
	json_object_set_new(o, "listener", str_or_null(a->listener));
	json_object_set_new(o, "client_addr", str_or_null(a->client_addr));
	json_object_set_new(o, "client_port", json_integer(a->client_port));
	json_object_set_new(o, "helo", str_or_null(a->helo));
	json_object_set_new(o, "tls", a->tls_version ? json_pack("{s:s, s:o}", "version",
	                                                         a->tls_version, "cipher",
	                                                         str_or_null(a->tls_cipher))
	                                             : json_null());
	json_object_set_new(o, "auth_id", str_or_null(a->auth_id));
	json_object_set_new(o, "mail_from", str_or_null(a->mail_from));
	json_object_set_new(o, "mail_params", str_or_null(a->mail_params));
	json_t *rcpt = json_array();
	for (size_t i = 0; i < a->nrcpt && a->rcpt && a->rcpt[i]; i++)
		json_array_append_new(rcpt, str_or_null(a->rcpt[i]));
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
	                              "segment", str_or_null(a->segment), "offset",
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
	/* Where the message is in the chain: its first arrival's record. */
	if (m->narrivals)
		json_object_set(o, "store", json_object_get(json_array_get(arr, 0), "position"));
	return o;
}

static json_t *addrs_json(const mime_addrlist_t *l)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++) {
		buf_t b = {0};
		mime_addr_format(&l->v[i], &b);
		json_array_append_new(a, str_or_null((const char *)b.data));
		buf_free(&b);
	}
	return a;
}

static json_t *parts_json(const mime_info_t *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->nparts; i++) {
		const mime_part_t *p = &in->parts[i];
		json_t *o = json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:I, s:b, s:b}", "num",
		                      (int)p->num, "parent", (int)p->parent, "depth", (int)p->depth,
		                      "content_type", str_or_null(p->content_type), "charset",
		                      str_or_null(p->charset), "filename", str_or_null(p->filename),
		                      "content_id", str_or_null(p->content_id), "size",
		                      (json_int_t)p->size, "attachment", p->attachment, "container",
		                      p->container);
		json_array_append_new(a, o);
	}
	return a;
}

static void warnings_add(json_t *o, const char *w)
{
	json_t *a = json_object_get(o, "warnings");
	if (!a) {
		a = json_array();
		json_object_set_new(o, "warnings", a);
	}
	json_array_append_new(a, json_string(w));
}

static void info_json(const mime_info_t *in, json_t *o)
{
	json_t *h = json_array();
	for (size_t i = 0; i < in->nheaders; i++)
		json_array_append_new(h, json_pack("{s:o, s:o}", "name",
		                                   str_or_null(in->headers[i].name), "value",
		                                   str_or_null(in->headers[i].value)));
	json_object_set_new(o, "headers", h);
	json_object_set_new(o, "subject", str_or_null(in->subject));
	json_object_set_new(o, "from", addrs_json(&in->from));
	json_object_set_new(o, "to", addrs_json(&in->to));
	json_object_set_new(o, "cc", addrs_json(&in->cc));
	json_object_set_new(o, "bcc", addrs_json(&in->bcc));
	json_object_set_new(o, "date", in->flags & MIME_F_NO_DATE ? json_null() : api_time(in->date));
	json_object_set_new(o, "message_id", str_or_null(in->message_id));
	json_object_set_new(o, "parts", parts_json(in));
	json_object_set_new(o, "parts_dropped", json_integer((json_int_t)in->parts_dropped));
	json_object_set_new(o, "attachment_count", json_integer(in->attachment_count));
	json_object_set_new(o, "journal", json_boolean(in->flags & MIME_F_JOURNAL));
	static const struct {
		uint32_t bit;
		const char *name;
	} w[] = {{MIME_F_UNPARSED, "unparsed"},   {MIME_F_TRUNCATED, "truncated"},
	         {MIME_F_NO_DATE, "no_date"},     {MIME_F_MALFORMED, "malformed"},
	         {MIME_F_ENCRYPTED, "encrypted"}};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (in->flags & w[i].bit)
			warnings_add(o, w[i].name);
}

/* Reads (up to API_DETAIL_PARSE_MAX) and parses the message into o.  A
 * message whose records fail authentication is reported, not hidden. */
static void parse_into(api_ctx_t *c, const char *archive, uint64_t seq, uint64_t size, json_t *o)
{
	size_t want = size > API_DETAIL_PARSE_MAX ? API_DETAIL_PARSE_MAX : (size_t)size;
	store_reader_t *rd = NULL;
	buf_t b = {0};
	store_status_t st = store_msg_open(c->app->store, archive, seq, &rd);
	if (st == STORE_OK)
		buf_reserve(&b, want);
	while (st == STORE_OK && b.len < want) {
		size_t got = 0;
		st = store_reader_read(rd, b.data + b.len, want - b.len, &got);
		if (!got)
			break;
		b.len += got;
	}
	store_reader_close(rd);
	if (st != STORE_OK) {
		warnings_add(o, st == STORE_ECORRUPT ? "integrity" : "unreadable");
	} else {
		mime_init();
		mime_msg_t *m = NULL;
		mime_opts_t mo = {0};
		if (mime_parse(b.data, b.len, &mo, &m) == MIME_OK)
			info_json(mime_msg_info(m), o);
		mime_msg_free(m);
		if (size > want)
			warnings_add(o, "detail_truncated");
	}
	if (!json_object_get(o, "warnings"))
		json_object_set_new(o, "warnings", json_array());
	buf_free(&b);
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

void api_message_get(api_ctx_t *c)
{
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;
	if (!message_target(c, "message.view", archive, &seq))
		return;
	store_msg_t *m = NULL;
	if (store_failed(c, store_msg_get(c->app->store, archive, seq, &m), c->params[0]))
		return;
	if (!api_audit(c, "message.view", c->params[0], "ok", NULL, NULL)) {
		store_msg_free(m);
		return;
	}
	json_t *o = message_json(m, c->params[0]);
	parse_into(c, archive, seq, m->size, o);
	store_msg_free(m);
	api_json(c, 200, o);
	json_decref(o);
}

/* ---- raw download ---- */

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

void api_message_raw(api_ctx_t *c)
{
	char archive[STORE_NAME_MAX + 1];
	uint64_t seq;
	if (!message_target(c, "message.raw", archive, &seq))
		return;
	const char *id = c->params[0];
	store_msg_t *m = NULL;
	if (store_failed(c, store_msg_get(c->app->store, archive, seq, &m), id))
		return;
	int64_t size = (int64_t)m->size;
	store_msg_free(m);
	store_reader_t *rd = NULL;
	if (store_failed(c, store_msg_open(c->app->store, archive, seq, &rd), id))
		return;
	if (!api_audit(c, "message.raw", id, "ok", NULL, NULL)) {
		store_reader_close(rd);
		return;
	}
	api_response_t *r = c->resp;
	r->status = 200;
	r->content_type = xstrdup("message/rfc822");
	char disp[STORE_NAME_MAX + 64];
	/* The id is [a-z0-9._-] and digits: safe inside a quoted filename. */
	snprintf(disp, sizeof disp, "attachment; filename=\"%s.eml\"", id);
	api_response_header(r, "Content-Disposition", disp);
	api_response_header(r, "X-Content-Type-Options", "nosniff");
	api_response_header(r, "Cache-Control", "no-store");
	r->stream = (api_stream_t){.read = raw_read, .close = raw_close, .arg = rd, .size = size};
}
