/* test_indexer.c — the indexer process end to end against a real store: a
 * store written by this test (read-write, as serve holds it), the real
 * `vellum indexer` child reading it read-only, real Xapian shards searched
 * through ix.h.  Tailing, duplicate arrivals, SIGTERM, restart without
 * doubling, dying with its parent, and rebuilding a deleted index.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "vellum/config.h"
#include "vellum/ix.h"
#include "vellum/store.h"

/* How long the indexer gets to catch up before a test gives up. */
#define WAIT_US (30 * UTIL_US_PER_SEC)

static char *root, *conf_path;
static config_t *cfg;
static store_t *store;
static ix_t *ix;

static buf_t corpus(const char *name)
{
	const char *src = getenv("VELLUM_SRCDIR");
	char *p = xasprintf("%s/tests/corpus/%s", src ? src : ".", name);
	buf_t b = {0};
	if (util_read_file(p, 1 << 20, &b) != UTIL_OK) {
		printf("Bail out! cannot read %s\n", p);
		exit(1);
	}
	free(p);
	return b;
}

/* Stores raw bytes in one archive with one envelope recipient; returns the
 * message seq. */
static uint64_t put(const char *archive, const void *p, size_t n, const char *rcpt,
                    int64_t received)
{
	const char *rcpts[] = {rcpt};
	store_envelope_t e = {.received = received,
	                      .listener = "default",
	                      .client_addr = "127.0.0.1",
	                      .helo = "test",
	                      .mail_from = "j@example.com",
	                      .rcpt = rcpts,
	                      .nrcpt = 1};
	const char *archives[] = {archive};
	store_append_t *a = NULL;
	if (store_append_begin(store, &e, archives, 1, &a) != STORE_OK ||
	    store_append_write(a, p, n) != STORE_OK) {
		printf("Bail out! append failed\n");
		exit(1);
	}
	store_completion_t *c = store_append_commit_wait(a);
	if (!c || c->status != STORE_OK) {
		printf("Bail out! commit failed\n");
		exit(1);
	}
	uint64_t seq = c->ids[0].seq;
	store_completion_free(c);
	return seq;
}

static uint64_t put_file(const char *archive, const char *file, const char *rcpt, int64_t received)
{
	buf_t b = corpus(file);
	uint64_t seq = put(archive, b.data, b.len, rcpt, received);
	buf_free(&b);
	return seq;
}

/* Starts `vellum -c conf indexer` (only async-signal-safe calls after fork:
 * this process runs the store's writer thread). */
static pid_t indexer_start(void)
{
	const char *bin = getenv("VELLUM_BIN");
	pid_t pid = fork();
	if (pid == 0) {
		execl(bin, bin, "-c", conf_path, "indexer", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int indexer_stop(pid_t pid)
{
	int status = -1;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static ix_result_t *search(const char *q)
{
	ix_search_opts_t o = {.all_archives = true, .limit = 100};
	ix_result_t *r = NULL;
	char *err = NULL;
	if (ix_search(ix, q, &o, &r, &err) != IX_OK) {
		diag("search %s: %s", q, err);
		free(err);
		return NULL;
	}
	return r;
}

static uint64_t count(const char *q)
{
	ix_result_t *r = search(q);
	uint64_t n = r ? r->total : 0;
	ix_result_free(r);
	return n;
}

/* Waits until q has exactly n matches. */
static bool wait_count(const char *q, uint64_t n)
{
	int64_t end = util_monotonic_us() + WAIT_US;
	while (util_monotonic_us() < end) {
		if (count(q) == n)
			return true;
		usleep(50000);
	}
	diag("%s: %llu matches, want %llu", q, (unsigned long long)count(q), (unsigned long long)n);
	return false;
}

static void setup(void)
{
	root = tap_tmpdir("indexer");
	conf_path = xasprintf("%s/vellum.conf", root);
	char *text = xasprintf("[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\n"
	                       "min_free = 0\n",
	                       root, root);
	if (util_write_file_atomic(conf_path, text, strlen(text), 0600) != UTIL_OK) {
		printf("Bail out! cannot write %s\n", conf_path);
		exit(1);
	}
	free(text);
	char *err = NULL;
	if (config_load(conf_path, &cfg, &err) != CONFIG_OK) {
		printf("Bail out! config: %s\n", err);
		exit(1);
	}
	store_opts_t so = {.mode = STORE_OPEN_READWRITE};
	if (store_init_keys(cfg) != STORE_OK || store_open(cfg, &so, &store) != STORE_OK ||
	    store_archive_create(store, "default") != STORE_OK ||
	    store_archive_create(store, "other") != STORE_OK) {
		printf("Bail out! store setup\n");
		exit(1);
	}
	if (ix_open(cfg, &ix, &err) != IX_OK) {
		printf("Bail out! ix_open: %s\n", err);
		exit(1);
	}
}

static void test_index_and_tail(void)
{
	int64_t t = INT64_C(1709544000000000); /* 2024-03-04T09:20:00Z */
	uint64_t s1 = put_file("default", "alternative.eml", "first@example.org", t);
	put_file("default", "rfc2047.eml", "second@example.org", t + UTIL_US_PER_SEC);
	put_file("default", "garbage.eml", "auditor@example.org", t + 2 * UTIL_US_PER_SEC);
	put_file("other", "forwarded.eml", "third@example.org",
	         INT64_C(1712566800000000)); /* April: another shard */
	/* The same bytes again with another recipient: one message, two arrivals. */
	uint64_t s1b =
	    put_file("default", "alternative.eml", "dup@example.org", t + 3 * UTIL_US_PER_SEC);
	is_int(s1b, s1, "the store folds the duplicate into message %llu", (unsigned long long)s1);

	pid_t pid = indexer_start();
	ok(pid > 0, "indexer started");
	ok(wait_count("*", 4), "four messages indexed");
	ok(wait_count("to:dup@example.org", 1), "the duplicate's recipient joined the document");
	is_int(count("budget"), 1, "found by a word");
	is_int(count("from:andre@example.de"), 1, "found by from:");
	is_int(count("to:auditor@example.org is:unparsed"), 1,
	       "unparseable mail found by envelope");
	is_int(count("archive:other indemnity"), 1, "the other archive indexed");

	/* Tailing: new mail while it runs. */
	put_file("default", "html-only.eml", "fourth@example.org", t + 10 * UTIL_US_PER_SEC);
	ok(wait_count("*", 5), "a message stored while the indexer runs is found");
	ix_result_t *r = search("Spring");
	ok(r && r->nhits == 1 && !strcmp(r->hits[0].archive, "default") &&
	       r->hits[0].received == t + 10 * UTIL_US_PER_SEC,
	   "with its archive and received time");
	ix_result_free(r);

	is_int(indexer_stop(pid), 0, "SIGTERM: clean exit");
	uint64_t head = 0, done = 0;
	char *err = NULL;
	store_head(store, "default", &head);
	ok(ix_archive_done(ix, "default", &done, &err) == IX_OK && done == head && head > 0,
	   "checkpoint reached the head (%llu)", (unsigned long long)head);
}

static void test_restart(void)
{
	put_file("default", "broken.eml", "fifth@example.org", INT64_C(1709560000000000));
	pid_t pid = indexer_start();
	ok(wait_count("zebrafish", 1), "restarted indexer picks up new mail");
	usleep(500000);
	is_int(count("*"), 6, "nothing doubled after a restart");
	is_int(indexer_stop(pid), 0, "clean exit again");
}

/* The indexer must not outlive serve: its parent here is a stand-in that
 * exits at once; this process is the subreaper that sees the orphan. */
static void test_parent_death(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int fds[2];
	if (pipe(fds) != 0)
		return;
	pid_t mid = fork();
	if (mid == 0) {
		pid_t child = indexer_start();
		(void)!write(fds[1], &child, sizeof child);
		usleep(300000); /* let it get going */
		_exit(0);
	}
	pid_t child = 0;
	(void)!read(fds[0], &child, sizeof child);
	close(fds[0]);
	close(fds[1]);
	waitpid(mid, NULL, 0);
	int status = 0;
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		if (waitpid(child, &status, WNOHANG) == child)
			gone = true;
		else
			usleep(100000);
	}
	ok(gone, "indexer exits when its parent dies");
	if (!gone) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
}

/* Invariant 4, basically: delete the index, run again, same results. */
static void test_rebuild(void)
{
	char *before = NULL;
	ix_result_t *r = search("*");
	buf_t b = {0};
	for (size_t i = 0; r && i < r->nhits; i++)
		buf_printf(&b, "%s ", r->hits[i].id);
	before = buf_steal(&b);
	ix_result_free(r);
	char *cmd = xasprintf("rm -rf '%s/data/index'", root);
	ok(system(cmd) == 0, "index deleted");
	free(cmd);
	is_int(count("*"), 0, "nothing to find");
	pid_t pid = indexer_start();
	ok(wait_count("*", 6), "rebuilt from the segments");
	r = search("*");
	for (size_t i = 0; r && i < r->nhits; i++)
		buf_printf(&b, "%s ", r->hits[i].id);
	ix_result_free(r);
	char *after = buf_steal(&b);
	is_str(after, before, "same results in the same order");
	is_int(count("to:dup@example.org"), 1, "duplicate arrival folded in again");
	free(before);
	free(after);
	is_int(indexer_stop(pid), 0, "clean exit");
}

int main(void)
{
	if (!getenv("VELLUM_BIN")) {
		printf("1..0 # SKIP VELLUM_BIN not set (run under make check)\n");
		return 0;
	}
	setup();
	test_index_and_tail();
	test_restart();
	test_parent_death();
	test_rebuild();
	ix_close(ix);
	store_close(store);
	config_free(cfg);
	tap_rmtree(root);
	free(conf_path);
	free(root);
	return tap_done();
}
