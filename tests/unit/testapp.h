/* testapp.h — a real data dir for the API, audit and HTTP tests.
 *
 * testapp_new() writes a config into a fresh temp dir, creates the keys, the
 * database and the store, opens everything with app_open, and seeds:
 *   archives: default, other (one message each: default-1, other-1)
 *   users (password = "<name>-password-1"):
 *     admin  admin + auditor on *     bob    admin on * only
 *     alice  auditor on default       dave   legal on other
 *     carol  auditor on *, disabled
 * Header-only, like tap.h. */
#ifndef VELLUM_TESTAPP_H
#define VELLUM_TESTAPP_H

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "vellum/app.h"
#include "vellum/auth.h"
#include "vellum/db.h"
#include "vellum/store.h"

typedef struct testapp {
	char *dir;
	app_t *app;
	char msg_sha[2][65];
} testapp_t;

static const char testapp_msg[2][200] = {
	"From: a@example.com\r\nTo: b@example.com\r\nSubject: first\r\n\r\nbody one\r\n",
	"From: c@example.org\r\nTo: d@example.org\r\nSubject: other\r\n\r\nbody two\r\n",
};

static inline void testapp_bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

static inline void testapp_message(testapp_t *t, const char *archive, int i)
{
	const char *rcpt[] = {"b@example.com"};
	store_envelope_t env = {.listener = "test", .client_addr = "127.0.0.1", .helo = "t",
	                        .mail_from = "a@example.com", .rcpt = rcpt, .nrcpt = 1};
	const char *archives[] = {archive};
	store_append_t *a;
	if (store_append_begin(t->app->store, &env, archives, 1, &a) != STORE_OK)
		testapp_bail("append_begin");
	store_append_write(a, testapp_msg[i], strlen(testapp_msg[i]));
	store_completion_t *c = store_append_commit_wait(a);
	if (!c || c->status != STORE_OK || c->ids[0].seq != 1)
		testapp_bail("append_commit");
	util_hex(c->sha256, 32, t->msg_sha[i]);
	store_completion_free(c);
}

static inline void testapp_user(testapp_t *t, const char *name, const char *role,
                                const char *archive, const char *role2)
{
	char pw[64];
	snprintf(pw, sizeof pw, "%s-password-1", name);
	if (auth_user_create(t->app->db, name, pw) != AUTH_OK ||
	    (role && db_grant_add(t->app->db, name, role, archive) != DB_OK) ||
	    (role2 && db_grant_add(t->app->db, name, role2, archive) != DB_OK))
		testapp_bail("user");
}

static inline testapp_t *testapp_new(const char *tag, const char *extra_config)
{
	testapp_t *t = calloc(1, sizeof *t);
	t->dir = tap_tmpdir(tag);
	char *text = xasprintf("[storage]\ndata_dir = %s/var\nmaster_key_file = %s/master.key\n"
	                       "min_free = 1M\n[http]\nlisten = 127.0.0.1:0\n%s",
	                       t->dir, t->dir, extra_config ? extra_config : "");
	config_t *cfg;
	char *err = NULL;
	if (config_load_string(text, strlen(text), "test.conf", t->dir, &cfg, &err) != CONFIG_OK)
		testapp_bail(err);
	free(text);
	util_mkdir_p(cfg->storage.data_dir, 0700);
	if (store_init_keys(cfg) != STORE_OK)
		testapp_bail("store_init_keys");
	char *dbp = config_data_path(cfg, "vellum.db");
	db_t *db;
	if (db_open(dbp, &db) != DB_OK)
		testapp_bail("db_open");
	free(dbp);
	static const char *const names[] = {"default", "other"};
	char *any[] = {"*", NULL};
	for (int i = 0; i < 2; i++) {
		db_archive_t a = {.name = (char *)names[i], .addresses = any, .naddresses = 1};
		a.retention.forever = true;
		db_archive_create(db, &a);
	}
	db_close(db);
	if (app_open(cfg, APP_SERVE, &t->app) != APP_OK)
		testapp_bail("app_open");
	for (int i = 0; i < 2; i++) {
		store_archive_create(t->app->store, names[i]);
		testapp_message(t, names[i], i);
	}
	testapp_user(t, "admin", "admin", "*", "auditor");
	testapp_user(t, "alice", "auditor", "default", NULL);
	testapp_user(t, "bob", "admin", "*", NULL);
	testapp_user(t, "carol", "auditor", "*", NULL);
	db_user_set_disabled(t->app->db, "carol", true);
	testapp_user(t, "dave", "legal", "other", NULL);
	return t;
}

static inline void testapp_free(testapp_t *t)
{
	app_close(t->app);
	tap_rmtree(t->dir);
	free(t->dir);
	free(t);
}

#endif
