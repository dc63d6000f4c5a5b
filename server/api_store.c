/* api_store.c — the store's integrity and key routes:
 *   GET  /api/v1/verify[?archive=A]   re-read and check everything (admin on *)
 *   POST /api/v1/keys/rotate          re-wrap archive keys under a new master key
 *                                     (admin on *; body {"new_key_file": PATH} optional)
 *
 * Does: run store_verify_ex / store_key_rotate through the running server (or
 * in-process for the CLI), shape the answers as JSON, audit both ("verify"
 * with the number of problems, "key.rotate" with both key fingerprints).
 * Does not: decide anything about the data — the store does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "vellum/store.h"

/* Problems and notes listed per archive; the counts stay exact beyond. */
#define API_VERIFY_LIST_MAX 1000

typedef struct verify_acc {
	json_t *problems, *notes;
	uint64_t nproblems, nnotes;
} verify_acc_t;

static void on_problem(void *arg, const char *archive, const char *text)
{
	verify_acc_t *v = arg;
	(void)archive;
	if (v->nproblems++ < API_VERIFY_LIST_MAX)
		json_array_append_new(v->problems, json_string(text));
}

static void on_note(void *arg, const char *archive, const char *text)
{
	verify_acc_t *v = arg;
	(void)archive;
	if (v->nnotes++ < API_VERIFY_LIST_MAX)
		json_array_append_new(v->notes, json_string(text));
}

static json_t *verify_one(api_ctx_t *c, const char *name, store_status_t *st)
{
	verify_acc_t v = {.problems = json_array(), .notes = json_array()};
	store_verify_report_t rep;
	*st = store_verify_ex(c->app->store, name, on_problem, on_note, &v, &rep);
	json_t *o = json_pack(
	    "{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "archive", name,
	    "clean", rep.problems == 0, "records", (json_int_t)rep.records, "messages",
	    (json_int_t)rep.messages, "segments", (json_int_t)rep.segments, "problem_count",
	    (json_int_t)rep.problems, "anchored_seq", (json_int_t)rep.anchored_seq, "signatures",
	    (json_int_t)rep.signatures, "deletions", (json_int_t)rep.deletions, "deleted_records",
	    (json_int_t)rep.deleted_records, "quarantined", (json_int_t)rep.quarantined, "problems",
	    v.problems, "notes", v.notes);
	return o;
}

void api_verify(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	const char *only = api_request_query(c->req, "archive");
	if (only && !*only)
		only = NULL;
	char **names = NULL;
	if (only) {
		if (!store_archive_exists(c->app->store, only)) {
			api_error(c, API_E_NOT_FOUND, "no archive %s", only);
			return;
		}
		names = xcalloc(2, sizeof *names);
		names[0] = xstrdup(only);
	} else {
		names = store_archive_list_all(c->app->store);
	}
	json_t *arr = json_array();
	int64_t problems = 0;
	store_status_t st = STORE_OK;
	for (size_t i = 0; names[i] && st == STORE_OK; i++) {
		json_t *o = verify_one(c, names[i], &st);
		problems += json_integer_value(json_object_get(o, "problem_count"));
		json_array_append_new(arr, o);
	}
	util_strv_free(names);
	json_t *detail = json_pack("{s:s?}", "archive", only);
	bool audited =
	    api_audit(c, "verify", only, st == STORE_OK ? "ok" : "failed", &problems, detail);
	json_decref(detail);
	if (!audited) {
		json_decref(arr);
		return;
	}
	if (st != STORE_OK) {
		json_decref(arr);
		api_error(c, API_E_INTERNAL, "verify could not read the store: %s",
		          store_strerror(st));
		return;
	}
	json_t *body = json_pack("{s:b, s:I, s:o}", "clean", problems == 0, "problem_count",
	                         (json_int_t)problems, "archives", arr);
	api_json(c, 200, body);
	json_decref(body);
}

void api_keys_rotate(api_ctx_t *c)
{
	if (!api_require(c, ROLE_ADMIN, NULL))
		return;
	const char *file = NULL;
	json_t *in = NULL;
	if (c->req->body_len) {
		if (!(in = api_body_object(c)))
			return;
		json_t *f = json_object_get(in, "new_key_file");
		if (f && !json_is_string(f)) {
			json_decref(in);
			api_error(c, API_E_BAD_REQUEST, "new_key_file must be a path");
			return;
		}
		file = json_string_value(f);
	}
	store_rotate_result_t r;
	store_status_t st = store_key_rotate(c->app->store, file, &r);
	json_t *detail =
	    json_pack("{s:s, s:s, s:I, s:s?}", "old_key", r.old_id, "new_key", r.new_id, "archives",
	              (json_int_t)r.archives, "error", st == STORE_OK ? NULL : store_strerror(st));
	bool audited =
	    api_audit(c, "key.rotate", NULL, st == STORE_OK ? "ok" : "failed", NULL, detail);
	json_decref(in);
	if (!audited) {
		json_decref(detail);
		return;
	}
	if (st == STORE_EINVAL)
		api_error(
		    c, API_E_BAD_REQUEST, "%s",
		    "the new key must differ from the current one, and with master_key_command "
		    "configured it must be given as new_key_file");
	else if (st == STORE_EKEY)
		api_error(c, API_E_BAD_REQUEST,
		          "new_key_file is not a readable key file (64 hex "
		          "digits, mode 0600)");
	else if (st != STORE_OK)
		api_error(c, API_E_INTERNAL, "key rotation failed: %s", store_strerror(st));
	else
		api_json(c, 200, detail);
	json_decref(detail);
}
