/* app.h — the process context: the open handles one `vellum` process works with.
 *
 * `vellum serve` opens everything once and hands &app to the SMTP loop, the
 * HTTP server and the API; a CLI sub-command without a running server opens
 * the same set under the data-dir lock (APP_DIRECT) and calls the API
 * in-process.  No module keeps global state: what it needs comes from here.
 */
#ifndef VELLUM_APP_H
#define VELLUM_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vellum/config.h"

struct store;
struct db;
struct ix;
struct audit;
struct metrics;
struct auth_guard;

typedef enum {
	APP_SERVE = 0,   /* the daemon */
	APP_DIRECT,      /* a CLI sub-command working on the files itself (holds the lock) */
} app_mode_t;

typedef enum {
	APP_OK = 0,
	APP_ELOCKED,     /* another process holds the data-dir lock */
	APP_ENOINIT,     /* no data dir: run `vellum init` */
	APP_EOPEN,       /* a module failed to open (logged by the module) */
} app_status_t;

typedef struct app {
	config_t *cfg;             /* owned */
	app_mode_t mode;
	int lock_fd;               /* flock'd data_dir/vellum.lock, -1 if none */
	struct store *store;
	struct db *db;
	struct ix *ix;             /* read side of the index (searches) */
	struct audit *audit;
	struct metrics *metrics;
	struct auth_guard *guard;  /* login throttling and Argon2id slots */
	/* Set by serve: is the indexer child running (for /healthz)?  NULL when
	 * nobody supervises one (a CLI working directly). */
	bool (*indexer_alive)(void *arg);
	void *indexer_alive_arg;
	/* Bumped whenever archives or their addresses change, so the SMTP side
	 * rebuilds its routing table at the next transaction. */
	_Atomic uint64_t archives_gen;
	/* Set by signal handling in serve; every loop watches it. */
	_Atomic int stopping;
	/* Absolute path of the running binary (for the indexer child). */
	char *self_exe;
} app_t;

const char *app_strerror(app_status_t st);

/* Path of the data-dir lock file and of the control socket (caller frees). */
char *app_lock_path(const config_t *cfg);
char *app_socket_path(const config_t *cfg);

/* Takes the data-dir lock (non-blocking).  APP_ELOCKED if a server (or another
 * CLI) holds it. */
app_status_t app_lock(const config_t *cfg, int *lock_fd);

/* Opens every module for `mode`.  Takes ownership of cfg.  On failure the
 * cause has been logged and *out is NULL. */
app_status_t app_open(config_t *cfg, app_mode_t mode, app_t **out);
void app_close(app_t *app);

#endif
