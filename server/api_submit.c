/* api_submit.c — POST /api/v1/archives/{name}/messages: a raw message in,
 * stored like an SMTP arrival.
 *
 * Does: check that the caller holds ingest or admin on the archive, start a
 * store append with an envelope built from the request (listener "api", or
 * "import" with ?via=import; the caller as the AUTH identity; ?mail_from=
 * and ?rcpt=a,b as MAIL FROM and RCPT TO), stream the body into it as it
 * arrives (never holding the message whole), cap it at the default
 * listener's max_message_size (413), commit, audit (message.submit with the
 * new id and SHA-256) and answer {id, archive, seq, sha256, size,
 * duplicate} with 201.  The bytes are stored exactly as sent.
 * Does not: parse the message (the indexer does, later), or route by
 * address (the caller names the archive).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "vellum/store.h"

/* When no [smtp] listener is configured (never, with the embedded
 * defaults): the documented default max_message_size. */
#define SUBMIT_MAX_DEFAULT ((uint64_t)64 << 20)
/* Recipients taken from ?rcpt= (the SMTP listener's max_recipients
 * default). */
#define SUBMIT_RCPT_MAX 1000

typedef struct submit {
	store_append_t *append;
	char archive[STORE_NAME_MAX + 1];
	uint64_t size, max;
	store_status_t failed; /* first write error, STORE_OK while fine */
	bool too_big;
	bool import;
} submit_t;

static api_err_t store_err(store_status_t st)
{
	switch (st) {
	case STORE_ETOOBIG: return API_E_TOO_LARGE;
	case STORE_ENOTFOUND: return API_E_NOT_FOUND;
	case STORE_EINVAL: return API_E_BAD_REQUEST;
	default: return API_E_UNAVAILABLE; /* ENOSPC, EBUSY, EFAILED, EIO: try later */
	}
}

/* Everything but the store: grants, archive, envelope text.  Answers and
 * returns false when refused. */
static bool submit_check(api_ctx_t *c, const char *archive)
{
	if (!auth_has_role(c->p, ROLE_INGEST | ROLE_ADMIN, archive)) {
		if (api_audit(c, "message.submit", archive, "denied", NULL, NULL))
			api_error(c, API_E_FORBIDDEN,
			          "%s may not submit to archive %s (needs ingest or "
			          "admin)",
			          c->p->name, archive);
		return false;
	}
	if (!db_archive_name_valid(archive) || !db_archive_exists(c->app->db, archive)) {
		api_error(c, API_E_NOT_FOUND, "no archive %s", archive);
		return false;
	}
	const char *mf = api_request_query(c->req, "mail_from");
	const char *rc = api_request_query(c->req, "rcpt");
	if ((mf && (strlen(mf) > STORE_ADDR_MAX || strpbrk(mf, "\r\n<>"))) ||
	    (rc && strpbrk(rc, "\r\n<>"))) {
		api_error(c, API_E_BAD_REQUEST, "mail_from and rcpt are bare addresses");
		return false;
	}
	const char *via = api_request_query(c->req, "via");
	if (via && strcmp(via, "import") && strcmp(via, "api")) {
		api_error(c, API_E_BAD_REQUEST, "via: api or import");
		return false;
	}
	return true;
}

bool api_submit_begin(api_ctx_t *c, void **state)
{
	*state = NULL;
	const char *archive = c->params[0];
	if (!submit_check(c, archive))
		return false;
	size_t nrcpt = 0;
	char **rcpt = util_split_list(api_request_query(c->req, "rcpt"), &nrcpt);
	if (nrcpt > SUBMIT_RCPT_MAX) {
		util_strv_free(rcpt);
		api_error(c, API_E_BAD_REQUEST, "more than %d recipients", SUBMIT_RCPT_MAX);
		return false;
	}
	const char *via = api_request_query(c->req, "via");
	const char *mf = api_request_query(c->req, "mail_from");
	submit_t *s = xcalloc(1, sizeof *s);
	s->import = via && !strcmp(via, "import");
	snprintf(s->archive, sizeof s->archive, "%s", archive);
	const config_listener_t *l = config_listener_find(c->app->cfg, "default");
	s->max = l && l->max_message_size ? l->max_message_size : SUBMIT_MAX_DEFAULT;
	store_envelope_t env = {
	    .listener = s->import ? "import" : "api",
	    .client_addr = c->req->client,
	    .auth_id = c->p->name,
	    .mail_from = mf ? mf : "",
	    .rcpt = (const char *const *)rcpt,
	    .nrcpt = nrcpt,
	    .flags = STORE_ENV_IMPORT,
	};
	const char *archives[] = {s->archive};
	store_status_t st = store_append_begin(c->app->store, &env, archives, 1, &s->append);
	util_strv_free(rcpt);
	if (st != STORE_OK) {
		free(s);
		api_error(c, store_err(st), "cannot store into %s now: %s", archive,
		          store_strerror(st));
		return false;
	}
	*state = s;
	return true;
}

bool api_submit_write(void *state, const void *p, size_t n)
{
	submit_t *s = state;
	if (s->failed != STORE_OK || s->too_big)
		return false;
	if (n > s->max - s->size) {
		s->too_big = true;
		return false;
	}
	s->size += n;
	store_status_t st = store_append_write(s->append, p, n);
	if (st != STORE_OK) {
		s->failed = st;
		return false;
	}
	return true;
}

void api_submit_abort(void *state)
{
	submit_t *s = state;
	if (!s)
		return;
	if (s->append)
		store_append_abort(s->append);
	free(s);
}

static void submitted(api_ctx_t *c, submit_t *s, const store_completion_t *done)
{
	char sha[65], id[STORE_NAME_MAX + 32];
	util_hex(done->sha256, sizeof done->sha256, sha);
	snprintf(id, sizeof id, "%s-%llu", s->archive, (unsigned long long)done->ids[0].seq);
	json_t *d =
	    json_pack("{s:s, s:I, s:b, s:s}", "sha256", sha, "size", (json_int_t)done->size,
	              "duplicate", done->ids[0].duplicate, "via", s->import ? "import" : "api");
	bool ok = api_audit(c, "message.submit", id, "ok", NULL, d);
	json_decref(d);
	if (!ok)
		return; /* stored (it cannot be taken back), but the caller is told 503 */
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "archive", json_string(s->archive));
	json_object_set_new(o, "seq", json_integer((json_int_t)done->ids[0].seq));
	json_object_set_new(o, "sha256", json_string(sha));
	json_object_set_new(o, "size", json_integer((json_int_t)done->size));
	json_object_set_new(o, "duplicate", json_boolean(done->ids[0].duplicate));
	api_json(c, 201, o);
	json_decref(o);
}

void api_submit_end(api_ctx_t *c, void *state)
{
	submit_t *s = state;
	if (s->too_big || s->failed != STORE_OK || s->size == 0) {
		if (s->too_big)
			api_error(c, API_E_TOO_LARGE,
			          "message larger than %llu bytes (max_message_size)",
			          (unsigned long long)s->max);
		else if (s->size == 0 && s->failed == STORE_OK)
			api_error(c, API_E_BAD_REQUEST, "empty message");
		else
			api_error(c, store_err(s->failed), "cannot store the message: %s",
			          store_strerror(s->failed));
		api_submit_abort(s);
		return;
	}
	store_completion_t *done = store_append_commit_wait(s->append);
	s->append = NULL;
	if (!done || done->status != STORE_OK || done->nids != 1) {
		store_status_t st = done ? done->status : STORE_EIO;
		api_error(c, store_err(st), "cannot store the message: %s", store_strerror(st));
	} else {
		submitted(c, s, done);
	}
	store_completion_free(done);
	free(s);
}

void api_message_submit(api_ctx_t *c)
{
	void *s;
	if (!api_submit_begin(c, &s))
		return;
	api_submit_write(s, c->req->body, c->req->body_len);
	api_submit_end(c, s);
}
