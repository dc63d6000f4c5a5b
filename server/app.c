/* app.c — opening and closing the process context (app.h).
 *
 * Does: take the data-dir lock (flock on data_dir/vellum.lock: the running
 * server, or a CLI sub-command working on the files itself), open the store
 * read-write, the database, the audit trail, the index's read side and a
 * metrics registry, and close them in reverse order.
 * Does not: create a data dir (cli_init.c), bind sockets (http, smtp), or
 * start the indexer (serve.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vellum/api.h"
#include "vellum/app.h"
#include "vellum/audit.h"
#include "vellum/auth.h"
#include "vellum/db.h"
#include "vellum/ix.h"
#include "vellum/log.h"
#include "vellum/metrics.h"
#include "vellum/store.h"

const char *app_strerror(app_status_t st)
{
	switch (st) {
	case APP_OK: return "ok";
	case APP_ELOCKED: return "the data dir is in use by another vellum process";
	case APP_ENOINIT: return "no initialised data dir (run `vellum init`)";
	case APP_EOPEN: return "cannot open the data dir";
	}
	return "unknown error";
}

char *app_lock_path(const config_t *cfg)
{
	return config_data_path(cfg, "vellum.lock");
}

char *app_socket_path(const config_t *cfg)
{
	return config_data_path(cfg, "control.sock");
}

app_status_t app_lock(const config_t *cfg, int *lock_fd)
{
	*lock_fd = -1;
	char *path = app_lock_path(cfg);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		app_status_t st = errno == ENOENT ? APP_ENOINIT : APP_EOPEN;
		if (st == APP_EOPEN)
			log_error("app.lock", "path=%s err=%s", path, strerror(errno));
		free(path);
		return st;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK) {
			free(path);
			return APP_ELOCKED;
		}
		log_error("app.lock", "path=%s err=%s", path, strerror(e));
		free(path);
		return APP_EOPEN;
	}
	free(path);
	*lock_fd = fd;
	return APP_OK;
}

static bool initialised(const config_t *cfg)
{
	char *db = config_data_path(cfg, "vellum.db");
	struct stat st;
	bool ok = stat(db, &st) == 0 && S_ISREG(st.st_mode);
	free(db);
	return ok;
}

static app_status_t open_modules(app_t *app)
{
	store_opts_t so = {.mode = STORE_OPEN_READWRITE, .metrics = app->metrics};
	store_status_t sst = store_open(app->cfg, &so, &app->store);
	if (sst != STORE_OK) {
		log_error("app.store", "err=\"%s\"", store_strerror(sst));
		return APP_EOPEN;
	}
	char *dbpath = config_data_path(app->cfg, "vellum.db");
	db_status_t dst = db_open(dbpath, &app->db);
	free(dbpath);
	if (dst != DB_OK)
		return APP_EOPEN;
	app->audit = audit_new(app->store);
	audit_set_index(app->audit, app->db);
	char *err = NULL;
	ix_status_t ist = ix_open(app->cfg, &app->ix, &err);
	if (ist != IX_OK) {
		log_error("app.index", "err=\"%s\"", err ? err : ix_strerror(ist));
		free(err);
		return APP_EOPEN;
	}
	return APP_OK;
}

app_status_t app_open(config_t *cfg, app_mode_t mode, app_t **out)
{
	*out = NULL;
	if (sodium_init() < 0) {
		log_error("app.sodium", "err=\"sodium_init failed\"");
		config_free(cfg);
		return APP_EOPEN;
	}
	if (!initialised(cfg)) {
		config_free(cfg);
		return APP_ENOINIT;
	}
	int fd;
	app_status_t st = app_lock(cfg, &fd);
	if (st != APP_OK) {
		config_free(cfg);
		return st;
	}
	app_t *app = xcalloc(1, sizeof *app);
	app->cfg = cfg;
	app->mode = mode;
	app->lock_fd = fd;
	app->metrics = metrics_new();
	app->guard = auth_guard_new(0);
	st = open_modules(app);
	if (st != APP_OK) {
		app_close(app);
		return st;
	}
	api_metrics_register(app);
	*out = app;
	return APP_OK;
}

void app_close(app_t *app)
{
	if (!app)
		return;
	ix_close(app->ix);
	audit_free(app->audit);
	db_close(app->db);
	store_close(app->store);
	metrics_free(app->metrics);
	auth_guard_free(app->guard);
	if (app->lock_fd >= 0)
		close(app->lock_fd);   /* releases the flock */
	free(app->self_exe);
	config_free(app->cfg);
	free(app);
}
