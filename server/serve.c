/* serve.c — `vellum serve`: the daemon's life cycle.
 *
 * Does: load the configuration, block signals before any thread exists, raise
 * the open-file limit to fit the listeners' max_connections, open every
 * module (app_open takes the data-dir lock), bind SMTP and HTTP, publish the
 * bound addresses in data_dir/run/ports, start and supervise the indexer child
 * (restart with back-off when it dies: SMTP never waits for it), run the SMTP
 * event loop on its own thread, and shut down in order on SIGTERM/SIGINT.
 *
 * Does not: parse mail, touch segments or answer HTTP — the modules do.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vellum/app.h"
#include "vellum/cli.h"
#include "vellum/db.h"
#include "vellum/http.h"
#include "vellum/log.h"
#include "vellum/metrics.h"
#include "vellum/smtp.h"
#include "vellum/util.h"

/* Files the daemon needs besides client connections: segments, keystores,
 * SQLite, Xapian shards, HTTP clients, the control socket. */
#define SERVE_FD_RESERVE 1024
/* The indexer is restarted after 1 s, doubling to at most this while it keeps
 * dying within INDEXER_STABLE_US of its start. */
#define INDEXER_BACKOFF_MAX_S 30
#define INDEXER_STABLE_US (60 * UTIL_US_PER_SEC)

struct serve {
	app_t *app;
	const char *config_path;
	smtp_server_t *smtp;
	http_server_t *http;
	pthread_t smtp_thread;
	bool smtp_running;
	pid_t indexer_pid;
	int64_t indexer_started;      /* monotonic us */
	int64_t indexer_restart_at;   /* monotonic us, 0 = none pending */
	int indexer_backoff;          /* seconds */
	metric_t *m_indexer_restarts;
	metric_t *m_indexer_up;
	_Atomic int indexer_running;   /* for /healthz */
};

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] serve\n\n"
	           "Runs the SMTP listeners, the HTTP API and UI, and the indexer child, in the\n"
	           "foreground, until SIGTERM or SIGINT.  Needs an initialised data dir\n"
	           "(vellum init).  Logs key=value lines to stderr (VELLUM_LOG_LEVEL=debug for\n"
	           "more).  Bound addresses are written to <data_dir>/run/ports.\n");
}

/* Raises RLIMIT_NOFILE so every listener can hold max_connections clients. */
static bool serve_raise_nofile(const config_t *cfg)
{
	rlim_t need = SERVE_FD_RESERVE;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		need += cfg->listeners[i].max_connections;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return true;
	if (rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max < need) {
		struct rlimit want = {need, need};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return true;
		cli_error("serve: max_connections needs %llu open files but the hard limit is %llu "
		          "(raise it with `ulimit -Hn` or LimitNOFILE=, or lower max_connections)",
		          (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return false;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		cli_error("serve: cannot raise the open-file limit to %llu: %s",
		          (unsigned long long)need, strerror(errno));
		return false;
	}
	return true;
}

static int serve_write_ports(struct serve *sv)
{
	buf_t b = {0};
	char addr[128];
	for (size_t i = 0; i < smtp_server_listener_count(sv->smtp); i++) {
		smtp_server_addr(sv->smtp, i, addr, sizeof addr);
		buf_printf(&b, "smtp %s %s\n", smtp_server_listener_name(sv->smtp, i), addr);
	}
	http_server_addr(sv->http, addr, sizeof addr);
	buf_printf(&b, "http %s\n", addr);
	char *dir = config_data_path(sv->app->cfg, "run");
	char *path = config_data_path(sv->app->cfg, "run/ports");
	int rc = 0;
	if (util_mkdir_p(dir, 0700) != UTIL_OK ||
	    util_write_file_atomic(path, b.data, b.len, 0600) != UTIL_OK) {
		log_error("serve.ports", "path=%s err=%s", path, strerror(errno));
		rc = -1;
	}
	free(dir);
	free(path);
	buf_free(&b);
	return rc;
}

static void serve_start_indexer(struct serve *sv)
{
	const char *argv[5];
	int n = 0;
	argv[n++] = sv->app->self_exe;
	if (sv->config_path) {
		argv[n++] = "-c";
		argv[n++] = sv->config_path;
	}
	argv[n++] = "indexer";
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		log_error("serve.indexer_fork", "err=%s", strerror(errno));
		sv->indexer_restart_at = util_monotonic_us() + UTIL_US_PER_SEC;
		return;
	}
	if (pid == 0) {
		/* The child starts with default signal handling and mask. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "vellum: serve: cannot run the indexer %s: %s\n", argv[0],
		        strerror(errno));
		_exit(127);
	}
	sv->indexer_pid = pid;
	sv->indexer_started = util_monotonic_us();
	sv->indexer_restart_at = 0;
	metric_set(sv->m_indexer_up, 1);
	atomic_store(&sv->indexer_running, 1);
	log_info("serve.indexer_start", "pid=%d", (int)pid);
}

static void serve_reap(struct serve *sv)
{
	int status;
	pid_t pid;
	/* The indexer only: other children (the API's renderers, import's
	 * readpst) are waited for by the thread that started them, which
	 * needs their exit status. */
	while (sv->indexer_pid > 0 && (pid = waitpid(sv->indexer_pid, &status, WNOHANG)) > 0) {
		if (pid != sv->indexer_pid)
			continue;
		sv->indexer_pid = 0;
		metric_set(sv->m_indexer_up, 0);
		atomic_store(&sv->indexer_running, 0);
		if (atomic_load(&sv->app->stopping))
			continue;
		if (WIFSIGNALED(status))
			log_warn("serve.indexer_died", "pid=%d signal=%d", (int)pid, WTERMSIG(status));
		else
			log_warn("serve.indexer_exit", "pid=%d status=%d", (int)pid,
			         WEXITSTATUS(status));
		int64_t now = util_monotonic_us();
		if (now - sv->indexer_started > INDEXER_STABLE_US)
			sv->indexer_backoff = 1;
		else
			sv->indexer_backoff = sv->indexer_backoff ? sv->indexer_backoff * 2 : 1;
		if (sv->indexer_backoff > INDEXER_BACKOFF_MAX_S)
			sv->indexer_backoff = INDEXER_BACKOFF_MAX_S;
		sv->indexer_restart_at = now + (int64_t)sv->indexer_backoff * UTIL_US_PER_SEC;
		metric_inc(sv->m_indexer_restarts);
	}
}

static void serve_stop_indexer(struct serve *sv)
{
	if (sv->indexer_pid <= 0)
		return;
	kill(sv->indexer_pid, SIGTERM);
	/* Give it time to finish its current commit; Xapian recovers either way. */
	for (int i = 0; i < 100; i++) {
		int status;
		if (waitpid(sv->indexer_pid, &status, WNOHANG) == sv->indexer_pid) {
			sv->indexer_pid = 0;
			return;
		}
		usleep(100000);
	}
	log_warn("serve.indexer_kill", "pid=%d reason=no exit 10s after SIGTERM",
	         (int)sv->indexer_pid);
	kill(sv->indexer_pid, SIGKILL);
	waitpid(sv->indexer_pid, NULL, 0);
	sv->indexer_pid = 0;
}

/* The SMTP router's view of the archives: the database's rows.  Called on
 * the SMTP thread at start and after app->archives_gen changes. */
static int serve_archives(void *arg, ingest_archive_list_t *out)
{
	app_t *app = arg;
	db_archive_t *v;
	size_t n;
	if (db_archive_list(app->db, &v, &n) != DB_OK)
		return -1; /* db logged why */
	for (size_t i = 0; i < n; i++)
		ingest_archive_list_add(out, v[i].name, (const char *const *)v[i].addresses,
		                        v[i].naddresses);
	db_archive_list_free(v, n);
	return 0;
}

/* For /healthz (app.h indexer_alive): is the indexer child running?  Read
 * from HTTP threads; indexer_pid is written by the main loop only. */
static bool serve_indexer_alive(void *arg)
{
	struct serve *sv = arg;
	return atomic_load(&sv->indexer_running) != 0;
}

static void *serve_smtp_thread(void *arg)
{
	struct serve *sv = arg;
	smtp_server_run(sv->smtp);
	return NULL;
}

/* Waits for signals and the indexer's restart timer until asked to stop. */
static void serve_loop(struct serve *sv, int sigfd)
{
	while (!atomic_load(&sv->app->stopping)) {
		int timeout = -1;
		if (sv->indexer_restart_at) {
			int64_t left = sv->indexer_restart_at - util_monotonic_us();
			timeout = left <= 0 ? 0 : (int)(left / 1000) + 1;
		}
		struct pollfd p = {.fd = sigfd, .events = POLLIN};
		int n = poll(&p, 1, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("serve.poll", "err=%s", strerror(errno));
			break;
		}
		if (n > 0) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGCHLD) {
					serve_reap(sv);
				} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					log_info("serve.signal", "signal=%s action=shutdown",
					         si.ssi_signo == SIGTERM ? "TERM" : "INT");
					atomic_store(&sv->app->stopping, 1);
				} else if (si.ssi_signo == SIGHUP) {
					log_info("serve.signal", "signal=HUP action=none");
				}
			}
		}
		if (!atomic_load(&sv->app->stopping) && sv->indexer_restart_at &&
		    util_monotonic_us() >= sv->indexer_restart_at)
			serve_start_indexer(sv);
	}
}

static char *serve_self_exe(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

int serve_main(const char *config_path, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			serve_usage(stdout);
			return 0;
		}
		cli_error("serve: unknown argument '%s'", argv[i]);
		serve_usage(stderr);
		return 2;
	}
	config_t *cfg;
	char *err;
	if (config_load(config_path, &cfg, &err) != CONFIG_OK) {
		cli_error("%s", err);
		free(err);
		return 1;
	}
	/* Before any thread exists, so every thread inherits the mask and only the
	 * signalfd below sees these signals. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		cli_error("serve: signalfd: %s", strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (!serve_raise_nofile(cfg)) {
		config_free(cfg);
		close(sigfd);
		return 1;
	}

	struct serve sv = {.config_path = config_path};
	app_t *app;
	app_status_t ast = app_open(cfg, APP_SERVE, &app);
	if (ast != APP_OK) {
		if (ast == APP_ELOCKED)
			cli_error("serve: the data dir is in use by another vellum process");
		else if (ast == APP_ENOINIT)
			cli_error("serve: no data dir here: run `vellum init` first");
		else
			cli_error("serve: cannot open the data dir (see the log above)");
		close(sigfd);
		return 1;
	}
	sv.app = app;
	app->self_exe = serve_self_exe();
	sv.m_indexer_restarts = metrics_counter(app->metrics, "vellum_indexer_restarts_total",
	                                        "Times the indexer child was restarted", NULL);
	sv.m_indexer_up = metrics_gauge(app->metrics, "vellum_indexer_up",
	                                "1 while the indexer child runs", NULL);
	app->indexer_alive = serve_indexer_alive;
	app->indexer_alive_arg = &sv;

	int rc = 1;
	smtp_opts_t sopts = {.archives = serve_archives, .archives_arg = app};
	if (smtp_server_new(app, &sopts, &sv.smtp) != SMTP_OK)
		goto out;
	if (http_server_new(app, &sv.http) != HTTP_OK)
		goto out;
	if (serve_write_ports(&sv) != 0)
		goto out;
	/* VELLUM_SERVE_NO_INDEXER=1 leaves the indexer out (bench/smtp measures
	 * ingest with and without it); searches then show nothing new. */
	const char *noidx = getenv("VELLUM_SERVE_NO_INDEXER");
	if (noidx && !strcmp(noidx, "1"))
		log_warn("serve.indexer_off", "reason=VELLUM_SERVE_NO_INDEXER=1");
	else
		serve_start_indexer(&sv);
	if (pthread_create(&sv.smtp_thread, NULL, serve_smtp_thread, &sv) != 0) {
		log_error("serve.thread", "err=%s", strerror(errno));
		goto out;
	}
	sv.smtp_running = true;
	log_info("serve.ready", "pid=%d data_dir=%s", (int)getpid(), cfg->storage.data_dir);

	serve_loop(&sv, sigfd);
	rc = 0;
out:
	atomic_store(&app->stopping, 1);
	if (sv.smtp_running) {
		smtp_server_stop(sv.smtp);
		pthread_join(sv.smtp_thread, NULL);
	}
	serve_stop_indexer(&sv);
	http_server_free(sv.http);
	smtp_server_free(sv.smtp);
	char *ports = config_data_path(app->cfg, "run/ports");
	unlink(ports);
	free(ports);
	log_info("serve.stopped", "status=%d", rc);
	app_close(app);
	close(sigfd);
	return rc;
}
