/* api_messages.c — GET /api/v1/messages/{id} and /messages/{id}/raw.
 *
 * Does: parse "<archive>-<seq>" ids, check that the caller may read that
 * archive, answer the envelope, arrivals and integrity data from the store's
 * catalog, and stream the exact stored bytes as message/rfc822 downloads.
 * Every view and download (and every refused attempt) is audited before
 * anything is sent.
 * Does not: parse the message (decoded headers and the part tree come from
 * mime.h with issue 6), or read the index.
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
#include "vellum/store.h"

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
