/* fuzz_api.c — the API's request handling (routing, cookies, CSRF, JSON
 * bodies, ids, query parameters) with hostile requests.
 *
 * Input: a request in a small text form —
 *   METHOD PATH[?k=v&k=v]\n
 *   Header: value\n ...
 *   \n
 *   body bytes
 * A header "X-Fuzz-As: cli" makes the request come from the CLI principal
 * (control socket), so user management and the audit listing are reached
 * without a login.  The data dir (real store, database, index) is made once
 * in LLVMFuzzerInitialize, with one user "admin" / "admin-password-1"
 * (admin, auditor on *).  Any crash, sanitizer report or abort is a bug:
 * api_handle must answer every request.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vellum/api.h"
#include "vellum/app.h"
#include "vellum/auth.h"
#include "vellum/db.h"
#include "vellum/log.h"
#include "vellum/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static app_t *app;
static char dir[256];

static void cleanup(void)
{
	app_close(app);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_OFF);
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/vellum-fuzz-api-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	char *text = xasprintf("[storage]\ndata_dir = %s/var\nmaster_key_file = %s/master.key\n"
	                       "min_free = 1M\n",
	                       dir, dir);
	config_t *cfg;
	char *err;
	if (config_load_string(text, strlen(text), "fuzz.conf", dir, &cfg, &err) != CONFIG_OK)
		abort();
	free(text);
	util_mkdir_p(cfg->storage.data_dir, 0700);
	char *dbp = config_data_path(cfg, "vellum.db");
	db_t *db;
	if (store_init_keys(cfg) != STORE_OK || db_open(dbp, &db) != DB_OK)
		abort();
	free(dbp);
	char *any[] = {"*", NULL};
	db_archive_t a = {.name = "default", .addresses = any, .naddresses = 1};
	a.retention.forever = true;
	db_archive_create(db, &a);
	db_close(db);
	if (app_open(cfg, APP_DIRECT, &app) != APP_OK)
		abort();
	store_archive_create(app->store, "default");
	auth_user_create(app->db, "admin", "admin-password-1");
	db_grant_add(app->db, "admin", "admin", "*");
	db_grant_add(app->db, "admin", "auditor", "*");
	atexit(cleanup);
	return 0;
}

/* Requests beyond these are cut: the transport bounds them too. */
#define FUZZ_KV_MAX 32

/* Splits "k=v&k=v" (in place) into kv. */
static size_t split_query(char *q, api_kv_t *kv)
{
	size_t n = 0;
	for (char *tok = strtok(q, "&"); tok && n < FUZZ_KV_MAX; tok = strtok(NULL, "&")) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		kv[n++] = (api_kv_t){tok, eq ? eq : ""};
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!app)
		LLVMFuzzerInitialize(NULL, NULL);
	char *text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	/* Header part: up to the first blank line; the rest is the body (it may
	 * hold NULs, which the text form cannot put in headers). */
	char *sep = strstr(text, "\n\n");
	const uint8_t *body = NULL;
	size_t body_len = 0;
	if (sep) {
		*sep = '\0';
		body = (const uint8_t *)(sep + 2);
		body_len = size - (size_t)(sep + 2 - text);
	}
	char *line = strtok(text, "\n");
	char *method = line ? line : "GET";
	char *path = line ? strchr(line, ' ') : NULL;
	if (path)
		*path++ = '\0';
	else
		path = "/";
	char *query = strchr(path, '?');
	if (query)
		*query++ = '\0';
	api_kv_t hv[FUZZ_KV_MAX], qv[FUZZ_KV_MAX];
	size_t nh = 0;
	bool as_cli = false;
	while ((line = strtok(NULL, "\n")) && nh < FUZZ_KV_MAX) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (!strcmp(line, "X-Fuzz-As"))
			as_cli = !strcmp(v, "cli");
		else
			hv[nh++] = (api_kv_t){line, v};
	}
	/* The query is split after the headers: strtok keeps one position. */
	size_t nq = query ? split_query(query, qv) : 0;
	api_request_t req = {
		.method = method,
		.path = path,
		.query = qv,
		.nquery = nq,
		.headers = hv,
		.nheaders = nh,
		.body = body,
		.body_len = body_len,
		.body_too_big = body_len > API_BODY_MAX,
		.client = "127.0.0.1",
		.transport = as_cli ? API_VIA_CONTROL : API_VIA_TCP,
	};
	auth_principal_t *p = as_cli ? auth_principal_cli("fuzz") : NULL;
	api_response_t r;
	api_response_init(&r);
	api_handle(app, p, &req, &r);
	if (r.status < 200 || r.status > 599)
		abort();
	char *json = api_response_json_text(&r, NULL);
	free(json);
	if (r.stream.read) {
		uint8_t b[4096];
		while (r.stream.read(r.stream.arg, b, sizeof b) > 0)
			;
	}
	api_response_clear(&r);
	auth_principal_free(p);
	free(text);
	return 0;
}
