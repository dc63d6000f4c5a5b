/* cli_init.c — `vellum init`: a new data dir.
 *
 * Does: refuse when the data dir is already initialised; create it (0700),
 * the master key file and the server signing key (store_init_keys), the
 * store's archives and the database rows of every [archive] in the
 * configuration, and the `admin` user with a random password, granted
 * admin and auditor on "*"; print `admin password: <password>` once; audit
 * every step as cli:<unix user>.
 *
 * The database is built as vellum.db.init and renamed into place last, so
 * an init that fails half-way leaves no vellum.db and can simply be run
 * again (archives already in the store are taken as they are).
 * Does not: start anything.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vellum/app.h"
#include "vellum/audit.h"
#include "vellum/auth.h"
#include "vellum/cli.h"
#include "vellum/db.h"
#include "vellum/log.h"
#include "vellum/store.h"

typedef struct init {
	config_t *cfg;
	store_t *store;
	db_t *db;
	audit_t *audit;
	char who[80];
	char from[64];
	char password[AUTH_PASSWORD_GEN_LEN + 1];   /* printed once everything is in place */
} init_t;

static void init_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] init\n\n"
	           "Creates the data dir (storage.data_dir, mode 0700), the master key file\n"
	           "(storage.master_key_file, outside the data dir, 0600) unless it exists, the\n"
	           "server signing key, the archives of the configuration's [archive] sections,\n"
	           "and the user `admin` with admin and auditor on every archive.  Prints\n"
	           "`admin password: <password>` once: note it.  Refuses an initialised dir.\n");
}

static bool audit_step(init_t *in, const char *action, const char *target, json_t *detail)
{
	audit_event_t e = {.who = in->who, .from = in->from, .action = action, .target = target,
	                   .detail = detail};
	bool ok = audit_record(in->audit, &e, NULL) == AUDIT_OK;
	json_decref(detail);
	if (!ok)
		cli_error("init: cannot write the audit trail");
	return ok;
}

static bool init_archive(init_t *in, const config_archive_t *ca)
{
	db_archive_t a = {
		.name = ca->name,
		.addresses = ca->addresses,
		.naddresses = ca->naddresses,
		.retention = ca->retention,
		.internal_domains = ca->internal_domains,
		.ninternal_domains = ca->ninternal_domains,
		.quiet_alert = ca->quiet_alert,
		.compliance = ca->compliance,
	};
	store_status_t sst = store_archive_create(in->store, ca->name);
	if (sst != STORE_OK && sst != STORE_EEXIST) {
		cli_error("init: archive %s: %s", ca->name, store_strerror(sst));
		return false;
	}
	db_status_t dst = db_archive_create(in->db, &a);
	if (dst != DB_OK) {
		cli_error("init: archive %s: %s", ca->name, db_strerror(dst));
		return false;
	}
	char ret[32];
	util_duration_format(&ca->retention, ret, sizeof ret);
	json_t *addr = json_array();
	for (size_t i = 0; i < ca->naddresses; i++)
		json_array_append_new(addr, json_string(ca->addresses[i]));
	return audit_step(in, "archive.create", ca->name,
	                  json_pack("{s:o, s:s, s:b}", "addresses", addr, "retention", ret,
	                            "compliance", ca->compliance));
}

static bool init_admin(init_t *in)
{
	auth_password_generate(in->password);
	auth_status_t st = auth_user_create(in->db, "admin", in->password);
	bool ok = st == AUTH_OK;
	if (!ok)
		cli_error("init: user admin: %s", auth_strerror(st));
	ok = ok && audit_step(in, "user.create", "admin", NULL);
	static const char *const roles[] = {"admin", "auditor"};
	for (size_t i = 0; ok && i < 2; i++) {
		ok = db_grant_add(in->db, "admin", roles[i], "*") == DB_OK;
		if (!ok)
			cli_error("init: cannot grant %s to admin", roles[i]);
		ok = ok && audit_step(in, "user.grant", "admin",
		                      json_pack("{s:s, s:s}", "role", roles[i], "archive", "*"));
	}
	return ok;
}

static bool init_run(init_t *in, const char *dbtmp)
{
	store_opts_t so = {.mode = STORE_OPEN_READWRITE};
	store_status_t sst = store_open(in->cfg, &so, &in->store);
	if (sst != STORE_OK) {
		cli_error("init: cannot open the store: %s", store_strerror(sst));
		return false;
	}
	unlink(dbtmp);
	if (db_open(dbtmp, &in->db) != DB_OK) {
		cli_error("init: cannot create the database %s", dbtmp);
		return false;
	}
	in->audit = audit_new(in->store);
	json_t *d = json_pack("{s:s, s:i}", "data_dir", in->cfg->storage.data_dir, "schema",
	                      db_schema_version(in->db));
	if (!audit_step(in, "init", NULL, d))
		return false;
	for (size_t i = 0; i < in->cfg->narchives; i++)
		if (!init_archive(in, &in->cfg->archives[i]))
			return false;
	return init_admin(in);
}

static void init_who(init_t *in)
{
	struct passwd *pw = getpwuid(getuid());
	snprintf(in->who, sizeof in->who, "cli:%s", pw && pw->pw_name ? pw->pw_name : "?");
	snprintf(in->from, sizeof in->from, "local:uid=%u", (unsigned)getuid());
}

/* Creates the data dir; false (printed) when it is already initialised. */
static bool init_dir(const config_t *cfg)
{
	const char *dir = cfg->storage.data_dir;
	char *dbpath = config_data_path(cfg, "vellum.db");
	struct stat st;
	bool exists = stat(dbpath, &st) == 0;
	free(dbpath);
	if (exists) {
		cli_error("init: %s is already initialised", dir);
		return false;
	}
	if (util_mkdir_p(dir, 0700) != UTIL_OK || chmod(dir, 0700) != 0) {
		cli_error("init: cannot create %s: %s", dir, strerror(errno));
		return false;
	}
	return true;
}

int cli_init_main(const char *config_path, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			init_usage(stdout);
			return 0;
		}
		cli_error("init: unknown argument '%s'", argv[i]);
		init_usage(stderr);
		return 2;
	}
	init_t in = {0};
	char *err;
	if (!getenv("VELLUM_LOG_LEVEL"))
		log_set_level(LOG_LEVEL_WARN);
	if (config_load(config_path, &in.cfg, &err) != CONFIG_OK) {
		cli_error("%s", err);
		free(err);
		return 1;
	}
	init_who(&in);
	int lock_fd = -1;
	bool ok = init_dir(in.cfg);
	if (ok) {
		app_status_t ast = app_lock(in.cfg, &lock_fd);
		if (ast != APP_OK)
			cli_error("init: %s", app_strerror(ast));
		ok = ast == APP_OK;
	}
	if (ok) {
		store_status_t sst = store_init_keys(in.cfg);
		if (sst != STORE_OK)
			cli_error("init: keys: %s", store_strerror(sst));
		ok = sst == STORE_OK;
	}
	char *dbpath = config_data_path(in.cfg, "vellum.db");
	char *dbtmp = config_data_path(in.cfg, "vellum.db.init");
	ok = ok && init_run(&in, dbtmp);
	audit_free(in.audit);
	db_close(in.db);
	store_close(in.store);
	if (ok && rename(dbtmp, dbpath) != 0) {
		cli_error("init: rename %s: %s", dbtmp, strerror(errno));
		ok = false;
	}
	if (ok) {
		util_fsync_dir(in.cfg->storage.data_dir);
		printf("admin password: %s\n", in.password);
		fflush(stdout);
	} else {
		unlink(dbtmp);
	}
	sodium_memzero(in.password, sizeof in.password);
	free(dbpath);
	free(dbtmp);
	if (lock_fd >= 0)
		close(lock_fd);
	config_free(in.cfg);
	return ok ? 0 : 1;
}
